//! `spawn_app()` and typed helpers, shared by every test module.
//!
//! Every test binary that includes this file (by `#[path]`) names the store its apps run on with
//! a `const BACKEND: Backend` at its root: `tests/api` runs the suite on SQLite, `tests/api_pg`
//! runs the same modules on PostgreSQL. The tests themselves never branch on it.
// Each including binary uses its own part of these helpers and re-exports.
#![allow(dead_code, unused_imports)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sesame::{Application, Config};
use sesame_core::{Clock, ManualClock, Sesame};
use sesame_testkit::PgCluster;
// The helpers every test binary of the workspace shares.
pub use sesame_testkit::http::{Tokens, assert_error, body, tokens};
pub use sesame_testkit::{PASSWORD, free_port, jwt, unique};
use tokio::sync::oneshot;

/// The store behind every app a test binary spawns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file in the app's own data dir (the default `SESAME_DATABASE_URL`).
    Sqlite,
    /// A fresh database on the test process's shared PostgreSQL server ([`PgCluster::shared`]).
    Postgres,
}

pub struct TestApp {
    /// `https://localhost:PORT`
    pub base: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub sesame: Arc<Sesame>,
    pub data_dir: PathBuf,
    /// The app's own database (`sqlite://...` or `postgres://...`), for tests that break it.
    pub database_url: String,
    pub cert_pem: Vec<u8>,
    /// The `/metrics` listener, when `SESAME_METRICS_LISTEN` gave it one.
    pub metrics_addr: Option<std::net::SocketAddr>,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub username: String,
    pub password: String,
    pub tokens: Tokens,
}

