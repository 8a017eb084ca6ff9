//! AuditStore, and the rule every mutating method keeps: its audit entries are stored if and
//! only if its change happened (same transaction).

use std::sync::Arc;

use chrono::Duration;
use sesame_core::store::{AuditEntry, AuditFilter, Store};
use uuid::Uuid;

use crate::{create_user, entry, events, mins, new_user, open_session, t0};

pub async fn audit_only_when_the_change_happened(store: Arc<dyn Store>) {
    let alice = new_user("alice");
    store
        .create_user(&alice, &[entry("register", Some(alice.id))])
        .await
        .unwrap();
    let (session, _) = open_session(&*store, alice.id, t0(), t0() + Duration::days(1)).await;
    assert!(
        store
            .revoke_session(session, t0(), &[entry("logout", Some(alice.id))])
            .await
            .unwrap()
    );
    let before = events(&*store).await;
    assert_eq!(before, ["logout", "register"]);

    // Each of these changes nothing, so none may leave a record.
    let duplicate = new_user("alice");
    assert!(
        store
            .create_user(&duplicate, &[entry("no_register", Some(duplicate.id))])
            .await
            .is_err()
    );
    let nobody = Uuid::now_v7();
    let t1 = t0() + mins(1);
    assert!(
        !store
            .delete_user(nobody, t0(), &[entry("no_delete", Some(nobody))])
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session(session, t1, &[entry("no_logout", Some(alice.id))])
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_disabled(nobody, true, t1, &[entry("no_disable", None)])
            .await
            .unwrap()
    );
    assert!(
        !store
            .unlock(nobody, t1, &[entry("no_unlock", None)])
            .await
            .unwrap()
    );
    assert!(
        store
            .set_roles(nobody, &["admin".into()], t1, &[entry("no_roles", None)])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store
            .delete_client("nope", &[entry("no_client_delete", None)])
            .await
            .unwrap()
    );
    assert_eq!(events(&*store).await, before);

    // And a change that happened is recorded with every field intact.
    let recorded = AuditEntry {
        id: Uuid::now_v7(),
        at: t1,
        event: "user_disabled".into(),
        user_id: Some(alice.id),
        ip: Some("2001:db8::1".into()),
        user_agent: None,
        detail: serde_json::json!({"by": "admin", "reason": "abuse", "n": 1}),
    };
    assert!(
        store
            .set_disabled(alice.id, true, t1, std::slice::from_ref(&recorded))
            .await
            .unwrap()
    );
    let filter = AuditFilter {
        event: Some("user_disabled".into()),
        limit: 10,
        ..AuditFilter::default()
    };
    let stored = store.list_audit(&filter).await.unwrap();
    assert_eq!(stored.len(), 1);
    let stored = &stored[0];
    assert_eq!(stored.id, recorded.id);
    assert_eq!(stored.at, recorded.at);
    assert_eq!(stored.user_id, recorded.user_id);
    assert_eq!(stored.ip, recorded.ip);
    assert_eq!(stored.user_agent, None);
    assert_eq!(stored.detail, recorded.detail);
}

