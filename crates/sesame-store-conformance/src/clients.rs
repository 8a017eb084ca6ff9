//! ClientStore: service clients for the client-credentials grant.
#![allow(
    clippy::disallowed_methods,
    reason = "the store contract is checked against the database clock, which is the real one"
)]

use std::sync::Arc;

use sesame_core::store::{ClientRecord, Store, StoreError};

use crate::{count_events, entry, mins, t0};

fn client(id: &str, minutes: i64) -> ClientRecord {
    ClientRecord {
        client_id: id.to_string(),
        name: format!("The {id} service"),
        secret_hash: vec![7; 32],
        audiences: vec!["api".into(), "gallery".into()],
        scopes: vec!["read".into(), "write".into()],
        delegable_roles: Vec::new(),
        created_at: t0() + mins(minutes),
        access_until: None,
        status_idx: None,
        ..Default::default()
    }
}

pub async fn clients_create_get_list_delete(store: Arc<dyn Store>) {
    assert!(store.list_clients().await.unwrap().is_empty());
    let billing = client("billing", 0);
    let analytics = client("analytics", 1);
    for c in [&billing, &analytics] {
        store
            .create_client(c, t0(), &[entry("client_created", None)])
            .await
            .unwrap();
    }

    let got = store.get_client("billing").await.unwrap().unwrap();
    assert_eq!(got.client_id, "billing");
    assert_eq!(got.name, "The billing service");
    assert_eq!(got.secret_hash, [7; 32]);
    assert_eq!(got.audiences, ["api", "gallery"]);
    assert_eq!(got.scopes, ["read", "write"]);
    assert_eq!(got.created_at, t0());
    assert!(store.get_client("nope").await.unwrap().is_none());

    let listed: Vec<String> = store
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(listed, ["billing", "analytics"], "in creation order");

    let err = store
        .create_client(
            &client("billing", 5),
            t0(),
            &[entry("client_created", None)],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
    assert_eq!(count_events(&*store, "client_created").await, 2);

    assert!(
        store
            .delete_client("billing", &[entry("client_deleted", None)])
            .await
            .unwrap()
    );
    assert!(store.get_client("billing").await.unwrap().is_none());
    assert!(
        !store
            .delete_client("billing", &[entry("client_deleted", None)])
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "client_deleted").await, 1);
    let listed = store.list_clients().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].client_id, "analytics");
}

/// The roles a client may carry into exchanged tokens come back as written, in order, by id and
/// in the list; a client created without any has none (the default of migration 0008).
pub async fn clients_keep_their_delegable_roles(store: Arc<dyn Store>) {
    let delegating = ClientRecord {
        delegable_roles: vec!["support".into(), "billing:read".into()],
        ..client("delegating", 0)
    };
    let plain = client("plain", 1);
    for c in [&delegating, &plain] {
        store
            .create_client(c, t0(), &[entry("client_created", None)])
            .await
            .unwrap();
    }
    let got = store.get_client("delegating").await.unwrap().unwrap();
    assert_eq!(got.delegable_roles, ["support", "billing:read"]);
    let got = store.get_client("plain").await.unwrap().unwrap();
    assert!(got.delegable_roles.is_empty(), "{got:?}");
    let listed: Vec<(String, Vec<String>)> = store
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.client_id, c.delegable_roles))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "delegating".to_string(),
                vec!["support".to_string(), "billing:read".to_string()]
            ),
            ("plain".to_string(), vec![]),
        ]
    );
}

