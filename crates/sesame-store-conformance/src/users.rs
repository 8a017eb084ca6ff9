//! UserStore: accounts, roles, lockout, listing, preferences.

use std::sync::Arc;

use chrono::Duration;
use sesame_core::store::{Constraint, ProfileChange, Store, StoreError};
use uuid::Uuid;

use crate::{count_events, create_user, entry, events, mins, new_user, open_session, t0};

pub async fn create_and_get_user(store: Arc<dyn Store>) {
    let mut user = new_user("Alice");
    user.roles = vec!["zeta".into(), "admin".into(), "user".into()];
    let created = store
        .create_user(&user, &[entry("register", Some(user.id))])
        .await
        .unwrap();
    assert_eq!(created.roles, ["admin", "user", "zeta"]);

    let got = store.get_user(user.id).await.unwrap().expect("stored");
    assert_eq!(got.id, user.id);
    assert_eq!(got.email, "Alice@example.com");
    assert_eq!(got.username.as_deref(), Some("Alice"));
    assert_eq!(got.display_name, None);
    assert_eq!(got.password_hash, user.password_hash);
    assert!(!got.email_verified);
    assert!(!got.disabled);
    assert_eq!(got.failed_logins, 0);
    assert_eq!(got.locked_until, None);
    assert_eq!(got.last_login_at, None);
    assert_eq!(
        got.roles,
        ["admin", "user", "zeta"],
        "roles come back sorted"
    );
    assert_eq!(got.created_at, t0());
    assert_eq!(got.updated_at, t0());

    let mut plain = new_user("norole");
    plain.roles = vec![];
    store.create_user(&plain, &[]).await.unwrap();
    let got = store.get_user(plain.id).await.unwrap().unwrap();
    assert!(got.roles.is_empty());

    assert!(store.get_user(Uuid::now_v7()).await.unwrap().is_none());
    assert_eq!(events(&*store).await, ["register"]);

    // get_profile reads the same user (with nothing pending here); unknown ids are None.
    let (profile, pending) = store.get_profile(user.id, t0()).await.unwrap().unwrap();
    assert_eq!(
        format!("{profile:?}"),
        format!("{:?}", store.get_user(user.id).await.unwrap().unwrap())
    );
    assert_eq!(profile.roles, ["admin", "user", "zeta"]);
    assert_eq!(pending, None);
    assert!(
        store
            .get_profile(Uuid::now_v7(), t0())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn find_user_by_canonical_login(store: Arc<dyn Store>) {
    // An older account whose username is Alice's email (the store does not forbid it): the
    // login names Alice's account, an email winning over a username.
    let mut mallory = new_user("mallory");
    mallory.username = Some("alice@example.com".into());
    mallory.username_canonical = Some("alice@example.com".into());
    store.create_user(&mallory, &[]).await.unwrap();
    let id = create_user(&*store, "Alice").await;
    let by_email = store.find_user_by_login("alice@example.com").await.unwrap();
    assert_eq!(by_email.map(|u| u.id), Some(id));
    let by_username = store.find_user_by_login("alice").await.unwrap();
    assert_eq!(by_username.map(|u| u.id), Some(id));
    // The argument is canonical already; the store compares exactly.
    assert!(
        store
            .find_user_by_login("Alice@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.find_user_by_login("nobody").await.unwrap().is_none());
}

pub async fn duplicate_email_conflicts(store: Arc<dyn Store>) {
    create_user(&*store, "alice").await;
    let mut dup = new_user("ALICE");
    dup.username = Some("other".into());
    dup.username_canonical = Some("other".into());
    let err = store
        .create_user(&dup, &[entry("register", Some(dup.id))])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::Email)),
        "{err:?}"
    );
    assert!(store.get_user(dup.id).await.unwrap().is_none());
    assert!(events(&*store).await.is_empty(), "no audit without change");
}

pub async fn duplicate_username_conflicts(store: Arc<dyn Store>) {
    create_user(&*store, "alice").await;
    let mut dup = new_user("bob");
    dup.username = Some("ALICE".into());
    dup.username_canonical = Some("alice".into());
    let err = store.create_user(&dup, &[]).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::Username)),
        "{err:?}"
    );
    assert!(store.get_user(dup.id).await.unwrap().is_none());

    // Accounts without a username never collide with each other.
    for local in ["carol", "dave"] {
        let mut user = new_user(local);
        user.username = None;
        user.username_canonical = None;
        store.create_user(&user, &[]).await.unwrap();
    }
}

