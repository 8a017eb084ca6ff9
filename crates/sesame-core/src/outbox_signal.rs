//! [`OutboxSignal`]: what the outbox's writers and its sender tell each other, and how a caller
//! waits until everything queued so far has been tried.
//!
//! Messages are queued by use-cases (in the transaction of their token) and delivered by a
//! background sender that claims due rows in passes (`sesame::mail`). Three things cross between
//! them:
//!
//! - a wake-up when a message is queued, so the sender need not wait for its next poll;
//! - the queueing that runs off the request path (`POST /auth/password/forgot` answers before
//!   it looks the address up, so the answer's timing tells nothing): each such task holds a
//!   [`Queueing`] guard while it runs;
//! - flushes: [`OutboxSignal::flush`] waits until no such task runs, then asks for a pass and
//!   returns once a pass that *began after the request* has finished. Such a pass claimed every
//!   message that was due when it began, so each message queued before the flush has been
//!   attempted (delivered, or failed and scheduled for a retry) unless it was not due yet
//!   (backoff) or another replica holds its lease.
//!
//! Tests await a flush instead of sleeping before they assert that no mail went out; the
//! sender's polling, lease and backoff are the same with or without flushes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, watch};

/// Shared by the use-cases that queue messages, the sender that delivers them, and whoever
/// flushes.
#[derive(Debug)]
pub struct OutboxSignal {
    /// Woken when a message is queued or a flush is asked for.
    wakeup: Notify,
    /// Queueing tasks running off the request path right now.
    in_flight: watch::Sender<u64>,
    /// Flushes asked for so far; a pass remembers the count it saw when it began.
    requested: AtomicU64,
    /// The highest count seen by a pass that has finished.
    finished: watch::Sender<u64>,
}

impl Default for OutboxSignal {
    fn default() -> Self {
        OutboxSignal {
            wakeup: Notify::new(),
            in_flight: watch::Sender::new(0),
            requested: AtomicU64::new(0),
            finished: watch::Sender::new(0),
        }
    }
}

/// Held by a task that may queue a message off the request path; a flush waits until every
/// guard is dropped. Take it *before* answering the request, so a flush asked for after the
/// answer waits for the task.
#[derive(Debug)]
pub struct Queueing {
    signal: Arc<OutboxSignal>,
}

impl Drop for Queueing {
    fn drop(&mut self) {
        self.signal
            .in_flight
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Handed out by [`OutboxSignal::begin_pass`] and given back to [`OutboxSignal::end_pass`].
#[derive(Debug)]
#[must_use = "end the pass with OutboxSignal::end_pass"]
pub struct Pass {
    saw: u64,
}

impl OutboxSignal {
    /// A message was queued: wake the sender.
    pub fn queued(&self) {
        self.wakeup.notify_one();
    }

    /// The sender's wait between passes: returns when a message is queued or a flush asked
    /// for (at once if that happened since the last wait).
    pub async fn wait_for_work(&self) {
        self.wakeup.notified().await;
    }

    /// A guard for a task about to queue a message off the request path.
    pub fn queueing(self: &Arc<Self>) -> Queueing {
        self.in_flight.send_modify(|n| *n += 1);
        Queueing {
            signal: self.clone(),
        }
    }

    /// The sender starts a pass (before its first claim).
    pub fn begin_pass(&self) -> Pass {
        Pass {
            saw: self.requested.load(Ordering::SeqCst),
        }
    }

    /// The sender finished a pass: every message due when it began has been attempted.
    pub fn end_pass(&self, pass: Pass) {
        self.finished.send_if_modified(|done| {
            let newer = pass.saw > *done;
            if newer {
                *done = pass.saw;
            }
            newer
        });
    }

    /// Waits until every queueing task has finished and then until a whole delivery pass that
    /// began after this call has run. Needs a running sender: without one it never returns, so
    /// callers bound it with a timeout.
    pub async fn flush(&self) {
        let mut in_flight = self.in_flight.subscribe();
        // The sender is never dropped while `self` lives, so this cannot fail.
        let _ = in_flight.wait_for(|n| *n == 0).await;
        let mut finished = self.finished.subscribe();
        let asked = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        self.wakeup.notify_one();
        let _ = finished.wait_for(|done| *done >= asked).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::Duration;

    use super::*;

    /// Whether `flush` is still waiting after the tasks it might wait for had time to run.
    async fn still_waiting(flush: &mut tokio::task::JoinHandle<()>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), flush)
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_flush_waits_for_a_pass_that_began_after_it() {
        let signal = Arc::new(OutboxSignal::default());
        // A pass already under way when the flush is asked for does not count...
        let early = signal.begin_pass();
        let mut flush = tokio::spawn({
            let signal = signal.clone();
            async move { signal.flush().await }
        });
        assert!(still_waiting(&mut flush).await);
        signal.end_pass(early);
        assert!(still_waiting(&mut flush).await, "the early pass ended");
        // ...the sender is woken, and the next whole pass does.
        tokio::time::timeout(Duration::from_secs(5), signal.wait_for_work())
            .await
            .expect("the flush woke the sender");
        let pass = signal.begin_pass();
        assert!(still_waiting(&mut flush).await, "the pass has not ended");
        signal.end_pass(pass);
        tokio::time::timeout(Duration::from_secs(5), flush)
            .await
            .expect("the flush returns")
            .unwrap();
    }

    #[tokio::test]
    async fn a_flush_waits_for_queueing_off_the_request_path() {
        let signal = Arc::new(OutboxSignal::default());
        let task = signal.queueing();
        let mut flush = tokio::spawn({
            let signal = signal.clone();
            async move { signal.flush().await }
        });
        // A pass while the task still runs may miss its message: it does not count.
        let pass = signal.begin_pass();
        signal.end_pass(pass);
        assert!(still_waiting(&mut flush).await, "a task still queues");
        drop(task);
        assert!(still_waiting(&mut flush).await, "no pass since");
        let pass = signal.begin_pass();
        signal.end_pass(pass);
        tokio::time::timeout(Duration::from_secs(5), flush)
            .await
            .expect("the flush returns")
            .unwrap();
    }
}
