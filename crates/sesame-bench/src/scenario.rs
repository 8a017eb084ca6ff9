//! What each scenario sends, and the preparation it needs before the clock starts (users,
//! sessions, tokens, a service client). Preparation uses an ordinary `reqwest` client: it is
//! not measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::load::{Script, Target, request};

pub const PASSWORD: &str = "bench horse battery staple";

/// Every scenario, in the order a full run measures them.
pub const ALL: &[&str] = &[
    "verify",
    "verify-distinct",
    "profile",
    "introspect",
    "client-token",
    "refresh",
    "login",
    "register",
    "login-storm",
    "healthz",
    "signin-page",
    "page-signin",
    "statuslist",
    "statuslist-304",
];

/// A setup client for one Sesame.
#[derive(Clone, Debug)]
pub struct Setup {
    pub base: String,
    pub(crate) http: reqwest::Client,
}

impl Setup {
    pub fn new(base: &str, cacert: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let mut b = reqwest::Client::builder()
            .http1_only()
            .timeout(std::time::Duration::from_secs(60));
        if let Some(p) = cacert {
            let pem = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        Ok(Setup {
            base: base.trim_end_matches('/').to_string(),
            http: b.build()?,
        })
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await?;
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status}: {v}");
        }
        Ok(v)
    }

    /// Registers `email` (if new).
    pub async fn register(&self, email: &str) -> anyhow::Result<()> {
        match self
            .post(
                "/auth/register",
                json!({"email": email, "password": PASSWORD}),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("409") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Logs in; returns (access, refresh).
    pub async fn login(&self, email: &str) -> anyhow::Result<(String, String)> {
        let t = self
            .post("/auth/login", json!({"email": email, "password": PASSWORD}))
            .await?;
        let field = |k: &str| {
            t[k].as_str()
                .map(str::to_string)
                .with_context(|| format!("login answer without {k}"))
        };
        Ok((field("access")?, field("refresh")?))
    }

    /// `n` distinct access tokens of one session, by refreshing it `n` times (for servers whose
    /// signing key the bench cannot read).
    pub async fn refresh_chain(
        &self,
        mut refresh: String,
        n: usize,
    ) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let t = self
                .post("/auth/token/refresh", json!({"refresh": refresh}))
                .await?;
            out.push(t["access"].as_str().unwrap_or_default().to_string());
            refresh = t["refresh"].as_str().unwrap_or_default().to_string();
        }
        Ok(out)
    }
}

