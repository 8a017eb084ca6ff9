//! UserStore's lockout (login_attempts, known_sources) and the last-admin rule: the store
//! operations that findings 2, 3 and 7 of the security review rest on.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sesame_core::store::{Admission, AttemptPolicy, AttemptSuccess, Constraint, Store, StoreError};
use uuid::Uuid;

use crate::{assert_close, count_events, create_user, entry, mins, new_user, t0};

const A: &str = "203.0.113.7";
const B: &str = "2001:db8:1:2::/64";

/// The default policy (5 per source, 20 account-wide, 15 minutes) at `now`.
pub(crate) fn policy(now: DateTime<Utc>) -> AttemptPolicy {
    AttemptPolicy {
        now,
        max_failures: 5,
        account_max_failures: 20,
        // Sub-millisecond on purpose: no backend stores nanoseconds, and a lock must still be
        // recognised as the one this failure set.
        lock_until: now + mins(15) + Duration::nanoseconds(123_456_789),
        idle_before: now - mins(15),
        pending_before: now - Duration::seconds(60),
        known_sources: 3,
    }
}

async fn reserve(store: &dyn Store, id: Uuid, source: &str, now: DateTime<Utc>) -> Admission {
    store
        .reserve_attempt(id, source, &policy(now))
        .await
        .unwrap()
}

/// A reserved attempt that turns out wrong.
async fn fail(store: &dyn Store, id: Uuid, source: &str, now: DateTime<Utc>) {
    assert_eq!(reserve(store, id, source, now).await, Admission::Admitted);
    failed(store, id, source, now).await;
}

async fn failed(
    store: &dyn Store,
    id: Uuid,
    source: &str,
    now: DateTime<Utc>,
) -> sesame_core::store::FailedAttempt {
    store
        .attempt_failed(
            id,
            source,
            &policy(now),
            &entry("login_failed", Some(id)),
            &entry("source_locked", Some(id)),
            &entry("account_locked", Some(id)),
        )
        .await
        .unwrap()
}

async fn succeeded(
    store: &dyn Store,
    id: Uuid,
    source: &str,
    now: DateTime<Utc>,
    success: AttemptSuccess,
) -> Admission {
    store
        .attempt_succeeded(
            id,
            source,
            &policy(now),
            success,
            &[entry("login_succeeded", Some(id))],
        )
        .await
        .unwrap()
}

pub async fn a_source_locks_at_max_failures_and_others_stay_open(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    for i in 1..=4 {
        assert_eq!(reserve(&*store, id, A, t0()).await, Admission::Admitted);
        let f = failed(&*store, id, A, t0()).await;
        assert_eq!(f.failures, i);
        assert!(!f.source_locked && !f.account_locked);
    }
    assert_eq!(reserve(&*store, id, A, t0()).await, Admission::Admitted);
    let fifth = failed(&*store, id, A, t0()).await;
    assert!(fifth.source_locked, "the fifth failure locks the source");
    assert!(!fifth.account_locked);
    assert_eq!(count_events(&*store, "login_failed").await, 5);
    assert_eq!(count_events(&*store, "source_locked").await, 1);

    // Locked: refused before any check, with the lock's end.
    match reserve(&*store, id, A, t0() + mins(1)).await {
        Admission::Locked(until) => assert_close(Some(until), policy(t0()).lock_until),
        other => panic!("expected a lock, got {other:?}"),
    }
    // The admin view: the highest count and the latest lock of any source.
    let user = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(user.failed_logins, 5);
    assert_close(user.locked_until, policy(t0()).lock_until);

    // Another source of the same account is not locked, and its right password is accepted.
    assert_eq!(reserve(&*store, id, B, t0()).await, Admission::Admitted);
    assert_eq!(
        succeeded(&*store, id, B, t0(), AttemptSuccess::Login).await,
        Admission::Admitted
    );
    assert_eq!(count_events(&*store, "login_succeeded").await, 1);
    // ... which does not unlock the first one.
    assert!(matches!(
        reserve(&*store, id, A, t0() + mins(2)).await,
        Admission::Locked(_)
    ));

    // When the lock ends the source starts from zero.
    let later = t0() + mins(16);
    for _ in 0..4 {
        fail(&*store, id, A, later).await;
    }
    assert_eq!(reserve(&*store, id, A, later).await, Admission::Admitted);
    assert_eq!(
        succeeded(&*store, id, A, later, AttemptSuccess::Login).await,
        Admission::Admitted
    );
}

