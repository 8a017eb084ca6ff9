//! Periodic housekeeping: expired sessions, refresh-token records and deny-list entries, audit
//! entries past retention and settled webhook deliveries, so tables stay proportional to live
//! state.

use std::sync::Arc;

use crate::clock::Clock;
use crate::error::CoreError;
use crate::settings::{Settings, ttl};
use crate::store::{Purged, Store};

/// Housekeeping, run by the service's periodic task.
#[derive(Debug, Clone)]
pub struct Maintenance {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit_retention: std::time::Duration,
    access_ttl: std::time::Duration,
    lockout_duration: std::time::Duration,
}

impl Maintenance {
    pub(crate) fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: &Settings) -> Self {
        Maintenance {
            store,
            clock,
            audit_retention: settings.audit_retention,
            access_ttl: settings.access_ttl,
            lockout_duration: settings.lockout_duration,
        }
    }

    /// One purge pass. Every replica may run it; the deletes are idempotent.
    pub async fn purge(&self) -> Result<(Purged, u64), CoreError> {
        let now = self.clock.now();
        let purged = self.store.purge_expired(now).await?;
        let retention = ttl(self.audit_retention);
        let audit = self.store.purge_audit(now - retention).await?;
        // A feed entry matters until its `until` (the tokens it covers have expired; see
        // `revocation`), whatever the access lifetime is now. A minute of room for replicas whose
        // clocks run behind this one. Entries without `until` (written before migration 0007)
        // keep the old rule: this process's access lifetime plus the client cache's TTL.
        let margin = chrono::Duration::minutes(1);
        let legacy = ttl(self.access_ttl)
            + ttl(crate::client_cache::TTL)
            + chrono::Duration::seconds(sesame_verify::DEFAULT_LEEWAY_SECS)
            + margin;
        self.store
            .purge_revocations(now - margin, now - legacy)
            .await?;
        // Lockout rows idle for a lockout duration count from zero anyway (see `lockout`).
        self.store
            .purge_login_attempts(now - ttl(self.lockout_duration))
            .await?;
        // A used code is kept a while after it expires, so that a late replay still finds it
        // and revokes what it issued (see `oidc`); after that it is merely unknown.
        self.store
            .purge_codes(now - crate::oidc::CODE_KEPT_AFTER_EXPIRY)
            .await?;
        // Expired email tokens and delivered messages are kept a day, for support questions.
        self.store
            .purge_email(now - chrono::Duration::days(1))
            .await?;
        // A sign-in's second step lives five minutes; an expired one is of no use to anyone.
        self.store.purge_mfa_challenges(now).await?;
        // So does a passkey ceremony (registration or sign-in) that was never finished.
        self.store.purge_ceremonies(now).await?;
        // And a sign-in sent to an upstream provider that never came back (ten minutes).
        self.store.purge_upstream_logins(now).await?;
        // Settled webhook deliveries stay listed for a week (or the audit retention, if shorter).
        self.store
            .purge_deliveries(now - ttl(crate::webhooks::KEEP_SETTLED.min(self.audit_retention)))
            .await?;
        Ok((purged, audit))
    }
}
