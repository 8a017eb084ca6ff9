//! The storage contract of `sesame_core::store` as one test suite, written once and run by every
//! store crate, so the backends cannot drift apart.
//!
//! Each check is an `async fn(Arc<dyn Store>)` that panics on a violation; it gets a freshly
//! migrated, empty store of its own. A store crate runs all of them with
//! [`conformance_tests!`], which makes one `#[tokio::test]` per check (so a failure names the
//! check, e.g. `sessions::concurrent_rotation_has_one_winner`):
//!
//! ```text
//! async fn fixture() -> sesame_store_conformance::Fixture {
//!     let store = MyStore::connect(&fresh_url()).await.unwrap();
//!     store.migrate().await.unwrap();
//!     sesame_store_conformance::Fixture::new(Arc::new(store))
//! }
//! sesame_store_conformance::conformance_tests!(crate::fixture());
//! ```
//!
//! The calling crate needs `tokio` as a dev-dependency (the generated tests use
//! `#[tokio::test]`). Times are whole seconds past a fixed instant unless a check is about
//! precision: SQLite keeps milliseconds, PostgreSQL microseconds.

// This crate is test code that happens to live in a library (publish = false, used only as a
// dev-dependency): a failed `unwrap` or assertion is exactly how a check reports a violation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit;
pub mod cancellation;
pub mod clients;
pub mod email;
pub mod identities;
pub mod import;
pub mod keys;
pub mod lockout;
pub mod mfa;
pub mod oidc;
pub mod passkeys;
pub mod sessions;
pub mod users;
pub mod webhooks;

use std::any::Any;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use sesame_core::store::{AuditEntry, AuditFilter, NewSession, NewUser, Store};
use uuid::Uuid;

/// A store under test, plus whatever must outlive it (a temporary directory, say).
pub struct Fixture {
    store: Arc<dyn Store>,
    _keep: Option<Box<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Fixture {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Fixture { store, _keep: None }
    }

