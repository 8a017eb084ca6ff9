//! UserStore, moving in: `import_users` (batches of users with their own hashes) and
//! `rehash_password` (the transparent upgrade at login).

use std::sync::Arc;

use chrono::Duration;
use sesame_core::store::{ImportOutcome, ImportedUser, Store};
use uuid::Uuid;

use crate::{count_events, create_user, entry, mins, new_session, new_user, t0, token};

const BCRYPT: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";

/// `new_user(local)` as an import would bring it: created long ago, verified, with a bcrypt hash.
fn imported(local: &str) -> ImportedUser {
    let mut user = new_user(local);
    user.password_hash = BCRYPT.into();
    user.roles = vec!["customer".into(), "staff".into()];
    user.now = t0() + mins(10);
    ImportedUser {
        audit: entry("user_imported", Some(user.id)),
        user,
        created_at: t0() - Duration::days(400),
        email_verified: true,
        disabled: false,
    }
}

pub async fn import_users_inserts_with_their_own_fields(store: Arc<dyn Store>) {
    let alice = imported("alice");
    let mut bob = imported("Bob");
    bob.user.username = None;
    bob.user.username_canonical = None;
    bob.email_verified = false;
    bob.disabled = true;
    bob.user.roles = vec!["customer".into()];
    let outcomes = store
        .import_users(&[alice.clone(), bob.clone()])
        .await
        .unwrap();
    assert_eq!(outcomes, [ImportOutcome::Imported, ImportOutcome::Imported]);

    let got = store
        .get_user(alice.user.id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(got.email, "alice@example.com");
    assert_eq!(got.username.as_deref(), Some("alice"));
    assert_eq!(got.password_hash, BCRYPT, "the hash is kept as given");
    assert_eq!(got.roles, ["customer", "staff"]);
    assert!(got.email_verified);
    assert!(!got.disabled);
    assert_eq!(got.created_at, t0() - Duration::days(400));
    assert_eq!(got.updated_at, t0() + mins(10));
    assert_eq!(got.failed_logins, 0);
    assert_eq!(got.last_login_at, None);
    let by_login = store.find_user_by_login("alice").await.unwrap();
    assert_eq!(by_login.map(|u| u.id), Some(alice.user.id));

    let got = store.get_user(bob.user.id).await.unwrap().expect("stored");
    assert_eq!(got.username, None);
    assert!(!got.email_verified);
    assert!(got.disabled);
    assert_eq!(got.roles, ["customer"]);
    assert_eq!(count_events(&*store, "user_imported").await, 2);
}

pub async fn import_users_skips_existing_emails_and_reports_taken_usernames(store: Arc<dyn Store>) {
    let existing = create_user(&*store, "alice").await;
    let before = store.get_user(existing).await.unwrap().unwrap();

    // Same email (another case), another username: the existing account stays as it was.
    let mut same_email = imported("ALICE");
    same_email.user.username = Some("someone".into());
    same_email.user.username_canonical = Some("someone".into());
    // Another email, but the existing account's username.
    let mut same_username = imported("carol");
    same_username.user.username = Some("Alice".into());
    same_username.user.username_canonical = Some("alice".into());
    let fresh = imported("dave");
    // Two of the batch want the same username: the first wins.
    let mut first = imported("erin");
    first.user.username = Some("shared".into());
    first.user.username_canonical = Some("shared".into());
    let mut second = imported("frank");
    second.user.username = Some("Shared".into());
    second.user.username_canonical = Some("shared".into());

    let batch = [
        same_email.clone(),
        same_username.clone(),
        fresh.clone(),
        first,
        second.clone(),
    ];
    let outcomes = store.import_users(&batch).await.unwrap();
    assert_eq!(
        outcomes,
        [
            ImportOutcome::EmailExists,
            ImportOutcome::UsernameTaken,
            ImportOutcome::Imported,
            ImportOutcome::Imported,
            ImportOutcome::UsernameTaken,
        ]
    );
    let after = store.get_user(existing).await.unwrap().unwrap();
    assert_eq!(after.password_hash, before.password_hash);
    assert_eq!(after.username, before.username);
    assert_eq!(after.roles, before.roles);
    for not_inserted in [&same_email, &same_username, &second] {
        assert!(
            store
                .get_user(not_inserted.user.id)
                .await
                .unwrap()
                .is_none(),
            "{}",
            not_inserted.user.email
        );
    }
    assert!(store.get_user(fresh.user.id).await.unwrap().is_some());
    assert_eq!(
        count_events(&*store, "user_imported").await,
        2,
        "an audit entry only for each user inserted"
    );

    // The same batch again: everything exists now (idempotent).
    let again = store.import_users(&batch).await.unwrap();
    assert_eq!(
        again,
        [
            ImportOutcome::EmailExists,
            ImportOutcome::UsernameTaken,
            ImportOutcome::EmailExists,
            ImportOutcome::EmailExists,
            ImportOutcome::UsernameTaken,
        ]
    );
    assert_eq!(count_events(&*store, "user_imported").await, 2);
    assert!(store.import_users(&[]).await.unwrap().is_empty());
}

pub async fn rehash_password_is_conditional_on_the_old_hash(store: Arc<dyn Store>) {
    let alice = imported("alice");
    store
        .import_users(std::slice::from_ref(&alice))
        .await
        .unwrap();
    let id = alice.user.id;
    let before = store.get_user(id).await.unwrap().unwrap();
    // A session stays open across the upgrade: it is the same password.
    let refresh = token();
    let session = new_session(id, &refresh, t0(), t0() + Duration::days(1));
    store.create_session(&session).await.unwrap();

    let new_hash =
        "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdG5ld3NhbHQ$bmV3aGFzaG5ld2hhc2huZXdoYXNo";
    assert!(
        store
            .rehash_password(
                id,
                BCRYPT,
                new_hash,
                &[entry("password_rehashed", Some(id))]
            )
            .await
            .unwrap()
    );
    let after = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(after.password_hash, new_hash);
    assert_eq!(after.updated_at, before.updated_at, "not a password change");
    assert!(
        store
            .get_session(session.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert_eq!(count_events(&*store, "password_rehashed").await, 1);

    // A stale old hash (the password changed meanwhile) changes nothing and records nothing.
    assert!(
        !store
            .rehash_password(
                id,
                BCRYPT,
                "$argon2id$other",
                &[entry("password_rehashed", Some(id))]
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_user(id).await.unwrap().unwrap().password_hash,
        new_hash
    );
    let nobody = Uuid::now_v7();
    assert!(
        !store
            .rehash_password(
                nobody,
                BCRYPT,
                new_hash,
                &[entry("password_rehashed", Some(nobody))]
            )
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "password_rehashed").await, 1);
}
