//! Not properties either: client authentication from memory (`client_cache`), on the real
//! SQLite store. Two `Sesame`s over one store stand for two replicas; the manual clock moves
//! the cache's TTL, and the revocation feed is read only when a test says so (`sync_revocations`
//! is what the periodic poll calls), so nothing here depends on timing.

use std::sync::Arc;

use chrono::{Duration, Utc};
use secrecy::SecretString;
use sesame_core::clients::NewClient;
use sesame_core::sessions::ClientInfo;
use sesame_core::settings::Settings;
use sesame_core::store::Store;
use sesame_core::{CoreError, ManualClock, Sesame};

struct Replicas {
    a: Sesame,
    b: Sesame,
    store: Arc<dyn Store>,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

async fn replicas() -> Replicas {
    let (store, dir) = crate::sqlite_store().await;
    let clock = ManualClock::new(Utc::now());
    let settings = || Settings {
        ..crate::cheap_settings()
    };
    let a = Sesame::start(store.clone(), Arc::new(clock.clone()), settings())
        .await
        .unwrap();
    let b = Sesame::start(store.clone(), Arc::new(clock.clone()), settings())
        .await
        .unwrap();
    Replicas {
        a,
        b,
        store,
        clock,
        _dir: dir,
    }
}

/// A client made through `on`; returns its id and secret.
async fn new_client(on: &Sesame) -> (String, SecretString) {
    let created = on
        .clients()
        .create(
            NewClient {
                name: "cart service".into(),
                audiences: vec!["cart_service".into()],
                scopes: Vec::new(),
                delegable_roles: Vec::new(),
                oauth: Default::default(),
            },
            None,
            &ClientInfo::default(),
        )
        .await
        .unwrap();
    (
        created.client.client_id,
        created.secret.expect("a confidential client"),
    )
}

#[tokio::test]
async fn a_replica_authenticates_a_client_from_memory_until_the_feed_says_it_was_deleted() {
    let r = replicas().await;
    let (id, secret) = new_client(&r.b).await;
    let held = r.a.oauth().authenticate_client(&id, &secret).await.unwrap();
    let token =
        r.a.oauth()
            .client_token(&held, vec![], None)
            .await
            .unwrap()
            .access_token;

    r.b.clients()
        .delete(&id, None, &ClientInfo::default())
        .await
        .unwrap();
    // The row is gone; B, which deleted it, refuses at once.
    assert!(r.store.get_client(&id).await.unwrap().is_none());
    assert!(matches!(
        r.b.oauth().authenticate_client(&id, &secret).await,
        Err(CoreError::InvalidClient)
    ));
    assert!(matches!(
        r.b.oauth().check_access_token(&token, None).await,
        Err(CoreError::TokenRevoked)
    ));
    // A has not read the feed yet: it still authenticates the client, which it can only do
    // from memory. This is the staleness the poll interval bounds, and the proof that the hot
    // path does not read the database.
    assert!(r.a.oauth().authenticate_client(&id, &secret).await.is_ok());
    // Even from memory a wrong secret is refused, the same way as an unknown id.
    assert!(matches!(
        r.a.oauth()
            .authenticate_client(&id, &SecretString::from("not the secret"))
            .await,
        Err(CoreError::InvalidClient)
    ));
    // A's next poll: the client and the tokens issued to it are refused.
    r.a.sync_revocations().await.unwrap();
    assert!(matches!(
        r.a.oauth().authenticate_client(&id, &secret).await,
        Err(CoreError::InvalidClient)
    ));
    assert!(matches!(
        r.a.oauth().check_access_token(&token, None).await,
        Err(CoreError::TokenRevoked)
    ));
}

#[tokio::test]
async fn a_held_client_is_read_again_from_the_database_after_the_ttl() {
    let r = replicas().await;
    let (id, secret) = new_client(&r.b).await;
    r.a.oauth().authenticate_client(&id, &secret).await.unwrap();
    // Deleted at B, and A never reads the feed (a poll missed, say).
    r.b.clients()
        .delete(&id, None, &ClientInfo::default())
        .await
        .unwrap();
    r.clock.advance(Duration::seconds(59));
    assert!(
        r.a.oauth().authenticate_client(&id, &secret).await.is_ok(),
        "59 s after the read: still held"
    );
    r.clock.advance(Duration::seconds(1));
    assert!(
        matches!(
            r.a.oauth().authenticate_client(&id, &secret).await,
            Err(CoreError::InvalidClient)
        ),
        "60 s after the read the database is asked again, and the client is gone"
    );
}

#[tokio::test]
async fn only_clients_that_authenticated_are_held() {
    let r = replicas().await;
    let (id, secret) = new_client(&r.a).await;
    let wrong = SecretString::from("not the secret");
    for round in 0..3 {
        assert!(matches!(
            r.a.oauth().authenticate_client(&id, &wrong).await,
            Err(CoreError::InvalidClient)
        ));
        assert!(matches!(
            r.a.oauth()
                .authenticate_client("svc_unknown", &secret)
                .await,
            Err(CoreError::InvalidClient)
        ));
        assert_eq!(
            r.a.client_cache().len(),
            usize::from(round > 0),
            "round {round}: a failure was held"
        );
        assert!(r.a.oauth().authenticate_client(&id, &secret).await.is_ok());
        assert_eq!(r.a.client_cache().len(), 1);
        // A wrong secret for a held client is refused, and changes nothing held.
        assert!(matches!(
            r.a.oauth().authenticate_client(&id, &wrong).await,
            Err(CoreError::InvalidClient)
        ));
        assert!(r.a.oauth().authenticate_client(&id, &secret).await.is_ok());
        // Across the TTL: read again, held again.
        r.clock.advance(Duration::seconds(45));
    }
}