/// Deleting a client records it in the revocation feed, in the same transaction (a trigger), so
/// every replica refuses the tokens issued to it — until the expiry of the newest token issued
/// to it (`access_until`, raised before issuance, never lowered); a delete that finds nothing
/// records nothing. Raising it for a client that is gone says so (`None`).
pub async fn delete_client_feeds_a_client_revocation(store: Arc<dyn Store>) {
    use sesame_core::store::RevocationKind;
    let cursor = store.revocations_after(0).await.unwrap().next;
    for c in [
        client("svc_gone", 0),
        client("svc_kept", 1),
        client("svc_idle", 2),
    ] {
        store
            .create_client(&c, t0(), &[entry("client_created", None)])
            .await
            .unwrap();
    }
    let until = t0() + mins(30);
    assert_eq!(
        store.extend_client_access("svc_gone", until).await.unwrap(),
        Some(until)
    );
    assert_eq!(
        store
            .extend_client_access("svc_gone", t0() + mins(20))
            .await
            .unwrap(),
        Some(until),
        "never lowered"
    );
    let got = store.get_client("svc_gone").await.unwrap().unwrap();
    assert_eq!(got.access_until, Some(until));
    assert_eq!(
        store
            .get_client("svc_kept")
            .await
            .unwrap()
            .unwrap()
            .access_until,
        None
    );
    assert_eq!(
        store
            .extend_client_access("svc_never", until)
            .await
            .unwrap(),
        None
    );
    for gone in ["svc_gone", "svc_idle"] {
        assert!(
            store
                .delete_client(gone, &[entry("client_deleted", None)])
                .await
                .unwrap()
        );
    }
    assert!(
        !store
            .delete_client("svc_never", &[entry("client_deleted", None)])
            .await
            .unwrap()
    );
    assert_eq!(
        store.extend_client_access("svc_gone", until).await.unwrap(),
        None,
        "a deleted client gets no more tokens"
    );
    let feed = store.revocations_after(cursor).await.unwrap().entries;
    let got: Vec<(RevocationKind, &str, Option<_>)> = feed
        .iter()
        .map(|r| (r.kind, r.subject.as_str(), r.until))
        .collect();
    assert_eq!(
        got,
        [
            (RevocationKind::Client, "svc_gone", Some(until)),
            (RevocationKind::Client, "svc_idle", None)
        ]
    );
    let (earlier, later) = (chrono::Utc::now() - mins(1), chrono::Utc::now() + mins(1));
    assert!(
        feed[0].at >= earlier && feed[0].at <= later,
        "{:?}",
        feed[0]
    );
    // By `until` (the idle client's entry has none: by its stamp).
    assert_eq!(
        store.purge_revocations(until, earlier).await.unwrap(),
        0,
        "both still matter"
    );
    assert_eq!(
        store
            .purge_revocations(until + mins(1), earlier)
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.purge_revocations(t0(), later).await.unwrap(), 1);
}

/// A client's OAuth registration (migration 0014) comes back as written, by id and in the list.
pub async fn clients_keep_their_oauth_registration(store: Arc<dyn Store>) {
    let app = ClientRecord {
        redirect_uris: vec![
            "https://app.example.com/cb".into(),
            "http://127.0.0.1/cb".into(),
        ],
        post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        public: true,
        first_party: true,
        backchannel_logout_uri: Some("https://app.example.com/backchannel".into()),
        secret_hash: Vec::new(),
        ..client("app", 0)
    };
    let service = ClientRecord {
        grant_types: vec!["client_credentials".into()],
        ..client("service", 1)
    };
    for c in [&app, &service] {
        store
            .create_client(c, t0(), &[entry("client_created", None)])
            .await
            .unwrap();
    }
    let got = store.get_client("app").await.unwrap().unwrap();
    assert_eq!(got.redirect_uris, app.redirect_uris);
    assert_eq!(
        got.post_logout_redirect_uris,
        ["https://app.example.com/bye"]
    );
    assert_eq!(got.grant_types, ["authorization_code", "refresh_token"]);
    assert!(got.public && got.first_party);
    assert_eq!(
        got.backchannel_logout_uri.as_deref(),
        Some("https://app.example.com/backchannel")
    );
    assert!(got.secret_hash.is_empty());
    let got = store.get_client("service").await.unwrap().unwrap();
    assert!(got.redirect_uris.is_empty() && got.post_logout_redirect_uris.is_empty());
    assert_eq!(got.grant_types, ["client_credentials"]);
    assert!(!got.public && !got.first_party && got.backchannel_logout_uri.is_none());
    let listed = store.list_clients().await.unwrap();
    assert_eq!(listed[0].redirect_uris, app.redirect_uris);
    assert!(listed[0].may_use("authorization_code") && !listed[0].may_use("client_credentials"));
    assert_eq!(listed[1].grant_types, ["client_credentials"]);
}