pub async fn update_profile_sets_and_clears_fields(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    let t1 = t0() + mins(1);
    let change = ProfileChange {
        email: None,
        username: Some(Some(("Al".into(), "al".into()))),
        display_name: Some(Some("Alice A.".into())),
    };
    let updated = store
        .update_profile(id, &change, t1, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.username.as_deref(), Some("Al"));
    assert_eq!(updated.display_name.as_deref(), Some("Alice A."));
    assert_eq!(updated.email, "alice@example.com", "unchanged");
    assert_eq!(updated.updated_at, t1);
    assert_eq!(updated.roles, ["user"]);
    assert_eq!(
        store.find_user_by_login("al").await.unwrap().map(|u| u.id),
        Some(id)
    );
    assert!(store.find_user_by_login("alice").await.unwrap().is_none());

    let t2 = t0() + mins(2);
    let change = ProfileChange {
        email: Some(("New@example.com".into(), "new@example.com".into())),
        ..ProfileChange::default()
    };
    let updated = store
        .update_profile(id, &change, t2, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.email, "New@example.com");
    assert!(!updated.email_verified);
    assert_eq!(updated.username.as_deref(), Some("Al"), "unchanged");
    assert_eq!(
        store
            .find_user_by_login("new@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(id)
    );
    assert!(
        store
            .find_user_by_login("alice@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let t3 = t0() + mins(3);
    let change = ProfileChange {
        email: None,
        username: Some(None),
        display_name: Some(None),
    };
    let cleared = store
        .update_profile(id, &change, t3, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleared.username, None);
    assert_eq!(cleared.display_name, None);
    assert!(store.find_user_by_login("al").await.unwrap().is_none());
    let got = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(got.username, None);
    assert_eq!(got.updated_at, t3);

    // Another account may now take the freed username.
    let mut other = new_user("bob");
    other.username = Some("Al".into());
    other.username_canonical = Some("al".into());
    store.create_user(&other, &[]).await.unwrap();

    let unknown = store
        .update_profile(Uuid::now_v7(), &ProfileChange::default(), t3, &[])
        .await
        .unwrap();
    assert!(unknown.is_none());
}

pub async fn update_profile_conflicts_change_nothing(store: Arc<dyn Store>) {
    create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let t1 = t0() + mins(1);

    let change = ProfileChange {
        email: None,
        username: Some(Some(("Alice".into(), "alice".into()))),
        display_name: Some(Some("Bobby".into())),
    };
    let err = store
        .update_profile(bob, &change, t1, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::Username)),
        "{err:?}"
    );

    let change = ProfileChange {
        email: Some(("Alice@example.com".into(), "alice@example.com".into())),
        username: None,
        display_name: Some(Some("Bobby".into())),
    };
    let err = store
        .update_profile(bob, &change, t1, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::Email)),
        "{err:?}"
    );

    let got = store.get_user(bob).await.unwrap().unwrap();
    assert_eq!(got.email, "bob@example.com");
    assert_eq!(got.username.as_deref(), Some("bob"));
    assert_eq!(
        got.display_name, None,
        "the failed change left nothing behind"
    );
    assert_eq!(got.updated_at, t0());
}

