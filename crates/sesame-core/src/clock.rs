//! Time is a parameter: use-cases ask a [`Clock`], so tests move a [`ManualClock`] instead of
//! sleeping through token lifetimes and lockouts.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one reading of the wall clock; everything else asks a Clock"
    )]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether something read at `at` is still younger than `ttl` at `now`. A clock that went back
/// makes the age negative: that counts as stale, never as young. (The in-memory caches of
/// clients and profiles judge their entries by it.)
pub fn younger_than(at: DateTime<Utc>, now: DateTime<Utc>, ttl: Duration) -> bool {
    let age = now - at;
    age >= Duration::zero() && age < ttl
}
