//! MfaStore (mfa_totp, mfa_recovery_codes, mfa_challenges) and the sessions' record of how
//! their user signed in: the conditional writes that make a TOTP step, a recovery code and an
//! `mfa_token` work once, even when two replicas race for them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sesame_core::store::{
    Assurance, ChallengeKind, MfaCompletion, MfaProof, NewBrowserSession, NewMfaChallenge,
    OutboxMessage, SealedSecret, Store,
};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::{count_events, create_user, entry, mins, new_session, t0, token};

fn secret(byte: u8) -> SealedSecret {
    SealedSecret(vec![byte; 49])
}

fn codes(n: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i; 32]).collect()
}

/// A user with a confirmed TOTP whose last step is `step`, and recovery codes `codes(10)`.
async fn enrolled(store: &dyn Store, local: &str, step: i64) -> Uuid {
    let user = create_user(store, local).await;
    assert!(store.begin_totp(user, &secret(1), t0()).await.unwrap());
    assert!(
        store
            .confirm_totp(user, step, &codes(10), t0(), &[])
            .await
            .unwrap()
    );
    user
}

async fn challenge(store: &dyn Store, user: Uuid, kind: ChallengeKind) -> Vec<u8> {
    let hash = token();
    store
        .create_mfa_challenge(&NewMfaChallenge {
            hash: hash.clone(),
            user_id: user,
            kind,
            audience: vec!["api".into(), "gallery".into()],
            created_at: t0(),
            expires_at: t0() + mins(5),
        })
        .await
        .unwrap();
    hash
}

fn notice(at: DateTime<Utc>) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        recipient: "alice@example.com".into(),
        subject: "Your second factors were removed".into(),
        text_body: "An administrator removed them.".into(),
        html_body: "<p>An administrator removed them.</p>".into(),
        created_at: at,
        expires_at: at + chrono::Duration::days(7),
        attempts: 0,
    }
}

pub async fn totp_enrollment_is_pending_until_confirmed_then_refused_again(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let none = store.mfa_factors(user).await.unwrap();
    assert!(none.totp.is_none() && !none.has_second_factor());
    assert_eq!(none.recovery_codes_left, 0);
    // Confirming without a pending enrollment changes nothing.
    assert!(
        !store
            .confirm_totp(
                user,
                7,
                &codes(10),
                t0(),
                &[entry("mfa_enrolled", Some(user))]
            )
            .await
            .unwrap()
    );

    assert!(store.begin_totp(user, &secret(1), t0()).await.unwrap());
    // A second enrollment before confirmation replaces the pending secret.
    assert!(
        store
            .begin_totp(user, &secret(2), t0() + mins(1))
            .await
            .unwrap()
    );
    let pending = store.mfa_factors(user).await.unwrap();
    let totp = pending.totp.clone().unwrap();
    assert_eq!(totp.secret, secret(2));
    assert_eq!(totp.created_at, t0() + mins(1));
    assert_eq!(totp.confirmed_at, None);
    assert!(
        !pending.has_second_factor(),
        "a pending secret signs no one in"
    );

    assert!(
        store
            .confirm_totp(
                user,
                7,
                &codes(10),
                t0() + mins(2),
                &[entry("mfa_enrolled", Some(user))]
            )
            .await
            .unwrap()
    );
    let confirmed = store.mfa_factors(user).await.unwrap();
    assert!(confirmed.has_second_factor());
    let totp = confirmed.totp.unwrap();
    assert_eq!(totp.confirmed_at, Some(t0() + mins(2)));
    assert_eq!(totp.last_step, Some(7), "the confirming code is used");
    assert_eq!(confirmed.recovery_codes_left, 10);
    assert_eq!(count_events(&*store, "mfa_enrolled").await, 1);

    // Enrolled: a new enrollment and a second confirmation are refused, nothing changed.
    assert!(!store.begin_totp(user, &secret(3), t0()).await.unwrap());
    assert!(
        !store
            .confirm_totp(
                user,
                9,
                &codes(3),
                t0(),
                &[entry("mfa_enrolled", Some(user))]
            )
            .await
            .unwrap()
    );
    let still = store.mfa_factors(user).await.unwrap();
    assert_eq!(still.totp.unwrap().secret, secret(2));
    assert_eq!(still.recovery_codes_left, 10);
    assert_eq!(count_events(&*store, "mfa_enrolled").await, 1);
}