/// Settings every test app gets: random port, HTTPS with a fresh self-signed certificate, a
/// cheap argon2 cost (hashing speed is not under test here), no rate limiting.
fn base_env(dir: &std::path::Path) -> BTreeMap<String, String> {
    [
        ("SESAME_LISTEN", "127.0.0.1:0".to_string()),
        ("SESAME_DATA_DIR", dir.display().to_string()),
        ("SESAME_TLS", "auto".to_string()),
        ("SESAME_ARGON2_MEMORY_KIB", "64".to_string()),
        ("SESAME_ARGON2_ITERATIONS", "1".to_string()),
        ("SESAME_RATE_LIMIT", "off".to_string()),
        ("SESAME_LOG", "warn".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts an app with extra `SESAME_*` settings (they override the test defaults).
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = base_env(dir.path());
    if crate::BACKEND == Backend::Postgres {
        env.insert("SESAME_DATABASE_URL".to_string(), fresh_pg_database().await);
    }
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    // An app left at the default ID-token algorithm, on the store laid out here, starts on a
    // store that holds the ID-token pair already (see `pooled_id_token_keys`); one given
    // SESAME_ID_TOKEN_ALG or a data location of its own makes its keys itself.
    let seed = !extra.iter().any(|(k, _)| {
        matches!(
            *k,
            "SESAME_ID_TOKEN_ALG" | "SESAME_DATA_DIR" | "SESAME_DATABASE_URL"
        )
    });
    spawn_app_in(dir, env, seed).await
}

/// A current and a next RS256 ID-token key, generated once per test process by the same code
/// a start runs, and stored by each app that [`spawn_app_with`] starts at the default algorithm
/// before that app starts — as a restarted app finds the keys its first start made.
///
/// Why: an RSA key costs 0.1–0.5 s of CPU to make, so two per app made the API suite about
/// half as slow again (349 tests: 103 s of CPU before, 30 s without RSA keys; 2 cores). The keys
/// stay real RS256 keys — published, loaded, signing and rotated like any — and making them at
/// start is still tested: with SESAME_ID_TOKEN_ALG set, by [`fresh_store`], by the CLI tests
/// (a process of their own) and by every rotation (it makes fresh next keys).
fn pooled_id_token_keys(
    now: chrono::DateTime<Utc>,
) -> (sesame_core::keys::KeyRecord, sesame_core::keys::KeyRecord) {
    use sesame_core::keys::{KeyPurpose, KeyRecord, KeyState, SigningAlg, generate_key_for};
    use sesame_core::secret::{ExposeSecret, secret_bytes};
    static POOL: std::sync::OnceLock<[KeyRecord; 2]> = std::sync::OnceLock::new();
    let [current, next] = POOL.get_or_init(|| {
        [KeyState::Current, KeyState::Next].map(|state| {
            generate_key_for(KeyPurpose::IdToken, SigningAlg::RS256, state, now)
                .expect("RS256 key made")
        })
    });
    // As `keys::ensure_keys` stores a first pair: made now, the current one without
    // `activated_at`.
    let copy = |k: &KeyRecord| KeyRecord {
        kid: k.kid.clone(),
        purpose: k.purpose,
        alg: k.alg,
        state: k.state,
        private_der: secret_bytes(k.private_der.expose_secret().clone()),
        public_jwk: k.public_jwk.clone(),
        created_at: now,
        activated_at: None,
        retire_until: None,
    };
    (copy(current), copy(next))
}

/// A migrated store of this binary's backend that no app has started on yet: a test puts in it
/// what an earlier version would have left (say, only access-token keys), then starts an app
/// on it with [`FreshStore::spawn_app`].
pub struct FreshStore {
    pub store: Arc<dyn sesame_core::store::Store>,
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

pub async fn fresh_store() -> FreshStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = base_env(dir.path());
    if crate::BACKEND == Backend::Postgres {
        env.insert("SESAME_DATABASE_URL".to_string(), fresh_pg_database().await);
    }
    let config = Config::from_sources(None, &env).expect("test config is valid");
    let store = sesame::startup::open_store(&config)
        .await
        .expect("store opens and migrates");
    FreshStore { store, dir, env }
}

impl FreshStore {
    /// Starts an app on this store, as a restart after an upgrade would.
    pub async fn spawn_app(self) -> TestApp {
        drop(self.store);
        spawn_app_in(self.dir, self.env, false).await
    }
}

/// Starts an app with exactly these settings, its data in `dir`; with `seed_id_token_keys`, on
/// a store holding [`pooled_id_token_keys`].
async fn spawn_app_in(
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
    seed_id_token_keys: bool,
) -> TestApp {
    let config = Config::from_sources(None, &env).expect("test config is valid");
    assert_eq!(
        config.database_url().starts_with("postgres://"),
        crate::BACKEND == Backend::Postgres,
        "this binary's apps run on {:?}",
        crate::BACKEND
    );
    let database_url = config.database_url().to_string();
    let clock = ManualClock::new(Utc::now());
    if seed_id_token_keys {
        let store = sesame::startup::open_store(&config)
            .await
            .expect("store opens and migrates");
        let (current, next) = pooled_id_token_keys(clock.now());
        assert!(
            store.init_keys(&current, &next).await.expect("keys stored"),
            "a new store has no ID-token keys"
        );
    }
    let app = Application::build_with_clock(config, Arc::new(clock.clone()))
        .await
        .expect("app builds");
    let port = app.port();
    let metrics_addr = app.metrics_addr();
    let sesame = app.sesame().clone();
    let cert_path = app.cert_path().cloned().expect("tests run over HTTPS");
    let cert_pem = std::fs::read(&cert_path).expect("certificate readable");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert_pem).expect("valid PEM"))
        .user_agent("sesame-tests/1.0")
        .build()
        .expect("client builds");
    TestApp {
        base: format!("https://localhost:{port}"),
        port,
        client,
        clock,
        sesame,
        data_dir: dir.path().to_path_buf(),
        database_url,
        cert_pem,
        metrics_addr,
        _dir: dir,
        shutdown: Some(tx),
    }
}

