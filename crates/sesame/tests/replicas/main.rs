//! Real `sesame serve` processes on PostgreSQL, as deployed: two replicas sharing one database
//! (tokens, keys, lockout, refresh races and logout hold across them), and one replica whose
//! database goes away and comes back (503 `unavailable` meanwhile, recovery without a restart).
//!
//! Each test gets its own database (the shared cluster of `sesame_testkit`), or, for the outage,
//! a PostgreSQL server of its own that it can stop. Servers speak plain HTTP (`SESAME_TLS=off`,
//! as behind a TLS-terminating proxy): TLS is covered by `tests/api`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::disallowed_methods,
    reason = "tests compare with, and stamp records by, the real time"
)]

mod faults;
mod process;
mod replicas;
