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
        // A feed entry matters until its `until` (the tokens it covers have expired; see
        // `revocation`), whatever the access lifetime is now. A minute of room for replicas whose
        // clocks run behind this one. Entries without `until` (written before migration 0007)
        // keep the old rule: this process's access lifetime plus the client cache's TTL.
        let margin = chrono::Duration::minutes(1);
        let legacy = Self::ttl(self.settings.access_ttl)
            + Self::ttl(crate::client_cache::TTL)
            + chrono::Duration::seconds(sesame_verify::DEFAULT_LEEWAY_SECS)
            + margin;
        self.store
            .purge_revocations(now - margin, now - legacy)
            .await?;
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
