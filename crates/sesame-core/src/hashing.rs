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

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};

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
        let random = SecretString::from(uuid::Uuid::new_v4().to_string());
        let dummy_hash = hash_with(&params, &random)?;
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..workers.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("sesame-hash-{n}"))
                .spawn(move || worker(rx))
                .map_err(|e| CoreError::Internal(format!("cannot start a hashing thread: {e}")))?;
        }
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

fn hash_with(params: &Params, password: &SecretString) -> Result<String, CoreError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut OsRng);
    argon
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CoreError::Internal(format!("hashing failed: {e}")))
}

fn verify_with(password: &SecretString, stored: &str) -> bool {
    // The stored string carries its own parameters; verification follows them.
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
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