pub async fn set_password_ends_other_sessions(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    let other = create_user(&*store, "bob").await;
    let end = t0() + Duration::days(1);
    let (s1, _) = open_session(&*store, id, t0(), end).await;
    let (s2, _) = open_session(&*store, id, t0(), end).await;
    let (s3, _) = open_session(&*store, id, t0(), end).await;
    let (s4, _) = open_session(&*store, id, t0(), end).await;
    let (foreign, _) = open_session(&*store, other, t0(), end).await;
    assert!(store.revoke_session(s4, t0(), &[]).await.unwrap());
    // An account-wide failure count, which a new password clears.
    store
        .attempt_failed(
            id,
            "",
            &crate::lockout::policy(t0()),
            &entry("login_failed", Some(id)),
            &entry("x", None),
            &entry("x", None),
        )
        .await
        .unwrap();

    let t1 = t0() + mins(5);
    let ended = store
        .set_password(
            id,
            "$argon2id$new",
            Some(s1),
            t1,
            &[entry("password_changed", Some(id))],
        )
        .await
        .unwrap();
    assert_eq!(ended, 2, "s2 and s3; s1 kept, s4 was revoked already");

    let user = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(user.password_hash, "$argon2id$new");
    assert_eq!(user.failed_logins, 0);
    assert_eq!(user.updated_at, t1);
    let kept = store.get_session(s1).await.unwrap().unwrap();
    assert_eq!(kept.revoked_at, None);
    for s in [s2, s3] {
        let session = store.get_session(s).await.unwrap().unwrap();
        assert_eq!(session.revoked_at, Some(t1));
    }
    assert_eq!(
        store.get_session(s4).await.unwrap().unwrap().revoked_at,
        Some(t0()),
        "an earlier revocation keeps its time"
    );
    let foreign = store.get_session(foreign).await.unwrap().unwrap();
    assert_eq!(foreign.revoked_at, None, "other users' sessions untouched");
    assert_eq!(count_events(&*store, "password_changed").await, 1);

    let t2 = t0() + mins(6);
    let ended = store
        .set_password(id, "$argon2id$newer", None, t2, &[])
        .await
        .unwrap();
    assert_eq!(ended, 1, "without `keep` the last one ends too");
    assert!(store.list_active_sessions(id, t2).await.unwrap().is_empty());
}

pub async fn delete_user_cascades(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    let other = create_user(&*store, "bob").await;
    let end = t0() + Duration::days(1);
    let (session, first) = open_session(&*store, id, t0(), end).await;
    let second = crate::token();
    store
        .rotate_refresh(
            session,
            &first,
            &second,
            t0() + mins(1),
            end,
            t0() + mins(16),
        )
        .await
        .unwrap()
        .unwrap();
    store
        .put_preferences(id, &serde_json::json!({"theme": "dark"}), t0())
        .await
        .unwrap();
    let (other_session, other_token) = open_session(&*store, other, t0(), end).await;

    assert!(
        store
            .delete_user(id, t0(), &[entry("user_deleted", Some(id))])
            .await
            .unwrap()
    );
    assert!(store.get_user(id).await.unwrap().is_none());
    assert!(store.get_session(session).await.unwrap().is_none());
    assert!(store.refresh_state(session).await.unwrap().is_none());
    assert!(store.get_preferences(id).await.unwrap().is_none());
    assert!(
        store
            .list_active_sessions(id, t0())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .find_user_by_login("alice@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count_events(&*store, "user_deleted").await, 1);

    assert!(
        !store
            .delete_user(id, t0(), &[entry("user_deleted", Some(id))])
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "user_deleted").await, 1);

    assert!(store.get_session(other_session).await.unwrap().is_some());
    let state = store.refresh_state(other_session).await.unwrap().unwrap();
    assert_eq!(state.live, Some(other_token));
    // The address is free again.
    store.create_user(&new_user("alice"), &[]).await.unwrap();
}

pub async fn set_disabled_flags_the_user(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    let t1 = t0() + mins(1);
    assert!(
        store
            .set_disabled(id, true, t1, &[entry("user_disabled", Some(id))])
            .await
            .unwrap()
    );
    let user = store.get_user(id).await.unwrap().unwrap();
    assert!(user.disabled);
    assert_eq!(user.updated_at, t1);
    assert!(
        store
            .set_disabled(id, false, t1, &[entry("user_enabled", Some(id))])
            .await
            .unwrap()
    );
    assert!(!store.get_user(id).await.unwrap().unwrap().disabled);
    assert!(
        !store
            .set_disabled(Uuid::now_v7(), true, t1, &[entry("user_disabled", None)])
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "user_disabled").await, 1);
    assert_eq!(count_events(&*store, "user_enabled").await, 1);
}

pub async fn unlock_clears_lock_and_count(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    let policy = crate::lockout::policy(t0());
    for _ in 0..5 {
        store
            .attempt_failed(
                id,
                "203.0.113.7",
                &policy,
                &entry("login_failed", Some(id)),
                &entry("account_locked", Some(id)),
                &entry("account_locked", Some(id)),
            )
            .await
            .unwrap();
    }
    let locked = store.get_user(id).await.unwrap().unwrap();
    assert!(locked.locked_until.is_some());
    assert_eq!(locked.failed_logins, 5);

    let t1 = t0() + mins(2);
    assert!(
        store
            .unlock(id, t1, &[entry("user_unlocked", Some(id))])
            .await
            .unwrap()
    );
    let user = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(user.locked_until, None);
    assert_eq!(user.failed_logins, 0);
    assert_eq!(user.updated_at, t1);
    assert!(
        !store
            .unlock(Uuid::now_v7(), t1, &[entry("user_unlocked", None)])
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "user_unlocked").await, 1);
}