/// `n` distinct, valid access tokens of the session of `access`, signed with the server's own
/// current key read from its SQLite database: each differs only in `jti`, so every one is a
/// token the server has never seen (a verification-cache miss) yet valid and unrevoked.
pub async fn mint(database_url: &str, access: &str, n: usize) -> anyhow::Result<Vec<String>> {
    use sesame_core::store::KeyStore;
    let store = sesame_store_sqlite::SqliteStore::connect(database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {database_url}: {e}"))?;
    let records = store
        .list_keys()
        .await
        .map_err(|e| anyhow::anyhow!("cannot read keys: {e}"))?;
    let current = records
        .iter()
        .filter(|r| {
            r.purpose == sesame_core::keys::KeyPurpose::Access
                && r.state == sesame_core::keys::KeyState::Current
        })
        .max_by_key(|r| r.activated_at)
        .context("no current access key")?;
    let key = Arc::new(
        sesame_core::keys::ActiveKey::from_record(current).map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let payload = access.split('.').nth(1).context("not a JWT")?;
    let claims: sesame_verify::Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload)?)?;
    // Minting is CPU work: spread it over the cores, off the runtime.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = n.div_ceil(threads);
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (key, claims) = (key.clone(), claims.clone());
        handles.push(tokio::task::spawn_blocking(move || {
            let mut out = Vec::with_capacity(per);
            let mut c = claims;
            for _ in 0..per {
                c.jti = uuid::Uuid::new_v4().to_string();
                out.push(key.sign_jwt(&c).map_err(|e| anyhow::anyhow!("{e}"))?);
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut all = Vec::with_capacity(n);
    for h in handles {
        all.extend(h.await??);
    }
    all.truncate(n);
    Ok(all)
}

fn bearer(token: &str) -> anyhow::Result<HeaderValue> {
    Ok(HeaderValue::from_str(&format!("Bearer {token}"))?)
}

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

/// The same GET with the same bearer token every time.
pub struct Get {
    pub target: Target,
    pub path: &'static str,
    pub auth: Option<HeaderValue>,
}

impl Get {
    pub fn boxed(
        target: &Target,
        path: &'static str,
        token: Option<&str>,
    ) -> anyhow::Result<Box<dyn Script>> {
        Ok(Box::new(Get {
            target: target.clone(),
            path,
            auth: token.map(bearer).transpose()?,
        }))
    }
}

impl Script for Get {
    fn request(&mut self) -> Request<Full<Bytes>> {
        let mut b = request(&self.target, Method::GET, self.path);
        if let Some(a) = &self.auth {
            b = b.header(AUTHORIZATION, a.clone());
        }
        b.body(empty()).unwrap_or_default()
    }
}

/// GET /auth/verify, each request with the next token of a shared pool: every token is sent
/// once (the pool wraps around only if the run outlasts it).
pub struct Distinct {
    pub target: Target,
    pub tokens: Arc<Vec<HeaderValue>>,
    pub next: Arc<AtomicUsize>,
}

impl Script for Distinct {
    fn request(&mut self) -> Request<Full<Bytes>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let auth = self.tokens[i % self.tokens.len()].clone();
        request(&self.target, Method::GET, "/auth/verify")
            .header(AUTHORIZATION, auth)
            .body(empty())
            .unwrap_or_default()
    }
}

pub fn distinct_pool(tokens: &[String]) -> anyhow::Result<Arc<Vec<HeaderValue>>> {
    Ok(Arc::new(
        tokens
            .iter()
            .map(|t| bearer(t))
            .collect::<anyhow::Result<_>>()?,
    ))
}

/// The same POST every time.
pub struct Post {
    pub target: Target,
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: Bytes,
    pub auth: Option<HeaderValue>,
}

impl Script for Post {
    fn request(&mut self) -> Request<Full<Bytes>> {
        let mut b =
            request(&self.target, Method::POST, self.path).header(CONTENT_TYPE, self.content_type);
        if let Some(a) = &self.auth {
            b = b.header(AUTHORIZATION, a.clone());
        }
        b.body(Full::new(self.body.clone())).unwrap_or_default()
    }
}

pub fn login_script(target: &Target, email: &str) -> Box<dyn Script> {
    Box::new(Post {
        target: target.clone(),
        path: "/auth/login",
        content_type: "application/json",
        body: Bytes::from(json!({"email": email, "password": PASSWORD}).to_string()),
        auth: None,
    })
}

pub fn basic(client_id: &str, secret: &str) -> anyhow::Result<HeaderValue> {
    Ok(HeaderValue::from_str(&format!(
        "Basic {}",
        STANDARD.encode(format!("{client_id}:{secret}"))
    ))?)
}

pub fn client_token_script(target: &Target, auth: &HeaderValue) -> Box<dyn Script> {
    Box::new(Post {
        target: target.clone(),
        path: "/oauth/token",
        content_type: "application/x-www-form-urlencoded",
        body: Bytes::from_static(b"grant_type=client_credentials"),
        auth: Some(auth.clone()),
    })
}

pub fn introspect_script(target: &Target, auth: &HeaderValue, token: &str) -> Box<dyn Script> {
    Box::new(Post {
        target: target.clone(),
        path: "/oauth/introspect",
        content_type: "application/x-www-form-urlencoded",
        body: Bytes::from(format!("token={token}")),
        auth: Some(auth.clone()),
    })
}

/// One session's refresh chain: each answer's refresh token is the next request's, so every
/// refresh token is presented exactly once.
pub struct Refresh {
    pub target: Target,
    pub refresh: String,
}

impl Script for Refresh {
    fn request(&mut self) -> Request<Full<Bytes>> {
        request(&self.target, Method::POST, "/auth/token/refresh")
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(format!(
                "{{\"refresh\":\"{}\"}}",
                self.refresh
            ))))
            .unwrap_or_default()
    }

    fn response(&mut self, status: StatusCode, body: &Bytes) -> bool {
        if !status.is_success() {
            return false;
        }
        match serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["refresh"].as_str().map(str::to_string))
        {
            Some(next) => {
                self.refresh = next;
                true
            }
            None => false,
        }
    }
}

/// POST /auth/register with a fresh address each time.
pub struct Register {
    pub target: Target,
    pub prefix: String,
    pub n: u64,
}

impl Script for Register {
    fn request(&mut self) -> Request<Full<Bytes>> {
        self.n += 1;
        let body = json!({
            "email": format!("{}n{}@bench.example.com", self.prefix, self.n),
            "password": PASSWORD,
        });
        request(&self.target, Method::POST, "/auth/register")
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap_or_default()
    }
}

/// POST /signin as a browser would: the form with its anti-forgery token, the binding cookie
/// beside it (both fetched once by [`Setup::signin_form`]). A right password answers 303.
pub struct PageSignIn {
    pub target: Target,
    pub cookie: HeaderValue,
    pub body: Bytes,
}

impl Script for PageSignIn {
    fn request(&mut self) -> Request<Full<Bytes>> {
        request(&self.target, Method::POST, "/signin")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(hyper::header::COOKIE, self.cookie.clone())
            .body(Full::new(self.body.clone()))
            .unwrap_or_default()
    }

