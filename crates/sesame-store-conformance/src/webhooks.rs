//! Webhook endpoints and deliveries: a change's deliveries are written in its transaction, one
//! per subscribed active endpoint; sessions a change ends are reported; claims lease; outcomes
//! settle; 410 disables; purges.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sesame_core::secret::{ExposeSecret, secret_bytes};
use sesame_core::store::{
    AuditEntry, Constraint, DeliveryOutcome, DeliveryRecord, DeliveryStatus, NewBrowserSession,
    NewWebhookEndpoint, Store, StoreError, WebhookEndpoint, WebhookStatus,
};
use uuid::Uuid;

use crate::{count_events, create_user, entry, mins, new_user, open_session, t0};

async fn endpoint(store: &dyn Store, url: &str, events: &[&str]) -> Uuid {
    let id = Uuid::now_v7();
    let new = NewWebhookEndpoint {
        endpoint: WebhookEndpoint {
            id,
            url: url.to_string(),
            events: events.iter().map(|e| e.to_string()).collect(),
            status: WebhookStatus::Active,
            created_at: t0(),
        },
        secret: secret_bytes(id.as_bytes().repeat(2)),
    };
    store
        .create_webhook(&new, &[entry("webhook_created", None)])
        .await
        .unwrap();
    id
}

async fn deliveries(store: &dyn Store, endpoint: Uuid) -> Vec<DeliveryRecord> {
    store.list_deliveries(endpoint, 1000, None).await.unwrap()
}

async fn kinds(store: &dyn Store, endpoint: Uuid) -> Vec<String> {
    let mut k: Vec<String> = deliveries(store, endpoint)
        .await
        .into_iter()
        .map(|d| d.event)
        .collect();
    k.sort();
    k
}

