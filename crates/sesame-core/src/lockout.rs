//! Lockout: how many wrong passwords a guesser gets, and why the owner still gets in.
//!
//! Wrong passwords are counted per (account, source) — the source being the client's IPv4
//! address, or its IPv6 /64 (one client usually owns a whole /64). A source reaching
//! `lockout.max_failures` is locked for `lockout.duration`: login from it answers 403
//! `account_locked` even with the right password. Other sources of the same account are not
//! locked, so knowing someone's login name no longer lets anyone lock them out.
//!
//! Against guesses spread over many sources there is an account-wide lock at
//! [`ACCOUNT_FACTOR`] × `max_failures` wrong passwords from any sources: while it holds, only the
//! sources the owner signed in from before ([`KNOWN_SOURCES`] most recent) get in; a password
//! reset and an admin/CLI unlock clear it.
//!
//! The race (security review, finding 2): every attempt is reserved in the store BEFORE its
//! password is hashed — a conditional write that counts attempts in flight as failures-to-be, so
//! no more than `max_failures` passwords per source are ever checked before the lock holds — and
//! a right password is accepted only by a conditional write that finds the source (and the
//! account) unlocked at that moment. Within one process, attempts of one (account, source) also
//! wait for each other beyond `max_failures` in flight ([`Gates`]) instead of being refused, so
//! a client that logs in many times at once with the right password is served, not locked out.
//!
//! The same rules guard every place a password is typed: login, and the current password of a
//! password change, an email change, an account deletion and a change of second factors
//! (finding 7). Second-factor codes at sign-in count toward the very same limits (issue #19:
//! no second, weaker counter): a wrong code is a failure of its (account, source) like a wrong
//! password, and for a user with a second factor a right password alone restarts no count
//! (`AttemptSuccess::FirstFactor`) — else each right password would buy a guesser of codes a
//! fresh budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::audit::{AuditEvent, Auditor};
use crate::clock::Clock;
use crate::error::CoreError;
use crate::hashing::{Checked, PasswordHasher};
use crate::metrics::CoreMetrics;
use crate::sessions::ClientInfo;
use crate::settings::{Settings, ttl};
use crate::store::{Admission, AttemptPolicy, AttemptSuccess, AuditEntry, Store, UserRecord};

/// The account-wide lock comes at this many times `max_failures`, from any sources.
pub const ACCOUNT_FACTOR: u32 = 4;
/// Sources remembered per user as ones the owner signed in from.
pub const KNOWN_SOURCES: u32 = 10;
/// A reservation not resolved after this long was abandoned (a crash, a dropped request).
const PENDING_TTL: Duration = Duration::seconds(60);
/// `Retry-After` when the source is not locked but its attempts in flight fill its budget:
/// they resolve within about a hash time, after which a retry meets the real answer.
const FULL_RETRY_SECS: u64 = 1;

/// What a password is being checked for: recorded in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Login,
    PasswordChange,
    EmailChange,
    AccountDeletion,
    /// The password of an enrollment, a removal or new recovery codes.
    SecondFactorChange,
    /// A second-factor code at sign-in.
    SecondFactor,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::PasswordChange => "password_change",
            Purpose::EmailChange => "email_change",
            Purpose::AccountDeletion => "account_deletion",
            Purpose::SecondFactorChange => "second_factor_change",
            Purpose::SecondFactor => "second_factor",
        }
    }
}

/// The source an attempt is counted against: the IPv4 address, the /64 of an IPv6 address
/// (IPv4-mapped IPv6 as IPv4), the text as given if it is no address, `""` when unknown.
pub fn source_of(client: &ClientInfo) -> String {
    let Some(ip) = client.ip.as_deref().map(str::trim) else {
        return String::new();
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                format!("{}/64", std::net::Ipv6Addr::from(seg))
            }
        },
        Err(_) => ip.chars().take(64).collect(),
    }
}

/// The attempts of one (account, source) share a key.
type GateKey = (Uuid, String);
/// The queue of each key with attempts in progress.
type GateMap = Arc<Mutex<HashMap<GateKey, Arc<Semaphore>>>>;

/// Per-process queues of the attempts of one (account, source): at most `max_failures` run at
/// once, the others wait their turn. Entries leave the map with their last holder, so it holds
/// only keys with attempts in progress.
#[derive(Debug, Default)]
pub struct Gates {
    map: GateMap,
}

