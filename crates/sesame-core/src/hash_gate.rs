//! At most one check in flight per costly stored hash.
//!
//! A hash imported from another system (bcrypt, PBKDF2, an argon2 stronger than configured)
//! costs what its own parameters say, up to the import limits — far more than Sesame's own
//! argon2id. Without a bound, a few concurrent logins for one such account would hold every
//! hash worker for the length of that hash, and everyone else's login would queue behind them
//! or be shed. So checks against one such hash (one account: the hash is salted) take turns: a
//! second concurrent check waits for the first to finish — waiting holds no worker — and then
//! runs its own check (same password or not: sharing a result would need the passwords
//! compared outside the hash). At most [`MAX_PER_HASH`] checks may run or wait for one hash;
//! beyond that the caller is refused at once with [`CoreError::Busy`] (503 + `Retry-After`),
//! like a full hash queue. Native argon2id at the configured cost is not gated: it is the
//! cost every account has, bounded by the worker pool alone.
//!
//! The bound is per process: N replicas allow N checks of one hash at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::CoreError;

/// Checks of one hash that may run (one) or wait (the rest) at a time.
pub const MAX_PER_HASH: usize = 4;

/// One slot per stored hash with a check running or waiting.
#[derive(Debug, Default)]
pub struct CheckGate {
    slots: Mutex<HashMap<[u8; 32], Slot>>,
}

#[derive(Debug)]
struct Slot {
    /// One permit: the check that holds it runs.
    turn: Arc<Semaphore>,
    /// Checks running or waiting.
    holders: usize,
}

/// A place in a hash's line; dropping it (done, failed, or the request went away while
/// waiting) gives the place up and forgets the hash when nobody else holds one.
#[derive(Debug)]
struct Ticket<'a> {
    gate: &'a CheckGate,
    key: [u8; 32],
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut slots = self.gate.lock();
        if let Some(slot) = slots.get_mut(&self.key) {
            slot.holders = slot.holders.saturating_sub(1);
            if slot.holders == 0 {
                slots.remove(&self.key);
            }
        }
    }
}

/// The right to check against one hash now; the next in line goes when it is dropped.
#[derive(Debug)]
pub struct Turn<'a> {
    _permit: OwnedSemaphorePermit,
    _ticket: Ticket<'a>,
}

impl CheckGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Slot>> {
        // A panic while holding this lock cannot leave the map inconsistent (each update is
        // one statement), so a poisoned lock is used as it is.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for this hash's turn; refused at once with `Busy` when [`MAX_PER_HASH`] checks of
    /// it are running or waiting already.
    pub async fn enter(&self, stored: &str) -> Result<Turn<'_>, CoreError> {
        let key: [u8; 32] = Sha256::digest(stored.as_bytes()).into();
        let turn = {
            let mut slots = self.lock();
            let slot = slots.entry(key).or_insert_with(|| Slot {
                turn: Arc::new(Semaphore::new(1)),
                holders: 0,
            });
            if slot.holders >= MAX_PER_HASH {
                return Err(CoreError::Busy {
                    retry_after_secs: 1,
                });
            }
            slot.holders += 1;
            slot.turn.clone()
        };
        let ticket = Ticket { gate: self, key };
        let permit = turn
            .acquire_owned()
            .await
            .map_err(|_| CoreError::internal("a hash check gate was closed"))?;
        Ok(Turn {
            _permit: permit,
            _ticket: ticket,
        })
    }

    /// Hashes with a check running or waiting (for tests and metrics).
    pub fn busy_hashes(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Runs `n` concurrent "checks" of `stored` through the gate, each lasting `hold`, and
    /// returns the most that ran at once and how many were refused.
    async fn race(gate: Arc<CheckGate>, hashes: &[&str], hold: Duration) -> (usize, usize) {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = hashes
            .iter()
            .map(|h| {
                let (gate, running, most, h) =
                    (gate.clone(), running.clone(), most.clone(), h.to_string());
                tokio::spawn(async move {
                    let _turn = gate.enter(&h).await?;
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(hold).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok::<(), CoreError>(())
                })
            })
            .collect();
        let mut refused = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), Err(CoreError::Busy { .. })) {
                refused += 1;
            }
        }
        (most.load(Ordering::SeqCst), refused)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_check_per_hash_at_a_time_and_a_bounded_line() {
        let gate = Arc::new(CheckGate::default());
        // Four checks of one hash: they take turns, none refused.
        let (most, refused) =
            race(gate.clone(), &["$2b$12$one"; 4], Duration::from_millis(30)).await;
        assert_eq!((most, refused), (1, 0));
        assert_eq!(gate.busy_hashes(), 0, "a hash nobody checks is forgotten");
        // Different hashes do not wait for each other.
        let (most, refused) = race(
            gate.clone(),
            &["$2b$12$one", "$2b$12$two", "$2b$12$three"],
            Duration::from_millis(200),
        )
        .await;
        assert_eq!((most, refused), (3, 0));
        // Past the line's length, refused at once.
        let (most, refused) =
            race(gate.clone(), &["$2b$12$one"; 7], Duration::from_millis(200)).await;
        assert_eq!(most, 1);
        assert_eq!(refused, 7 - MAX_PER_HASH);
        assert_eq!(gate.busy_hashes(), 0);
    }

    #[tokio::test]
    async fn a_waiter_that_goes_away_gives_up_its_place() {
        let gate = CheckGate::default();
        let first = gate.enter("h").await.unwrap();
        // A waiter whose request was dropped while it waited.
        let waiting = tokio::time::timeout(Duration::from_millis(20), gate.enter("h")).await;
        assert!(waiting.is_err(), "it waited for the first");
        drop(first);
        assert_eq!(gate.busy_hashes(), 0);
        let _again = gate.enter("h").await.unwrap();
    }
}
