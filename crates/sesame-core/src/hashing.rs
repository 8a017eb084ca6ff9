//! Password hashing off the async runtime.
//!
//! argon2id at OWASP cost takes ~20 ms of one core and 19 MiB. Run on the runtime, a burst of
//! logins would stall every other request; run on tokio's elastic blocking pool, each burst
//! would spread over many short-lived threads, each keeping its own allocator arena full of
//! freed 19 MiB blocks (we measured hundreds of MB of RSS under a login load). So hashes run on
//! a fixed set of worker threads, one per core, fed by a bounded queue: at most `queue` hashes
//! wait, and beyond that the caller gets [`CoreError::Busy`] (503 + Retry-After) instead of
//! unbounded latency and memory.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use std::cell::RefCell;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as PHC_B64;
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::error::CoreError;
use crate::settings::Argon2Cost;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
pub struct PasswordHasher {
    params: Params,
    jobs: SyncSender<Job>,
    /// A hash of a random password, verified against when the user does not exist so that an
    /// unknown account costs the same time as a wrong password.
    dummy_hash: String,
}

fn worker(rx: Arc<Mutex<Receiver<Job>>>) {
    loop {
        // One worker waits in recv while the others wait for the lock; a job wakes the former.
        let job = match rx.lock() {
            Ok(r) => r.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => job(),
            Err(_) => return, // the hasher was dropped
        }
    }
}

impl PasswordHasher {
    pub fn new(cost: &Argon2Cost, workers: usize, queue: usize) -> Result<Self, CoreError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| CoreError::Internal(format!("invalid argon2 parameters: {e}")))?;
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..workers.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("sesame-hash-{n}"))
                .spawn(move || worker(rx))
                .map_err(|e| CoreError::Internal(format!("cannot start a hashing thread: {e}")))?;
        }
        // The dummy hash is made on a worker too, so its argon2 memory is a worker's buffer.
        let (tx, done) = std::sync::mpsc::channel();
        let (p, random) = (
            params.clone(),
            SecretString::from(uuid::Uuid::new_v4().to_string()),
        );
        jobs.send(Box::new(move || {
            let _ = tx.send(hash_with(&p, &random));
        }))
        .map_err(|_| CoreError::internal("hash workers stopped"))?;
        let dummy_hash = done
            .recv()
            .map_err(|_| CoreError::internal("hash worker failed"))??;
        Ok(PasswordHasher {
            params,
            jobs,
            dummy_hash,
        })
    }

    /// Hashes a password to an argon2id PHC string.
    pub async fn hash(&self, password: &SecretString) -> Result<String, CoreError> {
        let params = self.params.clone();
        let pw = password.clone();
        self.run(move || hash_with(&params, &pw)).await?
    }

    /// Verifies a password against a stored PHC string. `None` verifies against the dummy hash
    /// and always answers false.
    pub async fn verify(
        &self,
        password: &SecretString,
        stored: Option<&str>,
    ) -> Result<bool, CoreError> {
        let real = stored.is_some();
        let hash = stored.unwrap_or(&self.dummy_hash).to_string();
        let pw = password.clone();
        let ok = self.run(move || verify_with(&pw, &hash)).await?;
        Ok(ok && real)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
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
    /// This worker's argon2 memory, allocated once and reused by every hash it computes, so
    /// hashing never returns 19 MiB blocks to the allocator to be kept as fragmentation.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < count {
            blocks.resize(count, Block::default());
        }
        f(&mut blocks[..count])
    })
}

/// argon2id of `password` under `params`, as a PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`).
fn hash_with(params: &Params, password: &SecretString) -> Result<String, CoreError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let mut out = [0u8; 32];
    with_blocks(params.block_count(), |mem| {
        argon.hash_password_into_with_memory(
            password.expose_secret().as_bytes(),
            &salt,
            &mut out,
            mem,
        )
    })
    .map_err(|e| CoreError::Internal(format!("hashing failed: {e}")))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        PHC_B64.encode(salt),
        PHC_B64.encode(out)
    ))
}

/// Verifies against a stored PHC string, with the parameters it carries; constant-time compare.
fn verify_with(password: &SecretString, stored: &str) -> bool {
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
        None => Version::V0x13,
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
    let computed = with_blocks(params.block_count(), |mem| {
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
}
