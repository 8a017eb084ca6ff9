//! PasskeyStore (passkeys, webauthn_ceremonies) and the passkey's place among the second
//! factors: one account per credential id, ceremonies taken once, the counter moving forward
//! by one conditional write (also inside a sign-in's second step), and the recovery codes
//! going with the last second factor.

use std::sync::Arc;

use sesame_core::store::{
    Ceremony, CeremonyKind, ChallengeKind, MfaCompletion, MfaProof, NewMfaChallenge, PasskeyRecord,
    PasskeyUse, Store,
};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::{count_events, create_user, entry, mins, t0, token};

fn passkey(user: Uuid, credential_id: &[u8], name: &str) -> PasskeyRecord {
    PasskeyRecord {
        id: Uuid::now_v7(),
        user_id: user,
        credential_id: credential_id.to_vec(),
        name: name.into(),
        credential: format!("{{\"cred\":\"{name}\"}}"),
        sign_count: 0,
        created_at: t0(),
        last_used_at: None,
    }
}

fn ceremony(kind: CeremonyKind, user: Option<Uuid>) -> Ceremony {
    Ceremony {
        hash: token(),
        kind,
        user_id: user,
        mfa_hash: None,
        name: Some("Laptop".into()),
        state: "{\"state\":1}".into(),
        created_at: t0(),
        expires_at: t0() + mins(5),
    }
}

fn used(id: Uuid, sign_count: u32) -> PasskeyUse {
    PasskeyUse {
        id,
        credential: format!("{{\"count\":{sign_count}}}"),
        sign_count,
    }
}

pub async fn a_credential_id_belongs_to_one_account(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let first = passkey(alice, b"cred-1", "Laptop");
    assert!(
        store
            .add_passkey(&first, &[entry("passkey_added", Some(alice))])
            .await
            .unwrap()
    );
    // The same credential again, for bob or for alice: refused, nothing audited.
    assert!(
        !store
            .add_passkey(
                &passkey(bob, b"cred-1", "Phone"),
                &[entry("passkey_added", Some(bob))]
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .add_passkey(&passkey(alice, b"cred-1", "Again"), &[])
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "passkey_added").await, 1);
    // A user that does not exist gets none.
    assert!(
        !store
            .add_passkey(&passkey(Uuid::now_v7(), b"cred-2", "X"), &[])
            .await
            .unwrap()
    );
    let found = store
        .find_passkey_by_credential(b"cred-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id, found.user_id, found.name.as_str()),
        (first.id, alice, "Laptop")
    );
    assert_eq!(found.credential, first.credential);
    assert!(
        store
            .find_passkey_by_credential(b"nope")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .add_passkey(&passkey(alice, b"cred-3", "Key"), &[])
            .await
            .unwrap()
    );
    let list = store.list_passkeys(alice).await.unwrap();
    assert_eq!(list.len(), 2);
    assert!(store.list_passkeys(bob).await.unwrap().is_empty());
    let factors = store.mfa_factors(alice).await.unwrap();
    assert_eq!(factors.passkeys, 2);
    assert!(factors.has_second_factor() && !factors.has_totp());
}