pub async fn set_roles_replaces_sorted_roles(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    let t1 = t0() + mins(1);
    // Not `admin`: taking the only admin's role away is refused (`the_last_active_admin_stays`).
    let roles = vec!["writer".to_string(), "auditor".into(), "writer".into()];
    let set = store
        .set_roles(id, &roles, t1, &[entry("role_changed", Some(id))])
        .await
        .unwrap();
    assert_eq!(
        set.as_deref(),
        Some(&["auditor".to_string(), "writer".into()][..])
    );
    let user = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(user.roles, ["auditor", "writer"]);
    assert_eq!(user.updated_at, t1);

    let set = store
        .set_roles(id, &[], t1, &[entry("role_changed", Some(id))])
        .await
        .unwrap();
    assert_eq!(set, Some(vec![]));
    assert!(store.get_user(id).await.unwrap().unwrap().roles.is_empty());

    let unknown = store
        .set_roles(Uuid::now_v7(), &roles, t1, &[entry("role_changed", None)])
        .await
        .unwrap();
    assert_eq!(unknown, None);
    assert_eq!(count_events(&*store, "role_changed").await, 2);
}

pub async fn list_users_pages_by_id(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for local in ["u1", "u2", "u3", "u4", "u5"] {
        ids.push(create_user(&*store, local).await);
    }
    ids.sort();

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_users(None, 2, after).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        assert_eq!(last.roles, ["user"], "records come whole");
        seen.extend(page.iter().map(|u| u.id));
    }
    assert_eq!(seen, ids);

    let all = store.list_users(None, 100, None).await.unwrap();
    assert_eq!(all.iter().map(|u| u.id).collect::<Vec<_>>(), ids);
    let rest = store.list_users(None, 100, Some(ids[2])).await.unwrap();
    assert_eq!(rest.iter().map(|u| u.id).collect::<Vec<_>>(), ids[3..]);
}

pub async fn list_users_query_matches_literally(store: Arc<dyn Store>) {
    let user = |email: &str, username: Option<&str>| {
        let mut u = new_user("x");
        u.email = email.to_string();
        u.email_canonical = email.to_lowercase();
        u.username = username.map(str::to_string);
        u.username_canonical = username.map(str::to_lowercase);
        u
    };
    let alice = user("alice@example.com", Some("Alice"));
    let bob = user("bob@example.org", Some("Bob_Smith"));
    let bxs = user("bxs@example.org", None);
    let percent = user("100%real@example.net", None);
    let zeros = user("1000real@example.net", None);
    for u in [&alice, &bob, &bxs, &percent, &zeros] {
        store.create_user(u, &[]).await.unwrap();
    }
    let ids = |users: Vec<sesame_core::store::UserRecord>| -> Vec<Uuid> {
        users.into_iter().map(|u| u.id).collect()
    };
    let mut org = vec![bob.id, bxs.id];
    org.sort();

    let found = store.list_users(Some("ALICE"), 10, None).await.unwrap();
    assert_eq!(ids(found), [alice.id], "case-insensitive");
    let found = store
        .list_users(Some("example.org"), 10, None)
        .await
        .unwrap();
    assert_eq!(ids(found), org);
    let found = store.list_users(Some("b_s"), 10, None).await.unwrap();
    assert_eq!(ids(found), [bob.id], "`_` is no wildcard");
    let found = store.list_users(Some("0%r"), 10, None).await.unwrap();
    assert_eq!(ids(found), [percent.id], "`%` is no wildcard");
    let found = store.list_users(Some("   "), 10, None).await.unwrap();
    assert_eq!(found.len(), 5, "a blank query matches everyone");
    let found = store.list_users(Some("nothing"), 10, None).await.unwrap();
    assert!(found.is_empty());

    let first = store
        .list_users(Some("example.org"), 1, None)
        .await
        .unwrap();
    assert_eq!(ids(first), [org[0]]);
    let next = store
        .list_users(Some("example.org"), 1, Some(org[0]))
        .await
        .unwrap();
    assert_eq!(ids(next), [org[1]]);
}

