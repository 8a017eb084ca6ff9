//! Password hashing off the async runtime.
//!
//! argon2id at OWASP cost takes ~20 ms of one core and 19 MiB. Run on the runtime, a burst of
//! logins would stall every other request; run on tokio's elastic blocking pool, each burst
//! would spread over many short-lived threads, each keeping its own allocator arena full of
//! freed 19 MiB blocks (we measured hundreds of MB of RSS under a login load). So hashes run on
//! a fixed set of worker threads, one per core, fed by a bounded queue: at most `queue` hashes
//! wait, and beyond that the caller gets [`CoreError::Busy`] (503 + Retry-After) instead of
//! unbounded latency and memory.
//!
//! Two more bounds keep a costly imported hash from taking the workers over: checks against one
//! such hash take turns ([`crate::hash_gate`]), and a worker whose buffer grew for one gives the
//! extra memory back after that job (`with_blocks`).

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use std::cell::RefCell;
use std::time::Duration;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as PHC_B64;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::error::CoreError;
use crate::hash_format::{self, Cost, CostLimits, Inspected, Scheme};
use crate::hash_gate::CheckGate;
use crate::settings::Argon2Cost;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
pub struct PasswordHasher {
    params: Params,
    jobs: SyncSender<Job>,
    /// A hash of a random password, verified against when the user does not exist so that an
    /// unknown account costs the same time as a wrong password.
    dummy_hash: String,
    /// One check at a time per stored hash that costs more than the configured argon2id.
    gate: CheckGate,
}

/// A worker that waited this long for a job gives its argon2 memory back (see [`BLOCKS`]).
const IDLE_RELEASE: Duration = Duration::from_secs(10);