/// A database nobody else uses on the shared test server.
async fn fresh_pg_database() -> String {
    PgCluster::fresh_shared_database()
        .await
        .expect("a fresh database on the test PostgreSQL server")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Any method, optional bearer, optional JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        json_body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = json_body {
            req = req.json(b);
        }
        req.send().await.expect("request sent")
    }

    pub async fn post(&self, path: &str, json_body: Value) -> Response {
        self.request(Method::POST, path, None, Some(&json_body))
            .await
    }

    pub async fn post_auth(&self, path: &str, token: &str, json_body: Value) -> Response {
        self.request(Method::POST, path, Some(token), Some(&json_body))
            .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn register(&self, email: &str, password: &str, username: Option<&str>) -> Response {
        let mut b = json!({"email": email, "password": password});
        if let Some(u) = username {
            b["username"] = json!(u);
        }
        self.post("/auth/register", b).await
    }

    pub async fn login_raw(&self, login: &str, password: &str) -> Response {
        self.post(
            "/auth/login",
            json!({"username": login, "password": password}),
        )
        .await
    }

    pub async fn login(&self, login: &str, password: &str) -> Tokens {
        let res = self.login_raw(login, password).await;
        assert_eq!(res.status(), StatusCode::OK, "login should succeed");
        tokens(&body(res).await)
    }

    pub async fn refresh_raw(&self, refresh: &str) -> Response {
        self.post("/auth/token/refresh", json!({"refresh": refresh}))
            .await
    }

    /// Registers a fresh user (with a username) and logs in.
    pub async fn new_user(&self) -> TestUser {
        let username = unique("user");
        let email = format!("{username}@example.com");
        let res = self.register(&email, PASSWORD, Some(&username)).await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "registration should succeed"
        );
        let id = body(res).await["id"].as_str().expect("id").to_string();
        let tokens = self.login(&username, PASSWORD).await;
        TestUser {
            id,
            email,
            username,
            password: PASSWORD.to_string(),
            tokens,
        }
    }

    /// Creates an admin directly through the core (as the CLI and the bootstrap admin do) and
    /// logs in.
    pub async fn new_admin(&self) -> TestUser {
        use sesame_core::accounts::Registration;
        use sesame_core::domain::Role;
        let username = unique("admin");
        let email = format!("{username}@example.com");
        let registration = Registration {
            email: email.clone(),
            password: PASSWORD.to_string().into(),
            username: Some(username.clone()),
            client: Default::default(),
        };
        let roles = vec![
            Role::customer(),
            Role::parse(Role::ADMIN).expect("admin is a valid role"),
        ];
        let user = self
            .sesame
            .accounts()
            .create_user(registration, roles)
            .await
            .expect("admin created");
        let tokens = self.login(&username, PASSWORD).await;
        TestUser {
            id: user.id.to_string(),
            email,
            username,
            password: PASSWORD.into(),
            tokens,
        }
    }

    pub fn advance(&self, secs: i64) {
        self.clock.advance(chrono::Duration::seconds(secs));
    }

    /// Waits (bounded) until the app's outbox sender has attempted every message queued so far,
    /// those queued off the request path included (`Sesame::flush_outbox`). Await it before
    /// asserting that no mail went out: no sleeping and hoping.
    pub async fn flush_outbox(&self) {
        tokio::time::timeout(
            std::time::Duration::from_secs(15),
            self.sesame.flush_outbox(),
        )
        .await
        .expect("the outbox sender finished a pass within 15 s");
    }

    /// Waits (bounded) until the app's webhook sender has attempted every delivery due so far
    /// (`Webhooks::flush`): await it before asserting what a receiver got.
    pub async fn flush_webhooks(&self) {
        tokio::time::timeout(
            std::time::Duration::from_secs(30),
            self.sesame.webhooks().flush(),
        )
        .await
        .expect("the webhook sender finished a pass within 30 s");
    }
}

