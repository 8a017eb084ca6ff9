//! Authorization codes, consent, app sessions and back-channel logouts (issue #18).

use std::sync::Arc;

use chrono::Duration;
use sesame_core::store::{
    AppLink, ClientRecord, LogoutOutcome, NewBrowserSession, NewCode, Redeemed, Store,
};
use uuid::Uuid;

use crate::{count_events, create_user, entry, mins, new_session, t0, token};

fn app_client(id: &str, backchannel: bool) -> ClientRecord {
    ClientRecord {
        client_id: id.to_string(),
        name: format!("The {id} app"),
        secret_hash: vec![7; 32],
        audiences: vec!["api".into()],
        created_at: t0(),
        redirect_uris: vec!["https://app.example/cb".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        backchannel_logout_uri: backchannel.then(|| "https://app.example/logout".into()),
        ..Default::default()
    }
}

async fn browser(store: &dyn Store, user: Uuid, replacing: Option<Uuid>) -> Uuid {
    let s = NewBrowserSession {
        id: Uuid::now_v7(),
        user_id: user,
        cookie_hash: token(),
        now: t0(),
        expires_at: t0() + Duration::days(7),
        ip: None,
        user_agent: None,
        replacing,
        assurance: sesame_core::store::Assurance::password(),
    };
    store.create_browser_session(&s, &[]).await.unwrap();
    s.id
}

fn link(client: &str, parent: Uuid) -> AppLink {
    AppLink {
        client_id: client.into(),
        parent_id: parent,
        sid: parent,
        scope: "openid offline_access".into(),
        auth_time: t0(),
    }
}

/// An app session of `user` for `client`, started from browser session `parent`.
async fn app_session(store: &dyn Store, user: Uuid, client: &str, parent: Uuid) -> Uuid {
    let mut s = new_session(user, &token(), t0(), t0() + Duration::days(1));
    s.app = Some(link(client, parent));
    store.create_session(&s).await.unwrap();
    s.id
}

fn code(user: Uuid, client: &str, parent: Uuid) -> NewCode {
    NewCode {
        hash: token(),
        client_id: client.into(),
        user_id: user,
        parent_id: parent,
        redirect_uri: "https://app.example/cb".into(),
        scope: "openid".into(),
        audience: vec!["api".into()],
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        nonce: Some("n".into()),
        auth_time: t0(),
        created_at: t0(),
        expires_at: t0() + Duration::seconds(60),
    }
}

pub async fn a_code_is_spent_once_and_a_replay_revokes_its_session(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    store
        .create_client(&app_client("photos", false), t0(), &[])
        .await
        .unwrap();
    let parent = browser(&*store, user, None).await;
    let c = code(user, "photos", parent);
    store.create_code(&c).await.unwrap();
    let found = store.find_code(&c.hash).await.unwrap().unwrap();
    assert_eq!(found.code.nonce.as_deref(), Some("n"));
    assert_eq!(found.code.audience, ["api"]);
    assert_eq!(found.used_at, None);

    let mut first = new_session(user, &token(), t0(), t0() + Duration::days(1));
    first.app = Some(link("photos", parent));
    let issued = store
        .redeem_code(&c.hash, &first, &[entry("app_authorized", Some(user))], &[])
        .await
        .unwrap();
    assert!(matches!(issued, Redeemed::Issued { .. }), "{issued:?}");
    let session = store.get_session(first.id).await.unwrap().unwrap();
    assert_eq!(
        session.app,
        Some(link("photos", parent)),
        "the app link is kept"
    );
    assert_eq!(session.revoked_at, None);
    assert_eq!(
        count_events(&*store, "app_authorized").await,
        1,
        "audited with the redemption"
    );

    let second = new_session(user, &token(), t0(), t0() + Duration::days(1));
    let replay = store
        .redeem_code(&c.hash, &second, &[], &[entry("code_replayed", Some(user))])
        .await
        .unwrap();
    assert_eq!(replay, Redeemed::Replayed);
    assert!(
        store.get_session(second.id).await.unwrap().is_none(),
        "a replay opens no session"
    );
    assert!(
        store
            .get_session(first.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some(),
        "what the code issued is revoked"
    );
    assert_eq!(count_events(&*store, "code_replayed").await, 1);
    assert_eq!(
        count_events(&*store, "app_authorized").await,
        1,
        "not again"
    );
    assert_eq!(
        store
            .redeem_code(&token(), &second, &[], &[])
            .await
            .unwrap(),
        Redeemed::Unknown
    );
    // Purged once expired (and kept until then).
    assert_eq!(store.purge_codes(t0()).await.unwrap(), 0);
    assert_eq!(store.purge_codes(t0() + mins(2)).await.unwrap(), 1);
    assert!(store.find_code(&c.hash).await.unwrap().is_none());
}

pub async fn concurrent_redemptions_of_a_code_issue_once(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    store
        .create_client(&app_client("photos", false), t0(), &[])
        .await
        .unwrap();
    let parent = browser(&*store, user, None).await;
    let c = code(user, "photos", parent);
    store.create_code(&c).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, hash) = (store.clone(), c.hash.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = new_session(user, &token(), t0(), t0() + Duration::days(1));
            s.app = Some(link("photos", parent));
            store.redeem_code(&hash, &s, &[], &[]).await.unwrap()
        }));
    }
    let mut issued = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Redeemed::Issued { .. }) {
            issued += 1;
        }
    }
    assert_eq!(issued, 1, "one exchange wins");
}

