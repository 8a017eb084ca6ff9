//! SessionStore: sessions, refresh-token rotation, the deny-list, purging.
#![allow(
    clippy::disallowed_methods,
    reason = "the store contract is checked against the database clock, which is the real one"
)]

use std::sync::Arc;

use chrono::Duration;
use sesame_core::store::{
    Assurance, NewBrowserSession, Purged, Rotated, SessionKind, Store, TokenSubject,
};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::{count_events, create_user, entry, mins, new_session, open_session, t0, token};

pub async fn create_session_then_rotate(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let first = token();
    let end = t0() + Duration::days(1);
    let session = new_session(user, &first, t0(), end);
    store.create_session(&session).await.unwrap();

    let got = store.get_session(session.id).await.unwrap().unwrap();
    assert_eq!(got.user_id, user);
    assert_eq!(got.audience, ["api", "gallery"]);
    assert_eq!(got.created_at, t0());
    assert_eq!(got.last_used_at, t0());
    assert_eq!(got.expires_at, end);
    assert_eq!(got.revoked_at, None);
    assert_eq!(got.ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(got.user_agent.as_deref(), Some("conformance/1"));
    assert!(store.get_session(Uuid::now_v7()).await.unwrap().is_none());

    let state = store.refresh_state(session.id).await.unwrap().unwrap();
    assert_eq!(state.session.id, session.id);
    assert_eq!(state.live.as_ref(), Some(&first), "the first token is live");
    assert_eq!(state.spent, None);
    assert!(store.refresh_state(Uuid::now_v7()).await.unwrap().is_none());
    assert!(
        store
            .legacy_refresh_session(&first)
            .await
            .unwrap()
            .is_none(),
        "new tokens live in their session's row only"
    );

    let t1 = t0() + Duration::hours(1);
    let end1 = t1 + Duration::days(1);
    let second = token();
    let Rotated {
        session: rotated,
        user: subject,
    } = store
        .rotate_refresh(session.id, &first, &second, t1, end1, t1 + mins(15))
        .await
        .unwrap()
        .expect("the live token of an active session rotates");
    // The user comes back with the rotation: what its next access token says of them.
    assert_eq!(
        subject,
        Some(TokenSubject {
            id: user,
            roles: vec!["user".into()],
            email_verified: false,
            disabled: false,
        })
    );
    assert_eq!(rotated.id, session.id);
    assert_eq!(rotated.user_id, user);
    assert_eq!(rotated.audience, ["api", "gallery"]);
    assert_eq!(rotated.created_at, t0());
    assert_eq!(rotated.last_used_at, t1);
    assert_eq!(rotated.expires_at, end1);

    let state = store.refresh_state(session.id).await.unwrap().unwrap();
    assert_eq!(state.live.as_ref(), Some(&second), "the successor is live");
    assert_eq!(
        state.spent,
        Some((first.clone(), t1)),
        "kept as spent, with when"
    );
    assert_eq!(state.session.expires_at, end1);

    let replay = store
        .rotate_refresh(
            session.id,
            &first,
            &token(),
            t1 + mins(1),
            end1,
            t1 + mins(16),
        )
        .await
        .unwrap();
    assert!(replay.is_none(), "a spent token never rotates again");
    let t2 = t1 + mins(2);
    let again = store
        .rotate_refresh(
            session.id,
            &second,
            &token(),
            t2,
            t2 + Duration::days(1),
            t2 + mins(15),
        )
        .await
        .unwrap();
    assert_eq!(again.map(|r| r.session.last_used_at), Some(t2));
    let t3 = t2 + mins(1);
    for (id, presented) in [(session.id, token()), (Uuid::now_v7(), second.clone())] {
        assert!(
            store
                .rotate_refresh(
                    id,
                    &presented,
                    &token(),
                    t3,
                    t3 + Duration::days(1),
                    t3 + mins(15)
                )
                .await
                .unwrap()
                .is_none(),
            "unknown token, or another session's"
        );
    }
}

pub async fn rotate_on_revoked_session_changes_nothing(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let (session, first) = open_session(&*store, user, t0(), t0() + Duration::days(1)).await;
    assert!(store.revoke_session(session, t0(), &[]).await.unwrap());
    let next = token();
    let rotated = store
        .rotate_refresh(
            session,
            &first,
            &next,
            t0() + mins(1),
            t0() + Duration::days(2),
            t0() + mins(16),
        )
        .await
        .unwrap();
    assert!(rotated.is_none());
    // Nothing changed: the token is still the live one, nothing is spent, and the session did
    // not move.
    let state = store.refresh_state(session).await.unwrap().unwrap();
    assert_eq!(state.live, Some(first));
    assert_eq!(state.spent, None);
    let got = store.get_session(session).await.unwrap().unwrap();
    assert_eq!(got.last_used_at, t0());
    assert_eq!(got.expires_at, t0() + Duration::days(1));
}

pub async fn rotate_expired_token_fails(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let end = t0() + Duration::hours(1);
    let (session, first) = open_session(&*store, user, t0(), end).await;
    for now in [end, end + mins(1)] {
        let rotated = store
            .rotate_refresh(
                session,
                &first,
                &token(),
                now,
                now + Duration::days(1),
                now + mins(15),
            )
            .await
            .unwrap();
        assert!(rotated.is_none(), "expired at {now}");
    }
    let state = store.refresh_state(session).await.unwrap().unwrap();
    assert_eq!((state.live, state.spent), (Some(first), None));
}

pub async fn concurrent_rotation_has_one_winner(store: Arc<dyn Store>) {
    const RACERS: usize = 16;
    let user = create_user(&*store, "alice").await;
    let (session, first) = open_session(&*store, user, t0(), t0() + Duration::days(1)).await;
    let first = Arc::new(first);
    let barrier = Arc::new(Barrier::new(RACERS));
    let t1 = t0() + mins(1);
    let mut racers = Vec::new();
    for _ in 0..RACERS {
        let (store, first, barrier) = (store.clone(), first.clone(), barrier.clone());
        racers.push(tokio::spawn(async move {
            let next = token();
            barrier.wait().await;
            let won = store
                .rotate_refresh(
                    session,
                    &first,
                    &next,
                    t1,
                    t1 + Duration::days(1),
                    t1 + mins(15),
                )
                .await
                .unwrap();
            (won.map(|r| r.session.id), next)
        }));
    }
    let mut winners = Vec::new();
    let mut nexts = Vec::new();
    for racer in racers {
        let (won, next) = racer.await.unwrap();
        if let Some(id) = won {
            assert_eq!(id, session);
            winners.push(next.clone());
        }
        nexts.push(next);
    }
    assert_eq!(winners.len(), 1, "exactly one presentation wins");
    let state = store.refresh_state(session).await.unwrap().unwrap();
    assert_eq!(
        state.live.as_ref(),
        Some(&winners[0]),
        "the winner's successor is live"
    );
    assert_eq!(state.spent, Some((first.to_vec(), t1)));
}

/// Rotations of many sessions at once — grouped into batches by either store — each come back
/// with their own session, one winner per token, and each session's winner's successor live.
/// Each token is presented twice (racing tabs), and an unknown token rides along.
pub async fn concurrent_rotations_of_many_sessions_each_get_their_own_answer(
    store: Arc<dyn Store>,
) {
    const SESSIONS: usize = 40;
    let user = create_user(&*store, "many").await;
    let mut opened = Vec::new();
    for _ in 0..SESSIONS {
        opened.push(open_session(&*store, user, t0(), t0() + Duration::days(1)).await);
    }
    let t1 = t0() + mins(1);
    let barrier = Arc::new(Barrier::new(2 * SESSIONS + 1));
    let mut racers = Vec::new();
    let calls = opened
        .iter()
        .flat_map(|(id, first)| [(*id, first.clone()), (*id, first.clone())])
        .chain([(opened[0].0, token())]);
    for (session, presented) in calls {
        let (store, barrier) = (store.clone(), barrier.clone());
        racers.push(tokio::spawn(async move {
            let next = token();
            barrier.wait().await;
            let won = store
                .rotate_refresh(
                    session,
                    &presented,
                    &next,
                    t1,
                    t1 + Duration::days(1),
                    t1 + mins(15),
                )
                .await
                .unwrap();
            (session, won.map(|r| r.session.id), next)
        }));
    }
    let mut winners = std::collections::HashMap::new();
    for racer in racers {
        let (session, won, next) = racer.await.unwrap();
        if let Some(id) = won {
            assert_eq!(id, session, "a rotation answered with another session");
            assert!(
                winners.insert(session, next).is_none(),
                "two winners in one session"
            );
        }
    }
    assert_eq!(
        winners.len(),
        SESSIONS,
        "one winner per session, none for the unknown token"
    );
    for (session, first) in &opened {
        let state = store.refresh_state(*session).await.unwrap().unwrap();
        assert_eq!(
            state.live.as_ref(),
            winners.get(session),
            "the winner's successor is live"
        );
        assert_eq!(state.spent, Some((first.clone(), t1)));
    }
}

pub async fn list_active_sessions_excludes_revoked_and_expired(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let other = create_user(&*store, "bob").await;
    let day = t0() + Duration::days(1);
    let (a, _) = open_session(&*store, user, t0(), day).await;
    let (b, _) = open_session(&*store, user, t0() + mins(1), day).await;
    let (revoked, _) = open_session(&*store, user, t0() + mins(2), day).await;
    assert!(
        store
            .revoke_session(revoked, t0() + mins(3), &[])
            .await
            .unwrap()
    );
    open_session(&*store, user, t0() + mins(3), t0() + mins(30)).await;
    open_session(&*store, other, t0() + mins(4), day).await;

    let now = t0() + Duration::hours(1);
    let active = store.list_active_sessions(user, now).await.unwrap();
    let ids: Vec<Uuid> = active.iter().map(|s| s.id).collect();
    assert_eq!(ids, [b, a], "newest first, neither revoked nor expired");
    assert_eq!(
        store
            .list_active_sessions(user, t0() + mins(10))
            .await
            .unwrap()
            .len(),
        3,
        "the short session counts until it expires"
    );
    assert!(
        store
            .list_active_sessions(Uuid::now_v7(), now)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn revoke_session_once(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let (session, _) = open_session(&*store, user, t0(), t0() + Duration::days(1)).await;
    let t1 = t0() + mins(1);
    assert!(
        store
            .revoke_session(session, t1, &[entry("logout", Some(user))])
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_session(session)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t1)
    );
    assert!(
        !store
            .revoke_session(session, t1 + mins(1), &[entry("logout", Some(user))])
            .await
            .unwrap(),
        "already revoked"
    );
    assert_eq!(
        store
            .get_session(session)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t1),
        "the first revocation's time stays"
    );
    assert!(
        !store
            .revoke_session(Uuid::now_v7(), t1, &[entry("logout", None)])
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "logout").await, 1);
}