// ---- Raw requests, JWKS, tokens signed with the app's own key for the security tests. ----

impl TestApp {
    /// A POST with any content type and raw body bytes.
    pub async fn post_bytes(&self, path: &str, content_type: &str, bytes: Vec<u8>) -> Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .expect("request sent")
    }

    /// The published JWK Set.
    pub async fn jwks(&self) -> Value {
        let res = self.get("/.well-known/jwks.json", None).await;
        assert_eq!(res.status(), StatusCode::OK, "JWKS answers");
        body(res).await
    }

    /// The `kid`s in the published JWK Set, in order.
    pub async fn jwks_kids(&self) -> Vec<String> {
        self.jwks().await["keys"]
            .as_array()
            .expect("keys array")
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_string())
            .collect()
    }

    /// The published JWKs of one key family (`access` or `id_token`), in the JWKS's order: the
    /// JWKS itself does not say which family a key is of, the app's key ring does.
    pub async fn jwks_of(&self, purpose: &str) -> Vec<Value> {
        let ring = self.sesame.key_ring().current();
        let kids: Vec<&str> = ring
            .published
            .iter()
            .filter(|k| k.purpose.as_str() == purpose)
            .map(|k| k.jwk.kid.as_str())
            .collect();
        self.jwks().await["keys"]
            .as_array()
            .expect("keys array")
            .iter()
            .filter(|k| kids.contains(&k["kid"].as_str().expect("kid")))
            .cloned()
            .collect()
    }

    /// The `kid`s of one key family in the published JWK Set, in order.
    pub async fn jwks_kids_of(&self, purpose: &str) -> Vec<String> {
        self.jwks_of(purpose)
            .await
            .iter()
            .map(|k| k["kid"].as_str().expect("kid").to_string())
            .collect()
    }

    /// Signs any header and claims with the app's real signing key (for forged-but-signed tokens).
    pub fn sign_with_current_key(&self, header: &Value, claims: &Value) -> String {
        let ring = self.sesame.key_ring().current();
        jwt::forge(header, claims, |msg| {
            ring.active.signer.sign(msg).expect("signing works")
        })
    }

    /// Disables a user directly in the store (no admin API yet).
    pub async fn disable_user(&self, user_id: &str) {
        let id = uuid::Uuid::parse_str(user_id).expect("user id is a UUID");
        let changed = self
            .sesame
            .store()
            .set_disabled(id, true, Utc::now(), &[])
            .await
            .expect("store answers");
        assert!(changed, "user exists");
    }
}

/// Renames `table` of the database at `database_url` behind the service's back, as a botched
/// manual migration would: from then on every query that names the table fails in the driver
/// ("no such table" on SQLite, "relation does not exist" on PostgreSQL). A real database error
/// for the tests of 500s, no mock: the service cannot tell it from any other driver failure.
pub async fn rename_table(database_url: &str, table: &str, to: &str) {
    use sqlx::Connection;
    let sql = format!("ALTER TABLE {table} RENAME TO {to}");
    if database_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(database_url)
            .await
            .expect("the test reaches the app's PostgreSQL database");
        sqlx::query(&sql).execute(&mut conn).await.expect("renamed");
    } else {
        let opts: sqlx::sqlite::SqliteConnectOptions =
            database_url.parse().expect("a sqlite:// URL");
        // The service may hold the write lock for a moment: wait for it, do not fail.
        let opts = opts.busy_timeout(std::time::Duration::from_secs(10));
        let mut conn = sqlx::SqliteConnection::connect_with(&opts)
            .await
            .expect("the test opens the app's SQLite file");
        sqlx::query(&sql).execute(&mut conn).await.expect("renamed");
    }
}

impl TestApp {
    /// [`rename_table`] on this app's database.
    pub async fn rename_table(&self, table: &str, to: &str) {
        rename_table(&self.database_url, table, to).await;
    }
}