/// The exchange checks that the sign-in behind a code is live before it redeems; a sign-out
/// committed in between must still win, or the app session it opens outlives the sign-out that
/// should have ended it (the cascade ran before it existed). The store decides it in the
/// redeeming transaction.
pub async fn a_code_whose_sign_in_ended_opens_no_session(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    store
        .create_client(&app_client("photos", true), t0(), &[])
        .await
        .unwrap();
    let parent = browser(&*store, user, None).await;
    let c = code(user, "photos", parent);
    store.create_code(&c).await.unwrap();
    assert!(store.revoke_session(parent, t0(), &[]).await.unwrap());
    let mut s = new_session(user, &token(), t0(), t0() + Duration::days(1));
    s.app = Some(link("photos", parent));
    assert_eq!(
        store
            .redeem_code(&c.hash, &s, &[entry("app_authorized", Some(user))], &[])
            .await
            .unwrap(),
        Redeemed::SignInEnded
    );
    assert!(
        store.get_session(s.id).await.unwrap().is_none(),
        "no app session outlives the sign-out"
    );
    assert_eq!(
        count_events(&*store, "app_authorized").await,
        0,
        "nor its audit entry"
    );
    assert_eq!(
        store.find_code(&c.hash).await.unwrap().unwrap().used_at,
        None,
        "the code is not spent"
    );
}

pub async fn a_browser_session_ends_its_app_sessions_and_a_new_sign_in_keeps_them(
    store: Arc<dyn Store>,
) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    store
        .create_client(&app_client("photos", false), t0(), &[])
        .await
        .unwrap();
    let first = browser(&*store, alice, None).await;
    let kept = app_session(&*store, alice, "photos", first).await;
    // Signing in again as the same person moves the app to the new browser session.
    let second = browser(&*store, alice, Some(first)).await;
    let s = store.get_session(kept).await.unwrap().unwrap();
    assert_eq!(
        s.revoked_at, None,
        "a re-authentication keeps the app signed in"
    );
    let link = s.app.unwrap();
    assert_eq!(link.parent_id, second);
    assert_eq!(link.sid, first, "its ID tokens' sid does not move with it");
    // Someone else signing in on that browser does not inherit it: it ends with the session.
    let third = browser(&*store, bob, Some(second)).await;
    let s = store.get_session(kept).await.unwrap().unwrap();
    assert!(
        s.revoked_at.is_some(),
        "ended with the browser session it came from"
    );
    assert_eq!(s.app.unwrap().parent_id, second);
    let bobs = app_session(&*store, bob, "photos", third).await;
    store
        .revoke_session(third, t0() + mins(1), &[])
        .await
        .unwrap();
    assert!(
        store
            .get_session(bobs)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some(),
        "signing out ends the apps"
    );
    // And the feed carries the app session's end, for every replica.
    let feed = store.revocations_after(0).await.unwrap();
    assert!(
        feed.entries.iter().any(|e| e.subject == bobs.to_string()),
        "the cascaded revocation is in the feed"
    );
}