pub async fn revoke_user_sessions_counts_active_ones(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let other = create_user(&*store, "bob").await;
    let day = t0() + Duration::days(1);
    let (a, _) = open_session(&*store, user, t0(), day).await;
    let (b, _) = open_session(&*store, user, t0(), day).await;
    let (revoked, _) = open_session(&*store, user, t0(), day).await;
    assert!(store.revoke_session(revoked, t0(), &[]).await.unwrap());
    open_session(&*store, user, t0(), t0() + mins(10)).await;
    let (foreign, _) = open_session(&*store, other, t0(), day).await;

    let now = t0() + Duration::hours(1);
    let ended = store
        .revoke_user_sessions(user, now, &[entry("sessions_revoked", Some(user))])
        .await
        .unwrap();
    assert_eq!(
        ended, 2,
        "active ones only: not the revoked, not the expired"
    );
    for s in [a, b] {
        assert_eq!(
            store.get_session(s).await.unwrap().unwrap().revoked_at,
            Some(now)
        );
    }
    assert!(
        store
            .list_active_sessions(user, now)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .get_session(foreign)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    assert_eq!(count_events(&*store, "sessions_revoked").await, 1);
}

pub async fn deny_list(store: Arc<dyn Store>) {
    assert!(!store.is_access_token_denied("jti-1").await.unwrap());
    store
        .deny_access_token("jti-1", t0() + mins(15))
        .await
        .unwrap();
    assert!(store.is_access_token_denied("jti-1").await.unwrap());
    // Denying twice (two logouts with one token) is fine.
    store
        .deny_access_token("jti-1", t0() + mins(15))
        .await
        .unwrap();
    assert!(!store.is_access_token_denied("jti-2").await.unwrap());
}

pub async fn purge_expired_removes_exactly_the_expired(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    // A: expired. B: live, rotated once (its first token expired, its second live).
    // C: revoked and expired. Deny-list: one expired, one expiring exactly at the purge, one live.
    let (a, _) = open_session(&*store, user, t0(), t0() + mins(10)).await;
    let (b, b1) = open_session(&*store, user, t0(), t0() + mins(60)).await;
    let b2 = token();
    store
        .rotate_refresh(
            b,
            &b1,
            &b2,
            t0() + mins(1),
            t0() + mins(120),
            t0() + mins(16),
        )
        .await
        .unwrap()
        .unwrap();
    let (c, _) = open_session(&*store, user, t0(), t0() + mins(20)).await;
    assert!(store.revoke_session(c, t0() + mins(5), &[]).await.unwrap());
    let now = t0() + mins(90);
    store
        .deny_access_token("old", t0() + mins(30))
        .await
        .unwrap();
    store.deny_access_token("edge", now).await.unwrap();
    store
        .deny_access_token("live", t0() + mins(180))
        .await
        .unwrap();

    let purged = store.purge_expired(now).await.unwrap();
    assert_eq!(
        purged,
        Purged {
            sessions: 2,       // a, c
            refresh_tokens: 0, // only tokens issued before migration 0024 have rows there
            denied_tokens: 2,  // old, edge (expiry at `now` is expiry)
        }
    );
    assert!(store.get_session(a).await.unwrap().is_none());
    assert!(store.get_session(c).await.unwrap().is_none());
    assert!(store.get_session(b).await.unwrap().is_some());
    for gone in [a, c] {
        assert!(store.refresh_state(gone).await.unwrap().is_none());
    }
    let state = store.refresh_state(b).await.unwrap().unwrap();
    assert_eq!(state.live.as_ref(), Some(&b2));
    assert!(!store.is_access_token_denied("old").await.unwrap());
    assert!(!store.is_access_token_denied("edge").await.unwrap());
    assert!(store.is_access_token_denied("live").await.unwrap());
    let session = store
        .rotate_refresh(b, &b2, &token(), now, now + mins(60), now + mins(15))
        .await
        .unwrap();
    assert!(session.is_some(), "the live session still works");

    assert_eq!(
        store.purge_expired(now).await.unwrap(),
        Purged::default(),
        "nothing left to purge"
    );
}

/// Revocations reach the feed that replicas poll: revoking a session (once), deleting a user
/// with a live session, deny-listing a token — and nothing else (purging expired sessions is
/// not a revocation). Each entry carries how long it matters: a session's the expiry of its
/// newest access token (`access_until`, raised by rotation and by `extend_session_access`, never
/// lowered), a token's its own. The purge deletes by that, not by age. Feed stamps come from
/// the database's clock, hence `Utc::now()` here.
pub async fn revocation_feed_records_revocations(store: Arc<dyn Store>) {
    use sesame_core::store::RevocationKind;
    let cursor = store.revocations_after(0).await.unwrap().next;
    let alice = create_user(&*store, "feed_alice").await;
    let bob = create_user(&*store, "feed_bob").await;
    let live_until = t0() + Duration::days(1);
    // Opened at t0: access_until t0 + 15 min (see `new_session`).
    let (s1, first) = open_session(&*store, alice, t0(), live_until).await;
    // A live session nobody revokes: it must not reach the feed (the equality below).
    let (_untouched, _) = open_session(&*store, alice, t0(), live_until).await;
    let long_ago = chrono::Utc::now() - Duration::days(400);
    let (expired, _) = open_session(&*store, alice, long_ago, long_ago + Duration::days(1)).await;
    let (bobs, _) = open_session(&*store, bob, t0(), live_until).await;
    // s1 rotates with a two-hour access token, then the grace path records a shorter one:
    // access_until only grows.
    store
        .rotate_refresh(s1, &first, &token(), t0(), live_until, t0() + mins(120))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .extend_session_access(s1, t0() + mins(30))
            .await
            .unwrap()
    );

    assert!(store.revoke_session(s1, t0(), &[]).await.unwrap());
    assert!(
        !store.revoke_session(s1, t0(), &[]).await.unwrap(),
        "a second revoke is no event"
    );
    assert!(
        !store
            .extend_session_access(s1, t0() + mins(240))
            .await
            .unwrap(),
        "no token is recorded for a revoked session"
    );
    store
        .deny_access_token("feed-jti", live_until)
        .await
        .unwrap();
    assert!(store.delete_user(bob, t0(), &[]).await.unwrap());
    assert!(
        !store
            .extend_session_access(bobs, t0() + mins(240))
            .await
            .unwrap(),
        "nor for a deleted one"
    );
    store.purge_expired(chrono::Utc::now()).await.unwrap();
    assert!(
        store.get_session(expired).await.unwrap().is_none(),
        "the expired session was purged"
    );

    let page = store.revocations_after(cursor).await.unwrap();
    assert!(page.next >= cursor);
    let feed = page.entries;
    let mut got: Vec<(
        RevocationKind,
        String,
        Option<chrono::DateTime<chrono::Utc>>,
    )> = feed
        .iter()
        // Bob's deletion also drops his profile from caches: checked by
        // `profile_changes_are_in_the_feed`; revocations are what this check is about.
        .filter(|r| r.kind != RevocationKind::Profile)
        .map(|r| (r.kind, r.subject.clone(), r.until))
        .collect();
    got.sort_by(|a, b| a.1.cmp(&b.1));
    let mut want = vec![
        (
            RevocationKind::Session,
            s1.to_string(),
            Some(t0() + mins(120)),
        ),
        (
            RevocationKind::Session,
            bobs.to_string(),
            Some(t0() + mins(15)),
        ),
        (
            RevocationKind::Token,
            "feed-jti".to_string(),
            Some(live_until),
        ),
    ];
    want.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(got, want);
    let (earlier, later) = (
        chrono::Utc::now() - Duration::minutes(1),
        chrono::Utc::now() + Duration::minutes(1),
    );
    assert!(feed.iter().all(|r| r.at >= earlier && r.at <= later));

    // Bob's profile entry matters to caches for ten minutes of real time: it goes first.
    assert_eq!(
        store
            .purge_revocations(chrono::Utc::now() + Duration::minutes(11), earlier)
            .await
            .unwrap(),
        1,
        "bob's profile entry"
    );
    // By `until`: nothing before the first expiry, then exactly what expired.
    assert_eq!(store.purge_revocations(t0(), earlier).await.unwrap(), 0);
    assert_eq!(
        store
            .purge_revocations(t0() + mins(16), earlier)
            .await
            .unwrap(),
        1,
        "bob's session"
    );
    let left: Vec<String> = store
        .revocations_after(cursor)
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|r| r.subject)
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(!left.contains(&bobs.to_string()));
    assert_eq!(
        store
            .purge_revocations(live_until + mins(1), earlier)
            .await
            .unwrap(),
        2
    );
    assert!(
        store
            .revocations_after(cursor)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
}

