//! IdentityStore (user_identities, upstream_logins): one account per upstream identity, a
//! callback's login taken once, an account made with its identity in one transaction, and
//! unlinking refused when it would leave no way in.

use std::sync::Arc;

use sesame_core::store::{
    Constraint, IdentityRecord, NO_PASSWORD_HASH, NewUser, Store, StoreError, Unlink, UpstreamLogin,
};
use uuid::Uuid;

use crate::{count_events, create_user, entry, mins, new_user, t0, token};

fn identity(user: Uuid, provider: &str, subject: &str) -> IdentityRecord {
    IdentityRecord {
        id: Uuid::now_v7(),
        user_id: user,
        provider: provider.into(),
        subject: subject.into(),
        email: Some(format!("{subject}@upstream.example")),
        linked_at: t0(),
    }
}

fn passwordless(local: &str) -> NewUser {
    NewUser {
        password_hash: NO_PASSWORD_HASH.into(),
        ..new_user(local)
    }
}

pub async fn an_upstream_identity_belongs_to_one_account(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let bob = create_user(&*store, "bob").await;
    let first = identity(alice, "corp", "sub-1");
    assert!(
        store
            .link_identity(&first, &[entry("identity_linked", Some(alice))])
            .await
            .unwrap()
    );
    assert!(
        !store
            .link_identity(
                &identity(bob, "corp", "sub-1"),
                &[entry("identity_linked", Some(bob))]
            )
            .await
            .unwrap()
    );
    assert_eq!(count_events(&*store, "identity_linked").await, 1);
    // The same subject at another provider is another identity.
    assert!(
        store
            .link_identity(&identity(bob, "github", "sub-1"), &[])
            .await
            .unwrap()
    );
    let found = store.find_identity("corp", "sub-1").await.unwrap().unwrap();
    assert_eq!(found, first);
    assert!(
        store
            .find_identity("corp", "sub-2")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.list_identities(alice).await.unwrap(), vec![first]);
    // Nobody's identity for a user that does not exist.
    assert!(
        !store
            .link_identity(&identity(Uuid::now_v7(), "corp", "sub-9"), &[])
            .await
            .unwrap()
    );
}

pub async fn an_account_is_made_with_its_identity_or_not_at_all(store: Arc<dyn Store>) {
    let u = passwordless("carol");
    let id = identity(u.id, "corp", "carol-sub");
    let made = store
        .create_user_with_identity(&u, true, &id, &[entry("register", Some(u.id))])
        .await
        .unwrap();
    assert!(made.email_verified);
    assert_eq!(made.password_hash, NO_PASSWORD_HASH);
    let read = store.get_user(u.id).await.unwrap().unwrap();
    assert!(read.email_verified);
    assert_eq!(store.list_identities(u.id).await.unwrap().len(), 1);
    // The identity taken already: no account is left behind.
    let other = passwordless("dave");
    let err = store
        .create_user_with_identity(&other, false, &identity(other.id, "corp", "carol-sub"), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::Identity)),
        "{err:?}"
    );
    assert!(store.get_user(other.id).await.unwrap().is_none());
    // The email taken already: the usual conflict, nothing linked.
    let twin = NewUser {
        id: Uuid::now_v7(),
        username: None,
        username_canonical: None,
        ..passwordless("carol")
    };
    let err = store
        .create_user_with_identity(&twin, true, &identity(twin.id, "corp", "twin"), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Constraint::Email)),
        "{err:?}"
    );
    assert!(store.find_identity("corp", "twin").await.unwrap().is_none());
}

pub async fn the_last_way_in_cannot_be_unlinked(store: Arc<dyn Store>) {
    let u = passwordless("erin");
    let first = identity(u.id, "corp", "erin-1");
    store
        .create_user_with_identity(&u, true, &first, &[])
        .await
        .unwrap();
    assert_eq!(
        store
            .unlink_identity(u.id, first.id, &[entry("identity_unlinked", Some(u.id))])
            .await
            .unwrap(),
        Unlink::LastWayIn
    );
    assert_eq!(count_events(&*store, "identity_unlinked").await, 0);
    assert_eq!(store.list_identities(u.id).await.unwrap().len(), 1);
    // A second identity: either may go, then not the other.
    let second = identity(u.id, "github", "erin-2");
    assert!(store.link_identity(&second, &[]).await.unwrap());
    assert_eq!(
        store
            .unlink_identity(u.id, first.id, &[entry("identity_unlinked", Some(u.id))])
            .await
            .unwrap(),
        Unlink::Unlinked
    );
    assert_eq!(count_events(&*store, "identity_unlinked").await, 1);
    assert_eq!(
        store.unlink_identity(u.id, second.id, &[]).await.unwrap(),
        Unlink::LastWayIn
    );
    // Someone else's, or unknown: not found.
    let frank = create_user(&*store, "frank").await;
    assert_eq!(
        store.unlink_identity(frank, second.id, &[]).await.unwrap(),
        Unlink::NotFound
    );
    // An account with a password may drop its only identity.
    let linked = identity(frank, "corp", "frank-1");
    assert!(store.link_identity(&linked, &[]).await.unwrap());
    assert_eq!(
        store.unlink_identity(frank, linked.id, &[]).await.unwrap(),
        Unlink::Unlinked
    );
}

pub async fn an_upstream_login_is_taken_once_and_expires(store: Arc<dyn Store>) {
    let alice = create_user(&*store, "alice").await;
    let login = |link: Option<Uuid>, expires| UpstreamLogin {
        hash: token(),
        provider: "corp".into(),
        nonce: "n-1".into(),
        pkce_verifier: "v".repeat(43),
        return_to: Some("/account".into()),
        link_user_id: link,
        created_at: t0(),
        expires_at: expires,
    };
    let l = login(Some(alice), t0() + mins(10));
    store.create_upstream_login(&l).await.unwrap();
    let taken = store
        .take_upstream_login(&l.hash, t0())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            taken.provider.as_str(),
            taken.nonce.as_str(),
            taken.link_user_id
        ),
        ("corp", "n-1", Some(alice))
    );
    assert_eq!(taken.pkce_verifier, l.pkce_verifier);
    assert_eq!(taken.return_to.as_deref(), Some("/account"));
    assert!(
        store
            .take_upstream_login(&l.hash, t0())
            .await
            .unwrap()
            .is_none()
    );
    let old = login(None, t0() + mins(10));
    store.create_upstream_login(&old).await.unwrap();
    assert!(
        store
            .take_upstream_login(&old.hash, t0() + mins(11))
            .await
            .unwrap()
            .is_none()
    );
    let stale = login(None, t0() + mins(1));
    let fresh = login(None, t0() + mins(30));
    store.create_upstream_login(&stale).await.unwrap();
    store.create_upstream_login(&fresh).await.unwrap();
    assert_eq!(
        store.purge_upstream_logins(t0() + mins(10)).await.unwrap(),
        1
    );
    assert!(
        store
            .take_upstream_login(&fresh.hash, t0())
            .await
            .unwrap()
            .is_some()
    );
}
