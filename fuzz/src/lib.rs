//! What the fuzz targets share: fixed signing keys (so committed seed tokens stay valid), a
//! verifier over them, an independent signature check used as an oracle, and a real Sesame
//! behind its real router for the targets that go through HTTP handlers.
//!
//! The keys in `keys/` exist only for fuzzing. They sign nothing anywhere else.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::{self, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sesame_core::keys::{Signer, SigningAlg};
use sesame_verify::{KeySet, PublicJwk, Verifier};

pub const ISSUER: &str = "https://issuer.fuzz";
pub const AUDIENCE: &str = "api";
/// The fuzzers' fixed "now" (2030-03-17), so a run does not depend on the date. Seed tokens are
/// valid around it.
pub const NOW: i64 = 1_900_000_000;

/// One of the fixed keys: its kid, algorithm, signer and public half.
pub struct FixedKey {
    pub kid: &'static str,
    pub alg: SigningAlg,
    pub signer: Signer,
    pub jwk: PublicJwk,
    public: Vec<u8>,
}

impl FixedKey {
    /// Verifies `sig` over `message` with aws-lc-rs directly: an implementation independent of
    /// the verifier under test (which goes through jsonwebtoken).
    pub fn check(&self, message: &[u8], sig: &[u8]) -> bool {
        let alg: &dyn signature::VerificationAlgorithm = match self.alg {
            SigningAlg::EdDSA => &signature::ED25519,
            SigningAlg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            SigningAlg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        };
        signature::UnparsedPublicKey::new(alg, &self.public)
            .verify(message, sig)
            .is_ok()
    }
}

fn load(kid: &'static str, alg: SigningAlg, der: &[u8]) -> FixedKey {
    let signer = Signer::from_pkcs8(alg, der).expect("fixed fuzz key parses");
    let mut jwk = PublicJwk {
        kty: String::new(),
        kid: kid.into(),
        alg: alg.as_str().into(),
        use_: "sig".into(),
        crv: None,
        x: None,
        y: None,
        n: None,
        e: None,
    };
    let public: Vec<u8> = match &signer {
        Signer::Ed(k) => {
            let raw = k.public_key().as_ref().to_vec();
            jwk.kty = "OKP".into();
            jwk.crv = Some("Ed25519".into());
            jwk.x = Some(B64.encode(&raw));
            raw
        }
        Signer::Ec(k) => {
            let point = k.public_key().as_ref().to_vec();
            jwk.kty = "EC".into();
            jwk.crv = Some("P-256".into());
            jwk.x = Some(B64.encode(&point[1..33]));
            jwk.y = Some(B64.encode(&point[33..]));
            point
        }
        Signer::Rsa(k) => {
            let p = k.public_key();
            jwk.kty = "RSA".into();
            jwk.n = Some(B64.encode(p.modulus().big_endian_without_leading_zero()));
            jwk.e = Some(B64.encode(p.exponent().big_endian_without_leading_zero()));
            p.as_ref().to_vec()
        }
    };
    FixedKey {
        kid,
        alg,
        signer,
        jwk,
        public,
    }
}

/// The three fixed keys, one per algorithm Sesame signs with.
pub fn keys() -> &'static [FixedKey] {
    static KEYS: OnceLock<Vec<FixedKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        vec![
            load(
                "fuzz-ed",
                SigningAlg::EdDSA,
                include_bytes!("../keys/ed25519.pk8"),
            ),
            load(
                "fuzz-ec",
                SigningAlg::ES256,
                include_bytes!("../keys/p256.pk8"),
            ),
            load(
                "fuzz-rsa",
                SigningAlg::RS256,
                include_bytes!("../keys/rsa2048.pk8"),
            ),
        ]
    })
}

pub fn key_by_kid(kid: &str) -> Option<&'static FixedKey> {
    keys().iter().find(|k| k.kid == kid)
}

/// The JWKS of the fixed keys, as a relying service would fetch it.
pub fn jwks_json() -> String {
    let jwks: Vec<&PublicJwk> = keys().iter().map(|k| &k.jwk).collect();
    serde_json::json!({ "keys": jwks }).to_string()
}

/// A verifier of [`ISSUER`] for [`AUDIENCE`] trusting the fixed keys.
pub fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        let keys = KeySet::from_jwks_json(&jwks_json()).expect("fixed JWKS parses");
        assert_eq!(keys.len(), 3, "every fixed key is usable");
        Verifier::new(ISSUER, [AUDIENCE], keys)
    })
}