/// The feed read from a cursor: every entry committed after a read is at or after the cursor
/// that read returned (commit order), cursors never go back, and an entry may come back in a
/// later read but is never lost. Key changes are entries too ('key'), so replicas reload keys.
pub async fn feed_cursor_never_passes_an_entry(store: Arc<dyn Store>) {
    use sesame_core::store::RevocationKind;
    let first = store.revocations_after(0).await.unwrap();
    assert!(first.entries.is_empty(), "a new store has an empty feed");
    let mut cursor = first.next;
    let mut seen: Vec<String> = Vec::new();
    for round in 0..5 {
        let jti = format!("jti-{round}");
        store
            .deny_access_token(&jti, t0() + mins(round))
            .await
            .unwrap();
        let page = store.revocations_after(cursor).await.unwrap();
        assert!(page.next >= cursor, "the cursor went back");
        let subjects: Vec<&str> = page.entries.iter().map(|r| r.subject.as_str()).collect();
        assert!(
            subjects.contains(&jti.as_str()),
            "round {round}: {subjects:?}"
        );
        // Only entries of this check: earlier rounds' may come back, nothing else appears.
        assert!(
            subjects
                .iter()
                .all(|s| *s == jti || seen.iter().any(|x| x == s)),
            "{subjects:?}"
        );
        seen.push(jti);
        cursor = page.next;
    }
    // A key change is an entry of its own kind.
    let now = t0();
    let current = sesame_core::keys::generate_key(
        sesame_core::keys::SigningAlg::EdDSA,
        sesame_core::keys::KeyState::Current,
        now,
    )
    .unwrap();
    let next = sesame_core::keys::generate_key(
        sesame_core::keys::SigningAlg::EdDSA,
        sesame_core::keys::KeyState::Next,
        now,
    )
    .unwrap();
    assert!(store.init_keys(&current, &next).await.unwrap());
    let page = store.revocations_after(cursor).await.unwrap();
    assert!(
        page.entries.iter().any(|r| r.kind == RevocationKind::Key),
        "{:?}",
        page.entries
    );
    assert!(page.next >= cursor);
    let cursor = page.next;
    let newer = sesame_core::keys::generate_key(
        sesame_core::keys::SigningAlg::EdDSA,
        sesame_core::keys::KeyState::Next,
        now,
    )
    .unwrap();
    let rotation = sesame_core::store::KeyRotation {
        new_next: newer,
        retire_until: now + mins(20),
    };
    store.rotate_keys(&[rotation], now, &[]).await.unwrap();
    let page = store.revocations_after(cursor).await.unwrap();
    assert!(
        page.entries
            .iter()
            .any(|r| r.kind == RevocationKind::Key && r.until.is_some_and(|u| u > r.at)),
        "{:?}",
        page.entries
    );
}

