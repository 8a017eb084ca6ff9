//! The outbox's delivery rules: which queued messages a sender takes (a lease, so replicas share
//! the work without sending twice), and when a failed one is tried again (exponential backoff,
//! capped). The sender itself — SMTP, or the log in development — is the service's (`mail.rs`);
//! it only reports each outcome here.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::Clock;
use crate::error::CoreError;
use crate::outbox_signal::OutboxSignal;
use crate::store::{OutboxMessage, Store};

/// How long a claimed message is left to its sender before another may retry it: longer than a
/// whole batch can take (`BATCH` × the service's SMTP timeout of 30 s), so a slow server does
/// not cause a second sender to send the same message.
pub const LEASE: Duration = Duration::from_secs(15 * 60);
/// Messages claimed per round.
pub const BATCH: u32 = 20;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The delay before attempt `attempts + 1`: `base * 2^attempts`, at most [`MAX_BACKOFF`].
pub fn backoff(base: Duration, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX);
    base.checked_mul(factor)
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
}

/// What a mail sender does with the outbox.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Between the outbox's writers, its sender and flushes (see `outbox_signal`).
    signal: Arc<OutboxSignal>,
}

impl Outbox {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        signal: Arc<OutboxSignal>,
    ) -> Self {
        Outbox {
            store,
            clock,
            signal,
        }
    }

    /// What the sender waits on and reports its passes to, what queueing off the request path
    /// holds, and what a flush awaits.
    pub fn signal(&self) -> &Arc<OutboxSignal> {
        &self.signal
    }

    /// Waits until every message queued so far has been attempted (see
    /// [`OutboxSignal::flush`]): tests await it before they assert that no mail went out.
    pub async fn flush(&self) {
        self.signal.flush().await;
    }

    /// Takes up to [`BATCH`] due messages under a lease of [`LEASE`].
    pub async fn claim(&self) -> Result<Vec<OutboxMessage>, CoreError> {
        let now = self.clock.now();
        let lease_until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        Ok(self.store.claim_outbox(now, lease_until, BATCH).await?)
    }

    /// The server accepted message `id`.
    pub async fn sent(&self, id: Uuid) -> Result<(), CoreError> {
        Ok(self.store.outbox_sent(id, self.clock.now()).await?)
    }

    /// Delivery of `message` failed: it is tried again after [`backoff`] from `retry_base`.
    pub async fn failed(
        &self,
        message: &OutboxMessage,
        problem: &str,
        retry_base: Duration,
    ) -> Result<(), CoreError> {
        let wait = backoff(retry_base, message.attempts);
        let next = self.clock.now() + chrono::Duration::from_std(wait).unwrap_or_default();
        Ok(self.store.outbox_failed(message.id, next, problem).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 0), Duration::from_secs(30));
        assert_eq!(backoff(base, 1), Duration::from_secs(60));
        assert_eq!(backoff(base, 3), Duration::from_secs(240));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }
}