fn worker(rx: Arc<Mutex<Receiver<Job>>>) {
    loop {
        // One worker waits in recv while the others wait for the lock; a job wakes the former.
        let job = match rx.lock() {
            Ok(r) => r.recv_timeout(IDLE_RELEASE),
            Err(poisoned) => poisoned.into_inner().recv_timeout(IDLE_RELEASE),
        };
        match job {
            Ok(job) => job(),
            Err(RecvTimeoutError::Timeout) => {
                release_blocks();
                // Let a worker blocked on the lock take its turn at waiting (and at timing
                // out, so every idle worker releases its memory in turn).
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(RecvTimeoutError::Disconnected) => return, // the hasher was dropped
        }
    }
}

impl PasswordHasher {
    pub fn new(cost: &Argon2Cost, workers: usize, queue: usize) -> Result<Self, CoreError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| CoreError::internal_because("invalid argon2 parameters", e))?;
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..workers.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("sesame-hash-{n}"))
                .spawn(move || worker(rx))
                .map_err(|e| CoreError::internal_because("cannot start a hashing thread", e))?;
        }
        // The dummy hash is not computed: a PHC string with the configured parameters and a
        // random salt and output costs a verifier exactly what a real hash at that cost does
        // (the work depends only on m, t, p and the salt and output lengths, which match
        // `hash_with`'s), and no password hashes to a random 256-bit output. Start-up saves a
        // hash's time and its 19 MiB.
        let (mut salt, mut output) = ([0u8; 16], [0u8; 32]);
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut output);
        let dummy_hash = format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost(),
            PHC_B64.encode(salt),
            PHC_B64.encode(output)
        );
        Ok(PasswordHasher {
            params,
            jobs,
            dummy_hash,
            gate: CheckGate::default(),
        })
    }

    /// Hashes a password to an argon2id PHC string.
    pub async fn hash(&self, password: &SecretString) -> Result<String, CoreError> {
        let params = self.params.clone();
        let pw = password.clone();
        self.run(move || hash_with(&params, &pw)).await?
    }

    /// Verifies a password against a stored hash (any format of [`hash_format`]). `None`
    /// verifies against the dummy hash and always answers false.
    pub async fn verify(
        &self,
        password: &SecretString,
        stored: Option<&str>,
    ) -> Result<bool, CoreError> {
        Ok(self.check(password, stored).await?.ok)
    }

    /// Verifies like [`PasswordHasher::verify`], and tells whether a matching hash should be
    /// replaced by an argon2id hash at the configured cost (a legacy format, or argon2 below the
    /// configured cost).
    ///
    /// Timing: a stored hash costs what its own format and parameters cost, right or wrong
    /// password alike (every comparison is constant-time). A hash that cannot be read (it could
    /// only get into the database by hand: the import refuses it) is verified like an unknown
    /// account, against the dummy hash, and never matches.
    ///
    /// A hash costlier than the configured argon2id (an imported one, say) is checked once at a
    /// time: a concurrent check of it waits its turn, or gets `Busy` when the line is full
    /// ([`crate::hash_gate`]).
    pub async fn check(
        &self,
        password: &SecretString,
        stored: Option<&str>,
    ) -> Result<Checked, CoreError> {
        let _turn = match stored.filter(|s| self.is_costly(s)) {
            Some(s) => Some(self.gate.enter(s).await?),
            None => None,
        };
        let stored = stored.map(str::to_string);
        let dummy = self.dummy_hash.clone();
        let params = self.params.clone();
        let pw = password.clone();
        self.run(move || check_with(&pw, stored.as_deref(), &dummy, &params))
            .await
    }

    /// Whether checking `stored` may cost more than a hash at the configured cost: anything
    /// but argon2id within the configured memory and iterations. (An unreadable hash is checked
    /// against the dummy, at the configured cost.)
    fn is_costly(&self, stored: &str) -> bool {
        match hash_format::inspect(stored, &self.cost_limits()) {
            Err(_) => false,
            Ok(Inspected {
                scheme: Scheme::Argon2id,
                cost:
                    Cost::Argon2 {
                        memory_kib,
                        iterations,
                        ..
                    },
            }) => memory_kib > self.params.m_cost() || iterations > self.params.t_cost(),
            Ok(_) => true,
        }
    }

    /// Stored hashes with a check running or waiting its turn.
    pub fn gated_hashes(&self) -> usize {
        self.gate.busy_hashes()
    }

    /// The limits a stored or imported hash must keep: the defaults, raised to admit argon2 at
    /// the configured cost.
    pub fn cost_limits(&self) -> CostLimits {
        CostLimits::DEFAULT.admitting(
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
        )
    }

    /// The configured argon2id cost, as `m=…,t=…,p=…`.
    pub fn configured_cost(&self) -> String {
        format!(
            "m={},t={},p={}",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost()
        )
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            // The caller has gone (its client closed the connection, issue #16.1): nobody would
            // read this hash. Computing it anyway kept a worker busy and, after a storm of
            // requests cut short, the queue full of them: the live requests behind were
            // answered 503 for work done for no one.
            if tx.is_closed() {
                return;
            }
            let _ = tx.send(span.in_scope(work));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(CoreError::Busy {
                    retry_after_secs: 1,
                });
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(CoreError::internal("hash workers stopped"));
            }
        }
        rx.await
            .map_err(|_| CoreError::internal("a hash worker failed"))
    }
}

thread_local! {
    /// This worker's argon2 memory, allocated at its first hash and reused by every hash it
    /// computes while logins keep coming, so a login load does not churn 19 MiB blocks through
    /// the allocator. After [`IDLE_RELEASE`] without work it is freed: an idle server does not
    /// hold 19 MiB per core. (A block this large is its own mapping, so freeing it returns it to
    /// the system; re-allocating costs ~1 ms of page faults at the next burst's first hash.)
    /// It never stays larger than the configured cost needs ([`shrink_blocks`]).
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn release_blocks() {
    BLOCKS.with(|cell| *cell.borrow_mut() = Vec::new());
}

/// Runs `f` on `count` blocks of this worker's buffer; `keep` is what the configured cost needs.
fn with_blocks<T>(count: usize, keep: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        let out = f(grow_blocks(&mut blocks, count));
        shrink_blocks(&mut blocks, keep);
        out
    })
}

/// `count` blocks of `blocks`, grown (exactly) when it has fewer.
fn grow_blocks(blocks: &mut Vec<Block>, count: usize) -> &mut [Block] {
    if blocks.len() < count {
        blocks.reserve_exact(count - blocks.len());
        blocks.resize(count, Block::default());
    }
    &mut blocks[..count]
}