pub async fn a_time_step_and_a_recovery_code_work_once(store: Arc<dyn Store>) {
    let user = enrolled(&*store, "alice", 100).await;
    let api = challenge(&*store, user, ChallengeKind::Api).await;
    // The confirming step, and an older one, are refused; nothing is spent.
    for old in [100, 99] {
        assert_eq!(
            store
                .complete_mfa_challenge(&api, user, &MfaProof::TotpStep(old), t0(), &[])
                .await
                .unwrap(),
            MfaCompletion::FactorRefused
        );
    }
    let open = store.find_mfa_challenge(&api, t0()).await.unwrap().unwrap();
    assert_eq!(open.user_id, user);
    assert_eq!(open.kind, ChallengeKind::Api);
    assert_eq!(open.audience, ["api", "gallery"]);
    assert_eq!(open.expires_at, t0() + mins(5));

    assert_eq!(
        store
            .complete_mfa_challenge(
                &api,
                user,
                &MfaProof::TotpStep(101),
                t0(),
                &[entry("login_succeeded", Some(user))]
            )
            .await
            .unwrap(),
        MfaCompletion::Completed
    );
    assert_eq!(
        store
            .mfa_factors(user)
            .await
            .unwrap()
            .totp
            .unwrap()
            .last_step,
        Some(101)
    );
    assert_eq!(count_events(&*store, "login_succeeded").await, 1);
    assert!(
        store
            .find_mfa_challenge(&api, t0())
            .await
            .unwrap()
            .is_none()
    );
    // The spent challenge works no more, even with a fresh step.
    assert_eq!(
        store
            .complete_mfa_challenge(&api, user, &MfaProof::TotpStep(102), t0(), &[])
            .await
            .unwrap(),
        MfaCompletion::ChallengeGone
    );
    // Step 101 again, in a new challenge: a replay.
    let again = challenge(&*store, user, ChallengeKind::Api).await;
    assert_eq!(
        store
            .complete_mfa_challenge(&again, user, &MfaProof::TotpStep(101), t0(), &[])
            .await
            .unwrap(),
        MfaCompletion::FactorRefused
    );

    // A recovery code works once; an unknown one never.
    let code = MfaProof::RecoveryCode(codes(10)[3].clone());
    assert_eq!(
        store
            .complete_mfa_challenge(
                &again,
                user,
                &MfaProof::RecoveryCode(vec![99; 32]),
                t0(),
                &[]
            )
            .await
            .unwrap(),
        MfaCompletion::FactorRefused
    );
    assert_eq!(
        store
            .complete_mfa_challenge(
                &again,
                user,
                &code,
                t0(),
                &[entry("recovery_code_used", Some(user))]
            )
            .await
            .unwrap(),
        MfaCompletion::Completed
    );
    assert_eq!(
        store.mfa_factors(user).await.unwrap().recovery_codes_left,
        9
    );
    let third = challenge(&*store, user, ChallengeKind::Api).await;
    assert_eq!(
        store
            .complete_mfa_challenge(
                &third,
                user,
                &code,
                t0(),
                &[entry("recovery_code_used", Some(user))]
            )
            .await
            .unwrap(),
        MfaCompletion::FactorRefused
    );
    assert_eq!(count_events(&*store, "recovery_code_used").await, 1);
    assert!(
        store
            .find_mfa_challenge(&third, t0())
            .await
            .unwrap()
            .is_some(),
        "a refused code leaves the challenge open"
    );
}