pub async fn list_audit_filters_newest_first_with_cursor(store: Arc<dyn Store>) {
    let a = create_user(&*store, "alice").await;
    let b = create_user(&*store, "bob").await;
    let plan = [
        ("login_succeeded", Some(a)),
        ("login_succeeded", Some(b)),
        ("logout", Some(a)),
        ("login_failed", None),
        ("login_succeeded", Some(a)),
    ];
    // Appended one by one: ids are UUIDv7, ordered by creation.
    let mut ids = Vec::new();
    for (n, (event, user)) in plan.into_iter().enumerate() {
        let mut e = entry(event, user);
        e.at = t0() + mins(n as i64);
        store.append_audit(std::slice::from_ref(&e)).await.unwrap();
        ids.push(e.id);
    }
    let [e1, e2, e3, e4, e5] = ids[..] else {
        unreachable!()
    };
    let list = |user_id, event: Option<&str>, limit, before| {
        let store = store.clone();
        let filter = AuditFilter {
            user_id,
            event: event.map(str::to_string),
            limit,
            before,
        };
        async move {
            store
                .list_audit(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect::<Vec<Uuid>>()
        }
    };

    assert_eq!(list(None, None, 10, None).await, [e5, e4, e3, e2, e1]);
    assert_eq!(list(Some(a), None, 10, None).await, [e5, e3, e1]);
    assert_eq!(
        list(None, Some("login_succeeded"), 10, None).await,
        [e5, e2, e1]
    );
    assert_eq!(
        list(Some(a), Some("login_succeeded"), 10, None).await,
        [e5, e1]
    );
    assert!(list(Some(Uuid::now_v7()), None, 10, None).await.is_empty());

    assert_eq!(list(None, None, 2, None).await, [e5, e4]);
    assert_eq!(list(None, None, 2, Some(e4)).await, [e3, e2]);
    assert_eq!(list(None, None, 2, Some(e2)).await, [e1]);
    assert!(list(None, None, 2, Some(e1)).await.is_empty());
    assert_eq!(list(Some(a), None, 1, Some(e5)).await, [e3]);
}

pub async fn purge_audit_removes_older_entries(store: Arc<dyn Store>) {
    for n in 0..3 {
        let mut e = entry("login_failed", None);
        e.at = t0() + Duration::hours(n);
        store.append_audit(&[e]).await.unwrap();
    }
    let cutoff = t0() + Duration::hours(1);
    assert_eq!(
        store.purge_audit(cutoff).await.unwrap(),
        1,
        "strictly older"
    );
    let left = store
        .list_audit(&AuditFilter {
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let mut times: Vec<_> = left.iter().map(|e| e.at).collect();
    times.sort();
    assert_eq!(times, [cutoff, cutoff + Duration::hours(1)]);
    assert_eq!(store.purge_audit(cutoff).await.unwrap(), 0);
}

pub async fn store_pings_and_migrates_again(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    // Every start migrates; on an up-to-date database that is a no-op.
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

pub async fn audit_counts_per_event_and_bucket(store: Arc<dyn Store>) {
    let at = |m: i64, event: &str| AuditEntry {
        at: t0() + mins(m),
        ..entry(event, None)
    };
    store
        .append_audit(&[
            at(-1, "login_failed"),
            at(0, "login_failed"),
            at(4, "login_failed"),
            at(5, "login_failed"),
            at(12, "login_succeeded"),
            at(12, "register"),
        ])
        .await
        .unwrap();
    let mut counts = store
        .audit_counts(&["login_failed", "login_succeeded"], t0(), 300)
        .await
        .unwrap();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("login_failed".to_string(), 0, 2),
            ("login_failed".to_string(), 1, 1),
            ("login_succeeded".to_string(), 2, 1),
        ],
        "five-minute buckets from t0; before it and other events left out"
    );
    assert!(store.audit_counts(&[], t0(), 300).await.unwrap().is_empty());
}

pub async fn overview_counts_what_the_console_shows(store: Arc<dyn Store>) {
    let empty = store.overview_counts(t0()).await.unwrap();
    assert_eq!(empty, sesame_core::store::OverviewCounts::default());
    let alice = create_user(&*store, "alice").await;
    create_user(&*store, "bob").await;
    let (live, _) = open_session(&*store, alice, t0(), t0() + Duration::days(1)).await;
    open_session(&*store, alice, t0(), t0() + Duration::days(1)).await;
    store.revoke_session(live, t0(), &[]).await.unwrap();
    let counts = store.overview_counts(t0() + mins(1)).await.unwrap();
    assert_eq!(counts.users, 2);
    assert_eq!(counts.active_sessions, 1, "the revoked one is not counted");
    let later = store
        .overview_counts(t0() + Duration::days(2))
        .await
        .unwrap();
    assert_eq!(later.active_sessions, 0, "nor an expired one");
}
