//! A `sesame serve` process under test: the real binary with a clean `SESAME_*` environment, its
//! own data dir and port, waited for on /healthz (bounded), and always stopped — SIGTERM, then a
//! bounded wait — even when an assertion fails first (the guard's `Drop`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
// The helpers every test binary of the workspace shares.
pub use sesame_testkit::http::{Tokens, assert_error, body, tokens};
pub use sesame_testkit::jwt::kid;
pub use sesame_testkit::{PASSWORD, unique};
use sesame_testkit::{free_port, process};

/// How long a starting server may take to answer /healthz, and a stopping one to exit.
const STARTUP_BOUND: Duration = Duration::from_secs(20);
const SHUTDOWN_BOUND: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

/// The binary with no `SESAME_*` setting inherited from whoever runs the tests, a cheap argon2
/// cost (hashing speed is not under test), no rate limiting, the given database, run in `dir`.
pub fn sesame(dir: &Path, database_url: &str) -> Command {
    let mut cmd = process::sesame_command(env!("CARGO_BIN_EXE_sesame"), dir);
    cmd.env("SESAME_DATA_DIR", dir.join("data"))
        .env("SESAME_DATABASE_URL", database_url)
        .env("SESAME_RATE_LIMIT", "off")
        .env("SESAME_LOG", "warn");
    cmd
}

/// `sesame user create --role admin --password-stdin` against `database_url`; returns the email.
pub fn create_admin(database_url: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let email = format!("{}@example.com", unique("admin"));
    let mut child = sesame(dir.path(), database_url)
        .args(["user", "create", "--email", &email, "--role", "admin"])
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sesame starts");
    child
        .stdin
        .take()
        .expect("stdin pipe")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("password written");
    let out = child.wait_with_output().expect("sesame finishes");
    assert!(
        out.status.success(),
        "user create failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    email
}

/// A running `sesame serve`; stopped when dropped.
pub struct Server {
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub client: reqwest::Client,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failing test's clean-up: SIGKILL after the bound is the last resort.
        let _ = process::terminate(&mut self.child, SHUTDOWN_BOUND);
    }
}

impl Server {
    /// Starts `sesame serve` on `database_url` with extra `SESAME_*` settings; not waited for.
    pub fn spawn(name: &'static str, database_url: &str, extra: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port().expect("a free port");
        let log = dir.path().join("server.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = sesame(dir.path(), database_url);
        cmd.arg("serve")
            .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
            .env("SESAME_TLS", "off");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("sesame starts");
        let client = reqwest::Client::builder()
            .user_agent("sesame-tests/1.0")
            .timeout(Duration::from_secs(15))
            .build()
            .expect("client builds");
        Server {
            name,
            base: format!("http://127.0.0.1:{port}"),
            client,
            child,
            log,
            _dir: dir,
        }
    }

    /// Waits (bounded) until /healthz answers 200.
    pub async fn ready(mut self) -> Server {
        let deadline = Instant::now() + STARTUP_BOUND;
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!("{} exited early with {status}\n{}", self.name, self.log());
            }
            if let Ok(res) = self.client.get(self.url("/healthz")).send().await
                && res.status() == StatusCode::OK
            {
                return self;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer /healthz within {STARTUP_BOUND:?}\n{}",
                self.name,
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn start(name: &'static str, database_url: &str, extra: &[(&str, &str)]) -> Server {
        Server::spawn(name, database_url, extra).ready().await
    }

    /// Two replicas on one database, started at once (as a deployment rolls them out: both
    /// migrate and find or make the signing keys concurrently).
    pub async fn start_pair(database_url: &str, extra: &[(&str, &str)]) -> (Server, Server) {
        let a = Server::spawn("A", database_url, extra);
        let b = Server::spawn("B", database_url, extra);
        tokio::join!(a.ready(), b.ready())
    }

    /// SIGTERM, then the exit status within the bound.
    pub async fn stop(mut self) -> ExitStatus {
        process::terminate_async(&mut self.child, SHUTDOWN_BOUND)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:#}\n{}", self.name, self.log()))
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    pub async fn post(&self, path: &str, token: Option<&str>, json_body: Value) -> Response {
        let mut req = self.client.post(self.url(path)).json(&json_body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    /// Any method with a JSON body (PATCH, PUT, DELETE).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        json_body: Value,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path)).json(&json_body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request sent")
    }

    pub async fn register_raw(&self, email: &str) -> Response {
        self.post(
            "/auth/register",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await
    }

    /// Registers a fresh user; returns its email.
    pub async fn new_user(&self) -> String {
        let email = format!("{}@example.com", unique("user"));
        let res = self.register_raw(&email).await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "registration at {}",
            self.name
        );
        email
    }

    pub async fn login_raw(&self, login: &str, password: &str) -> Response {
        self.post(
            "/auth/login",
            None,
            json!({"username": login, "password": password}),
        )
        .await
    }

    pub async fn login(&self, login: &str) -> Tokens {
        let res = self.login_raw(login, PASSWORD).await;
        let status = res.status();
        let b = body(res).await;
        assert_eq!(status, StatusCode::OK, "login at {}: {b}", self.name);
        tokens(&b)
    }

    pub async fn refresh_raw(&self, refresh: &str) -> Response {
        self.post("/auth/token/refresh", None, json!({"refresh": refresh}))
            .await
    }

    /// The published JWK Set, keys ordered by `kid` (the order carries no meaning).
    pub async fn jwks(&self) -> Value {
        let res = self.get("/.well-known/jwks.json", None).await;
        assert_eq!(res.status(), StatusCode::OK, "JWKS at {}", self.name);
        let mut keys = body(res).await["keys"]
            .as_array()
            .expect("keys array")
            .clone();
        keys.sort_by_key(|k| k["kid"].as_str().expect("kid").to_string());
        Value::Array(keys)
    }
}