/// After a job that needed more memory than the configured cost (an imported or stronger
/// hash, up to the import limits: hundreds of MiB), the buffer is freed instead of kept at the
/// largest size ever seen; the next hash at the configured cost allocates what it needs.
fn shrink_blocks(blocks: &mut Vec<Block>, keep: usize) {
    if blocks.capacity() > keep {
        *blocks = Vec::new();
    }
}

/// argon2id of `password` under `params`, as a PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`).
fn hash_with(params: &Params, password: &SecretString) -> Result<String, CoreError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let mut out = [0u8; 32];
    let count = params.block_count();
    with_blocks(count, count, |mem| {
        argon.hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            &salt,
            &mut out,
            mem,
        )
    })
    .map_err(|e| CoreError::internal_because("hashing failed", e))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        PHC_B64.encode(salt),
        PHC_B64.encode(out)
    ))
}

/// What [`PasswordHasher::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The password matches the stored hash.
    pub ok: bool,
    /// Set when `ok` and the stored hash should be replaced: what it is now.
    pub upgrade: Option<Upgrade>,
}

/// A matching hash that should be replaced by argon2id at the configured cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upgrade {
    pub from: Inspected,
    pub reason: UpgradeReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeReason {
    /// Not Sesame's own argon2id PHC format (imported from another system).
    LegacyScheme,
    /// argon2id, but with less memory or fewer iterations than configured (or version 0x10).
    CostBelowConfigured,
}

impl UpgradeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            UpgradeReason::LegacyScheme => "legacy_scheme",
            UpgradeReason::CostBelowConfigured => "cost_below_configured",
        }
    }
}

/// Verifies on a worker thread: dispatches on the stored format (within the cost limits), and
/// falls back to the dummy hash for an unknown account or an unreadable hash.
fn check_with(
    password: &SecretString,
    stored: Option<&str>,
    dummy: &str,
    params: &Params,
) -> Checked {
    let limits = CostLimits::DEFAULT.admitting(params.m_cost(), params.t_cost(), params.p_cost());
    let found = match stored.map(|s| (s, hash_format::inspect(s, &limits))) {
        Some((s, Ok(found))) => Some((s, found)),
        Some((_, Err(problem))) => {
            // The problem names the format and parameter, never the hash.
            tracing::warn!(%problem, "a stored password hash cannot be verified; answered as a wrong password");
            None
        }
        None => None,
    };
    let keep = params.block_count();
    let Some((stored, found)) = found else {
        let _ = verify_with(password, dummy, keep);
        return Checked {
            ok: false,
            upgrade: None,
        };
    };
    let ok = match found.scheme {
        Scheme::Argon2id | Scheme::Argon2i => verify_with(password, stored, keep),
        Scheme::DjangoArgon2 => hash_format::django_argon2_phc(stored)
            .is_some_and(|phc| verify_with(password, &phc, keep)),
        _ => hash_format::verify_legacy(password.expose_secret().as_bytes(), stored, &limits),
    };
    let reason = match found.cost {
        _ if !found.scheme.is_native() => Some(UpgradeReason::LegacyScheme),
        Cost::Argon2 {
            memory_kib,
            iterations,
            version,
            ..
        } if memory_kib < params.m_cost() || iterations < params.t_cost() || version != 0x13 => {
            Some(UpgradeReason::CostBelowConfigured)
        }
        _ => None,
    };
    Checked {
        ok,
        upgrade: reason.filter(|_| ok).map(|reason| Upgrade {
            from: found,
            reason,
        }),
    }
}