pub async fn preferences_round_trip(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    assert!(store.get_preferences(id).await.unwrap().is_none());
    let prefs =
        serde_json::json!({"theme": "dark", "langs": ["en", "de"], "n": 3, "nested": {"a": null}});
    store.put_preferences(id, &prefs, t0()).await.unwrap();
    assert_eq!(store.get_preferences(id).await.unwrap(), Some(prefs));
    let replaced = serde_json::json!({"theme": "light"});
    store
        .put_preferences(id, &replaced, t0() + mins(1))
        .await
        .unwrap();
    assert_eq!(
        store.get_preferences(id).await.unwrap(),
        Some(replaced),
        "a put replaces the whole document"
    );
    assert!(
        store
            .put_preferences(Uuid::now_v7(), &serde_json::json!({}), t0())
            .await
            .is_err(),
        "preferences belong to an existing user"
    );
}

/// Every change to what a profile shows writes a 'profile' feed entry naming the user (so each
/// replica drops its cached copy), in the same transaction; a login, which changes only the
/// last-login time and the lockout counters, writes none. (Each change is made to a user of its
/// own and the feed read from the start: PostgreSQL's cursor may hand entries back again.)
pub async fn profile_changes_are_in_the_feed(store: Arc<dyn Store>) {
    use sesame_core::store::{EmailPurpose, RevocationKind};
    let start = store.revocations_after(0).await.unwrap().next;
    let changed = || {
        let store = store.clone();
        async move {
            store
                .revocations_after(start)
                .await
                .unwrap()
                .entries
                .into_iter()
                .filter(|r| r.kind == RevocationKind::Profile)
                .map(|r| r.subject)
                .collect::<Vec<String>>()
        }
    };
    let [login, update, roles, disabled, email, deleted] =
        ["login", "update", "roles", "disabled", "email", "deleted"].map(|n| format!("feed_{n}"));
    let login = create_user(&*store, &login).await;
    let update = create_user(&*store, &update).await;
    let roles = create_user(&*store, &roles).await;
    let disabled = create_user(&*store, &disabled).await;
    let email = create_user(&*store, &email).await;
    let deleted = create_user(&*store, &deleted).await;
    assert_eq!(changed().await, Vec::<String>::new(), "creating users");

    // A login (reservation, success) is not a profile change.
    let policy = crate::lockout::policy(t0());
    store
        .reserve_attempt(login, "198.51.100.7", &policy)
        .await
        .unwrap();
    store
        .attempt_succeeded(
            login,
            "198.51.100.7",
            &policy,
            sesame_core::store::AttemptSuccess::Login,
            &[],
        )
        .await
        .unwrap();

    let change = ProfileChange {
        display_name: Some(Some("Alice".into())),
        ..ProfileChange::default()
    };
    store
        .update_profile(update, &change, t0(), &[])
        .await
        .unwrap();
    store
        .set_roles(roles, &["auditor".into(), "customer".into()], t0(), &[])
        .await
        .unwrap();
    store.set_disabled(disabled, true, t0(), &[]).await.unwrap();
    // A link for the address the user already has is no change.
    let same = crate::email::email_token(email, EmailPurpose::Verify, "feed_email@example.com");
    store
        .enqueue_email(
            &same,
            &crate::email::message("feed_email@example.com"),
            None,
            &[],
        )
        .await
        .unwrap();
    let seen = changed().await;
    for (who, what) in [
        (update, "a profile update"),
        (roles, "a role change"),
        (disabled, "disabling"),
    ] {
        assert!(seen.contains(&who.to_string()), "{what}: {seen:?}");
    }
    assert!(!seen.contains(&login.to_string()), "a login wrote {seen:?}");
    assert!(
        !seen.contains(&email.to_string()),
        "verifying the current address wrote {seen:?}"
    );

    // A link for another address is a pending change, which the profile shows.
    let other = crate::email::email_token(email, EmailPurpose::Verify, "new.address@example.com");
    store
        .enqueue_email(
            &other,
            &crate::email::message("new.address@example.com"),
            None,
            &[],
        )
        .await
        .unwrap();
    store.delete_user(deleted, t0(), &[]).await.unwrap();
    let seen = changed().await;
    assert!(
        seen.contains(&email.to_string()),
        "an email change: {seen:?}"
    );
    assert!(seen.contains(&deleted.to_string()), "a deletion: {seen:?}");
}
