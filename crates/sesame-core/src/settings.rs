//! The policy the use-cases follow. Built by the service's configuration layer.

use std::time::Duration;

use crate::keys::SigningAlg;

#[derive(Debug, Clone)]
pub struct Argon2Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Cost {
    /// OWASP's argon2id minimum (m=19 MiB, t=2, p=1).
    fn default() -> Self {
        Argon2Cost {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `iss` of every token and base of discovery URLs.
    pub issuer: String,
    /// Audiences a login may ask for; the first is the default.
    pub audiences: Vec<String>,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub refresh_reuse_grace: Duration,
    pub lockout_max_failures: u32,
    pub lockout_duration: Duration,
    /// Algorithm of access-token keys made from now on (`SESAME_SIGNING_ALG`).
    pub signing_alg: SigningAlg,
    /// Algorithm of ID-token keys made from now on (`SESAME_ID_TOKEN_ALG`): RS256 by default,
    /// the one algorithm every OpenID client must support.
    pub id_token_alg: SigningAlg,
    pub argon2: Argon2Cost,
    /// Concurrent password hashes (defaults to the number of cores).
    pub hash_workers: usize,
    /// Hashes allowed to wait for a worker before logins are shed with 503.
    pub hash_queue: usize,
    /// Audit entries older than this are purged.
    pub audit_retention: Duration,
    /// Webhooks may target loopback and private addresses (`SESAME_WEBHOOK_ALLOW_PRIVATE`):
    /// development and tests only (see `webhooks::target`).
    pub webhook_allow_private: bool,
    /// Base of the links in emails (`SESAME_PUBLIC_URL`; the issuer unless set).
    pub public_url: String,
    /// The product name emails speak for.
    pub product_name: String,
    /// How long a password-reset link works.
    pub password_reset_ttl: Duration,
    /// How long an email-verification link works.
    pub email_verify_ttl: Duration,
    /// Emails of one kind (reset, verification) sent to one account per hour, at most.
    pub emails_per_account_hour: u32,
    /// Login answers 403 `email_not_verified` until the address is verified.
    pub require_verified_email: bool,
    /// Email bodies replacing the built-in ones.
    pub email_templates: crate::email::TemplateOverrides,
    /// A browser session unused this long ends (`SESAME_BROWSER_SESSION_IDLE`).
    pub browser_session_idle: Duration,
    /// A browser session ends this long after sign-in, however busy (`SESAME_BROWSER_SESSION_TTL`).
    pub browser_session_ttl: Duration,
    /// Whether people may register themselves (`SESAME_SIGNUP`): `/signup` and `POST /auth/register`.
    pub signup_enabled: bool,
    /// How long a verifier may use a status list before fetching it again
    /// (`SESAME_STATUS_LIST_TTL`): the bound on how late an offline verifier learns of a logout.
    pub status_list_ttl: Duration,
    /// Users holding any of these roles must have signed in with a second factor (`acr`
    /// `aal2`) to use `/admin` (`SESAME_MFA_REQUIRED_ROLES`).
    pub mfa_required_roles: Vec<String>,
    /// Whether apps may register themselves as public OAuth clients (RFC 7591,
    /// `SESAME_DYNAMIC_REGISTRATION`).
    pub dynamic_registration: bool,
    /// The configured audiences a self-registered app may ask tokens for with `resource=`
    /// (`SESAME_DYNAMIC_AUDIENCES`, default none: its tokens are for itself only).
    pub dynamic_audiences: Vec<String>,
    /// The WebAuthn relying-party id passkeys are bound to (`SESAME_WEBAUTHN_RP_ID`; `None`:
    /// the issuer's host).
    pub webauthn_rp_id: Option<String>,
    /// The origins whose pages may use passkeys (`SESAME_WEBAUTHN_ORIGINS`; empty: the
    /// issuer's origin).
    pub webauthn_origins: Vec<String>,
    /// `[[upstream]]` providers people may sign in with.
    pub upstreams: Vec<crate::upstream::UpstreamProvider>,
}

impl Default for Settings {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Settings {
            issuer: "https://localhost:8443".into(),
            audiences: vec!["api".into()],
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
            lockout_max_failures: 5,
            lockout_duration: Duration::from_secs(15 * 60),
            signing_alg: SigningAlg::EdDSA,
            id_token_alg: SigningAlg::RS256,
            argon2: Argon2Cost::default(),
            hash_workers: cores,
            hash_queue: cores * 64,
            audit_retention: Duration::from_secs(90 * 24 * 3600),
            webhook_allow_private: false,
            public_url: "https://localhost:8443".into(),
            product_name: "Sesame".into(),
            password_reset_ttl: Duration::from_secs(30 * 60),
            email_verify_ttl: Duration::from_secs(24 * 3600),
            emails_per_account_hour: 3,
            require_verified_email: false,
            email_templates: Default::default(),
            browser_session_idle: Duration::from_secs(24 * 3600),
            browser_session_ttl: Duration::from_secs(7 * 24 * 3600),
            signup_enabled: true,
            status_list_ttl: Duration::from_secs(5),
            mfa_required_roles: Vec::new(),
            dynamic_registration: false,
            dynamic_audiences: Vec::new(),
            webauthn_rp_id: None,
            webauthn_origins: Vec::new(),
            upstreams: Vec::new(),
        }
    }
}

/// A configured duration as a span of time (saturating: an absurd setting must not panic).
pub(crate) fn ttl(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