/// A turn; dropping it lets the next attempt of the key in.
#[derive(Debug)]
pub(crate) struct Turn {
    key: GateKey,
    map: GateMap,
    permit: Option<OwnedSemaphorePermit>,
}

impl Gates {
    async fn enter(&self, key: GateKey, width: u32) -> Result<Turn, CoreError> {
        let semaphore = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(width.max(1) as usize)))
                .clone()
        };
        let permit = semaphore
            .acquire_owned()
            .await
            .map_err(|_| CoreError::internal("attempt gate closed"))?;
        Ok(Turn {
            key,
            map: self.map.clone(),
            permit: Some(permit),
        })
    }

    /// Keys with attempts in progress (for tests).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        // Released under the map's lock: nobody can take the semaphore from the map meanwhile,
        // so "only the map holds it" means no attempt holds or waits for it.
        drop(self.permit.take());
        if map
            .get(&self.key)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            map.remove(&self.key);
        }
    }
}

/// A reserved attempt: it ends with an outcome (a wrong password counted, a right one accepted)
/// or is released. An attempt dropped before its password was judged — its client went away
/// while it waited for its turn or its hash — gives its reservation back at once from a task
/// of its own: nobody learnt anything from it, and counted as a failure-to-be until it went
/// stale (a minute) it locked out a client whose logins were cut short a few times (seen in
/// the storms test). Once an outcome is being written it is no longer released on a drop: if
/// that write is cut short the reservation goes stale, counted as a failure meanwhile.
#[derive(Debug)]
pub(crate) struct Attempt {
    user_id: Uuid,
    source: String,
    purpose: Purpose,
    /// Set once the attempt has an outcome or is being released (no release on drop then).
    judged: AtomicBool,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    _turn: Turn,
}

impl Attempt {
    /// Marks the attempt judged; true the first time.
    fn judge(&self) -> bool {
        !self.judged.swap(true, Ordering::SeqCst)
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.judge() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // shutting down: the reservation goes stale
        };
        let (store, clock) = (self.store.clone(), self.clock.clone());
        let (user_id, source) = (self.user_id, std::mem::take(&mut self.source));
        runtime.spawn(async move {
            if let Err(e) = store.release_attempt(user_id, &source, clock.now()).await {
                tracing::warn!(%user_id, error = %e, "an abandoned attempt was left to go stale");
            }
        });
    }
}

/// Checks typed passwords under the lockout rules; shared by sessions (login) and accounts (the
/// current password of a change or a deletion).
#[derive(Debug, Clone)]
pub(crate) struct PasswordCheck {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: Arc<PasswordHasher>,
    audit: Auditor,
    metrics: Arc<CoreMetrics>,
    gates: Arc<Gates>,
    max_failures: u32,
    duration: std::time::Duration,
}