/// Signs arbitrary header and payload bytes (not necessarily JSON) with `key`: the token a
/// compromised or buggy issuer could produce, so the verifier's claim decoding is reachable.
pub fn sign_raw(key: &FixedKey, header: &[u8], payload: &[u8]) -> String {
    let mut out = B64.encode(header);
    out.push('.');
    out.push_str(&B64.encode(payload));
    let sig = key.signer.sign(out.as_bytes()).expect("signing works");
    out.push('.');
    out.push_str(&B64.encode(sig));
    out
}

/// A well-formed access token over the fixed keys (for seeds).
pub fn sign_claims(key: &FixedKey, claims: &serde_json::Value) -> String {
    let header = serde_json::json!({"alg": key.alg.as_str(), "kid": key.kid, "typ": "at+jwt"});
    sign_raw(
        key,
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
    )
}

/// Claims the verifier accepts at [`NOW`].
pub fn good_claims() -> serde_json::Value {
    serde_json::json!({
        "iss": ISSUER, "sub": "0190a4c8-0000-7000-8000-000000000001", "aud": AUDIENCE,
        "exp": NOW + 900, "iat": NOW, "nbf": NOW, "jti": "5b3f7c1e-9d2a-4b8e-a1f0-3c6d8e9f0a1b",
        "client_id": "sesame", "sid": "0190a4c8-0000-7000-8000-0000000000aa",
        "roles": ["customer"], "email_verified": true
    })
}

/// The oracle for every token the verifier accepted: it must be exactly three parts, name one
/// of the fixed keys by kid, carry that key's algorithm (no alg confusion), and its signature
/// must check with that key in an independent implementation (no forgery). Panics otherwise.
pub fn assert_genuine(token: &str) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "accepted token has {} parts", parts.len());
    let header = B64
        .decode(parts[0])
        .expect("accepted token: header is base64url");
    let header: serde_json::Value =
        serde_json::from_slice(&header).expect("accepted token: header is JSON");
    let kid = header["kid"].as_str().expect("accepted token names a kid");
    let key = key_by_kid(kid).expect("accepted token names a fixed key");
    assert_eq!(
        header["alg"].as_str(),
        Some(key.alg.as_str()),
        "accepted token's alg differs from its key's"
    );
    let sig = B64
        .decode(parts[2])
        .expect("accepted token: signature is base64url");
    let message = &token.as_bytes()[..parts[0].len() + 1 + parts[1].len()];
    assert!(
        key.check(message, &sig),
        "accepted token's signature does not check independently"
    );
}

/// The claim checks the verifier promises, re-stated: issuer, audience, and `exp`/`nbf` within
/// the leeway.
pub fn assert_claims_hold(claims: &sesame_verify::Claims, audience: Option<&str>, now: i64) {
    let leeway = sesame_verify::DEFAULT_LEEWAY_SECS;
    assert_eq!(claims.iss, ISSUER, "accepted a foreign issuer");
    if let Some(aud) = audience {
        assert!(claims.aud.contains(aud), "accepted a foreign audience");
    }
    assert!(
        now <= claims.exp.saturating_add(leeway),
        "accepted an expired token"
    );
    assert!(
        now >= claims.nbf.saturating_sub(leeway),
        "accepted a token before nbf"
    );
}

// --- A real Sesame behind its real router -------------------------------------------------

/// Placeholders a seed may contain; [`App::expand`] replaces them with live values, so the
/// fuzzer gets past client authentication and token lookups without knowing any secret.
pub const PLACEHOLDERS: [&str; 10] = [
    "$CLIENT_ID",
    "$CLIENT_SECRET",
    "$BASIC",
    "$ACCESS",
    "$REFRESH",
    "$SID",
    "$ADMIN",
    "$VICTIM",
    "$SERVICE",
    "$PASSWORD",
];

pub const PASSWORD: &str = "correct horse battery staple";

/// An account the fuzzer acts as, and its current tokens.
#[derive(Default, Clone)]
struct Account {
    email: String,
    id: String,
    access: String,
    refresh: String,
    sid: String,
}

#[derive(Default, Clone)]
struct Live {
    user: Account,
    admin: Account,
    victim_id: String,
    service: String,
}

