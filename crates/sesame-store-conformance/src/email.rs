//! EmailStore: emailed tokens are single-use and expire, a reset ends every session in the
//! same transaction, a verification moves the address, and the outbox hands each due message
//! to one sender until it is marked sent.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sesame_core::store::{
    EmailPurpose, NewEmailToken, OutboxMessage, Store, StoreError, StoreResult,
};
use uuid::Uuid;

use crate::{count_events, create_user, entry, mins, open_session, t0, token};

pub(crate) fn email_token(user_id: Uuid, purpose: EmailPurpose, email: &str) -> NewEmailToken {
    NewEmailToken {
        hash: token(),
        user_id,
        purpose,
        email: email.to_string(),
        email_canonical: email.to_lowercase(),
        created_at: t0(),
        expires_at: t0() + mins(30),
    }
}

pub(crate) fn message(to: &str) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        recipient: to.to_string(),
        subject: "subject".into(),
        text_body: "text with a link".into(),
        html_body: "<p>html</p>".into(),
        created_at: t0(),
        expires_at: t0() + mins(30),
        attempts: 0,
    }
}

/// Queues a reset token for `user` at `email` and returns its hash.
pub(crate) async fn reset_token(store: &dyn Store, user: Uuid, email: &str) -> Vec<u8> {
    let t = email_token(user, EmailPurpose::Reset, email);
    store
        .enqueue_email(&t, &message(email), None, &[])
        .await
        .unwrap();
    t.hash
}

/// Whether a reset token still works (looked up, not spent).
async fn reset_works(store: &dyn Store, hash: &[u8], at: DateTime<Utc>) -> bool {
    store
        .find_email_token(hash, EmailPurpose::Reset, at)
        .await
        .unwrap()
        .is_some()
}

pub async fn email_tokens_are_counted_found_and_expire(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let t = email_token(alice, EmailPurpose::Reset, "alice@example.com");
    store
        .enqueue_email(
            &t,
            &message("alice@example.com"),
            None,
            &[entry("queued", Some(alice))],
        )
        .await
        .unwrap();
    assert_eq!(count_events(&*store, "queued").await, 1);
    assert_eq!(
        store
            .count_email_tokens(alice, EmailPurpose::Reset, t0() - mins(60))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_email_tokens(alice, EmailPurpose::Verify, t0() - mins(60))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .count_email_tokens(alice, EmailPurpose::Reset, t0() + mins(1))
            .await
            .unwrap(),
        0
    );
    let found = store
        .find_email_token(&t.hash, EmailPurpose::Reset, t0() + mins(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.user_id, alice);
    assert_eq!(found.email, "alice@example.com");
    // Wrong purpose, expired, or unknown: not found.
    for (hash, purpose, at) in [
        (t.hash.clone(), EmailPurpose::Verify, t0()),
        (t.hash.clone(), EmailPurpose::Reset, t0() + mins(30)),
        (token(), EmailPurpose::Reset, t0()),
    ] {
        assert!(
            store
                .find_email_token(&hash, purpose, at)
                .await
                .unwrap()
                .is_none()
        );
    }
    // A limit counts tokens of the purpose since the given time, inside the transaction.
    let second = email_token(alice, EmailPurpose::Reset, "alice@example.com");
    let limit = Some((t0() - mins(60), 1));
    assert!(
        !store
            .enqueue_email(
                &second,
                &message("alice@example.com"),
                limit,
                &[entry("over", None)]
            )
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "over").await, 0);
    assert!(
        store
            .find_email_token(&second.hash, EmailPurpose::Reset, t0())
            .await
            .unwrap()
            .is_none()
    );
    let verify = email_token(alice, EmailPurpose::Verify, "alice@example.com");
    assert!(
        store
            .enqueue_email(&verify, &message("alice@example.com"), limit, &[])
            .await
            .unwrap()
    );
    // Expired tokens are purged.
    assert!(store.purge_email(t0() + mins(31)).await.unwrap() >= 1);
    assert_eq!(
        store
            .count_email_tokens(alice, EmailPurpose::Reset, t0() - mins(60))
            .await
            .unwrap(),
        0
    );
}