pub async fn attempts_in_flight_count_against_the_limit(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    // 30 concurrent reservations: exactly max_failures get through.
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { reserve(&*store, id, A, t0()).await })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Admission::Admitted => admitted += 1,
            Admission::Full => {}
            other => panic!("nothing is locked yet: {other:?}"),
        }
    }
    assert_eq!(admitted, 5, "no more than max_failures checks at once");

    // Four turn out wrong, one right: that one is accepted (no lock yet) and restarts the count.
    for _ in 0..4 {
        failed(&*store, id, A, t0()).await;
    }
    assert_eq!(
        succeeded(&*store, id, A, t0(), AttemptSuccess::Login).await,
        Admission::Admitted
    );
    assert_eq!(reserve(&*store, id, A, t0()).await, Admission::Admitted);
    store.release_attempt(id, A, t0()).await.unwrap();

    // A released reservation frees its slot without counting.
    for _ in 0..5 {
        assert_eq!(reserve(&*store, id, A, t0()).await, Admission::Admitted);
    }
    assert_eq!(reserve(&*store, id, A, t0()).await, Admission::Full);
    store.release_attempt(id, A, t0()).await.unwrap();
    assert_eq!(reserve(&*store, id, A, t0()).await, Admission::Admitted);
    // Reservations never resolved (a crashed request) go stale after a minute.
    let later = t0() + Duration::seconds(61);
    assert_eq!(reserve(&*store, id, A, later).await, Admission::Admitted);
}

pub async fn a_right_password_checked_after_the_lock_is_refused(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    // Five attempts in flight; the right one among them finishes last, after four wrong ones
    // and a fifth wrong one that locks the source.
    for _ in 0..5 {
        assert_eq!(reserve(&*store, id, A, t0()).await, Admission::Admitted);
    }
    for _ in 0..4 {
        failed(&*store, id, A, t0()).await;
    }
    // The fifth slot is the right password's; a sixth attempt is refused while they run.
    assert_eq!(reserve(&*store, id, A, t0()).await, Admission::Full);
    // Wrong passwords of another replica (no reservation seen here) may still arrive: the
    // store counts them and locks.
    assert!(failed(&*store, id, A, t0()).await.source_locked);
    match succeeded(&*store, id, A, t0(), AttemptSuccess::Login).await {
        Admission::Locked(until) => assert_close(Some(until), policy(t0()).lock_until),
        other => panic!("a lock set while the right password was hashed must hold: {other:?}"),
    }
    assert_eq!(count_events(&*store, "login_succeeded").await, 0);
    let user = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(user.last_login_at, None);
    assert!(matches!(
        reserve(&*store, id, A, t0()).await,
        Admission::Locked(_)
    ));
}

