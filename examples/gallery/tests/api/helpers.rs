//! `spawn_gallery()` and typed helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gallery::{Application, Config};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sesame_verify::test_util::TestIssuer;
// The contract's error shape is Sesame's: the same assertion as its tests.
pub use sesame_testkit::http::assert_error;
use tokio::sync::oneshot;

pub struct TestGallery {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub issuer: TestIssuer,
    pub client: reqwest::Client,
    pub data_dir: std::path::PathBuf,
    dir: tempfile::TempDir,
    running: Running,
}

/// The serving task; told to stop when dropped.
struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn_gallery() -> TestGallery {
    spawn_gallery_with(&[]).await
}

/// Starts a gallery trusting a fresh TestIssuer, with extra `GALLERY_*` settings.
pub async fn spawn_gallery_with(extra: &[(&str, &str)]) -> TestGallery {
    let issuer = TestIssuer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    start(issuer, dir, extra).await
}

async fn start(issuer: TestIssuer, dir: tempfile::TempDir, extra: &[(&str, &str)]) -> TestGallery {
    let mut env: BTreeMap<String, String> = [
        ("GALLERY_LISTEN", "127.0.0.1:0".to_string()),
        ("GALLERY_ISSUER", issuer.issuer().to_string()),
        ("GALLERY_DATA_DIR", dir.path().display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_map(&env).expect("valid config");
    let app = Application::build(config).await.expect("gallery builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestGallery {
        base,
        issuer,
        client: reqwest::Client::new(),
        data_dir: dir.path().to_path_buf(),
        dir,
        running: Running {
            shutdown: Some(tx),
            task: Some(task),
        },
    }
}

impl TestGallery {
    /// Stops this gallery (waiting for it) and starts a new one on the same data and issuer.
    pub async fn restart(self) -> TestGallery {
        let TestGallery {
            issuer,
            dir,
            running,
            ..
        } = self;
        running.stop().await;
        start(issuer, dir, &[]).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A fresh token for `sub`, for the gallery's audience.
    pub fn token(&self, sub: &str) -> String {
        self.issuer.token(sub, "gallery")
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    /// POST /images, returning the created resource.
    pub async fn create(&self, token: &str, title: &str, bytes: &[u8]) -> Value {
        let res = self
            .request(
                Method::POST,
                "/images",
                Some(token),
                Some(&json!({"title": title, "data": STANDARD.encode(bytes)})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        res.json().await.unwrap()
    }

    /// GET on a public URL, without a token.
    pub async fn fetch_public(&self, url: &str) -> Response {
        self.client.get(url).send().await.unwrap()
    }
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A PNG signature followed by bytes unique to this call (the gallery reads only the magic).
pub fn png() -> Vec<u8> {
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend_from_slice(format!("{n}-{}", uuid::Uuid::new_v4()).as_bytes());
    b
}

pub fn jpeg() -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0,
    ];
    b.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    b
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