/// The `session.revoked` deliveries of `endpoint` as (sid, reason), from their bodies.
async fn ended(store: &dyn Store, endpoint: Uuid) -> BTreeSet<(String, String)> {
    let now = t0() + Duration::days(3650);
    let claimed = store
        .claim_deliveries(now, now + mins(1), 1000)
        .await
        .unwrap();
    claimed
        .into_iter()
        .filter(|d| d.endpoint_id == endpoint && d.event == "session.revoked")
        .map(|d| {
            let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
            let data = &body["data"];
            (
                data["sid"].as_str().unwrap().to_string(),
                data["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn audit(event: &str, user: Uuid, detail: serde_json::Value) -> AuditEntry {
    AuditEntry {
        detail,
        ..entry(event, Some(user))
    }
}

pub async fn webhook_endpoints_create_list_get_delete(store: Arc<dyn Store>) {
    let a = endpoint(store.as_ref(), "https://a.example/hook", &["user.created"]).await;
    let b = endpoint(
        store.as_ref(),
        "https://b.example/hook",
        &["session.revoked", "user.deleted"],
    )
    .await;
    let listed = store.list_webhooks().await.unwrap();
    assert_eq!(listed.iter().map(|e| e.id).collect::<Vec<_>>(), [a, b]);
    let got = store.get_webhook(b).await.unwrap().unwrap();
    assert_eq!(got.url, "https://b.example/hook");
    assert_eq!(got.events, ["session.revoked", "user.deleted"]);
    assert_eq!(got.status, WebhookStatus::Active);
    assert_eq!(got.created_at, t0());
    assert_eq!(count_events(store.as_ref(), "webhook_created").await, 2);

    assert!(
        store
            .delete_webhook(a, &[entry("webhook_deleted", None)])
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_webhook(a, &[entry("webhook_deleted", None)])
            .await
            .unwrap(),
        "gone already: nothing written"
    );
    assert_eq!(count_events(store.as_ref(), "webhook_deleted").await, 1);
    assert!(store.get_webhook(a).await.unwrap().is_none());
    assert_eq!(store.list_webhooks().await.unwrap().len(), 1);
}

pub async fn changes_fan_out_to_the_subscribed_active_endpoints(store: Arc<dyn Store>) {
    let created = endpoint(
        store.as_ref(),
        "https://a.example/hook",
        &["user.created", "user.roles_changed"],
    )
    .await;
    let deleted = endpoint(store.as_ref(), "https://b.example/hook", &["user.deleted"]).await;

    let alice = new_user("alice");
    store
        .create_user(&alice, &[entry("register", Some(alice.id))])
        .await
        .unwrap();
    // A change without an audit entry makes no event; nor does an entry that is no change
    // to a user.
    create_user(store.as_ref(), "bob").await;
    store
        .append_audit(&[entry("login_failed", Some(alice.id))])
        .await
        .unwrap();
    let listed = deliveries(store.as_ref(), created).await;
    assert_eq!(listed.len(), 1);
    let d = &listed[0];
    assert_eq!(
        (d.event.as_str(), d.status, d.attempts),
        ("user.created", DeliveryStatus::Pending, 0)
    );
    assert_eq!(d.created_at, t0());
    assert_eq!((d.last_attempt_at, d.response_status), (None, None));
    assert!(deliveries(store.as_ref(), deleted).await.is_empty());
    assert_eq!(store.pending_deliveries().await.unwrap(), 1);

    // A change that rolls back leaves no delivery: taking `admin` from the last admin.
    let root = new_user("root");
    let mut root = root;
    root.roles = vec!["admin".into()];
    store.create_user(&root, &[]).await.unwrap();
    let err = store
        .set_roles(
            root.id,
            &["user".into()],
            t0(),
            &[entry("role_changed", Some(root.id))],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(Constraint::LastAdmin)));
    assert_eq!(deliveries(store.as_ref(), created).await.len(), 1);
    // The same change that commits has its delivery.
    store
        .set_roles(
            alice.id,
            &["user".into(), "editor".into()],
            t0(),
            &[entry("role_changed", Some(alice.id))],
        )
        .await
        .unwrap();
    assert_eq!(
        kinds(store.as_ref(), created).await,
        ["user.created", "user.roles_changed"]
    );
    assert!(
        store
            .delete_user(alice.id, t0(), &[entry("user_deleted", Some(alice.id))])
            .await
            .unwrap()
    );
    assert_eq!(kinds(store.as_ref(), deleted).await, ["user.deleted"]);
    // A profile change with its entry (and one without, which says nothing).
    let change = sesame_core::store::ProfileChange {
        display_name: Some(Some("Bob".into())),
        ..Default::default()
    };
    let bob = store.find_user_by_login("bob").await.unwrap().unwrap().id;
    let everything = endpoint(store.as_ref(), "https://c.example/hook", &["user.updated"]).await;
    store
        .update_profile(bob, &change, t0(), &[entry("profile_updated", Some(bob))])
        .await
        .unwrap();
    store.update_profile(bob, &change, t0(), &[]).await.unwrap();
    assert_eq!(kinds(store.as_ref(), everything).await, ["user.updated"]);
    assert_eq!(count_events(store.as_ref(), "profile_updated").await, 1);
    assert!(
        store
            .update_profile(
                Uuid::now_v7(),
                &change,
                t0(),
                &[entry("profile_updated", None)]
            )
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        count_events(store.as_ref(), "profile_updated").await,
        1,
        "no entry for a user that does not exist"
    );
}

pub async fn every_way_a_store_ends_sessions_reports_them(store: Arc<dyn Store>) {
    let hook = endpoint(
        store.as_ref(),
        "https://a.example/hook",
        &["session.revoked"],
    )
    .await;
    let s = store.as_ref();
    let user = create_user(s, "carol").await;
    let live = t0() + Duration::days(7);
    let open = || open_session(s, user, t0(), live);
    // Ended one by one (a logout, a reuse), all but one, all, by a new password (but the
    // current one), by a reset, by a browser sign-in replacing the browser's session, and
    // by the user's deletion.
    let (logout, _) = open().await;
    let (reused, _) = open().await;
    assert!(
        store
            .revoke_session(
                logout,
                t0(),
                &[audit(
                    "logout",
                    user,
                    serde_json::json!({"session_id": logout})
                )]
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_session(
                reused,
                t0(),
                &[audit(
                    "refresh_reused",
                    user,
                    serde_json::json!({"session_id": reused})
                )]
            )
            .await
            .unwrap()
    );
    let (kept, _) = open().await;
    let (other, _) = open().await;
    let n = store
        .revoke_other_sessions(
            user,
            kept,
            t0(),
            &[audit(
                "logout",
                user,
                serde_json::json!({"all_sessions_but": kept}),
            )],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (all, _) = open().await;
    let n = store
        .revoke_user_sessions(
            user,
            t0(),
            &[audit(
                "logout",
                user,
                serde_json::json!({"all_sessions": true}),
            )],
        )
        .await
        .unwrap();
    assert_eq!(n, 2, "kept and all");
    let (current, _) = open().await;
    let (changed, _) = open().await;
    // An expired session that was never revoked: ending it is no news (it is in no `want`).
    let (_expired, _) = open_session(
        s,
        user,
        t0() - Duration::days(30),
        t0() - Duration::days(20),
    )
    .await;
    store
        .set_password(
            user,
            "$argon2id$new",
            Some(current),
            t0(),
            &[audit("password_changed", user, serde_json::json!({}))],
        )
        .await
        .unwrap();
    let browser = Uuid::now_v7();
    let new_browser = |id: Uuid, replacing: Option<Uuid>| NewBrowserSession {
        id,
        user_id: user,
        cookie_hash: id.as_bytes().to_vec(),
        now: t0(),
        expires_at: live,
        ip: None,
        user_agent: None,
        replacing,
        assurance: sesame_core::store::Assurance::password(),
    };
    store
        .create_browser_session(&new_browser(browser, None), &[])
        .await
        .unwrap();
    let replacement = Uuid::now_v7();
    store
        .create_browser_session(
            &new_browser(replacement, Some(browser)),
            &[
                audit("login_succeeded", user, serde_json::json!({})),
                audit(
                    "session_revoked",
                    user,
                    serde_json::json!({"reason": "replaced_by_sign_in"}),
                ),
            ],
        )
        .await
        .unwrap();
    let mut want: BTreeSet<(String, String)> = [
        (logout, "logout"),
        (reused, "refresh_token_reused"),
        (other, "logout_others"),
        (kept, "logout_all"),
        (all, "logout_all"),
        (changed, "password_changed"),
        (browser, "replaced_by_sign_in"),
    ]
    .into_iter()
    .map(|(id, r)| (id.to_string(), r.to_string()))
    .collect();
    assert_eq!(ended(s, hook).await, want);

    // A reset ends every session (`current` and the browser's).
    let reset = sesame_core::store::NewEmailToken {
        hash: b"reset-token-hash-for-webhooks-00".to_vec(),
        user_id: user,
        purpose: sesame_core::store::EmailPurpose::Reset,
        email: "carol@example.com".into(),
        email_canonical: "carol@example.com".into(),
        created_at: t0(),
        expires_at: t0() + mins(30),
    };
    let message = sesame_core::store::OutboxMessage {
        id: Uuid::now_v7(),
        recipient: "carol@example.com".into(),
        subject: "Reset".into(),
        text_body: "link".into(),
        html_body: "link".into(),
        created_at: t0(),
        expires_at: t0() + mins(30),
        attempts: 0,
    };
    assert!(
        store
            .enqueue_email(&reset, &message, None, &[])
            .await
            .unwrap()
    );
    store
        .reset_password(
            &reset.hash,
            "$argon2id$reset",
            t0(),
            &[audit("password_reset", user, serde_json::json!({}))],
        )
        .await
        .unwrap()
        .unwrap();
    want = [(current, "password_reset"), (replacement, "password_reset")]
        .into_iter()
        .map(|(id, r)| (id.to_string(), r.to_string()))
        .collect();
    assert_eq!(ended(s, hook).await, want);

    // The user's deletion ends what is still live.
    let (last, _) = open().await;
    assert!(
        store
            .delete_user(
                user,
                t0(),
                &[audit(
                    "user_deleted",
                    user,
                    serde_json::json!({"by": "self"})
                )]
            )
            .await
            .unwrap()
    );
    want = [(last.to_string(), "user_deleted".to_string())].into();
    assert_eq!(ended(s, hook).await, want);
    // One delivery per ended session, none more.
    assert_eq!(deliveries(s, hook).await.len(), 10);
}

pub async fn deliveries_are_claimed_under_a_lease_and_settled(store: Arc<dyn Store>) {
    let hook = endpoint(store.as_ref(), "https://a.example/hook", &["user.created"]).await;
    for name in ["d1", "d2", "d3"] {
        let u = new_user(name);
        store
            .create_user(&u, &[entry("register", Some(u.id))])
            .await
            .unwrap();
    }
    assert!(
        store
            .claim_deliveries(t0() - mins(1), t0(), 10)
            .await
            .unwrap()
            .is_empty(),
        "not due before the event"
    );
    let claimed = store
        .claim_deliveries(t0(), t0() + mins(1), 2)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let first = &claimed[0];
    assert_eq!(first.endpoint_id, hook);
    assert_eq!(first.url, "https://a.example/hook");
    assert_eq!(*first.secret.expose_secret(), hook.as_bytes().repeat(2));
    assert_eq!(first.attempts, 0);
    assert_eq!(first.created_at, t0());
    let body: serde_json::Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(body["type"], "user.created");
    // Leased: the next claim gets only the third; after the lease, the two again.
    let rest = store
        .claim_deliveries(t0(), t0() + mins(1), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert!(claimed.iter().all(|c| c.id != rest[0].id));
    let again = store
        .claim_deliveries(t0() + mins(1), t0() + mins(2), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 3);

    // Outcomes: a retry, a delivery, a failure.
    let (a, b, c) = (&again[0], &again[1], &again[2]);
    let at = t0() + mins(1);
    let retry = DeliveryOutcome::Retry {
        response_status: Some(500),
        error: "HTTP 500".into(),
        next_attempt_at: at + mins(5),
    };
    store
        .record_delivery(hook, a.id, at, &retry, &[])
        .await
        .unwrap();
    store
        .record_delivery(
            hook,
            b.id,
            at,
            &DeliveryOutcome::Delivered {
                response_status: 204,
            },
            &[],
        )
        .await
        .unwrap();
    let failed = DeliveryOutcome::Failed {
        response_status: None,
        error: "connection refused".into(),
    };
    store
        .record_delivery(hook, c.id, at, &failed, &[])
        .await
        .unwrap();
    // A late report on a settled delivery changes nothing.
    store
        .record_delivery(hook, b.id, at, &retry, &[])
        .await
        .unwrap();

    let by_id =
        |list: &[DeliveryRecord], id: Uuid| list.iter().find(|d| d.id == id).cloned().unwrap();
    let listed = deliveries(store.as_ref(), hook).await;
    let da = by_id(&listed, a.id);
    assert_eq!(
        (da.status, da.attempts, da.response_status),
        (DeliveryStatus::Pending, 1, Some(500))
    );
    assert_eq!(da.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(da.last_attempt_at, Some(at));
    let db = by_id(&listed, b.id);
    assert_eq!(
        (db.status, db.attempts, db.response_status),
        (DeliveryStatus::Delivered, 1, Some(204))
    );
    assert_eq!(db.last_error, None);
    let dc = by_id(&listed, c.id);
    assert_eq!(
        (dc.status, dc.attempts, dc.response_status),
        (DeliveryStatus::Failed, 1, None)
    );
    assert_eq!(store.pending_deliveries().await.unwrap(), 1);

    // Only the retried one comes back, and only once due.
    assert!(
        store
            .claim_deliveries(at + mins(4), at + mins(5), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store
        .claim_deliveries(at + mins(5), at + mins(6), 10)
        .await
        .unwrap();
    assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), [a.id]);
    assert_eq!(due[0].attempts, 1);

    // Newest first, a page at a time.
    let page = store.list_deliveries(hook, 2, None).await.unwrap();
    assert_eq!(page.len(), 2);
    assert!(page[0].id > page[1].id);
    let next = store
        .list_deliveries(hook, 2, Some(page[1].id))
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert!(next[0].id < page[1].id);

    // Settled deliveries are purged after the cut-off; pending ones stay.
    assert_eq!(store.purge_deliveries(at).await.unwrap(), 0);
    assert_eq!(store.purge_deliveries(at + mins(1)).await.unwrap(), 2);
    assert_eq!(
        deliveries(store.as_ref(), hook)
            .await
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        [a.id]
    );
}

pub async fn gone_disables_the_endpoint_and_its_pending_deliveries(store: Arc<dyn Store>) {
    let gone = endpoint(store.as_ref(), "https://a.example/hook", &["user.created"]).await;
    let fine = endpoint(store.as_ref(), "https://b.example/hook", &["user.created"]).await;
    for name in ["g1", "g2"] {
        let u = new_user(name);
        store
            .create_user(&u, &[entry("register", Some(u.id))])
            .await
            .unwrap();
    }
    let claimed = store
        .claim_deliveries(t0(), t0() + mins(1), 10)
        .await
        .unwrap();
    let first = claimed.iter().find(|d| d.endpoint_id == gone).unwrap();
    let outcome = DeliveryOutcome::Gone {
        response_status: 410,
    };
    let disabled = [entry("webhook_disabled", None)];
    store
        .record_delivery(gone, first.id, t0(), &outcome, &disabled)
        .await
        .unwrap();
    assert_eq!(
        store.get_webhook(gone).await.unwrap().unwrap().status,
        WebhookStatus::Disabled
    );
    let listed = deliveries(store.as_ref(), gone).await;
    assert!(
        listed.iter().all(|d| d.status == DeliveryStatus::Disabled),
        "{listed:?}"
    );
    let d = listed.iter().find(|d| d.id == first.id).unwrap();
    assert_eq!((d.attempts, d.response_status), (1, Some(410)));
    assert_eq!(count_events(store.as_ref(), "webhook_disabled").await, 1);
    // The other endpoint's deliveries are untouched and still claimable; nothing new goes to
    // the disabled one.
    let u = new_user("g3");
    store
        .create_user(&u, &[entry("register", Some(u.id))])
        .await
        .unwrap();
    assert_eq!(deliveries(store.as_ref(), gone).await.len(), 2);
    let later = store
        .claim_deliveries(t0() + mins(2), t0() + mins(3), 10)
        .await
        .unwrap();
    assert_eq!(later.len(), 3);
    assert!(later.iter().all(|d| d.endpoint_id == fine));
    assert_eq!(store.pending_deliveries().await.unwrap(), 3);
    // Its deletion takes its deliveries along.
    assert!(store.delete_webhook(gone, &[]).await.unwrap());
    assert!(deliveries(store.as_ref(), gone).await.is_empty());
}

pub async fn concurrent_claims_never_share_a_delivery(store: Arc<dyn Store>) {
    endpoint(store.as_ref(), "https://a.example/hook", &["user.created"]).await;
    for i in 0..40 {
        let u = new_user(&format!("c{i}"));
        store
            .create_user(&u, &[entry("register", Some(u.id))])
            .await
            .unwrap();
    }
    let now: DateTime<Utc> = t0();
    let claims = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_deliveries(now, now + mins(1), 15)
                .await
                .unwrap()
        })
    });
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for c in claims {
        for d in c.await.unwrap() {
            total += 1;
            assert!(seen.insert(d.id), "{} claimed twice", d.id);
        }
    }
    assert_eq!(total, 40);
}
