//! Password hashing off the async runtime.
//!
//! argon2id at OWASP cost takes ~20 ms of one core. Run on the runtime, a burst of logins would
//! stall every other request; run unbounded on the blocking pool, it would oversubscribe the
//! cores and queue without limit. So hashes run on the blocking pool behind a semaphore with one
//! permit per core, and at most `queue` more may wait: beyond that the caller gets
//! [`CoreError::Busy`] (503 + Retry-After) instead of unbounded latency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::error::CoreError;
use crate::settings::Argon2Cost;

#[derive(Debug)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    workers: usize,
    waiting: Arc<AtomicUsize>,
    queue: usize,
    /// A hash of a random password, verified against when the user does not exist so that an
    /// unknown account costs the same time as a wrong password.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(cost: &Argon2Cost, workers: usize, queue: usize) -> Result<Self, CoreError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| CoreError::Internal(format!("invalid argon2 parameters: {e}")))?;
        let random = SecretString::from(uuid::Uuid::new_v4().to_string());
        let dummy_hash = hash_with(&params, &random)?;
        Ok(PasswordHasher {
            params,
            permits: Arc::new(Semaphore::new(workers.max(1))),
            workers: workers.max(1),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue,
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
        // `in_flight` counts hashes running and waiting; past workers + queue, shed.
        let in_flight = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _guard = WaitGuard(&self.waiting);
        if in_flight >= self.workers + self.queue {
            return Err(CoreError::Busy {
                retry_after_secs: 1,
            });
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CoreError::internal("hash pool closed"))?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(work)
        })
        .await
        .map_err(|e| CoreError::internal(format!("hash task failed: {e}")))
    }
}

struct WaitGuard<'a>(&'a AtomicUsize);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
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

    #[tokio::test]
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