/// A right password of a user with a second factor (issue #19) is checked against the locks
/// like any other, but restarts no count and makes no source known: only the completed
/// sign-in does. Else every right password would give a guesser of codes a fresh budget.
pub async fn a_first_factor_keeps_the_counts_and_makes_no_source_known(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    for _ in 0..3 {
        fail(&*store, id, A, t0()).await;
    }
    assert_eq!(reserve(&*store, id, A, t0()).await, Admission::Admitted);
    assert_eq!(
        store
            .attempt_succeeded(
                id,
                A,
                &policy(t0()),
                AttemptSuccess::FirstFactor,
                &[entry("first_factor", Some(id))],
            )
            .await
            .unwrap(),
        Admission::Admitted
    );
    let user = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(user.last_login_at, None, "not a completed sign-in");
    assert_eq!(count_events(&*store, "first_factor").await, 1);
    // The three failures still count: two more lock the source, the reservation released.
    for _ in 0..2 {
        fail(&*store, id, A, t0()).await;
    }
    assert!(matches!(
        reserve(&*store, id, A, t0()).await,
        Admission::Locked(_)
    ));
    // A first factor checked after the lock was set is refused, and writes nothing.
    assert_eq!(reserve(&*store, id, B, t0()).await, Admission::Admitted);
    for _ in 0..4 {
        failed(&*store, id, B, t0()).await;
    }
    assert!(failed(&*store, id, B, t0()).await.source_locked);
    assert!(matches!(
        store
            .attempt_succeeded(
                id,
                B,
                &policy(t0()),
                AttemptSuccess::FirstFactor,
                &[entry("first_factor", Some(id))]
            )
            .await
            .unwrap(),
        Admission::Locked(_)
    ));
    assert_eq!(count_events(&*store, "first_factor").await, 1);

    // No source became known: once the account-wide lock holds (20 failures from any
    // sources: 10 above, 10 below), the source of a first factor is not spared.
    let c = "198.51.100.9";
    assert_eq!(reserve(&*store, id, c, t0()).await, Admission::Admitted);
    assert_eq!(
        store
            .attempt_succeeded(id, c, &policy(t0()), AttemptSuccess::FirstFactor, &[])
            .await
            .unwrap(),
        Admission::Admitted
    );
    for n in 0..10 {
        let source = format!("192.0.2.{n}");
        fail(&*store, id, &source, t0() + mins(1)).await;
    }
    assert!(
        store
            .get_user(id)
            .await
            .unwrap()
            .unwrap()
            .locked_until
            .is_some()
    );
    assert!(
        matches!(
            reserve(&*store, id, c, t0() + mins(1)).await,
            Admission::Locked(_)
        ),
        "a source with only a first factor is not a known one"
    );
}

pub async fn the_account_wide_lock_spares_known_sources(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    // The owner signed in from the known source before.
    let home = "198.51.100.1";
    assert_eq!(reserve(&*store, id, home, t0()).await, Admission::Admitted);
    assert_eq!(
        succeeded(&*store, id, home, t0(), AttemptSuccess::Login).await,
        Admission::Admitted
    );

    // Four guessers, five wrong passwords each: 20 from any sources lock the account.
    let mut last = None;
    for n in 1..=4 {
        let source = format!("192.0.2.{n}");
        for _ in 0..4 {
            fail(&*store, id, &source, t0()).await;
        }
        assert_eq!(
            reserve(&*store, id, &source, t0()).await,
            Admission::Admitted
        );
        last = Some(failed(&*store, id, &source, t0()).await);
    }
    assert!(
        last.unwrap().account_locked,
        "the 20th failure locks the account"
    );
    assert_eq!(count_events(&*store, "account_locked").await, 1);

    // A fifth, fresh source is refused without a check...
    assert!(matches!(
        reserve(&*store, id, "192.0.2.99", t0()).await,
        Admission::Locked(_)
    ));
    // ... the owner's known source gets in.
    assert_eq!(reserve(&*store, id, home, t0()).await, Admission::Admitted);
    assert_eq!(
        succeeded(&*store, id, home, t0(), AttemptSuccess::Login).await,
        Admission::Admitted
    );
    // A right password from an unknown source is refused too.
    assert_eq!(
        reserve(&*store, id, B, t0()).await,
        Admission::Locked(
            store
                .get_user(id)
                .await
                .unwrap()
                .unwrap()
                .locked_until
                .unwrap()
        )
    );

    // An unlock (admin, CLI, password reset) ends every lock.
    assert!(store.unlock(id, t0() + mins(1), &[]).await.unwrap());
    let user = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(user.locked_until, None);
    assert_eq!(user.failed_logins, 0);
    assert_eq!(
        reserve(&*store, id, "192.0.2.99", t0()).await,
        Admission::Admitted
    );
    assert_eq!(
        reserve(&*store, id, "192.0.2.1", t0()).await,
        Admission::Admitted
    );
}