    /// Keeps `guard` alive until the check has finished (dropped after it, even on failure).
    pub fn keeping(mut self, guard: impl Any + Send + Sync) -> Self {
        self._keep = Some(Box::new(guard));
        self
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

/// Generates one `#[tokio::test]` per conformance check, grouped in modules named after the
/// traits' table groups. `$factory` is an expression evaluated once per test whose value is a
/// future of a [`Fixture`] holding a freshly migrated, empty store.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr) => {
        $crate::__conformance_tests! { $factory;
            users {
                create_and_get_user,
                find_user_by_canonical_login,
                duplicate_email_conflicts,
                duplicate_username_conflicts,
                update_profile_sets_and_clears_fields,
                update_profile_conflicts_change_nothing,
                set_password_ends_other_sessions,
                delete_user_cascades,
                set_disabled_flags_the_user,
                profile_changes_are_in_the_feed,
                unlock_clears_lock_and_count,
                set_roles_replaces_sorted_roles,
                list_users_pages_by_id,
                list_users_query_matches_literally,
                preferences_round_trip,
            }
            lockout {
                a_source_locks_at_max_failures_and_others_stay_open,
                attempts_in_flight_count_against_the_limit,
                a_right_password_checked_after_the_lock_is_refused,
                a_first_factor_keeps_the_counts_and_makes_no_source_known,
                the_account_wide_lock_spares_known_sources,
                a_password_reset_and_a_password_change_end_every_lock,
                known_sources_are_bounded_most_recent_first,
                attempts_of_deleted_users_and_purge,
                the_last_active_admin_stays,
            }
            sessions {
                create_session_then_rotate,
                a_rotation_returns_the_user_as_of_its_transaction,
                rotate_on_revoked_session_changes_nothing,
                rotate_expired_token_fails,
                concurrent_rotation_has_one_winner,
                concurrent_rotations_of_many_sessions_each_get_their_own_answer,
                list_active_sessions_excludes_revoked_and_expired,
                revoke_session_once,
                revoke_user_sessions_counts_active_ones,
                deny_list,
                purge_expired_removes_exactly_the_expired,
                revocation_feed_records_revocations,
                feed_cursor_never_passes_an_entry,
                a_session_is_in_force_while_its_access_token_lives,
                feed_user_change_records_stale_roles,
                browser_sessions_are_found_by_cookie_hash_and_listed,
                a_browser_sign_in_ends_the_session_it_replaces,
                browser_sessions_end_with_the_users_sessions_and_purge,
                revoke_other_sessions_keeps_exactly_one,
                status_indices_are_unique_fed_and_reused_only_when_dead,
            }
            mfa {
                totp_enrollment_is_pending_until_confirmed_then_refused_again,
                a_time_step_and_a_recovery_code_work_once,
                challenges_are_bound_to_their_user_and_expire,
                concurrent_completions_have_one_winner,
                removing_factors_takes_codes_and_challenges_along,
                sessions_keep_how_their_user_signed_in,
            }
            identities {
                an_upstream_identity_belongs_to_one_account,
                an_account_is_made_with_its_identity_or_not_at_all,
                the_last_way_in_cannot_be_unlinked,
                an_upstream_login_is_taken_once_and_expires,
            }
            passkeys {
                a_credential_id_belongs_to_one_account,
                passkeys_are_renamed_and_removed_only_by_their_owner,
                ceremonies_are_taken_once_and_expire,
                the_signature_counter_only_moves_forward,
                a_passkey_finishes_a_second_step_once,
                recovery_codes_stay_while_a_second_factor_is_left,
            }
            keys {
                init_keys_once,
                concurrent_init_keys_has_one_winner,
                rotate_keys_promotes_retires_and_drops,
                init_keys_is_per_purpose,
                concurrent_init_keys_has_one_winner_per_purpose,
                rotate_keys_moves_both_families_and_drops_both,
                rotating_one_family_leaves_the_other,
                instance_secret_keeps_the_first_value,
            }
            clients {
                clients_create_get_list_delete,
                clients_keep_their_delegable_roles,
                clients_keep_their_oauth_registration,
                delete_client_feeds_a_client_revocation,
            }
            email {
                email_tokens_are_counted_found_and_expire,
                reset_password_is_single_use_and_ends_sessions,
                verify_email_moves_the_address_once,
                reset_links_die_with_a_reset_a_password_change_and_an_email_change,
                outbox_leases_retries_and_marks_sent,
                outbox_gives_up_expired_links_and_keeps_no_link,
            }
            import {
                import_users_inserts_with_their_own_fields,
                import_users_skips_existing_emails_and_reports_taken_usernames,
                rehash_password_is_conditional_on_the_old_hash,
            }
            audit {
                audit_only_when_the_change_happened,
                list_audit_filters_newest_first_with_cursor,
                purge_audit_removes_older_entries,
                store_pings_and_migrates_again,
                audit_counts_per_event_and_bucket,
                overview_counts_what_the_console_shows,
            }
            cancellation {
                writes_dropped_at_any_await_leave_the_store_usable,
            }
            oidc {
                a_code_is_spent_once_and_a_replay_revokes_its_session,
                concurrent_redemptions_of_a_code_issue_once,
                a_code_whose_sign_in_ended_opens_no_session,
                a_browser_session_ends_its_app_sessions_and_a_new_sign_in_keeps_them,
                grants_are_saved_listed_and_deleting_one_revokes_the_apps_sessions,
                an_app_sessions_end_queues_one_back_channel_logout_claimed_under_a_lease,
            }
            webhooks {
                webhook_endpoints_create_list_get_delete,
                changes_fan_out_to_the_subscribed_active_endpoints,
                every_way_a_store_ends_sessions_reports_them,
                deliveries_are_claimed_under_a_lease_and_settled,
                gone_disables_the_endpoint_and_its_pending_deliveries,
                concurrent_claims_never_share_a_delivery,
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($factory:expr; $( $group:ident { $( $check:ident ),* $(,)? } )*) => {
        $(
            mod $group {
                #[allow(unused_imports)]
                use super::*;
                $(
                    // Several workers: the concurrency checks should race for real.
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $check() {
                        let fixture: $crate::Fixture = $factory.await;
                        $crate::$group::$check(fixture.store()).await;
                    }
                )*
            }
        )*
    };
}

/// The instant the checks' clocks start at: whole seconds, so every backend stores it exactly.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

pub fn mins(n: i64) -> Duration {
    Duration::minutes(n)
}

/// A new user `local@example.com` with username `local` (as spelled; canonical lower-cased).
pub fn new_user(local: &str) -> NewUser {
    NewUser {
        id: Uuid::now_v7(),
        email: format!("{local}@example.com"),
        email_canonical: format!("{local}@example.com").to_lowercase(),
        username: Some(local.to_string()),
        username_canonical: Some(local.to_lowercase()),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        roles: vec!["user".into()],
        now: t0(),
    }
}

/// Creates `new_user(local)` and returns its id.
pub async fn create_user(store: &dyn Store, local: &str) -> Uuid {
    let user = new_user(local);
    store.create_user(&user, &[]).await.unwrap();
    user.id
}

/// A random 32-byte refresh token hash.
pub fn token() -> Vec<u8> {
    let mut bytes = Uuid::new_v4().as_bytes().to_vec();
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    bytes
}

pub fn new_session(
    user_id: Uuid,
    refresh: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> NewSession {
    NewSession {
        id: Uuid::now_v7(),
        user_id,
        audience: vec!["api".into(), "gallery".into()],
        refresh_hash: refresh.to_vec(),
        now,
        expires_at,
        access_until: now + Duration::minutes(15),
        ip: Some("203.0.113.7".into()),
        user_agent: Some("conformance/1".into()),
        status_reuse_before: now - Duration::hours(1),
        assurance: sesame_core::store::Assurance::password(),
        app: None,
    }
}

/// Opens a session with a fresh refresh token; returns the session id and the token.
pub async fn open_session(
    store: &dyn Store,
    user_id: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> (Uuid, Vec<u8>) {
    let refresh = token();
    let session = new_session(user_id, &refresh, now, expires_at);
    store.create_session(&session).await.unwrap();
    (session.id, refresh)
}

pub fn entry(event: &str, user_id: Option<Uuid>) -> AuditEntry {
    AuditEntry {
        id: Uuid::now_v7(),
        at: t0(),
        event: event.to_string(),
        user_id,
        ip: Some("203.0.113.7".into()),
        user_agent: Some("conformance/1".into()),
        detail: serde_json::json!({"check": event}),
    }
}

/// Every audit event stored, newest first.
pub async fn events(store: &dyn Store) -> Vec<String> {
    let filter = AuditFilter {
        limit: 10_000,
        ..AuditFilter::default()
    };
    store
        .list_audit(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect()
}

/// How many stored audit entries have `event`.
pub async fn count_events(store: &dyn Store, event: &str) -> usize {
    events(store).await.iter().filter(|e| *e == event).count()
}

/// Asserts two instants are within a millisecond (the coarsest precision a backend keeps).
#[track_caller]
pub fn assert_close(actual: Option<DateTime<Utc>>, expected: DateTime<Utc>) {
    let actual = actual.unwrap_or_else(|| panic!("expected about {expected}, got None"));
    let diff = (actual - expected).num_microseconds().unwrap().abs();
    assert!(diff < 1000, "expected about {expected}, got {actual}");
}