    fn response(&mut self, status: StatusCode, _: &Bytes) -> bool {
        status == StatusCode::SEE_OTHER
    }
}

impl Setup {
    /// GET /signin once: the binding cookie it sets and the token of its form, which every
    /// [`PageSignIn`] then reuses (a token stays valid for its binding).
    pub async fn signin_form(&self, email: &str) -> anyhow::Result<(HeaderValue, Bytes)> {
        let res = self
            .http
            .get(format!("{}/signin", self.base))
            .send()
            .await?;
        let cookie = res
            .headers()
            .get_all(hyper::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("__Host-sesame-csrf="))
            .and_then(|v| v.split(';').next())
            .context("GET /signin set no anti-forgery cookie")?
            .to_string();
        let html = res.text().await?;
        let at = html
            .find("name=\"csrf_token\"")
            .context("the sign-in page has no csrf_token field")?;
        let tag_start = html[..at].rfind('<').unwrap_or(0);
        let tag = &html[tag_start..at + html[at..].find('>').unwrap_or(0)];
        let v = tag.find("value=\"").context("no token value")? + 7;
        let token = &tag[v..v + tag[v..].find('"').unwrap_or(0)];
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("identifier", email)
            .append_pair("password", PASSWORD)
            .append_pair("csrf_token", token)
            .finish();
        Ok((HeaderValue::from_str(&cookie)?, Bytes::from(body)))
    }
}

/// GET /statuslists/0, unconditionally or with the `ETag` of the list as it is (a 304 each).
pub struct StatusList {
    pub target: Target,
    pub etag: Option<HeaderValue>,
}

impl Script for StatusList {
    fn request(&mut self) -> Request<Full<Bytes>> {
        let mut b = request(&self.target, Method::GET, "/statuslists/0");
        if let Some(tag) = &self.etag {
            b = b.header(hyper::header::IF_NONE_MATCH, tag.clone());
        }
        b.body(empty()).unwrap_or_default()
    }

    fn response(&mut self, status: StatusCode, _: &Bytes) -> bool {
        status == StatusCode::OK || (self.etag.is_some() && status == StatusCode::NOT_MODIFIED)
    }
}

/// How many sessions the statuslist scenarios give the server, and how many of them are
/// revoked (one in ten, at random).
pub const STATUS_SESSIONS: i64 = 1_000_000;

/// Writes [`STATUS_SESSIONS`] sessions of one user straight into the server's SQLite database
/// (one transaction; the server, another process, waits for the write lock meanwhile), revokes
/// a random tenth — the triggers put each in the revocation feed with its status index, as a
/// logout would — and waits until the server serves the result. Done once per database.
/// Returns the list's size on the wire (bytes of the 200).
pub async fn million_sessions(database_url: &str, setup: &Setup) -> anyhow::Result<usize> {
    use sqlx::Connection;
    let mut db = sqlx::SqliteConnection::connect(database_url).await?;
    sqlx::query("PRAGMA busy_timeout = 60000")
        .execute(&mut db)
        .await?;
    let (have,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sessions WHERE id LIKE 'bench-status-%'")
            .fetch_one(&mut db)
            .await?;
    if have == 0 {
        let now = chrono::Utc::now().timestamp_millis();
        let mut tx = db.begin().await?;
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1) \
             INSERT INTO sessions (id, user_id, audience, created_at, last_used_at, expires_at, access_until, status_idx) \
             SELECT 'bench-status-' || i, (SELECT id FROM users ORDER BY created_at LIMIT 1), '[\"api\"]', \
                    ?2, ?2, ?2 + 86400000, ?2 + 3600000, (SELECT next FROM status_counter) + i FROM n",
        )
        .bind(STATUS_SESSIONS)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = ?1 \
             WHERE id LIKE 'bench-status-%' AND abs(random()) % 10 = 0",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    // The server reads the feed within a poll (about a second).
    for _ in 0..100 {
        let body = setup
            .http
            .get(format!("{}/statuslists/0", setup.base))
            .header("accept", "application/statuslist+jwt")
            .send()
            .await?
            .bytes()
            .await?;
        // A tenth of 131,072 bits set does not compress below ~7 KB; an empty list is ~100 B.
        if body.len() > 4000 {
            return Ok(body.len());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    bail!("the server did not take the revoked sessions in within 20 s")
}

/// The list's current `ETag`.
pub async fn status_etag(setup: &Setup) -> anyhow::Result<HeaderValue> {
    let res = setup
        .http
        .get(format!("{}/statuslists/0", setup.base))
        .send()
        .await?;
    let tag = res
        .headers()
        .get("etag")
        .context("no ETag on /statuslists/0")?
        .to_str()?
        .to_string();
    Ok(HeaderValue::from_str(&tag)?)
}
