//! [`Sesame`]: the composition root. [`Sesame::start`] builds the shared parts (store, clock,
//! hasher, key ring, revocation state) once, and hands each capability only the parts it uses;
//! callers reach a use-case through its capability (`sesame.accounts().register(..)`). The map
//! of capabilities is in the crate documentation.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::ExposeSecret;

use crate::accounts::Accounts;
use crate::admin::Admin;
use crate::audit::Auditor;
use crate::client_cache::ClientCache;
use crate::clients::{ClientSecrets, Clients};
use crate::clock::Clock;
use crate::email::Mailer;
use crate::error::CoreError;
use crate::form_tokens::FormTokens;
use crate::hashing::PasswordHasher;
use crate::import::{ImportOptions, Importer};
use crate::keys::{Keys, ensure_keys};
use crate::lockout::{Gates, PasswordCheck};
use crate::maintenance::Maintenance;
use crate::metrics::CoreMetrics;
use crate::mfa::{Mfa, SecondFactors, SecretCipher};
use crate::oauth::OAuth;
use crate::outbox::Outbox;
use crate::recovery::Recovery;
use crate::revocation::{RevocationCache, Revoker};
use crate::secret::secret_bytes;
use crate::sessions::Sessions;
use crate::settings::Settings;
use crate::status_list::{StatusListService, StatusLists};
use crate::store::Store;
use crate::tokens::{Issuer, KeyRing};
use crate::webhooks::Webhooks;

/// Name of the instance secret that keys refresh-token successors.
const REFRESH_MAC_SECRET: &str = "refresh_successor_mac";
/// Name of the instance secret that keys client-secret hashes.
const CLIENT_MAC_SECRET: &str = "client_secret_mac";
/// Name of the instance secret that seals TOTP secrets (AES-256-GCM).
const TOTP_KEY_SECRET: &str = "mfa_totp_key";
/// Name of the instance secret that keys recovery-code hashes.
const RECOVERY_MAC_SECRET: &str = "mfa_recovery_mac";

#[derive(Debug)]
pub struct Sesame {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    hasher: Arc<PasswordHasher>,
    metrics: Arc<CoreMetrics>,
    revoker: Revoker,
    client_cache: Arc<ClientCache>,
    /// Password attempts of one (account, source) in progress here (see `lockout`).
    attempt_gates: Arc<Gates>,
    accounts: Accounts,
    sessions: Sessions,
    recovery: Recovery,
    mfa: Mfa,
    admin: Admin,
    clients: Clients,
    oauth: OAuth,
    webhooks: Webhooks,
    keys: Keys,
    maintenance: Maintenance,
    outbox: Outbox,
    form_tokens: Arc<FormTokens>,
    status_lists: StatusListService,
    oidc: crate::oidc::Oidc,
    upstream: crate::upstream::Upstream,
}

impl Sesame {
    /// Prepares the use-cases over a migrated store: creates the signing keys (each family that
    /// has none: access and ID-token keys) and instance secrets on first start (race-safe
    /// between replicas) and loads them.
    pub async fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Result<Self, CoreError> {
        let now = clock.now();
        let hasher = Arc::new(PasswordHasher::new(
            &settings.argon2,
            settings.hash_workers,
            settings.hash_queue,
        )?);
        // The feed first, the keys after: a key change committed in between is then in the
        // keys loaded below, and one committed later is read by the next poll.
        let revocations = Arc::new(RevocationCache::new(settings.access_ttl));
        let status_lists = Arc::new(StatusLists::new(&settings.issuer, settings.status_list_ttl));
        let news = revocations.catch_up(store.as_ref(), now).await?;
        crate::revocation::apply_status(&status_lists, &news, now);
        // Every list another replica has handed out an index in is served here from the start.
        status_lists.note_bound(store.status_index_bound().await?);
        let records = ensure_keys(store.as_ref(), &settings, now).await?;
        let ring = Arc::new(KeyRing::new(
            &records,
            &settings.issuer,
            &settings.audiences,
            now,
        )?);
        let mut candidate = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut candidate);
        let mac = store
            .instance_secret(REFRESH_MAC_SECRET, &candidate)
            .await?;
        let mac = secret_bytes(mac);
        let form_tokens = Arc::new(FormTokens::new(&mac));
        rand::rngs::OsRng.fill_bytes(&mut candidate);
        let client_mac = store.instance_secret(CLIENT_MAC_SECRET, &candidate).await?;
        rand::rngs::OsRng.fill_bytes(&mut candidate);
        let totp_key = secret_bytes(store.instance_secret(TOTP_KEY_SECRET, &candidate).await?);
        rand::rngs::OsRng.fill_bytes(&mut candidate);
        let recovery_mac = store
            .instance_secret(RECOVERY_MAC_SECRET, &candidate)
            .await?;
        let factors = SecondFactors::new(
            SecretCipher::new(totp_key.expose_secret())?,
            secret_bytes(recovery_mac),
            crate::mfa::passkeys::RelyingParty::for_settings(&settings)?,
        );