impl PasswordCheck {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        hasher: Arc<PasswordHasher>,
        audit: Auditor,
        metrics: Arc<CoreMetrics>,
        gates: Arc<Gates>,
        settings: &Settings,
    ) -> Self {
        PasswordCheck {
            store,
            clock,
            hasher,
            audit,
            metrics,
            gates,
            max_failures: settings.lockout_max_failures,
            duration: settings.lockout_duration,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn attempt_policy(&self) -> AttemptPolicy {
        let now = self.now();
        let duration = ttl(self.duration);
        let max = self.max_failures.max(1);
        AttemptPolicy {
            now,
            max_failures: max,
            account_max_failures: max.saturating_mul(ACCOUNT_FACTOR),
            lock_until: now + duration,
            idle_before: now - duration,
            pending_before: now - PENDING_TTL,
            known_sources: KNOWN_SOURCES,
        }
    }

    fn refusal(&self, admission: Admission) -> Option<CoreError> {
        let now = self.now();
        match admission {
            Admission::Admitted => None,
            Admission::Locked(until) => Some(CoreError::AccountLocked {
                retry_after_secs: (until - now).num_seconds().max(1) as u64,
            }),
            Admission::Full => Some(CoreError::AccountLocked {
                retry_after_secs: FULL_RETRY_SECS,
            }),
        }
    }

    /// Waits for this (account, source)'s turn, then reserves the attempt before any hashing:
    /// `AccountLocked` when the source (or, for an unknown source, the account) is locked.
    pub(crate) async fn begin_attempt(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
        purpose: Purpose,
    ) -> Result<Attempt, CoreError> {
        let source = source_of(client);
        let policy = self.attempt_policy();
        let turn = self
            .gates
            .enter((user_id, source.clone()), policy.max_failures)
            .await?;
        let admission = self
            .store
            .reserve_attempt(user_id, &source, &policy)
            .await?;
        if let Some(refused) = self.refusal(admission) {
            return Err(refused);
        }
        Ok(Attempt {
            user_id,
            source,
            purpose,
            judged: AtomicBool::new(false),
            store: self.store.clone(),
            clock: self.clock.clone(),
            _turn: turn,
        })
    }

    /// Checks `password` against the user's hash inside a reserved attempt and records the
    /// outcome: `Ok(Some(checked))` for the right password, `Ok(None)` for a wrong one (counted;
    /// the lock it may set is audited). The attempt is still open after a right password: the
    /// caller ends it with [`PasswordCheck::accept_attempt`] or [`PasswordCheck::release_attempt`].
    pub(crate) async fn check_in_attempt(
        &self,
        attempt: &Attempt,
        user: &UserRecord,
        password: &SecretString,
        client: &ClientInfo,
    ) -> Result<Option<Checked>, CoreError> {
        let checked = match self
            .hasher
            .check(password, Some(user.password_hash.as_str()))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                attempt.judge();
                self.release_quietly(attempt).await;
                return Err(e);
            }
        };
        // A right password is left to the caller, which ends it with `accept_attempt` or
        // `release_attempt` — possibly after reads of its own (the second factors): unjudged
        // until then, so a caller dropped in between (its client went away) still releases the
        // reservation instead of leaving a failure-to-be that locks the account for a minute.
        if checked.ok {
            return Ok(Some(checked));
        }
        // Judged: from here on the outcome (a wrong password) is written.
        attempt.judge();
        let mut failed_detail = serde_json::json!({"reason": "wrong_password"});
        if attempt.purpose != Purpose::Login {
            failed_detail["via"] = serde_json::json!(attempt.purpose.as_str());
        }
        let failed = self.audit.entry(
            AuditEvent::LoginFailed,
            Some(user.id),
            client,
            failed_detail,
        );
        self.count_failure(attempt, failed, client).await?;
        Ok(None)
    }

    /// A wrong second-factor code inside a reserved attempt: counted exactly as a wrong
    /// password is (the same per-source and account-wide counts and locks), recorded with
    /// `failed` (an `mfa_failed` entry).
    pub(crate) async fn code_failed(
        &self,
        attempt: &Attempt,
        failed: AuditEntry,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        attempt.judge();
        self.count_failure(attempt, failed, client).await
    }

    /// Records a failure of the attempt (the lock it may set is audited and counted).
    async fn count_failure(
        &self,
        attempt: &Attempt,
        failed: AuditEntry,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let policy = self.attempt_policy();
        let user_id = attempt.user_id;
        let entry = |event: AuditEvent, detail: serde_json::Value| -> AuditEntry {
            self.audit.entry(event, Some(user_id), client, detail)
        };
        let source_locked = entry(
            AuditEvent::AccountLocked,
            serde_json::json!({"until": policy.lock_until, "scope": "source", "source": attempt.source}),
        );
        let account_locked = entry(
            AuditEvent::AccountLocked,
            serde_json::json!({"until": policy.lock_until, "scope": "account"}),
        );
        let outcome = self
            .store
            .attempt_failed(
                attempt.user_id,
                &attempt.source,
                &policy,
                &failed,
                &source_locked,
                &account_locked,
            )
            .await?;
        if outcome.source_locked || outcome.account_locked {
            self.metrics.lockouts.inc();
            tracing::warn!(
                user_id = %user_id,
                source = %attempt.source,
                account_wide = outcome.account_locked,
                "lockout after repeated wrong passwords or codes"
            );
        }
        Ok(())
    }

    /// Accepts a right password (or code) only if the source and the account are not locked
    /// now (a lock set while it was being hashed holds); what follows is `success`'s (see
    /// [`AttemptSuccess`]), and `audit` is written with it.
    pub(crate) async fn accept_attempt(
        &self,
        attempt: Attempt,
        success: AttemptSuccess,
        audit: &[AuditEntry],
    ) -> Result<(), CoreError> {
        attempt.judge();
        let policy = self.attempt_policy();
        // Written from a task of its own, so a caller dropped while the write waits for the
        // database (its client went away) still ends the reservation; cut short, it would count
        // as a failure-to-be for a minute.
        let (store, audit) = (self.store.clone(), audit.to_vec());
        let (user_id, source) = (attempt.user_id, attempt.source.clone());
        let admission = tokio::spawn(async move {
            store
                .attempt_succeeded(user_id, &source, &policy, success, &audit)
                .await
        })
        .await
        .map_err(|e| CoreError::internal_because("recording a right password", e))??;
        match self.refusal(admission) {
            Some(refused) => Err(refused),
            None => Ok(()),
        }
    }

    /// Ends an attempt without an outcome (a disabled account, an unverified address).
    pub(crate) async fn release_attempt(&self, attempt: Attempt) -> Result<(), CoreError> {
        attempt.judge();
        self.store
            .release_attempt(attempt.user_id, &attempt.source, self.now())
            .await?;
        Ok(())
    }

    async fn release_quietly(&self, attempt: &Attempt) {
        if let Err(e) = self
            .store
            .release_attempt(attempt.user_id, &attempt.source, self.now())
            .await
        {
            tracing::warn!(user_id = %attempt.user_id, error = %e, "attempt left to go stale");
        }
    }

    /// The current password of a signed-in user, checked under the lockout rules: a wrong one
    /// counts (`InvalidCurrentPassword`), a locked source gets `AccountLocked` without a check,
    /// a right one restarts the count.
    pub(crate) async fn check_current_password(
        &self,
        user: &UserRecord,
        password: &SecretString,
        client: &ClientInfo,
        purpose: Purpose,
    ) -> Result<(), CoreError> {
        let attempt = self.begin_attempt(user.id, client, purpose).await?;
        match self
            .check_in_attempt(&attempt, user, password, client)
            .await?
        {
            Some(_) => {
                self.accept_attempt(attempt, AttemptSuccess::CurrentPassword, &[])
                    .await
            }
            None => Err(CoreError::InvalidCurrentPassword),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(ip: Option<&str>) -> ClientInfo {
        ClientInfo {
            ip: ip.map(str::to_string),
            user_agent: None,
        }
    }

    #[test]
    fn sources_are_ipv4_addresses_and_ipv6_slash_64s() {
        assert_eq!(source_of(&client(Some("203.0.113.7"))), "203.0.113.7");
        assert_eq!(
            source_of(&client(Some("2001:db8:1:2:aaaa:bbbb:cccc:dddd"))),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            source_of(&client(Some("2001:db8:1:2::1"))),
            source_of(&client(Some("2001:db8:1:2:ffff::9"))),
            "one /64 is one source"
        );
        assert_ne!(
            source_of(&client(Some("2001:db8:1:2::1"))),
            source_of(&client(Some("2001:db8:1:3::1")))
        );
        assert_eq!(source_of(&client(Some("::ffff:192.0.2.1"))), "192.0.2.1");
        assert_eq!(source_of(&client(None)), "");
    }

    #[tokio::test]
    async fn gates_queue_beyond_their_width_and_forget_idle_keys() {
        let gates = Gates::default();
        let key = (Uuid::now_v7(), "192.0.2.1".to_string());
        let a = gates.enter(key.clone(), 2).await.unwrap();
        let b = gates.enter(key.clone(), 2).await.unwrap();
        let third = gates.enter(key.clone(), 2);
        tokio::pin!(third);
        assert!(
            futures_poll_once(&mut third).await.is_none(),
            "a third attempt waits while two are in progress"
        );
        drop(a);
        let c = third.await.unwrap();
        assert_eq!(gates.len(), 1);
        drop(b);
        drop(c);
        assert!(gates.is_empty(), "no attempt left: the key is forgotten");
    }

    /// Polls a future once: `Some` if it was ready.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        use std::task::Poll;
        std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *f).poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending => Poll::Ready(None),
        })
        .await
    }
}