/// A Sesame on a fresh SQLite database (cheap argon2), its router, a service client, a user,
/// an admin and a victim account for the admin routes.
pub struct App {
    pub rt: tokio::runtime::Runtime,
    pub router: axum::Router,
    pub sesame: Arc<sesame_core::Sesame>,
    client_id: String,
    client_secret: String,
    live: std::sync::Mutex<Live>,
    accounts_made: std::sync::atomic::AtomicU32,
    _dir: tempfile::TempDir,
}

impl App {
    /// The id of the user the fuzzer acts as.
    pub fn user_id(&self) -> String {
        self.live.lock().expect("not poisoned").user.id.clone()
    }

    pub fn get() -> &'static App {
        static APP: OnceLock<App> = OnceLock::new();
        APP.get_or_init(App::start)
    }

    fn start() -> App {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let env: std::collections::BTreeMap<String, String> = [
            ("SESAME_DATA_DIR", dir.path().display().to_string()),
            ("SESAME_TLS", "off".into()),
            ("SESAME_ARGON2_MEMORY_KIB", "64".into()),
            ("SESAME_ARGON2_ITERATIONS", "1".into()),
            ("SESAME_RATE_LIMIT", "off".into()),
            ("SESAME_AUDIENCES", "api,gallery".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let config = sesame::Config::from_sources(None, &env).expect("fuzz config is valid");
        let (sesame, router) = rt.block_on(async {
            let sesame = sesame::startup::start_core(&config, Arc::new(sesame_core::SystemClock))
                .await
                .expect("sesame starts");
            let state = sesame::http::AppState::new(sesame::http::AppStateInner {
                sesame: sesame.clone(),
                openapi: Arc::new("{}".to_string()),
                http: Arc::new(sesame::http::HttpSettings::default()),
                limits: Arc::new(sesame::http::ratelimit::RateLimits::new(
                    false,
                    config.limits,
                )),
                metrics: Arc::new(sesame::http::metrics::Metrics::new(&sesame)),
                pages: Arc::new(
                    sesame::pages::Pages::from_config(&config).expect("the built-in pages load"),
                ),
            });
            (sesame.clone(), sesame::http::router(state))
        });
        let created = rt
            .block_on(sesame.clients().create(
                sesame_core::clients::NewClient {
                    name: "fuzz".into(),
                    audiences: vec!["gallery".into()],
                    scopes: vec!["read".into(), "write".into()],
                    delegable_roles: vec![],
                    oauth: Default::default(),
                },
                None,
                &Default::default(),
            ))
            .expect("client created");
        use secrecy::ExposeSecret;
        let app = App {
            rt,
            router,
            sesame,
            client_id: created.client.client_id.clone(),
            client_secret: created
                .secret
                .as_ref()
                .expect("a confidential client")
                .expose_secret()
                .to_string(),
            live: Default::default(),
            accounts_made: Default::default(),
            _dir: dir,
        };
        let victim = app.new_account(false);
        app.live.lock().unwrap_or_else(|e| e.into_inner()).victim_id = victim.id;
        app.keep_tokens_alive();
        app
    }

    /// Creates an account (`fuzzN@example.com`, password [`PASSWORD`]) and logs it in.
    fn new_account(&self, admin: bool) -> Account {
        use sesame_core::domain::Role;
        let n = self
            .accounts_made
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let email = format!("fuzz{n}@example.com");
        let mut roles = vec![Role::customer()];
        if admin {
            roles.push(Role::parse(Role::ADMIN).expect("admin is a role"));
        }
        let user = self
            .rt
            .block_on(self.sesame.accounts().create_user(
                sesame_core::accounts::Registration {
                    email: email.clone(),
                    password: PASSWORD.to_string().into(),
                    username: Some(format!("fuzz{n}")),
                    client: Default::default(),
                },
                roles,
            ))
            .expect("account created");
        self.login(&email, user.id.to_string())
            .expect("a new account logs in")
    }

    fn login(&self, email: &str, id: String) -> Option<Account> {
        let pair = self
            .rt
            .block_on(self.sesame.sessions().login(sesame_core::sessions::Login {
                login: email.into(),
                password: PASSWORD.to_string().into(),
                audience: None,
                client: Default::default(),
            }))
            .ok()?;
        let claims = self.sesame.sessions().verify_access(&pair.access).ok()?;
        Some(Account {
            email: email.into(),
            id,
            access: pair.access,
            refresh: pair.refresh.as_str().to_string(),
            sid: claims.sid.clone().unwrap_or_default(),
        })
    }

    /// Whether the account's tokens still work (the fuzzer may have revoked or spent them).
    fn alive(&self, a: &Account) -> bool {
        if a.access.is_empty() {
            return false;
        }
        let access_ok = self
            .rt
            .block_on(self.sesame.sessions().authenticate(&a.access))
            .is_ok();
        access_ok
            && self.rt.block_on(async {
                let Some(token) = sesame_core::tokens::RefreshToken::parse(&a.refresh) else {
                    return false;
                };
                let sesame_core::refresh_token::Names::Session(session) = token.names() else {
                    return false;
                };
                matches!(
                    self.sesame.store().refresh_state(session).await,
                    Ok(Some(state)) if state.live == Some(token.hash())
                )
            })
    }

    /// Logs accounts in again (or makes new ones, if the fuzzer changed a password, disabled or
    /// deleted one) and mints a new service token when needed, so later inputs still reach the
    /// paths behind valid credentials.
    pub fn keep_tokens_alive(&self) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (account, admin) in [(&mut live.user, false), (&mut live.admin, true)] {
            if !self.alive(account) {
                *account = self
                    .login(&account.email, account.id.clone())
                    .filter(|_| !account.email.is_empty())
                    .unwrap_or_else(|| self.new_account(admin));
            }
        }
        let service_ok = self
            .rt
            .block_on(self.sesame.oauth().check_access_token(&live.service, None))
            .is_ok();
        if !service_ok {
            let client = self
                .rt
                .block_on(
                    self.sesame
                        .oauth()
                        .authenticate_client(&self.client_id, &self.client_secret.clone().into()),
                )
                .expect("the fuzz client authenticates");
            live.service = self
                .rt
                .block_on(self.sesame.oauth().client_token(&client, vec![], None))
                .expect("service token")
                .access_token;
        }
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) = live;
    }

    /// Replaces the placeholders by live values.
    pub fn expand(&self, s: &str) -> String {
        if !s.contains('$') {
            return s.to_string();
        }
        let l = self.live.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let basic = B64_STD.encode(format!("{}:{}", self.client_id, self.client_secret));
        s.replace("$CLIENT_ID", &self.client_id)
            .replace("$CLIENT_SECRET", &self.client_secret)
            .replace("$BASIC", &basic)
            .replace("$ACCESS", &l.user.access)
            .replace("$REFRESH", &l.user.refresh)
            .replace("$SID", &l.user.sid)
            .replace("$ADMIN", &l.admin.access)
            .replace("$VICTIM", &l.victim_id)
            .replace("$SERVICE", &l.service)
            .replace("$PASSWORD", PASSWORD)
    }

    /// Sends one request through the router, from 127.0.0.1; returns the status and the body.
    pub fn send(&self, req: axum::http::Request<axum::body::Body>) -> (u16, Vec<u8>) {
        use tower::ServiceExt;
        let mut req = req;
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(SocketAddr::from((
                [127, 0, 0, 1],
                40000,
            ))));
        self.rt.block_on(async {
            let res = self
                .router
                .clone()
                .oneshot(req)
                .await
                .expect("the router is infallible");
            let status = res.status().as_u16();
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .expect("the body reads");
            if debug() {
                eprintln!("-> {status} {}", String::from_utf8_lossy(&body));
            }
            (status, body.to_vec())
        })
    }
}

use base64::engine::general_purpose::STANDARD as B64_STD;

/// `SESAME_FUZZ_DEBUG=1`: print every answer (to see what an input reaches when reproducing).
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("SESAME_FUZZ_DEBUG").is_some())
}

/// The response invariants every request must keep, whatever its body: no 5xx (a malformed
/// input is the client's fault, never an internal error), and a JSON body on every error.
pub fn assert_well_answered(status: u16, body: &[u8], what: &str) {
    assert!(
        status < 500,
        "{what}: answered {status}: {}",
        String::from_utf8_lossy(body)
    );
    if status >= 400 {
        assert!(
            serde_json::from_slice::<serde_json::Value>(body).is_ok(),
            "{what}: {status} with a non-JSON body: {}",
            String::from_utf8_lossy(body)
        );
    }
}