pub async fn a_password_reset_and_a_password_change_end_every_lock(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    let lock_everything = || async {
        for n in 0..20 {
            fail(&*store, id, &format!("192.0.2.{}", n / 5), t0()).await;
        }
        assert!(matches!(
            reserve(&*store, id, "198.51.100.1", t0()).await,
            Admission::Locked(_)
        ));
    };
    lock_everything().await;
    let hash = crate::email::reset_token(&*store, id, "alice@example.com").await;
    store
        .reset_password(&hash, "$argon2id$new", t0() + mins(1), &[])
        .await
        .unwrap()
        .unwrap();
    let user = store.get_user(id).await.unwrap().unwrap();
    assert_eq!((user.locked_until, user.failed_logins), (None, 0));
    // A new device and a formerly locked source are both open again.
    assert_eq!(
        reserve(&*store, id, "198.51.100.1", t0()).await,
        Admission::Admitted
    );
    assert_eq!(
        reserve(&*store, id, "192.0.2.0", t0()).await,
        Admission::Admitted
    );
    store
        .release_attempt(id, "198.51.100.1", t0())
        .await
        .unwrap();
    store.release_attempt(id, "192.0.2.0", t0()).await.unwrap();

    lock_everything().await;
    store
        .set_password(id, "$argon2id$newer", None, t0() + mins(2), &[])
        .await
        .unwrap();
    let user = store.get_user(id).await.unwrap().unwrap();
    assert_eq!((user.locked_until, user.failed_logins), (None, 0));
    assert_eq!(
        reserve(&*store, id, "192.0.2.0", t0()).await,
        Admission::Admitted
    );
}

pub async fn known_sources_are_bounded_most_recent_first(store: Arc<dyn Store>) {
    let id = create_user(&*store, "alice").await;
    // policy().known_sources is 3: sign in from 4 sources, the oldest is forgotten.
    for (n, source) in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
        .iter()
        .enumerate()
    {
        let at = t0() + mins(n as i64);
        assert_eq!(reserve(&*store, id, source, at).await, Admission::Admitted);
        assert_eq!(
            succeeded(&*store, id, source, at, AttemptSuccess::Login).await,
            Admission::Admitted
        );
    }
    // A password change (login = false) does not make a source known.
    assert_eq!(
        reserve(&*store, id, "10.0.0.5", t0()).await,
        Admission::Admitted
    );
    assert_eq!(
        succeeded(
            &*store,
            id,
            "10.0.0.5",
            t0() + mins(5),
            AttemptSuccess::CurrentPassword
        )
        .await,
        Admission::Admitted
    );
    let user = store.get_user(id).await.unwrap().unwrap();
    assert_eq!(user.last_login_at, Some(t0() + mins(3)));
    // Lock the account from elsewhere, then see which sources still get in.
    let now = t0() + mins(6);
    for n in 0..20 {
        let source = format!("192.0.2.{}", n / 5);
        fail(&*store, id, &source, now).await;
    }
    for (source, known) in [
        ("10.0.0.1", false),
        ("10.0.0.2", true),
        ("10.0.0.3", true),
        ("10.0.0.4", true),
        ("10.0.0.5", false),
    ] {
        let admitted = reserve(&*store, id, source, now).await == Admission::Admitted;
        assert_eq!(admitted, known, "{source}");
    }
}