/// The refresh lifetime may be shorter than the access lifetime: a session whose refresh token
/// expired while its newest access token lives is still in force — ending every session of the
/// user revokes it (so the feed refuses that token), and the purge leaves it until the access
/// token has expired too.
pub async fn a_session_is_in_force_while_its_access_token_lives(store: Arc<dyn Store>) {
    let user = create_user(&*store, "short_refresh").await;
    // Refresh token until t0 + 5 min, access token until t0 + 15 min.
    let (s, _) = open_session(&*store, user, t0(), t0() + mins(5)).await;
    let now = t0() + mins(10);
    assert_eq!(store.purge_expired(now).await.unwrap().sessions, 0);
    assert!(store.get_session(s).await.unwrap().is_some());
    assert_eq!(store.revoke_user_sessions(user, now, &[]).await.unwrap(), 1);
    let feed = store.revocations_after(0).await.unwrap().entries;
    assert!(
        feed.iter()
            .any(|r| r.subject == s.to_string() && r.until == Some(t0() + mins(15))),
        "{feed:?}"
    );
    // Once both have expired, the purge takes it (revoked or not).
    let (other, _) = open_session(&*store, user, t0(), t0() + mins(5)).await;
    assert_eq!(store.purge_expired(now).await.unwrap().sessions, 0);
    assert_eq!(
        store.purge_expired(t0() + mins(15)).await.unwrap().sessions,
        2
    );
    assert!(store.get_session(other).await.unwrap().is_none());
}