/// Verifies against a stored PHC string, with the parameters it carries; constant-time compare.
/// `keep` is the buffer size (in blocks) the configured cost needs.
fn verify_with(password: &SecretString, stored: &str, keep: usize) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Ok(algorithm), Some(expected), Some(salt)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.hash,
        parsed.salt,
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        // As the reference implementation (and argon2-cffi) read a PHC string without `v=`.
        None => Version::V0x10,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    let computed = with_blocks(params.block_count(), keep, |mem| {
        argon.hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            salt,
            &mut out,
            mem,
        )
    });
    computed.is_ok() && bool::from(expected.as_bytes().ct_eq(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Cost {
        Argon2Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = PasswordHasher::new(&cheap(), 2, 8).unwrap();
        let pw = SecretString::from("correct horse".to_string());
        let phc = h.hash(&pw).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify(&pw, Some(&phc)).await.unwrap());
        let wrong = SecretString::from("wrong horse".to_string());
        assert!(!h.verify(&wrong, Some(&phc)).await.unwrap());
    }

    #[tokio::test]
    async fn phc_strings_interoperate_with_the_reference_implementation() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString};
        let h = PasswordHasher::new(&cheap(), 1, 8).unwrap();
        let pw = SecretString::from("correct horse".to_string());
        // Ours verifies with the argon2 crate's own verifier...
        let ours = h.hash(&pw).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong horse", &parsed)
                .is_err()
        );
        // ...and a hash made by it (other parameters, argon2i too) verifies with ours.
        for alg in [Algorithm::Argon2id, Algorithm::Argon2i] {
            let other = Argon2::new(alg, Version::V0x13, Params::new(128, 2, 1, None).unwrap());
            let theirs = other
                .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
                .unwrap()
                .to_string();
            assert!(h.verify(&pw, Some(&theirs)).await.unwrap(), "{theirs}");
            assert!(
                !h.verify(&SecretString::from("nope nope".to_string()), Some(&theirs))
                    .await
                    .unwrap()
            );
        }
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        let h = PasswordHasher::new(&cheap(), 1, 8).unwrap();
        let pw = SecretString::from("anything at all".to_string());
        assert!(!h.verify(&pw, None).await.unwrap());
        assert!(!h.verify(&pw, Some("not a phc string")).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sheds_load_beyond_the_queue() {
        let h = Arc::new(
            PasswordHasher::new(
                &Argon2Cost {
                    memory_kib: 8192,
                    iterations: 3,
                    parallelism: 1,
                },
                1,
                1,
            )
            .unwrap(),
        );
        let pw = SecretString::from("correct horse".to_string());
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let h = h.clone();
                let pw = pw.clone();
                tokio::spawn(async move { h.hash(&pw).await })
            })
            .collect();
        let mut busy = 0;
        for t in tasks {
            if matches!(t.await.unwrap(), Err(CoreError::Busy { .. })) {
                busy += 1;
            }
        }
        assert!(
            busy > 0,
            "16 concurrent hashes on 1 worker + 1 queue slot must shed some"
        );
    }

    // Issue #16.1: the hashes of requests whose clients went away are skipped, so a storm of
    // requests cut short does not hold the queue against the requests after it.
    #[tokio::test]
    async fn a_job_whose_caller_has_gone_is_skipped() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let cheap = Argon2Cost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let h = Arc::new(PasswordHasher::new(&cheap, 1, 8).unwrap());
        // The one worker waits on this until the abandoned jobs are queued behind it.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let h = h.clone();
            tokio::spawn(async move {
                h.run(move || started.send(()).is_ok() && held.recv().is_ok())
                    .await
            })
        };
        while running.try_recv().is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..4 {
            let ran = ran.clone();
            // Polled once (queued), then dropped: its caller has gone.
            let abandoned = h.run(move || ran.fetch_add(1, Ordering::SeqCst));
            let gone = tokio::time::timeout(std::time::Duration::ZERO, abandoned).await;
            assert!(gone.is_err(), "queued behind the blocked worker");
        }
        release.send(()).unwrap();
        assert!(blocker.await.unwrap().unwrap());
        let live = ran.clone();
        h.run(move || live.fetch_add(1, Ordering::SeqCst))
            .await
            .unwrap();
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "only the live caller's job ran"
        );
    }
}

/// The bounds that keep a costly imported hash from taking the hash workers over.
#[cfg(test)]
mod bound_tests {
    use super::*;