pub async fn passkeys_are_renamed_and_removed_only_by_their_owner(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let key = passkey(alice, b"cred-1", "Laptop");
    assert!(store.add_passkey(&key, &[]).await.unwrap());
    assert!(!store.rename_passkey(bob, key.id, "Mine").await.unwrap());
    assert!(store.rename_passkey(alice, key.id, "Work").await.unwrap());
    assert_eq!(store.list_passkeys(alice).await.unwrap()[0].name, "Work");
    assert!(
        !store
            .remove_passkey(bob, key.id, &[entry("passkey_removed", Some(bob))])
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "passkey_removed").await, 0);
    assert!(
        store
            .remove_passkey(alice, key.id, &[entry("passkey_removed", Some(alice))])
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "passkey_removed").await, 1);
    assert!(store.list_passkeys(alice).await.unwrap().is_empty());
    // Gone with the account.
    assert!(
        store
            .add_passkey(&passkey(bob, b"cred-2", "Phone"), &[])
            .await
            .unwrap()
    );
    assert!(store.delete_user(bob, t0(), &[]).await.unwrap());
    assert!(
        store
            .find_passkey_by_credential(b"cred-2")
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn ceremonies_are_taken_once_and_expire(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let c = ceremony(CeremonyKind::Register, Some(alice));
    store.create_ceremony(&c).await.unwrap();
    let taken = store.take_ceremony(&c.hash, t0()).await.unwrap().unwrap();
    assert_eq!(taken.kind, CeremonyKind::Register);
    assert_eq!(taken.user_id, Some(alice));
    assert_eq!(taken.name.as_deref(), Some("Laptop"));
    assert_eq!(taken.state, c.state);
    assert!(store.take_ceremony(&c.hash, t0()).await.unwrap().is_none());
    // A discoverable sign-in names no user; an expired ceremony is gone for good.
    let open = ceremony(CeremonyKind::Login, None);
    store.create_ceremony(&open).await.unwrap();
    assert!(
        store
            .take_ceremony(&open.hash, t0() + mins(6))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .take_ceremony(&open.hash, t0())
            .await
            .unwrap()
            .is_none()
    );
    // Purge removes the expired only.
    let old = ceremony(CeremonyKind::Login, None);
    let fresh = Ceremony {
        expires_at: t0() + mins(60),
        ..ceremony(CeremonyKind::SecondFactor, Some(alice))
    };
    store.create_ceremony(&old).await.unwrap();
    store.create_ceremony(&fresh).await.unwrap();
    assert_eq!(store.purge_ceremonies(t0() + mins(10)).await.unwrap(), 1);
    assert!(
        store
            .take_ceremony(&fresh.hash, t0())
            .await
            .unwrap()
            .is_some()
    );
    // Two concurrent takers: one gets it.
    let raced = ceremony(CeremonyKind::Login, None);
    store.create_ceremony(&raced).await.unwrap();
    let barrier = Arc::new(Barrier::new(2));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (store, barrier, hash) = (store.clone(), barrier.clone(), raced.hash.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.take_ceremony(&hash, t0()).await.unwrap().is_some()
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
}

pub async fn the_signature_counter_only_moves_forward(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let key = passkey(alice, b"cred-1", "Laptop");
    assert!(store.add_passkey(&key, &[]).await.unwrap());
    // Authenticators without a counter stay at 0, and may be used again and again.
    assert!(store.use_passkey(&used(key.id, 0), t0()).await.unwrap());
    assert!(store.use_passkey(&used(key.id, 0), t0()).await.unwrap());
    assert!(
        store
            .use_passkey(&used(key.id, 5), t0() + mins(1))
            .await
            .unwrap()
    );
    let stored = store.list_passkeys(alice).await.unwrap().remove(0);
    assert_eq!(stored.sign_count, 5);
    assert_eq!(stored.credential, "{\"count\":5}");
    assert_eq!(stored.last_used_at, Some(t0() + mins(1)));
    // The same or an older count: refused, nothing written.
    for stale in [5, 4, 0] {
        assert!(
            !store
                .use_passkey(&used(key.id, stale), t0() + mins(2))
                .await
                .unwrap()
        );
    }
    let stored = store.list_passkeys(alice).await.unwrap().remove(0);
    assert_eq!(
        (stored.sign_count, stored.last_used_at),
        (5, Some(t0() + mins(1)))
    );
    // Two replicas with the same count (a cloned authenticator racing the real one): one wins.
    let barrier = Arc::new(Barrier::new(2));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.use_passkey(&used(key.id, 6), t0()).await.unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
}

pub async fn a_passkey_finishes_a_second_step_once(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let key = passkey(alice, b"cred-1", "Laptop");
    assert!(store.add_passkey(&key, &[]).await.unwrap());
    let challenge = |user| {
        let store = store.clone();
        async move {
            let hash = token();
            store
                .create_mfa_challenge(&NewMfaChallenge {
                    hash: hash.clone(),
                    user_id: user,
                    kind: ChallengeKind::Api,
                    audience: vec!["api".into()],
                    created_at: t0(),
                    expires_at: t0() + mins(5),
                })
                .await
                .unwrap();
            hash
        }
    };
    // Alice's passkey does not finish bob's challenge.
    let bobs = challenge(bob).await;
    assert_eq!(
        store
            .complete_mfa_challenge(&bobs, bob, &MfaProof::Passkey(used(key.id, 1)), t0(), &[])
            .await
            .unwrap(),
        MfaCompletion::FactorRefused
    );
    // Nothing was spent: bob's challenge is still open.
    assert!(
        store
            .find_mfa_challenge(&bobs, t0())
            .await
            .unwrap()
            .is_some()
    );
    let hers = challenge(alice).await;
    assert_eq!(
        store
            .complete_mfa_challenge(
                &hers,
                alice,
                &MfaProof::Passkey(used(key.id, 1)),
                t0(),
                &[entry("login_succeeded", Some(alice))]
            )
            .await
            .unwrap(),
        MfaCompletion::Completed
    );
    assert_eq!(store.list_passkeys(alice).await.unwrap()[0].sign_count, 1);
    // A second challenge with the same count: the factor is refused, the challenge kept.
    let again = challenge(alice).await;
    assert_eq!(
        store
            .complete_mfa_challenge(
                &again,
                alice,
                &MfaProof::Passkey(used(key.id, 1)),
                t0(),
                &[]
            )
            .await
            .unwrap(),
        MfaCompletion::FactorRefused
    );
    assert!(
        store
            .find_mfa_challenge(&again, t0())
            .await
            .unwrap()
            .is_some()
    );
}

pub async fn recovery_codes_stay_while_a_second_factor_is_left(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    // Recovery codes need a second factor: a passkey is one.
    assert!(
        !store
            .replace_recovery_codes(alice, &[vec![1; 32]], t0(), &[])
            .await
            .unwrap()
    );
    let laptop = passkey(alice, b"cred-1", "Laptop");
    let phone = passkey(alice, b"cred-2", "Phone");
    assert!(store.add_passkey(&laptop, &[]).await.unwrap());
    assert!(store.add_passkey(&phone, &[]).await.unwrap());
    let codes: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 32]).collect();
    assert!(
        store
            .replace_recovery_codes(alice, &codes, t0(), &[])
            .await
            .unwrap()
    );
    // One passkey left: the codes stay.
    assert!(store.remove_passkey(alice, laptop.id, &[]).await.unwrap());
    assert_eq!(
        store.mfa_factors(alice).await.unwrap().recovery_codes_left,
        10
    );
    // A TOTP beside it, then the last passkey goes: the TOTP holds the codes.
    assert!(
        store
            .begin_totp(alice, &sesame_core::store::SealedSecret(vec![1; 49]), t0())
            .await
            .unwrap()
    );
    assert!(
        store
            .confirm_totp(alice, 7, &codes, t0(), &[])
            .await
            .unwrap()
    );
    assert!(store.remove_passkey(alice, phone.id, &[]).await.unwrap());
    let factors = store.mfa_factors(alice).await.unwrap();
    assert_eq!((factors.passkeys, factors.recovery_codes_left), (0, 10));
    // The TOTP removed, nothing is left, and the codes go.
    assert!(store.remove_totp(alice, &[]).await.unwrap());
    let factors = store.mfa_factors(alice).await.unwrap();
    assert_eq!(factors.recovery_codes_left, 0);
    assert!(!factors.has_second_factor());
    // An admin's removal of everything takes the passkeys too.
    assert!(
        store
            .add_passkey(&passkey(alice, b"cred-3", "Key"), &[])
            .await
            .unwrap()
    );
    let notice = sesame_core::store::OutboxMessage {
        id: Uuid::now_v7(),
        recipient: "alice@example.com".into(),
        subject: "Your second factors were removed".into(),
        text_body: "An administrator removed them.".into(),
        html_body: "<p>An administrator removed them.</p>".into(),
        created_at: t0(),
        expires_at: t0() + chrono::Duration::days(7),
        attempts: 0,
    };
    assert!(store.remove_mfa(alice, &notice, &[]).await.unwrap());
    assert!(store.list_passkeys(alice).await.unwrap().is_empty());
}