pub async fn challenges_are_bound_to_their_user_and_expire(store: Arc<dyn Store>) {
    let alice = enrolled(&*store, "alice", 100).await;
    let bob = enrolled(&*store, "bob", 100).await;
    let alices = challenge(&*store, alice, ChallengeKind::Browser).await;
    // Bob's right step does not finish Alice's challenge.
    assert_eq!(
        store
            .complete_mfa_challenge(&alices, bob, &MfaProof::TotpStep(101), t0(), &[])
            .await
            .unwrap(),
        MfaCompletion::ChallengeGone
    );
    assert_eq!(
        store
            .mfa_factors(bob)
            .await
            .unwrap()
            .totp
            .unwrap()
            .last_step,
        Some(100),
        "nothing spent"
    );
    assert_eq!(
        store
            .find_mfa_challenge(&alices, t0())
            .await
            .unwrap()
            .unwrap()
            .kind,
        ChallengeKind::Browser
    );
    assert!(
        store
            .find_mfa_challenge(&token(), t0())
            .await
            .unwrap()
            .is_none()
    );
    // Expired: not found, not completed, purged.
    let late = t0() + mins(5);
    assert!(
        store
            .find_mfa_challenge(&alices, late)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .complete_mfa_challenge(&alices, alice, &MfaProof::TotpStep(101), late, &[])
            .await
            .unwrap(),
        MfaCompletion::ChallengeGone
    );
    let fresh = challenge(&*store, alice, ChallengeKind::Api).await;
    assert_eq!(store.purge_mfa_challenges(t0() + mins(4)).await.unwrap(), 0);
    assert_eq!(store.purge_mfa_challenges(t0() + mins(6)).await.unwrap(), 2);
    assert!(
        store
            .find_mfa_challenge(&fresh, t0())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn concurrent_completions_have_one_winner(store: Arc<dyn Store>) {
    let user = enrolled(&*store, "alice", 100).await;
    // Two replicas, one challenge each, the same step: one wins.
    let both = [
        challenge(&*store, user, ChallengeKind::Api).await,
        challenge(&*store, user, ChallengeKind::Api).await,
    ];
    let barrier = Arc::new(Barrier::new(2));
    let mut racers = Vec::new();
    for hash in both.clone() {
        let (store, barrier) = (store.clone(), barrier.clone());
        racers.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .complete_mfa_challenge(&hash, user, &MfaProof::TotpStep(101), t0(), &[])
                .await
                .unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for r in racers {
        outcomes.push(r.await.unwrap());
    }
    outcomes.sort_by_key(|o| *o == MfaCompletion::Completed);
    assert_eq!(
        outcomes,
        [MfaCompletion::FactorRefused, MfaCompletion::Completed],
        "one step, one sign-in"
    );
    // One challenge, two different right codes at once: one wins, and the loser's recovery
    // code is not used up.
    let one = challenge(&*store, user, ChallengeKind::Api).await;
    let barrier = Arc::new(Barrier::new(2));
    let mut racers = Vec::new();
    for proof in [
        MfaProof::TotpStep(102),
        MfaProof::RecoveryCode(codes(10)[0].clone()),
    ] {
        let (store, barrier, one) = (store.clone(), barrier.clone(), one.clone());
        racers.push(tokio::spawn(async move {
            barrier.wait().await;
            let outcome = store
                .complete_mfa_challenge(&one, user, &proof, t0(), &[])
                .await
                .unwrap();
            (proof, outcome)
        }));
    }
    let mut winners = 0;
    for r in racers {
        let (proof, outcome) = r.await.unwrap();
        match outcome {
            MfaCompletion::Completed => winners += 1,
            MfaCompletion::ChallengeGone => {
                if let MfaProof::RecoveryCode(_) = proof {
                    assert_eq!(
                        store.mfa_factors(user).await.unwrap().recovery_codes_left,
                        10
                    );
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1);
}

pub async fn removing_factors_takes_codes_and_challenges_along(store: Arc<dyn Store>) {
    let alice = enrolled(&*store, "alice", 100).await;
    let open = challenge(&*store, alice, ChallengeKind::Api).await;
    // New recovery codes replace the old set whole.
    let fresh: Vec<Vec<u8>> = (0..10u8).map(|i| vec![100 + i; 32]).collect();
    assert!(
        store
            .replace_recovery_codes(
                alice,
                &fresh,
                t0(),
                &[entry("recovery_codes_regenerated", Some(alice))]
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.mfa_factors(alice).await.unwrap().recovery_codes_left,
        10
    );
    assert_eq!(
        store
            .complete_mfa_challenge(
                &open,
                alice,
                &MfaProof::RecoveryCode(codes(10)[0].clone()),
                t0(),
                &[]
            )
            .await
            .unwrap(),
        MfaCompletion::FactorRefused,
        "the old set died"
    );

    assert!(
        store
            .remove_totp(alice, &[entry("mfa_removed", Some(alice))])
            .await
            .unwrap()
    );
    let gone = store.mfa_factors(alice).await.unwrap();
    assert!(gone.totp.is_none());
    assert_eq!(
        gone.recovery_codes_left, 0,
        "no factor left: no codes either"
    );
    assert!(
        store
            .find_mfa_challenge(&open, t0())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count_events(&*store, "mfa_removed").await, 1);
    // Nothing left to remove, nothing to regenerate: no audit.
    assert!(
        !store
            .remove_totp(alice, &[entry("mfa_removed", Some(alice))])
            .await
            .unwrap()
    );
    assert!(
        !store
            .replace_recovery_codes(
                alice,
                &fresh,
                t0(),
                &[entry("recovery_codes_regenerated", Some(alice))]
            )
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "mfa_removed").await, 1);
    assert_eq!(count_events(&*store, "recovery_codes_regenerated").await, 1);

    // An admin's removal: every factor, the notice queued and the audit written with it.
    let bob = enrolled(&*store, "bob", 100).await;
    let bobs = challenge(&*store, bob, ChallengeKind::Browser).await;
    let message = notice(t0());
    assert!(
        store
            .remove_mfa(bob, &message, &[entry("mfa_removed", Some(bob))])
            .await
            .unwrap()
    );
    let gone = store.mfa_factors(bob).await.unwrap();
    assert!(gone.totp.is_none() && gone.recovery_codes_left == 0);
    assert!(
        store
            .find_mfa_challenge(&bobs, t0())
            .await
            .unwrap()
            .is_none()
    );
    let queued = store.get_outbox_message(message.id).await.unwrap().unwrap();
    assert_eq!(queued.subject, message.subject);
    assert_eq!(queued.text_body, message.text_body);
    assert_eq!(count_events(&*store, "mfa_removed").await, 2);
    // Nothing enrolled: nothing queued, nothing audited.
    let again = notice(t0());
    assert!(
        !store
            .remove_mfa(bob, &again, &[entry("mfa_removed", Some(bob))])
            .await
            .unwrap()
    );
    assert!(store.get_outbox_message(again.id).await.unwrap().is_none());
    assert_eq!(count_events(&*store, "mfa_removed").await, 2);

    // Deleting the user takes the factors along.
    let carol = enrolled(&*store, "carol", 1).await;
    challenge(&*store, carol, ChallengeKind::Api).await;
    assert!(store.delete_user(carol, t0(), &[]).await.unwrap());
    let gone = store.mfa_factors(carol).await.unwrap();
    assert!(gone.totp.is_none() && gone.recovery_codes_left == 0);
}

pub async fn sessions_keep_how_their_user_signed_in(store: Arc<dyn Store>) {
    let user = create_user(&*store, "alice").await;
    let first = token();
    let mut session = new_session(user, &first, t0(), t0() + chrono::Duration::days(1));
    session.assurance = Assurance::password_and_otp();
    store.create_session(&session).await.unwrap();
    let got = store.get_session(session.id).await.unwrap().unwrap();
    assert_eq!(got.assurance, Assurance::password_and_otp());
    assert_eq!(got.assurance.amr, ["pwd", "otp", "mfa"]);
    assert_eq!(got.assurance.acr, "aal2");
    // A rotation hands it back, for the refreshed token.
    let rotated = store
        .rotate_refresh(
            session.id,
            &first,
            &token(),
            t0() + mins(1),
            t0() + chrono::Duration::days(1),
            t0() + mins(16),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.session.assurance, Assurance::password_and_otp());

    let (plain, _) =
        crate::open_session(&*store, user, t0(), t0() + chrono::Duration::days(1)).await;
    assert_eq!(
        store.get_session(plain).await.unwrap().unwrap().assurance,
        Assurance::password()
    );
    let cookie = token();
    let browser = NewBrowserSession {
        id: Uuid::now_v7(),
        user_id: user,
        cookie_hash: cookie.clone(),
        now: t0(),
        expires_at: t0() + mins(60),
        ip: None,
        user_agent: None,
        replacing: None,
        assurance: Assurance::password_and_otp(),
    };
    store.create_browser_session(&browser, &[]).await.unwrap();
    let found = store.find_browser_session(&cookie).await.unwrap().unwrap();
    assert_eq!(found.assurance.acr, "aal2");
    let listed = store.list_active_sessions(user, t0()).await.unwrap();
    assert_eq!(listed.len(), 3);
}
