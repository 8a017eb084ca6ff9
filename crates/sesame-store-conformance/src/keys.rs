//! KeyStore: signing keys shared by replicas, instance secrets.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sesame_core::keys::{KeyPurpose, KeyRecord, KeyState, SigningAlg, generate_key_for};
use sesame_core::secret::ExposeSecret;
use sesame_core::store::{KeyRotation, Store};
use tokio::sync::Barrier;

use crate::{count_events, entry, mins, t0};

fn key(state: KeyState, now: DateTime<Utc>) -> KeyRecord {
    generate_key_for(KeyPurpose::Access, SigningAlg::EdDSA, state, now).unwrap()
}

/// An ID-token key. ES256, not the default RS256: the store keeps any algorithm alike, and an
/// RSA key per replica would make the races below slow to set up.
fn id_key(state: KeyState, now: DateTime<Utc>) -> KeyRecord {
    generate_key_for(KeyPurpose::IdToken, SigningAlg::ES256, state, now).unwrap()
}

fn rotation(new_next: KeyRecord, retire_until: DateTime<Utc>) -> KeyRotation {
    KeyRotation {
        new_next,
        retire_until,
    }
}

/// (kid, purpose, state) of every stored key.
async fn key_states(store: &dyn Store) -> BTreeSet<(String, &'static str, &'static str)> {
    store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.purpose.as_str(), k.state.as_str()))
        .collect()
}

fn by_kid<'a>(keys: &'a [KeyRecord], kid: &str) -> &'a KeyRecord {
    keys.iter()
        .find(|k| k.kid == kid)
        .unwrap_or_else(|| panic!("key {kid} missing"))
}

pub async fn init_keys_once(store: Arc<dyn Store>) {
    assert!(store.list_keys().await.unwrap().is_empty());
    let current = key(KeyState::Current, t0());
    let next = key(KeyState::Next, t0());
    assert!(store.init_keys(&current, &next).await.unwrap());

    let keys = store.list_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    let stored = by_kid(&keys, &current.kid);
    assert_eq!(stored.state, KeyState::Current);
    assert_eq!(stored.purpose, KeyPurpose::Access);
    assert_eq!(stored.alg, SigningAlg::EdDSA);
    assert_eq!(
        stored.private_der.expose_secret(),
        current.private_der.expose_secret()
    );
    assert_eq!(stored.public_jwk, current.public_jwk);
    assert_eq!(stored.created_at, t0());
    assert_eq!(stored.activated_at, Some(t0()));
    assert_eq!(stored.retire_until, None);
    let stored = by_kid(&keys, &next.kid);
    assert_eq!(stored.state, KeyState::Next);
    assert_eq!(stored.activated_at, None);

    let late = (key(KeyState::Current, t0()), key(KeyState::Next, t0()));
    assert!(
        !store.init_keys(&late.0, &late.1).await.unwrap(),
        "keys exist already"
    );
    let kids: BTreeSet<String> = store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, BTreeSet::from([current.kid, next.kid]));
}

