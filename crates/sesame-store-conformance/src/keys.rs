//! KeyStore: signing keys shared by replicas, instance secrets.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sesame_core::keys::{KeyRecord, KeyState, SigningAlg, generate_key};
use sesame_core::secret::ExposeSecret;
use sesame_core::store::Store;
use tokio::sync::Barrier;

use crate::{count_events, entry, mins, t0};

fn key(state: KeyState, now: DateTime<Utc>) -> KeyRecord {
    generate_key(SigningAlg::EdDSA, state, now).unwrap()
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
    store
        .rotate_keys(&c, t1, r1, &[entry("key_rotated", None)])
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
    let waiting = by_kid(&keys, &c.kid);
    assert_eq!(waiting.state, KeyState::Next);
    assert_eq!(waiting.created_at, t1);

    // Past r1 every token `a` signed has expired: the next rotation drops it.
    let t2 = r1 + mins(1);
    let r2 = t2 + Duration::hours(1);
    let d = key(KeyState::Next, t2);
    store
        .rotate_keys(&d, t2, r2, &[entry("key_rotated", None)])
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
            (c.kid.clone(), "current"),
            (d.kid.clone(), "next"),
        ])
    );
    assert_eq!(by_kid(&keys, &b.kid).retire_until, Some(r2));
    assert_eq!(by_kid(&keys, &c.kid).activated_at, Some(t2));
    assert_eq!(count_events(&*store, "key_rotated").await, 2);
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