/// A role removal's feed entry ('user'): the user id, the instant before which the user's
/// tokens carry stale roles, kept until the newest access token of the user's sessions
/// expires. A user without a session gets none (no token to refuse).
pub async fn feed_user_change_records_stale_roles(store: Arc<dyn Store>) {
    use sesame_core::store::RevocationKind;
    let cursor = store.revocations_after(0).await.unwrap().next;
    let alice = create_user(&*store, "roles_alice").await;
    let idle = create_user(&*store, "roles_idle").await;
    // access_until t0 + 15 min and t0 + 45 min (see `new_session`).
    open_session(&*store, alice, t0(), t0() + mins(60)).await;
    open_session(&*store, alice, t0() + mins(30), t0() + mins(60)).await;
    let cutoff = t0() + mins(31);
    store.feed_user_change(alice, cutoff).await.unwrap();
    store.feed_user_change(idle, cutoff).await.unwrap();
    let feed = store.revocations_after(cursor).await.unwrap().entries;
    let users: Vec<_> = feed
        .iter()
        .filter(|r| r.kind == RevocationKind::User)
        .map(|r| (r.subject.clone(), r.issued_before, r.until))
        .collect();
    assert_eq!(
        users,
        [(alice.to_string(), Some(cutoff), Some(t0() + mins(45)))]
    );
    assert!(
        feed.iter()
            .all(|r| (r.kind == RevocationKind::User) == r.issued_before.is_some())
    );
}