pub async fn grants_are_saved_listed_and_deleting_one_revokes_the_apps_sessions(
    store: Arc<dyn Store>,
) {
    let user = create_user(&*store, "alice").await;
    store
        .create_client(&app_client("photos", false), t0(), &[])
        .await
        .unwrap();
    store
        .create_client(&app_client("notes", false), t0(), &[])
        .await
        .unwrap();
    assert!(store.get_grant(user, "photos").await.unwrap().is_none());
    let scopes = vec!["email".to_string(), "openid".to_string()];
    store
        .save_grant(
            user,
            "photos",
            &scopes,
            t0(),
            &[entry("consent_granted", Some(user))],
        )
        .await
        .unwrap();
    store
        .save_grant(user, "notes", &["openid".into()], t0() + mins(1), &[])
        .await
        .unwrap();
    let g = store.get_grant(user, "photos").await.unwrap().unwrap();
    assert_eq!(g.scopes, scopes);
    assert_eq!(g.client_name, "The photos app");
    let more = vec!["email".into(), "offline_access".into(), "openid".into()];
    store
        .save_grant(user, "photos", &more, t0() + mins(2), &[])
        .await
        .unwrap();
    let listed = store.list_grants(user).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|g| g.client_id.as_str())
            .collect::<Vec<_>>(),
        ["photos", "notes"],
        "newest first"
    );
    assert_eq!(listed[0].scopes, more);

    let parent = browser(&*store, user, None).await;
    let photos = app_session(&*store, user, "photos", parent).await;
    let notes = app_session(&*store, user, "notes", parent).await;
    assert!(
        store
            .delete_grant(
                user,
                "photos",
                t0() + mins(3),
                &[entry("consent_revoked", Some(user))]
            )
            .await
            .unwrap()
    );
    assert!(store.get_grant(user, "photos").await.unwrap().is_none());
    assert!(
        store
            .get_session(photos)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        store
            .get_session(notes)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert!(
        !store
            .delete_grant(user, "photos", t0() + mins(4), &[])
            .await
            .unwrap(),
        "nothing left to revoke"
    );
}

pub async fn an_app_sessions_end_queues_one_back_channel_logout_claimed_under_a_lease(
    store: Arc<dyn Store>,
) {
    let user = create_user(&*store, "alice").await;
    store
        .create_client(&app_client("photos", true), t0(), &[])
        .await
        .unwrap();
    store
        .create_client(&app_client("quiet", false), t0(), &[])
        .await
        .unwrap();
    let parent = browser(&*store, user, None).await;
    app_session(&*store, user, "photos", parent).await;
    app_session(&*store, user, "photos", parent).await;
    app_session(&*store, user, "quiet", parent).await;
    assert!(
        store
            .claim_backchannel(t0() + mins(1), t0() + mins(2), 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing before a session ends"
    );
    // Logout-all ends all three app sessions (and the browser session).
    store
        .revoke_user_sessions(user, t0() + mins(1), &[])
        .await
        .unwrap();
    let claimed = store
        .claim_backchannel(t0() + mins(1), t0() + mins(2), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed.len(),
        1,
        "one per app and browser session; none without a URI"
    );
    let l = &claimed[0];
    assert_eq!(l.client_id, "photos");
    assert_eq!(l.uri, "https://app.example/logout");
    assert_eq!(l.sub, user);
    assert_eq!(l.sid, parent);
    assert_eq!(l.attempts, 0);
    assert!(
        store
            .claim_backchannel(t0() + mins(1), t0() + mins(2), 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    store
        .settle_backchannel(
            l.id,
            &LogoutOutcome::Retry {
                at: t0() + mins(3),
                error: "answered 503".into(),
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_backchannel(t0() + mins(2), t0() + mins(4), 10)
            .await
            .unwrap()
            .is_empty(),
        "not before its retry"
    );
    let again = store
        .claim_backchannel(t0() + mins(3), t0() + mins(4), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    store
        .settle_backchannel(l.id, &LogoutOutcome::Delivered)
        .await
        .unwrap();
    assert!(
        store
            .claim_backchannel(t0() + mins(60), t0() + mins(61), 10)
            .await
            .unwrap()
            .is_empty(),
        "delivered: done"
    );

    // An account deleted: its live app sessions go by cascade, and the app is told.
    let bob = create_user(&*store, "bob").await;
    let bobs_browser = browser(&*store, bob, None).await;
    app_session(&*store, bob, "photos", bobs_browser).await;
    assert!(store.delete_user(bob, t0() + mins(5), &[]).await.unwrap());
    let claimed = store
        .claim_backchannel(t0() + mins(5), t0() + mins(6), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].sub, bob);
    // A purge of expired sessions is no logout.
    let carol = create_user(&*store, "carol").await;
    let carols_browser = browser(&*store, carol, None).await;
    app_session(&*store, carol, "photos", carols_browser).await;
    store
        .purge_expired(t0() + Duration::days(30))
        .await
        .unwrap();
    assert!(
        store
            .claim_backchannel(t0() + Duration::days(30), t0() + Duration::days(31), 10)
            .await
            .unwrap()
            .iter()
            .all(|l| l.sub != carol)
    );
}