    fn pw(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    #[test]
    fn worker_buffers_shrink_back_after_an_oversized_job() {
        let keep = 16;
        let mut blocks = Vec::new();
        assert_eq!(grow_blocks(&mut blocks, keep).len(), keep);
        shrink_blocks(&mut blocks, keep);
        assert_eq!(
            blocks.capacity(),
            keep,
            "kept for the next hash at the configured cost"
        );
        // A smaller job is served from it.
        assert_eq!(grow_blocks(&mut blocks, keep / 2).len(), keep / 2);
        shrink_blocks(&mut blocks, keep);
        assert_eq!(blocks.capacity(), keep);
        // A job that needed more: not kept at the largest size ever seen.
        assert_eq!(grow_blocks(&mut blocks, 64 * keep).len(), 64 * keep);
        shrink_blocks(&mut blocks, keep);
        assert_eq!(blocks.capacity(), 0);
        // The same through this thread's own buffer, as a worker uses it.
        with_blocks(64 * keep, keep, |m| assert_eq!(m.len(), 64 * keep));
        BLOCKS.with(|c| assert_eq!(c.borrow().capacity(), 0));
        with_blocks(keep, keep, |m| assert_eq!(m.len(), keep));
        BLOCKS.with(|c| assert_eq!(c.borrow().capacity(), keep));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_of_one_costly_hash_take_turns() {
        let h = Arc::new(
            PasswordHasher::new(
                &Argon2Cost {
                    memory_kib: 64,
                    iterations: 1,
                    parallelism: 1,
                },
                2,
                8,
            )
            .unwrap(),
        );
        let imported = bcrypt::hash("correct horse", 4).unwrap();
        let native = h.hash(&pw("correct horse")).await.unwrap();
        // A check of the imported hash is in flight...
        let held = h.gate.enter(&imported).await.unwrap();
        let second = {
            let (h, stored) = (h.clone(), imported.clone());
            tokio::spawn(async move { h.check(&pw("correct horse"), Some(&stored)).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !second.is_finished(),
            "a second check of the same imported hash waits for the first"
        );
        // ...which holds up neither native hashes nor another account's imported one.
        assert!(
            h.check(&pw("correct horse"), Some(&native))
                .await
                .unwrap()
                .ok
        );
        let other = bcrypt::hash("correct horse", 4).unwrap();
        assert!(
            h.check(&pw("correct horse"), Some(&other))
                .await
                .unwrap()
                .ok
        );
        drop(held);
        assert!(second.await.unwrap().unwrap().ok, "then it runs");
        assert_eq!(h.gated_hashes(), 0);
        // An argon2id hash costlier than configured is gated too; one at the cost is not.
        assert!(h.is_costly(&imported));
        assert!(!h.is_costly(&native));
        let stronger = native.replace("m=64,t=1", "m=128,t=1");
        assert!(h.is_costly(&stronger));
    }
}

/// The verify side for hashes of other formats and costs (`check`): which ones are upgraded.
#[cfg(test)]
mod check_tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher as _, SaltString};

    fn cost(memory_kib: u32, iterations: u32) -> Argon2Cost {
        Argon2Cost {
            memory_kib,
            iterations,
            parallelism: 1,
        }
    }

    fn pw(s: &str) -> SecretString {
        SecretString::from(s.to_string())
    }

    fn argon(alg: Algorithm, version: Version, m: u32, t: u32) -> String {
        Argon2::new(alg, version, Params::new(m, t, 1, None).unwrap())
            .hash_password(b"correct horse", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn own_hashes_at_the_configured_cost_are_not_upgraded() {
        let h = PasswordHasher::new(&cost(64, 1), 1, 8).unwrap();
        let phc = h.hash(&pw("correct horse")).await.unwrap();
        let c = h.check(&pw("correct horse"), Some(&phc)).await.unwrap();
        assert_eq!(
            c,
            Checked {
                ok: true,
                upgrade: None
            }
        );
        // A stronger argon2id than configured is kept too (no downgrade churn).
        let stronger = argon(Algorithm::Argon2id, Version::V0x13, 128, 2);
        let c = h
            .check(&pw("correct horse"), Some(&stronger))
            .await
            .unwrap();
        assert!(c.ok && c.upgrade.is_none(), "{c:?}");
    }

    #[tokio::test]
    async fn argon2_below_the_configured_cost_is_upgraded_only_when_it_matches() {
        let h = PasswordHasher::new(&cost(128, 2), 1, 8).unwrap();
        for weaker in [
            argon(Algorithm::Argon2id, Version::V0x13, 64, 2),
            argon(Algorithm::Argon2id, Version::V0x13, 128, 1),
        ] {
            let c = h.check(&pw("correct horse"), Some(&weaker)).await.unwrap();
            assert!(c.ok, "{weaker}");
            let up = c.upgrade.expect("upgrade");
            assert_eq!(up.reason, UpgradeReason::CostBelowConfigured);
            assert_eq!(up.from.scheme, Scheme::Argon2id);
            let c = h.check(&pw("wrong horse"), Some(&weaker)).await.unwrap();
            assert_eq!(
                c,
                Checked {
                    ok: false,
                    upgrade: None
                },
                "a wrong password upgrades nothing"
            );
        }
        let argon2i = argon(Algorithm::Argon2i, Version::V0x13, 256, 3);
        let c = h.check(&pw("correct horse"), Some(&argon2i)).await.unwrap();
        assert_eq!(
            c.upgrade.map(|u| u.reason),
            Some(UpgradeReason::LegacyScheme)
        );
    }

    #[tokio::test]
    async fn legacy_formats_verify_and_are_upgraded() {
        let h = PasswordHasher::new(&cost(64, 1), 2, 8).unwrap();
        let bcrypt = bcrypt::hash("correct horse", 4).unwrap();
        let django_argon = format!(
            "argon2{}",
            argon(Algorithm::Argon2id, Version::V0x13, 64, 1)
        );
        for (stored, scheme) in [
            (bcrypt.as_str(), Scheme::Bcrypt),
            (django_argon.as_str(), Scheme::DjangoArgon2),
        ] {
            let c = h.check(&pw("correct horse"), Some(stored)).await.unwrap();
            assert!(c.ok, "{stored}");
            let up = c.upgrade.expect("upgrade");
            assert_eq!(
                (up.from.scheme, up.reason),
                (scheme, UpgradeReason::LegacyScheme)
            );
            assert!(!h.verify(&pw("wrong horse"), Some(stored)).await.unwrap());
        }
    }

    #[tokio::test]
    async fn a_phc_string_without_version_is_argon2_0x10() {
        let h = PasswordHasher::new(&cost(64, 1), 1, 8).unwrap();
        let v10 = argon(Algorithm::Argon2id, Version::V0x10, 64, 1);
        assert!(v10.contains("$v=16$"), "{v10}");
        let bare = v10.replace("$v=16", "");
        for stored in [&v10, &bare] {
            let c = h.check(&pw("correct horse"), Some(stored)).await.unwrap();
            assert!(c.ok, "{stored}");
            assert_eq!(
                c.upgrade.map(|u| u.reason),
                Some(UpgradeReason::CostBelowConfigured),
                "0x10 is replaced by 0x13"
            );
        }
    }

    #[tokio::test]
    async fn hashes_beyond_the_limits_are_never_computed() {
        let h = PasswordHasher::new(&cost(64, 1), 1, 8).unwrap();
        // 4 TiB of argon2 memory, or 2^31 bcrypt rounds: refused before any work (the test
        // would not finish otherwise), answered like a wrong password.
        let huge_argon = argon(Algorithm::Argon2id, Version::V0x13, 64, 1)
            .replace("m=64", &format!("m={}", u32::MAX));
        let bcrypt = bcrypt::hash("correct horse", 4).unwrap();
        let huge_bcrypt = format!("$2b$31${}", &bcrypt[7..]);
        for stored in [huge_argon, huge_bcrypt] {
            let c = h.check(&pw("correct horse"), Some(&stored)).await.unwrap();
            assert!(!c.ok && c.upgrade.is_none(), "{stored}");
        }
        // The configured cost is always admitted, even above the default limits.
        assert!(h.cost_limits().argon2_memory_kib >= 256 * 1024);
    }
}