fn browser_session(
    user_id: Uuid,
    cookie_hash: &[u8],
    replacing: Option<Uuid>,
) -> NewBrowserSession {
    NewBrowserSession {
        id: Uuid::now_v7(),
        user_id,
        cookie_hash: cookie_hash.to_vec(),
        now: t0(),
        expires_at: t0() + Duration::days(7),
        ip: Some("198.51.100.4".into()),
        user_agent: Some("Firefox".into()),
        replacing,
        assurance: Assurance::password(),
    }
}

pub async fn browser_sessions_are_found_by_cookie_hash_and_listed(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let (api, _) = open_session(&*store, user, t0(), t0() + Duration::days(1)).await;
    let hash = token();
    let new = browser_session(user, &hash, None);
    store
        .create_browser_session(&new, &[entry("login_succeeded", Some(user))])
        .await
        .unwrap();
    assert_eq!(
        count_events(&*store, "login_succeeded").await,
        1,
        "audited in the same write"
    );
    let found = store.find_browser_session(&hash).await.unwrap().unwrap();
    assert_eq!(found.id, new.id);
    assert_eq!(found.kind, SessionKind::Browser);
    assert_eq!(found.user_id, user);
    assert_eq!(found.expires_at, new.expires_at);
    assert_eq!(found.ip.as_deref(), Some("198.51.100.4"));
    assert!(
        store
            .find_browser_session(&token())
            .await
            .unwrap()
            .is_none(),
        "another hash"
    );
    assert_eq!(
        store.get_session(api).await.unwrap().unwrap().kind,
        SessionKind::Api
    );
    let listed = store
        .list_active_sessions(user, t0() + mins(1))
        .await
        .unwrap();
    let kinds: Vec<_> = listed.iter().map(|s| (s.id, s.kind)).collect();
    assert!(kinds.contains(&(new.id, SessionKind::Browser)), "{kinds:?}");
    assert!(kinds.contains(&(api, SessionKind::Api)), "{kinds:?}");
    // Touching moves last use forward, never back.
    store.touch_session(new.id, t0() + mins(30)).await.unwrap();
    store.touch_session(new.id, t0() + mins(10)).await.unwrap();
    let touched = store.find_browser_session(&hash).await.unwrap().unwrap();
    assert_eq!(touched.last_used_at, t0() + mins(30));
    // A cookie hash is one session's: a second session with it is refused.
    assert!(
        store
            .create_browser_session(&browser_session(user, &hash, None), &[])
            .await
            .is_err()
    );
}

