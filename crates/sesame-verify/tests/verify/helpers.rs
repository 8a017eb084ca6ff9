//! Shared helpers: forging tokens, and a real Sesame (its `Application`, over HTTPS with its
//! self-signed certificate) whose issuer URL is the address it really listens on.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sesame::{Application, Config};
use sesame_core::Sesame;
// The helpers every test binary of the workspace shares.
pub use sesame_testkit::jwt::{self, b64url};
pub use sesame_testkit::{PASSWORD, free_port, unique};
use tokio::sync::oneshot;

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A Sesame instance on its own port and data dir; stopped when dropped.
pub struct RealSesame {
    pub issuer: String,
    pub cert_pem: Vec<u8>,
    pub sesame: Arc<Sesame>,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for RealSesame {
    fn drop(&mut self) {
        self.stop();
    }
}

pub struct Login {
    pub access: String,
    pub refresh: String,
}

impl RealSesame {
    /// Starts Sesame with `SESAME_AUDIENCES=api,gallery`. Its issuer must be the URL it really
    /// answers on (discovery is read from there), so the port is chosen first; another process
    /// may take it in between, hence the few attempts.
    pub async fn start() -> Self {
        let mut last_error = None;
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_port().expect("a free port");
            let issuer = format!("https://localhost:{port}");
            let env: BTreeMap<String, String> = [
                ("SESAME_LISTEN", format!("127.0.0.1:{port}")),
                ("SESAME_ISSUER", issuer.clone()),
                ("SESAME_AUDIENCES", "api,gallery".into()),
                ("SESAME_DATA_DIR", dir.path().display().to_string()),
                ("SESAME_TLS", "auto".into()),
                ("SESAME_ARGON2_MEMORY_KIB", "64".into()),
                ("SESAME_ARGON2_ITERATIONS", "1".into()),
                ("SESAME_RATE_LIMIT", "off".into()),
                ("SESAME_LOG", "warn".into()),
                // Status lists refreshed every second keep the revocation tests short.
                ("SESAME_STATUS_LIST_TTL", "1s".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let config = Config::from_sources(None, &env).expect("valid config");
            let app = match Application::build(config).await {
                Ok(app) => app,
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            };
            let cert_pem = std::fs::read(app.cert_path().expect("HTTPS")).unwrap();
            let sesame = app.sesame().clone();
            let (tx, rx) = oneshot::channel::<()>();
            tokio::spawn(app.run_until_stopped(async move {
                let _ = rx.await;
            }));
            let client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&cert_pem).unwrap())
                .build()
                .unwrap();
            return RealSesame {
                issuer,
                cert_pem,
                sesame,
                client,
                shutdown: Some(tx),
                _dir: dir,
            };
        }
        panic!("Sesame did not start: {last_error:?}");
    }

    /// Stops serving (graceful shutdown; new connections are refused).
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.issuer))
            .json(&body);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// Registers a fresh user; returns its id and username.
    pub async fn register(&self) -> (String, String) {
        let username = unique("u");
        let res = self
            .post(
                "/auth/register",
                None,
                json!({"email": format!("{username}@example.com"), "username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.unwrap();
        (body["id"].as_str().unwrap().to_string(), username)
    }

    pub async fn login(&self, username: &str, audience: Option<&str>) -> Login {
        let mut body = json!({"username": username, "password": PASSWORD});
        if let Some(a) = audience {
            body["audience"] = json!(a);
        }
        let res = self.post("/auth/login", None, body).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        Login {
            access: body["access"].as_str().unwrap().to_string(),
            refresh: body["refresh"].as_str().unwrap().to_string(),
        }
    }

    /// Signs any header and payload with Sesame's real signing key.
    pub fn sign_with_real_key(&self, header: &Value, payload: &Value) -> String {
        let ring = self.sesame.key_ring().current();
        jwt::forge(header, payload, |input| {
            ring.active.signer.sign(input).unwrap()
        })
    }

    pub fn signing_kid(&self) -> String {
        self.sesame.key_ring().current().active.kid.clone()
    }
}