        let metrics = Arc::new(CoreMetrics::default());
        let client_cache = Arc::new(ClientCache::default());
        let profile_cache = Arc::new(crate::profile_cache::ProfileCache::default());
        let outbox_signal = Arc::new(crate::outbox_signal::OutboxSignal::default());
        let attempt_gates = Arc::new(Gates::default());
        let audit = Auditor::new(clock.clone());
        let revoker = Revoker::new(
            store.clone(),
            clock.clone(),
            revocations,
            client_cache.clone(),
            profile_cache,
            ring.clone(),
            status_lists.clone(),
        );
        let issuer = Issuer::new(
            ring.clone(),
            metrics.clone(),
            status_lists.clone(),
            &settings,
        );
        let passwords = PasswordCheck::new(
            store.clone(),
            clock.clone(),
            hasher.clone(),
            audit.clone(),
            metrics.clone(),
            attempt_gates.clone(),
            &settings,
        );
        let mailer = Mailer::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            outbox_signal.clone(),
            &settings,
        );
        let secrets = ClientSecrets::new(Arc::new(secret_bytes(client_mac)));
        let accounts = Accounts::new(
            store.clone(),
            clock.clone(),
            hasher.clone(),
            audit.clone(),
            passwords.clone(),
            mailer.clone(),
            revoker.clone(),
            settings.signup_enabled,
        );
        let sessions = Sessions::new(
            store.clone(),
            clock.clone(),
            hasher.clone(),
            audit.clone(),
            passwords.clone(),
            issuer.clone(),
            ring.clone(),
            revoker.clone(),
            metrics.clone(),
            factors.clone(),
            Arc::new(mac),
            &settings,
        );
        let mfa = Mfa::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            passwords,
            factors,
            mailer.clone(),
            metrics.clone(),
            settings.product_name.clone(),
            settings.mfa_required_roles.clone(),
        );
        let recovery = Recovery::new(
            store.clone(),
            clock.clone(),
            hasher.clone(),
            audit.clone(),
            mailer,
            revoker.clone(),
        );
        let admin = Admin::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            revoker.clone(),
            &settings,
        );
        let webhooks = Webhooks::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            metrics.clone(),
            &settings,
        );
        let clients = Clients::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            secrets.clone(),
            client_cache.clone(),
            revoker.clone(),
            &settings,
        );
        let oidc = crate::oidc::Oidc::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            issuer.clone(),
            ring.clone(),
            revoker.clone(),
            sessions.clone(),
            &settings,
        );
        let oauth = OAuth::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            secrets,
            client_cache.clone(),
            revoker.clone(),
            issuer,
            ring.clone(),
            sessions.refresh_keys(),
        );
        let status_lists =
            StatusListService::new(status_lists, ring.clone(), store.clone(), clock.clone());
        let upstream = crate::upstream::Upstream::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            metrics.clone(),
            Arc::new(crate::upstream::NoHttp),
            settings.upstreams.clone(),
            settings.public_url.clone(),
            settings.signup_enabled,
        );
        let keys = Keys::new(store.clone(), clock.clone(), audit, ring, &settings);
        let maintenance = Maintenance::new(store.clone(), clock.clone(), &settings);
        let outbox = Outbox::new(store.clone(), clock.clone(), outbox_signal.clone());
        Ok(Sesame {
            store,
            clock,
            settings,
            hasher,
            metrics,
            revoker,
            client_cache,
            attempt_gates,
            accounts,
            sessions,
            recovery,
            mfa,
            admin,
            clients,
            oauth,
            oidc,
            webhooks,
            keys,
            maintenance,
            outbox,
            form_tokens,
            status_lists,
            upstream,
        })
    }

    /// Gives the upstream sign-ins their HTTP client (the binary's, with each provider's CA);
    /// until then every call to a provider fails as unavailable.
    pub fn with_upstream_http(mut self, http: Arc<dyn crate::upstream::UpstreamHttp>) -> Self {
        self.upstream.set_http(http);
        self
    }

    /// Sign in with another provider: upstream OpenID providers and GitHub.
    pub fn upstream(&self) -> &crate::upstream::Upstream {
        &self.upstream
    }

    /// Anti-forgery tokens of Sesame's own pages.
    pub fn form_tokens(&self) -> &FormTokens {
        &self.form_tokens
    }

    /// Registration, the profile and preferences, password change, deletion.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Login, refresh, logout, the user's sessions, and bearer tokens on Sesame's own API.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Email verification and password reset.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Second factors: status, enrollment, removal, recovery codes.
    pub fn mfa(&self) -> &Mfa {
        &self.mfa
    }

    /// The operator's user administration and audit trail.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// Service clients: create, list, delete.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Client credentials, token exchange, introspection, revocation, forward-auth's check.
    pub fn oauth(&self) -> &OAuth {
        &self.oauth
    }

    /// Sign in with Sesame: authorization, codes, consent, ID tokens, userinfo, RP logout.
    pub fn oidc(&self) -> &crate::oidc::Oidc {
        &self.oidc
    }

    /// The signing keys: published set, reload, rotation.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The token status lists (`GET /statuslists/{n}`).
    pub fn status_lists(&self) -> &StatusListService {
        &self.status_lists
    }

    /// Periodic purges.
    pub fn maintenance(&self) -> &Maintenance {
        &self.maintenance
    }

    /// The mail sender's side of the outbox: claiming, outcomes, retries.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Webhook endpoints, and the delivery worker's side of their outbox.
    pub fn webhooks(&self) -> &Webhooks {
        &self.webhooks
    }

    /// Starts an import of users with their existing password hashes (see `import`).
    pub fn importer(&self, options: ImportOptions) -> Importer {
        Importer::new(
            self.store.clone(),
            self.clock.clone(),
            self.hasher.cost_limits(),
            options,
        )
    }

    pub fn metrics(&self) -> &CoreMetrics {
        &self.metrics
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The store itself, for tests that look behind the use-cases (a feature, so the service
    /// cannot reach around them).
    #[cfg(any(test, feature = "test-util"))]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Connection pools: (name, size, idle), for the metrics endpoint.
    pub fn pool_stats(&self) -> Vec<(&'static str, u32, u32)> {
        self.store.pool_stats()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Waits until every message queued so far has been attempted (see
    /// [`OutboxSignal::flush`](crate::outbox_signal::OutboxSignal::flush)): tests await it
    /// before they assert that no mail went out.
    pub async fn flush_outbox(&self) {
        self.outbox.flush().await;
    }

    /// The keys this instance signs with and publishes (`keys().ring()`).
    pub fn key_ring(&self) -> &KeyRing {
        self.keys.ring()
    }

    /// Catches up with revocations made anywhere (see `revocation::Revoker::sync`); the
    /// service's background task runs it every `revocation::SYNC_INTERVAL`.
    pub async fn sync_revocations(&self) -> Result<(), CoreError> {
        self.revoker.sync().await
    }

    pub fn revocation_cache(&self) -> &RevocationCache {
        self.revoker.cache()
    }

    pub fn client_cache(&self) -> &ClientCache {
        &self.client_cache
    }

    /// In-process queues of password attempts (for tests: empty once every attempt has ended).
    pub fn attempt_gates(&self) -> &Gates {
        &self.attempt_gates
    }

    pub async fn ready(&self) -> Result<(), CoreError> {
        self.store.ping().await.map_err(CoreError::from)
    }
}