pub async fn a_browser_sign_in_ends_the_session_it_replaces(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let first = browser_session(user, &token(), None);
    store.create_browser_session(&first, &[]).await.unwrap();
    let second_hash = token();
    let second = browser_session(user, &second_hash, Some(first.id));
    store.create_browser_session(&second, &[]).await.unwrap();
    let old = store.get_session(first.id).await.unwrap().unwrap();
    assert_eq!(
        old.revoked_at,
        Some(t0()),
        "the replaced session ended with the sign-in"
    );
    let new = store
        .find_browser_session(&second_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new.revoked_at, None);
}

pub async fn browser_sessions_end_with_the_users_sessions_and_purge(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let hash = token();
    let s = browser_session(user, &hash, None);
    store.create_browser_session(&s, &[]).await.unwrap();
    let ended = store
        .revoke_user_sessions(user, t0() + mins(1), &[entry("logout", Some(user))])
        .await
        .unwrap();
    assert_eq!(ended, 1, "logout-all ends the browser session");
    assert!(
        store
            .find_browser_session(&hash)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    // Past its absolute end it is purged like any expired session.
    let other = token();
    store
        .create_browser_session(&browser_session(user, &other, None), &[])
        .await
        .unwrap();
    store.purge_expired(t0() + Duration::days(8)).await.unwrap();
    assert!(store.find_browser_session(&other).await.unwrap().is_none());
}

pub async fn revoke_other_sessions_keeps_exactly_one(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let other_user = create_user(&*store, "bob").await;
    let keep = browser_session(user, &token(), None);
    store.create_browser_session(&keep, &[]).await.unwrap();
    let (api, _) = open_session(&*store, user, t0(), t0() + Duration::days(1)).await;
    let (theirs, _) = open_session(&*store, other_user, t0(), t0() + Duration::days(1)).await;
    let ended = store
        .revoke_other_sessions(
            user,
            keep.id,
            t0() + mins(1),
            &[entry("logout", Some(user))],
        )
        .await
        .unwrap();
    assert_eq!(ended, 1);
    assert!(
        store
            .get_session(api)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        store
            .get_session(keep.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert!(
        store
            .get_session(theirs)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none(),
        "another user's session is not touched"
    );
    assert_eq!(
        count_events(&*store, "logout").await,
        1,
        "audited with the change"
    );
}

/// A rotation reads the session's user in its own transaction: roles changed, the address
/// verified, or the account disabled before it are what it returns (sorted roles; none is an
/// empty list).
pub async fn a_rotation_returns_the_user_as_of_its_transaction(store: Arc<dyn Store>) {
    let user = create_user(&*store, "rotation_subject").await;
    let (session, first) = open_session(&*store, user, t0(), t0() + Duration::days(1)).await;
    store
        .set_roles(user, &["writer".into(), "auditor".into()], t0(), &[])
        .await
        .unwrap();
    let at = t0() + mins(1);
    let second = token();
    let rotated = store
        .rotate_refresh(
            session,
            &first,
            &second,
            at,
            at + Duration::days(1),
            at + mins(15),
        )
        .await
        .unwrap()
        .expect("rotates");
    assert_eq!(
        rotated.user,
        Some(TokenSubject {
            id: user,
            roles: vec!["auditor".into(), "writer".into()],
            email_verified: false,
            disabled: false,
        })
    );
    store.set_roles(user, &[], at, &[]).await.unwrap();
    // Disabled without its sessions ended (the core ends them; the store reports the flag).
    store.set_disabled(user, true, at, &[]).await.unwrap();
    let rotated = store
        .rotate_refresh(
            session,
            &second,
            &token(),
            at,
            at + Duration::days(1),
            at + mins(15),
        )
        .await
        .unwrap()
        .expect("rotates");
    let subject = rotated.user.expect("the user exists");
    assert!(subject.disabled);
    assert!(subject.roles.is_empty(), "{:?}", subject.roles);
}

/// Status-list indices (migration 0011): unique while their session or client exists, carried by
/// the feed entry of a revocation or deletion, and handed out again only once every token that
/// carried them has expired before the caller's `status_reuse_before`.
pub async fn status_indices_are_unique_fed_and_reused_only_when_dead(store: Arc<dyn Store>) {
    use sesame_core::store::{ClientRecord, RevocationKind};
    let user = create_user(&*store, "alice").await;
    assert_eq!(store.status_index_bound().await.unwrap(), 0);
    let mut sessions = Vec::new();
    for i in 0..3 {
        // The second one (revoked below) expires first, and alone is purged.
        let end = t0() + mins(if i == 1 { 60 } else { 120 });
        let s = new_session(user, &token(), t0(), end);
        let idx = store.create_session(&s).await.unwrap();
        assert_eq!(
            store.get_session(s.id).await.unwrap().unwrap().status_idx,
            Some(idx)
        );
        sessions.push((s.id, idx));
    }
    let indices: Vec<i64> = sessions.iter().map(|(_, i)| *i).collect();
    assert_eq!(indices, [0, 1, 2], "never-used indices in order");
    let client = ClientRecord {
        client_id: "svc_status".into(),
        name: "status".into(),
        secret_hash: vec![1; 32],
        audiences: vec!["api".into()],
        scopes: vec![],
        delegable_roles: vec![],
        created_at: t0(),
        access_until: None,
        status_idx: Some(99), // ignored: the store hands it out
        ..Default::default()
    };
    let client_idx = store
        .create_client(&client, t0(), &[entry("client_created", None)])
        .await
        .unwrap();
    assert_eq!(client_idx, 3);
    store
        .extend_client_access("svc_status", t0() + mins(30))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_client("svc_status")
            .await
            .unwrap()
            .unwrap()
            .status_idx,
        Some(3)
    );
    assert_eq!(store.status_index_bound().await.unwrap(), 4);
    // A browser session issues no access tokens: no index.
    let browser = NewBrowserSession {
        id: Uuid::now_v7(),
        user_id: user,
        cookie_hash: token(),
        now: t0(),
        expires_at: t0() + mins(60),
        ip: None,
        user_agent: None,
        replacing: None,
        assurance: Assurance::password(),
    };
    store.create_browser_session(&browser, &[]).await.unwrap();
    assert_eq!(
        store
            .get_session(browser.id)
            .await
            .unwrap()
            .unwrap()
            .status_idx,
        None
    );

    // Revocation and deletion feed the index.
    let cursor = store.revocations_after(0).await.unwrap().next;
    let (revoked, revoked_idx) = sessions[1];
    assert!(
        store
            .revoke_session(revoked, t0() + mins(1), &[])
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_client("svc_status", &[entry("client_deleted", None)])
            .await
            .unwrap()
    );
    let fed: Vec<(RevocationKind, Option<i64>)> = store
        .revocations_after(cursor)
        .await
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| matches!(e.kind, RevocationKind::Session | RevocationKind::Client))
        .map(|e| (e.kind, e.status_idx))
        .collect();
    assert_eq!(
        fed,
        [
            (RevocationKind::Session, Some(revoked_idx)),
            (RevocationKind::Client, Some(3))
        ]
    );

    // The revoked session is purged once expired; its index is free once its access token's
    // life (15 minutes) is over, the client's once its last token's (30 minutes) is, and neither
    // is handed out to a caller whose `status_reuse_before` is earlier than that.
    store.purge_expired(t0() + mins(61)).await.unwrap();
    assert!(store.get_session(revoked).await.unwrap().is_none());
    let open = |reuse_before: chrono::DateTime<chrono::Utc>| {
        let mut s = new_session(user, &token(), t0() + mins(62), t0() + mins(120));
        s.status_reuse_before = reuse_before;
        let store = store.clone();
        async move { store.create_session(&s).await.unwrap() }
    };
    assert_eq!(open(t0() + mins(10)).await, 4, "nothing dead long enough");
    assert_eq!(open(t0() + mins(20)).await, revoked_idx, "the session's");
    assert_eq!(
        open(t0() + mins(20)).await,
        5,
        "the client's tokens may live"
    );
    assert_eq!(open(t0() + mins(30)).await, 3, "the client's");
    assert_eq!(open(t0() + mins(61)).await, 6, "none left free");
    assert_eq!(store.status_index_bound().await.unwrap(), 7);
}