pub async fn attempts_of_deleted_users_and_purge(store: Arc<dyn Store>) {
    let gone = Uuid::now_v7();
    assert_eq!(reserve(&*store, gone, A, t0()).await, Admission::Admitted);
    assert_eq!(
        failed(&*store, gone, A, t0()).await,
        Default::default(),
        "nothing to count for a user that does not exist"
    );
    assert_eq!(count_events(&*store, "login_failed").await, 1);

    let id = create_user(&*store, "alice").await;
    fail(&*store, id, A, t0()).await;
    for _ in 0..5 {
        fail(&*store, id, B, t0()).await;
    }
    // Idle rows go; a lock in force stays.
    let purged = store.purge_login_attempts(t0() + mins(1)).await.unwrap();
    assert_eq!(purged, 1);
    assert!(matches!(
        reserve(&*store, id, B, t0() + mins(2)).await,
        Admission::Locked(_)
    ));
    // A user's rows go with the user.
    assert!(store.delete_user(id, t0(), &[]).await.unwrap());
    assert_eq!(
        store.purge_login_attempts(t0() + mins(60)).await.unwrap(),
        0
    );
}

async fn admin(store: &dyn Store, local: &str) -> Uuid {
    let mut user = new_user(local);
    user.roles = vec!["admin".into(), "customer".into()];
    store.create_user(&user, &[]).await.unwrap();
    user.id
}

fn last_admin(e: StoreError) -> bool {
    matches!(e, StoreError::Conflict(Constraint::LastAdmin))
}

pub async fn the_last_active_admin_stays(store: Arc<dyn Store>) {
    let root = admin(&*store, "root").await;
    let plain = create_user(&*store, "plain").await;
    let t1 = t0() + mins(1);
    let audit = [entry("role_changed", Some(root))];
    // Demoting, disabling or deleting the only admin is refused, changes nothing and audits
    // nothing.
    let e = store
        .set_roles(root, &["customer".into()], t1, &audit)
        .await
        .unwrap_err();
    assert!(last_admin(e));
    let e = store
        .set_disabled(root, true, t1, &audit)
        .await
        .unwrap_err();
    assert!(last_admin(e));
    let e = store.delete_user(root, t0(), &audit).await.unwrap_err();
    assert!(last_admin(e));
    let user = store.get_user(root).await.unwrap().unwrap();
    assert_eq!(user.roles, ["admin", "customer"]);
    assert!(!user.disabled);
    assert_eq!(count_events(&*store, "role_changed").await, 0);
    // Other users are unaffected by the rule.
    assert!(store.set_disabled(plain, true, t1, &[]).await.unwrap());
    assert!(store.delete_user(plain, t0(), &[]).await.unwrap());

    // With a second admin, one may go; then the other is the last. A disabled admin does not
    // count as one.
    let second = admin(&*store, "second").await;
    assert!(store.set_disabled(second, true, t1, &[]).await.unwrap());
    let e = store
        .set_roles(root, &["customer".into()], t1, &[])
        .await
        .unwrap_err();
    assert!(last_admin(e));
    assert!(store.set_disabled(second, false, t1, &[]).await.unwrap());
    store
        .set_roles(root, &["customer".into()], t1, &[])
        .await
        .unwrap()
        .unwrap();
    assert!(last_admin(
        store.delete_user(second, t0(), &[]).await.unwrap_err()
    ));

    // Two admins demoting each other at once: exactly one succeeds.
    store
        .set_roles(root, &["admin".into()], t1, &[])
        .await
        .unwrap()
        .unwrap();
    let customer = ["customer".to_string()];
    let (a, b) = tokio::join!(
        store.set_roles(root, &customer, t1, &[]),
        store.set_roles(second, &customer, t1, &[]),
    );
    let refused = [a, b]
        .into_iter()
        .filter(|r| matches!(r, Err(StoreError::Conflict(Constraint::LastAdmin))))
        .count();
    assert_eq!(refused, 1, "one of the two stays admin");
}