pub async fn reset_password_is_single_use_and_ends_sessions(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let (s1, _) = open_session(&*store, alice, t0(), t0() + Duration::days(1)).await;
    let (s2, _) = open_session(&*store, alice, t0(), t0() + Duration::days(1)).await;
    let t = email_token(alice, EmailPurpose::Reset, "alice@example.com");
    store
        .enqueue_email(&t, &message("alice@example.com"), None, &[])
        .await
        .unwrap();
    // A verification token is no reset token.
    let v = email_token(alice, EmailPurpose::Verify, "alice@example.com");
    store
        .enqueue_email(&v, &message("alice@example.com"), None, &[])
        .await
        .unwrap();
    assert!(
        store
            .reset_password(&v.hash, "$argon2id$new", t0() + mins(1), &[])
            .await
            .unwrap()
            .is_none()
    );
    // Expired: refused, nothing changes.
    assert!(
        store
            .reset_password(
                &t.hash,
                "$argon2id$new",
                t0() + mins(30),
                &[entry("no", None)]
            )
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count_events(&*store, "no").await, 0);
    let (user, ended) = store
        .reset_password(
            &t.hash,
            "$argon2id$new",
            t0() + mins(1),
            &[entry("password_reset", Some(alice))],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((user, ended), (alice, 2));
    assert_eq!(count_events(&*store, "password_reset").await, 1);
    let u = store.get_user(alice).await.unwrap().unwrap();
    assert_eq!(u.password_hash, "$argon2id$new");
    for s in [s1, s2] {
        assert!(
            store
                .get_session(s)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
    }
    let feed = store.revocations_after(0).await.unwrap().entries;
    assert!(feed.iter().any(|r| r.subject == s1.to_string()));
    // Used: refused the second time.
    assert!(
        store
            .reset_password(&t.hash, "$argon2id$other", t0() + mins(2), &[])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_email_token(&t.hash, EmailPurpose::Reset, t0() + mins(2))
            .await
            .unwrap()
            .is_none()
    );
}

/// Django ties its reset tokens to the password hash and the email for this reason: a reset link
/// dies when another reset link of the user is used, when the password changes, and when the
/// email changes — in the transaction of that change. Other users' links live on.
pub async fn reset_links_die_with_a_reset_a_password_change_and_an_email_change(
    store: Arc<dyn Store>,
) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let bobs = reset_token(&*store, bob, "bob@example.com").await;
    let at = t0() + mins(1);

    // One reset link used: the others die with it.
    let used = reset_token(&*store, alice, "alice@example.com").await;
    let other = reset_token(&*store, alice, "alice@example.com").await;
    store
        .reset_password(&used, "$argon2id$reset", at, &[])
        .await
        .unwrap()
        .unwrap();
    assert!(!reset_works(&*store, &other, at).await);
    assert!(
        store
            .reset_password(&other, "$argon2id$again", at, &[])
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.get_user(alice).await.unwrap().unwrap().password_hash,
        "$argon2id$reset"
    );

    // The password changed (POST /auth/password): every open reset link dies.
    let before_change = reset_token(&*store, alice, "alice@example.com").await;
    store
        .set_password(alice, "$argon2id$changed", None, at, &[])
        .await
        .unwrap();
    assert!(!reset_works(&*store, &before_change, at).await);

    // Verifying the current address again changes nothing: the link lives.
    let live = reset_token(&*store, alice, "alice@example.com").await;
    let same = email_token(alice, EmailPurpose::Verify, "alice@example.com");
    store
        .enqueue_email(&same, &message("alice@example.com"), None, &[])
        .await
        .unwrap();
    store
        .verify_email(&same.hash, at, &[])
        .await
        .unwrap()
        .unwrap();
    assert!(reset_works(&*store, &live, at).await);
    // ...but the email changing kills it.
    let old_address = email_token(alice, EmailPurpose::Verify, "alice@example.com");
    let renewed = email_token(alice, EmailPurpose::Verify, "alice2@example.com");
    for v in [&old_address, &renewed] {
        store
            .enqueue_email(v, &message(&v.email), None, &[])
            .await
            .unwrap();
    }
    store
        .verify_email(&renewed.hash, at, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        store.get_user(alice).await.unwrap().unwrap().email,
        "alice2@example.com"
    );
    assert!(!reset_works(&*store, &live, at).await);
    assert!(
        store
            .reset_password(&live, "$argon2id$late", at, &[])
            .await
            .unwrap()
            .is_none()
    );
    // A verification link for the old address can no longer move the account back to it.
    assert!(
        store
            .verify_email(&old_address.hash, at, &[])
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.get_user(alice).await.unwrap().unwrap().email,
        "alice2@example.com"
    );
    // A reset link asked for after the change works.
    let fresh = reset_token(&*store, alice, "alice2@example.com").await;
    assert!(reset_works(&*store, &fresh, at).await);
    // Bob's link was never touched.
    assert!(reset_works(&*store, &bobs, at).await);
}

/// `pending_email`, checked against what `get_profile` says in its one read.
async fn pending(store: &dyn Store, user: Uuid, now: DateTime<Utc>) -> StoreResult<Option<String>> {
    let alone = store.pending_email(user, now).await?;
    let (profile, with) = store
        .get_profile(user, now)
        .await?
        .expect("the user exists");
    assert_eq!(profile.id, user);
    assert_eq!(with, alone, "get_profile and pending_email agree at {now}");
    Ok(alone)
}

pub async fn verify_email_moves_the_address_once(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    create_user(&*store, "bob").await;
    assert!(!store.get_user(alice).await.unwrap().unwrap().email_verified);
    assert_eq!(pending(&*store, alice, t0()).await.unwrap(), None);
    let same = email_token(alice, EmailPurpose::Verify, "alice@example.com");
    store
        .enqueue_email(&same, &message("alice@example.com"), None, &[])
        .await
        .unwrap();
    // A token for the current address is no pending change.
    assert_eq!(pending(&*store, alice, t0()).await.unwrap(), None);
    let new = email_token(alice, EmailPurpose::Verify, "Alice.New@example.com");
    store
        .enqueue_email(&new, &message("Alice.New@example.com"), None, &[])
        .await
        .unwrap();
    assert_eq!(
        pending(&*store, alice, t0()).await.unwrap().as_deref(),
        Some("Alice.New@example.com")
    );
    assert_eq!(
        pending(&*store, alice, t0() + mins(30)).await.unwrap(),
        None
    );
    // A reset token does not verify.
    let r = email_token(alice, EmailPurpose::Reset, "alice@example.com");
    store
        .enqueue_email(&r, &message("alice@example.com"), None, &[])
        .await
        .unwrap();
    assert!(
        store
            .verify_email(&r.hash, t0(), &[])
            .await
            .unwrap()
            .is_none()
    );

    let who = store
        .verify_email(
            &new.hash,
            t0() + mins(1),
            &[entry("email_verified", Some(alice))],
        )
        .await
        .unwrap();
    assert_eq!(who, Some(alice));
    let u = store.get_user(alice).await.unwrap().unwrap();
    assert_eq!(u.email, "Alice.New@example.com");
    assert!(u.email_verified);
    assert_eq!(
        store
            .find_user_by_login("alice.new@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(alice)
    );
    assert_eq!(pending(&*store, alice, t0()).await.unwrap(), None);
    // Used, and the user's other open verification tokens are spent with it.
    assert!(
        store
            .verify_email(&new.hash, t0() + mins(2), &[])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .verify_email(&same.hash, t0() + mins(2), &[])
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count_events(&*store, "email_verified").await, 1);

    // An address taken meanwhile: a conflict, and nothing changes.
    let taken = email_token(alice, EmailPurpose::Verify, "bob@example.com");
    store
        .enqueue_email(&taken, &message("bob@example.com"), None, &[])
        .await
        .unwrap();
    let err = store
        .verify_email(&taken.hash, t0() + mins(3), &[entry("no", Some(alice))])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(count_events(&*store, "no").await, 0);
    assert_eq!(
        store.get_user(alice).await.unwrap().unwrap().email,
        "Alice.New@example.com"
    );
    // The failed attempt did not spend the token.
    assert!(
        store
            .find_email_token(&taken.hash, EmailPurpose::Verify, t0() + mins(3))
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn outbox_leases_retries_and_marks_sent(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let first = message("alice@example.com");
    let second = message("alice@example.com");
    for m in [&first, &second] {
        let t = email_token(alice, EmailPurpose::Verify, "alice@example.com");
        store.enqueue_email(&t, m, None, &[]).await.unwrap();
    }
    // Not due before it was created.
    assert!(
        store
            .claim_outbox(t0() - mins(1), t0() + mins(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store.claim_outbox(t0(), t0() + mins(1), 1).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, first.id);
    assert_eq!(claimed[0].text_body, "text with a link");
    // Leased: a second sender gets only the other one.
    let other = store.claim_outbox(t0(), t0() + mins(1), 10).await.unwrap();
    assert_eq!(other.iter().map(|m| m.id).collect::<Vec<_>>(), [second.id]);
    // A failure counts and reschedules.
    store
        .outbox_failed(first.id, t0() + mins(5), "connection refused")
        .await
        .unwrap();
    // The other one's lease ran out without a report (a crashed sender): it is due again.
    let lapsed = store
        .claim_outbox(t0() + mins(2), t0() + mins(3), 10)
        .await
        .unwrap();
    assert_eq!(lapsed.iter().map(|m| m.id).collect::<Vec<_>>(), [second.id]);
    let again = store
        .claim_outbox(t0() + mins(5), t0() + mins(6), 10)
        .await
        .unwrap();
    let ids: Vec<Uuid> = again.iter().map(|m| m.id).collect();
    assert_eq!(ids, [first.id, second.id]);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[1].attempts, 0);
    // Sent: never handed out again, and purged later.
    store.outbox_sent(first.id, t0() + mins(5)).await.unwrap();
    store.outbox_sent(second.id, t0() + mins(5)).await.unwrap();
    assert!(
        store
            .claim_outbox(t0() + mins(60), t0() + mins(61), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A late failure report for a sent message changes nothing.
    store.outbox_failed(first.id, t0(), "late").await.unwrap();
    assert!(
        store
            .claim_outbox(t0() + mins(60), t0() + mins(61), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.purge_email(t0() + mins(10)).await.unwrap() >= 2);
}

/// An undelivered message whose link expired is given up: never handed out again, its bodies
/// (which hold the link) cleared, purged a day later like a sent one. A sent message keeps no
/// link either.
pub async fn outbox_gives_up_expired_links_and_keeps_no_link(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let late = message("alice@example.com");
    let sent = message("alice@example.com");
    let fresh = OutboxMessage {
        expires_at: t0() + mins(120),
        ..message("alice@example.com")
    };
    for m in [&late, &sent, &fresh] {
        let t = email_token(alice, EmailPurpose::Reset, "alice@example.com");
        store.enqueue_email(&t, m, None, &[]).await.unwrap();
    }
    let stored = store.get_outbox_message(late.id).await.unwrap().unwrap();
    assert_eq!(stored.text_body, "text with a link");
    assert_eq!(stored.expires_at, t0() + mins(30));
    // Delivered in time: the row keeps no link.
    let claimed = store.claim_outbox(t0(), t0() + mins(1), 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    store.outbox_sent(sent.id, t0() + mins(1)).await.unwrap();
    let stored = store.get_outbox_message(sent.id).await.unwrap().unwrap();
    assert!(
        stored.text_body.is_empty() && stored.html_body.is_empty(),
        "a sent message keeps its link"
    );
    // The others failed and are due again after their links expired (for `late`) or before
    // (for `fresh`).
    for m in [&late, &fresh] {
        store
            .outbox_failed(m.id, t0() + mins(31), "connection refused")
            .await
            .unwrap();
    }
    let again = store
        .claim_outbox(t0() + mins(31), t0() + mins(32), 10)
        .await
        .unwrap();
    assert_eq!(again.iter().map(|m| m.id).collect::<Vec<_>>(), [fresh.id]);
    let given_up = store.get_outbox_message(late.id).await.unwrap().unwrap();
    assert!(
        given_up.text_body.is_empty() && given_up.html_body.is_empty(),
        "a given-up message keeps its link"
    );
    // A late failure report changes nothing; it is never handed out again.
    store.outbox_failed(late.id, t0(), "late").await.unwrap();
    assert!(
        store
            .claim_outbox(t0() + mins(33), t0() + mins(34), 10)
            .await
            .unwrap()
            .iter()
            .all(|m| m.id == fresh.id)
    );
    // Kept a while for support questions, then purged with the sent one.
    store.purge_email(t0() + mins(20)).await.unwrap();
    assert!(store.get_outbox_message(late.id).await.unwrap().is_some());
    store.purge_email(t0() + mins(40)).await.unwrap();
    assert!(store.get_outbox_message(late.id).await.unwrap().is_none());
    assert!(store.get_outbox_message(sent.id).await.unwrap().is_none());
    assert!(store.get_outbox_message(fresh.id).await.unwrap().is_some());
}