pub async fn concurrent_init_keys_has_one_winner(store: Arc<dyn Store>) {
    const REPLICAS: usize = 8;
    let barrier = Arc::new(Barrier::new(REPLICAS));
    let mut replicas = Vec::new();
    for _ in 0..REPLICAS {
        let (store, barrier) = (store.clone(), barrier.clone());
        replicas.push(tokio::spawn(async move {
            let current = key(KeyState::Current, t0());
            let next = key(KeyState::Next, t0());
            barrier.wait().await;
            let won = store.init_keys(&current, &next).await.unwrap();
            (won, BTreeSet::from([current.kid, next.kid]))
        }));
    }
    let mut winners = Vec::new();
    for replica in replicas {
        let (won, kids) = replica.await.unwrap();
        if won {
            winners.push(kids);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one replica stores its keys");
    let stored: BTreeSet<String> = store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(stored, winners[0], "exactly the winner's two keys");
}

pub async fn rotate_keys_promotes_retires_and_drops(store: Arc<dyn Store>) {
    let a = key(KeyState::Current, t0());
    let b = key(KeyState::Next, t0());
    assert!(store.init_keys(&a, &b).await.unwrap());

    let t1 = t0() + mins(10);
    let r1 = t1 + Duration::hours(1);
    let c = key(KeyState::Next, t1);
    let c_kid = c.kid.clone();
    store
        .rotate_keys(&[rotation(c, r1)], t1, &[entry("key_rotated", None)])
        .await
        .unwrap();
    let keys = store.list_keys().await.unwrap();
    assert_eq!(keys.len(), 3);
    let old = by_kid(&keys, &a.kid);
    assert_eq!(old.state, KeyState::Retired);
    assert_eq!(old.retire_until, Some(r1));
    let signing = by_kid(&keys, &b.kid);
    assert_eq!(signing.state, KeyState::Current);
    assert_eq!(signing.activated_at, Some(t1));
    let waiting = by_kid(&keys, &c_kid);
    assert_eq!(waiting.state, KeyState::Next);
    assert_eq!(waiting.created_at, t1);

    // Past r1 every token `a` signed has expired: the next rotation drops it.
    let t2 = r1 + mins(1);
    let r2 = t2 + Duration::hours(1);
    let d = key(KeyState::Next, t2);
    let d_kid = d.kid.clone();
    store
        .rotate_keys(&[rotation(d, r2)], t2, &[entry("key_rotated", None)])
        .await
        .unwrap();
    let keys = store.list_keys().await.unwrap();
    let states: BTreeSet<(String, &str)> = keys
        .iter()
        .map(|k| (k.kid.clone(), k.state.as_str()))
        .collect();
    assert_eq!(
        states,
        BTreeSet::from([
            (b.kid.clone(), "retired"),
            (c_kid.clone(), "current"),
            (d_kid.clone(), "next"),
        ])
    );
    assert_eq!(by_kid(&keys, &b.kid).retire_until, Some(r2));
    assert_eq!(by_kid(&keys, &c_kid).activated_at, Some(t2));
    assert_eq!(count_events(&*store, "key_rotated").await, 2);
}

/// Each purpose is initialised on its own: a store holding access keys (a deployment upgraded
/// from before ID-token keys) takes an ID-token pair once, and then no second one of either.
pub async fn init_keys_is_per_purpose(store: Arc<dyn Store>) {
    let (a, b) = (key(KeyState::Current, t0()), key(KeyState::Next, t0()));
    assert!(store.init_keys(&a, &b).await.unwrap());
    let (i, j) = (
        id_key(KeyState::Current, t0()),
        id_key(KeyState::Next, t0()),
    );
    assert!(
        store.init_keys(&i, &j).await.unwrap(),
        "access keys do not stand in for ID-token keys"
    );
    let stored = by_kid(&store.list_keys().await.unwrap(), &i.kid).purpose;
    assert_eq!(stored, KeyPurpose::IdToken);
    for (current, next) in [
        (key(KeyState::Current, t0()), key(KeyState::Next, t0())),
        (
            id_key(KeyState::Current, t0()),
            id_key(KeyState::Next, t0()),
        ),
    ] {
        assert!(!store.init_keys(&current, &next).await.unwrap());
    }
    assert_eq!(
        key_states(&*store).await,
        BTreeSet::from([
            (a.kid, "access", "current"),
            (b.kid, "access", "next"),
            (i.kid, "id_token", "current"),
            (j.kid, "id_token", "next"),
        ])
    );
    // A pair must be of one purpose: half a family is never stored.
    let mixed = store
        .init_keys(&key(KeyState::Current, t0()), &id_key(KeyState::Next, t0()))
        .await;
    assert!(mixed.is_err(), "{mixed:?}");
    assert_eq!(store.list_keys().await.unwrap().len(), 4);
}

/// Replicas starting together each initialise both families (some access first, some ID-token
/// first): each purpose ends with exactly one replica's pair.
pub async fn concurrent_init_keys_has_one_winner_per_purpose(store: Arc<dyn Store>) {
    const REPLICAS: usize = 8;
    let barrier = Arc::new(Barrier::new(REPLICAS));
    let mut replicas = Vec::new();
    for n in 0..REPLICAS {
        let (store, barrier) = (store.clone(), barrier.clone());
        replicas.push(tokio::spawn(async move {
            let mut pairs = [
                (key(KeyState::Current, t0()), key(KeyState::Next, t0())),
                (
                    id_key(KeyState::Current, t0()),
                    id_key(KeyState::Next, t0()),
                ),
            ];
            if n % 2 == 1 {
                pairs.reverse();
            }
            barrier.wait().await;
            let mut won = Vec::new();
            for (current, next) in &pairs {
                if store.init_keys(current, next).await.unwrap() {
                    won.push((
                        current.purpose,
                        BTreeSet::from([current.kid.clone(), next.kid.clone()]),
                    ));
                }
            }
            won
        }));
    }
    let mut winners: Vec<(KeyPurpose, BTreeSet<String>)> = Vec::new();
    for replica in replicas {
        winners.extend(replica.await.unwrap());
    }
    for purpose in KeyPurpose::ALL {
        let won: Vec<_> = winners.iter().filter(|(p, _)| *p == purpose).collect();
        assert_eq!(won.len(), 1, "exactly one replica stores {purpose:?} keys");
        let stored: BTreeSet<String> = store
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.purpose == purpose)
            .map(|k| k.kid)
            .collect();
        assert_eq!(
            stored, won[0].1,
            "exactly the winner's two {purpose:?} keys"
        );
    }
}

/// One rotation moves both families, each within its purpose; a later one past the retired
/// keys' horizon drops the retired keys of both.
pub async fn rotate_keys_moves_both_families_and_drops_both(store: Arc<dyn Store>) {
    let (a, b) = (key(KeyState::Current, t0()), key(KeyState::Next, t0()));
    let (i, j) = (
        id_key(KeyState::Current, t0()),
        id_key(KeyState::Next, t0()),
    );
    assert!(store.init_keys(&a, &b).await.unwrap());
    assert!(store.init_keys(&i, &j).await.unwrap());

    let t1 = t0() + mins(10);
    // Different horizons, to show each family's retired key gets its own.
    let (r1, r1_id) = (t1 + Duration::hours(1), t1 + Duration::hours(2));
    let (c, k) = (key(KeyState::Next, t1), id_key(KeyState::Next, t1));
    let (c_kid, k_kid) = (c.kid.clone(), k.kid.clone());
    store
        .rotate_keys(
            &[rotation(c, r1), rotation(k, r1_id)],
            t1,
            &[entry("key_rotated", None)],
        )
        .await
        .unwrap();
    assert_eq!(
        key_states(&*store).await,
        BTreeSet::from([
            (a.kid.clone(), "access", "retired"),
            (b.kid.clone(), "access", "current"),
            (c_kid.clone(), "access", "next"),
            (i.kid.clone(), "id_token", "retired"),
            (j.kid.clone(), "id_token", "current"),
            (k_kid.clone(), "id_token", "next"),
        ])
    );
    let keys = store.list_keys().await.unwrap();
    assert_eq!(by_kid(&keys, &a.kid).retire_until, Some(r1));
    assert_eq!(by_kid(&keys, &i.kid).retire_until, Some(r1_id));
    assert_eq!(by_kid(&keys, &b.kid).activated_at, Some(t1));
    assert_eq!(by_kid(&keys, &j.kid).activated_at, Some(t1));
    assert_eq!(count_events(&*store, "key_rotated").await, 1, "one entry");

    // Past both horizons: the next rotation drops both retired keys.
    let t2 = r1_id + mins(1);
    let r2 = t2 + Duration::hours(1);
    let (d, l) = (key(KeyState::Next, t2), id_key(KeyState::Next, t2));
    let (d_kid, l_kid) = (d.kid.clone(), l.kid.clone());
    store
        .rotate_keys(&[rotation(d, r2), rotation(l, r2)], t2, &[])
        .await
        .unwrap();
    assert_eq!(
        key_states(&*store).await,
        BTreeSet::from([
            (b.kid.clone(), "access", "retired"),
            (c_kid, "access", "current"),
            (d_kid, "access", "next"),
            (j.kid.clone(), "id_token", "retired"),
            (k_kid, "id_token", "current"),
            (l_kid, "id_token", "next"),
        ])
    );
}

/// A rotation names the families it moves; one that names only access keys leaves the
/// ID-token keys as they were, though it still drops expired retired keys of every purpose.
pub async fn rotating_one_family_leaves_the_other(store: Arc<dyn Store>) {
    let (a, b) = (key(KeyState::Current, t0()), key(KeyState::Next, t0()));
    let (i, j) = (
        id_key(KeyState::Current, t0()),
        id_key(KeyState::Next, t0()),
    );
    assert!(store.init_keys(&a, &b).await.unwrap());
    assert!(store.init_keys(&i, &j).await.unwrap());
    let t1 = t0() + mins(1);
    let k = id_key(KeyState::Next, t1);
    let k_kid = k.kid.clone();
    store
        .rotate_keys(&[rotation(k, t1 + mins(5))], t1, &[])
        .await
        .unwrap();
    let t2 = t1 + mins(10);
    let c = key(KeyState::Next, t2);
    let c_kid = c.kid.clone();
    store
        .rotate_keys(&[rotation(c, t2 + mins(5))], t2, &[])
        .await
        .unwrap();
    assert_eq!(
        key_states(&*store).await,
        BTreeSet::from([
            (a.kid, "access", "retired"),
            (b.kid, "access", "current"),
            (c_kid, "access", "next"),
            (j.kid, "id_token", "current"),
            (k_kid, "id_token", "next"),
        ]),
        "the retired ID-token key, past its horizon, went with the access rotation"
    );
}

pub async fn instance_secret_keeps_the_first_value(store: Arc<dyn Store>) {
    let first = store.instance_secret("mac", &[1; 32]).await.unwrap();
    assert_eq!(first, [1; 32]);
    let later = store.instance_secret("mac", &[2; 32]).await.unwrap();
    assert_eq!(later, [1; 32], "every later candidate gets the first value");
    let other = store.instance_secret("other", &[3; 16]).await.unwrap();
    assert_eq!(other, [3; 16], "names are independent");

    const REPLICAS: u8 = 8;
    let barrier = Arc::new(Barrier::new(usize::from(REPLICAS)));
    let mut replicas = Vec::new();
    for n in 0..REPLICAS {
        let (store, barrier) = (store.clone(), barrier.clone());
        replicas.push(tokio::spawn(async move {
            barrier.wait().await;
            store.instance_secret("race", &[n; 32]).await.unwrap()
        }));
    }
    let mut values = BTreeSet::new();
    for replica in replicas {
        values.insert(replica.await.unwrap());
    }
    assert_eq!(values.len(), 1, "all replicas agree: {values:?}");
}
