//! [`Sesame`]: the use-cases' shared context — store, clock, policy, hasher and key ring.
//! The use-cases themselves live in `accounts`, `sessions` and `tokens`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;

use crate::clock::Clock;
use crate::error::CoreError;
use crate::hashing::PasswordHasher;
use crate::keys::{KeyState, generate_key};
use crate::secret::{SecretBytes, secret_bytes};
use crate::sessions::ClientInfo;
use crate::settings::Settings;
use crate::store::{AuditEntry, Store};
use crate::tokens::KeyRing;

/// Extra time a retired key stays published: covers replicas that have not reloaded keys yet
/// (the feed tells them within a poll; the periodic reload is the fallback).
const RETIRE_MARGIN: Duration = Duration::seconds(60);

/// Name of the instance secret that keys refresh-token successors.
const REFRESH_MAC_SECRET: &str = "refresh_successor_mac";
/// Name of the instance secret that keys client-secret hashes.
const CLIENT_MAC_SECRET: &str = "client_secret_mac";

#[derive(Debug)]
pub struct Sesame {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) settings: Settings,
    pub(crate) hasher: PasswordHasher,
    pub(crate) keys: KeyRing,
    pub(crate) refresh_mac_key: SecretBytes,
    pub(crate) metrics: crate::metrics::CoreMetrics,
    pub(crate) client_mac_key: SecretBytes,
    pub(crate) revocations: crate::revocation::RevocationCache,
    /// Service clients that authenticated recently (see `client_cache`).
    pub(crate) clients: crate::client_cache::ClientCache,
    /// Between the outbox's writers, its sender and flushes (see `outbox`).
    pub(crate) outbox: Arc<crate::outbox::OutboxSignal>,
    /// Password attempts of one (account, source) in progress here (see `lockout`).
    pub(crate) attempt_gates: crate::lockout::Gates,
}

impl Sesame {
    /// Prepares the use-cases over a migrated store: creates the signing keys and instance
    /// secrets on first start (race-safe between replicas) and loads them.
    pub async fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Result<Self, CoreError> {
        let now = clock.now();
        let hasher =
            PasswordHasher::new(&settings.argon2, settings.hash_workers, settings.hash_queue)?;
        // The feed first, the keys after: a key change committed in between is then in the
        // keys loaded below, and one committed later is read by the next poll.
        let revocations = crate::revocation::RevocationCache::new(settings.access_ttl);
        revocations.catch_up(store.as_ref(), now).await?;
        let mut records = store.list_keys().await?;
        if records.is_empty() {
            let current = generate_key(settings.signing_alg, KeyState::Current, now)?;
            let next = generate_key(settings.signing_alg, KeyState::Next, now)?;
            store.init_keys(&current, &next).await?;
            records = store.list_keys().await?;
        }
        let keys = KeyRing::new(&records, &settings.issuer, &settings.audiences, now)?;
        let mut candidate = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut candidate);
        let mac = store
            .instance_secret(REFRESH_MAC_SECRET, &candidate)
            .await?;
        rand::rngs::OsRng.fill_bytes(&mut candidate);
        let client_mac = store.instance_secret(CLIENT_MAC_SECRET, &candidate).await?;
        Ok(Sesame {
            store,
            clock,
            settings,
            hasher,
            keys,
            refresh_mac_key: secret_bytes(mac),
            metrics: Default::default(),
            client_mac_key: secret_bytes(client_mac),
            revocations,
            clients: crate::client_cache::ClientCache::default(),
            outbox: Default::default(),
            attempt_gates: Default::default(),
        })
    }

    pub fn metrics(&self) -> &crate::metrics::CoreMetrics {
        &self.metrics
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// What the outbox sender waits on and reports to, and what a flush awaits.
    pub fn outbox(&self) -> &Arc<crate::outbox::OutboxSignal> {
        &self.outbox
    }

    /// Waits until every message queued so far has been attempted (see
    /// [`OutboxSignal::flush`](crate::outbox::OutboxSignal::flush)): tests await it before
    /// they assert that no mail went out.
    pub async fn flush_outbox(&self) {
        self.outbox.flush().await;
    }

    pub fn key_ring(&self) -> &KeyRing {
        &self.keys
    }

    /// An audit entry stamped now.
    pub(crate) fn audit(
        &self,
        event: &str,
        user_id: Option<uuid::Uuid>,
        client: &ClientInfo,
        detail: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            id: uuid::Uuid::now_v7(),
            at: self.now(),
            event: event.to_string(),
            user_id,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            detail,
        }
    }

    pub(crate) fn ttl(d: std::time::Duration) -> Duration {
        Duration::from_std(d).unwrap_or(Duration::MAX)
    }

    /// Rereads keys from the store (another replica or the CLI may have rotated them).
    pub async fn reload_keys(&self) -> Result<(), CoreError> {
        let records = self.store.list_keys().await?;
        self.keys.replace(&records, self.now())
    }

    /// Promotes the published next key to signing and publishes a fresh next key. The retired
    /// key stays published until every token it signed has expired (plus the leeway).
    pub async fn rotate_keys(
        &self,
        by: Option<uuid::Uuid>,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let next = generate_key(self.settings.signing_alg, KeyState::Next, now)?;
        // Retired keys stay published for the tokens they signed: an access-token lifetime plus
        // the leeway, plus RETIRE_MARGIN for replicas that sign with it until they reload the
        // keys (within a feed poll, about 1 s; at worst the 30 s periodic reload).
        let retire_until = now
            + Self::ttl(self.settings.access_ttl)
            + Duration::seconds(sesame_verify::DEFAULT_LEEWAY_SECS)
            + RETIRE_MARGIN;
        let promoted = self
            .keys
            .current()
            .published
            .iter()
            .find(|k| k.state == KeyState::Next)
            .map(|k| k.jwk.kid.clone());
        let audit = self.audit(
            "key_rotated",
            by,
            client,
            serde_json::json!({"signing_kid": promoted, "next_kid": next.kid, "by": by}),
        );
        self.store
            .rotate_keys(&next, now, retire_until, &[audit])
            .await?;
        self.reload_keys().await
    }

    /// Catches up with revocations made anywhere (run periodically, and after every revocation
    /// made here so it takes effect at once on this replica). Deleted clients leave the client
    /// cache after they entered the revoked set (the order `ClientCache::admit` relies on).
    /// A key change anywhere (another replica, the CLI) reloads the keys, so every replica signs
    /// with and publishes the same set within a poll.
    pub async fn sync_revocations(&self) -> Result<(), CoreError> {
        let news = self
            .revocations
            .catch_up(self.store.as_ref(), self.now())
            .await?;
        for client_id in &news.deleted_clients {
            self.clients.remove(client_id);
        }
        if news.keys_changed {
            self.reload_keys().await?;
        }
        Ok(())
    }

    pub fn revocation_cache(&self) -> &crate::revocation::RevocationCache {
        &self.revocations
    }

    pub fn client_cache(&self) -> &crate::client_cache::ClientCache {
        &self.clients
    }

    pub async fn ready(&self) -> Result<(), CoreError> {
        self.store.ping().await.map_err(CoreError::from)
    }
}
