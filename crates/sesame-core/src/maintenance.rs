//! Periodic housekeeping: expired sessions, refresh-token records and deny-list entries, and
//! audit entries past retention, so tables stay proportional to live state.

use crate::error::CoreError;
use crate::service::Sesame;
use crate::store::Purged;

impl Sesame {
    /// One purge pass. Every replica may run it; the deletes are idempotent.
    pub async fn purge(&self) -> Result<(Purged, u64), CoreError> {
        let now = self.now();
        let purged = self.store.purge_expired(now).await?;
        let retention = Self::ttl(self.settings.audit_retention);
        let audit = self.store.purge_audit(now - retention).await?;
        // Revocation records matter for one access-token lifetime (plus the pollers' look-back),
        // a deleted client's for the client cache's TTL more (see `revocation`): a replica
        // starting then must still read it.
        let horizon = Self::ttl(self.settings.access_ttl)
            + Self::ttl(crate::revocation::LOOKBACK)
            + Self::ttl(crate::client_cache::TTL)
            + chrono::Duration::minutes(1);
        self.store.purge_revocations(now - horizon).await?;
        // Lockout rows idle for a lockout duration count from zero anyway (see `lockout`).
        self.store
            .purge_login_attempts(now - Self::ttl(self.settings.lockout_duration))
            .await?;
        // Expired email tokens and delivered messages are kept a day, for support questions.
        self.store
            .purge_email(now - chrono::Duration::days(1))
            .await?;
        Ok((purged, audit))
    }
}
