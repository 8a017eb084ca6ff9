//! How late the gallery, verifying tokens offline, learns of a logout: a real Sesame (status
//! lists with `ttl` 1 s) and the gallery in one process; 50 users log out and each polls the
//! gallery with their old token until it is refused. The bound asserted is the contract's,
//! `ttl` + 1 s, at p99 (of 50 trials: the slowest); the distribution is printed for
//! docs/revocation.md (`cargo test -p gallery --test revocation -- --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gallery::config::Config as GalleryConfig;
use gallery::startup::Application as Gallery;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sesame::{Application, Config};
use sesame_testkit::{PASSWORD, free_port, unique};
use tokio::sync::oneshot;

const TRIALS: usize = 50;
/// Users logging out at once (the trials run in five waves).
const WAVE: usize = 10;
const TTL: Duration = Duration::from_secs(1);

struct Running {
    sesame_base: String,
    gallery_base: String,
    client: reqwest::Client,
    _stop: Vec<oneshot::Sender<()>>,
    _dirs: Vec<tempfile::TempDir>,
}

async fn start() -> Running {
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
        ("SESAME_STATUS_LIST_TTL", format!("{}s", TTL.as_secs())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let app = Application::build(Config::from_sources(None, &env).unwrap())
        .await
        .expect("Sesame starts");
    let cert = app.cert_path().cloned().unwrap();
    let (stop_sesame, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));

    let gallery_dir = tempfile::tempdir().unwrap();
    let genv: BTreeMap<String, String> = [
        ("GALLERY_LISTEN", "127.0.0.1:0".to_string()),
        ("GALLERY_ISSUER", issuer.clone()),
        ("GALLERY_ISSUER_CA", cert.display().to_string()),
        ("GALLERY_DATA_DIR", gallery_dir.path().display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let gallery = Gallery::build(GalleryConfig::from_map(&genv).unwrap())
        .await
        .expect("the gallery starts");
    let gallery_base = format!("http://127.0.0.1:{}", gallery.port());
    let (stop_gallery, rx) = oneshot::channel::<()>();
    tokio::spawn(gallery.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    Running {
        sesame_base: issuer,
        gallery_base,
        client,
        _stop: vec![stop_sesame, stop_gallery],
        _dirs: vec![dir, gallery_dir],
    }
}

impl Running {
    fn sesame(&self, path: &str) -> String {
        format!("{}{path}", self.sesame_base)
    }

    fn gallery(&self, path: &str) -> String {
        format!("{}{path}", self.gallery_base)
    }

    async fn sign_up(&self) -> (String, String) {
        let name = unique("u");
        let res = self
            .client
            .post(self.sesame("/auth/register"))
            .json(&json!({"email": format!("{name}@example.com"), "username": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        let res = self
            .client
            .post(self.sesame("/auth/login"))
            .json(&json!({"username": name, "password": PASSWORD, "audience": "gallery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let b: Value = res.json().await.unwrap();
        (
            b["access"].as_str().unwrap().into(),
            b["refresh"].as_str().unwrap().into(),
        )
    }

    async fn gallery_status(&self, token: &str) -> StatusCode {
        self.client
            .get(self.gallery("/images"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Logs out, then asks the gallery every 10 ms until it refuses the token: how long that took.
    async fn trial(&self, access: &str, refresh: &str) -> Duration {
        assert_eq!(self.gallery_status(access).await, StatusCode::OK);
        let res = self
            .client
            .post(self.sesame("/auth/logout"))
            .json(&json!({"refresh_token": refresh}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let out = Instant::now();
        loop {
            match self.gallery_status(access).await {
                StatusCode::OK => {}
                StatusCode::UNAUTHORIZED => return out.elapsed(),
                other => panic!("the gallery answered {other}"),
            }
            assert!(
                out.elapsed() < Duration::from_secs(10),
                "still accepted 10 s after the logout"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gallery_refuses_a_logged_out_token_within_the_ttl_plus_one_second() {
    let sys = std::sync::Arc::new(start().await);
    let mut users = Vec::new();
    for _ in 0..TRIALS {
        users.push(sys.sign_up().await);
    }
    let mut took = Vec::new();
    for wave in users.chunks(WAVE) {
        let mut runs = tokio::task::JoinSet::new();
        for (access, refresh) in wave {
            let (sys, access, refresh) = (sys.clone(), access.clone(), refresh.clone());
            runs.spawn(async move { sys.trial(&access, &refresh).await });
        }
        took.extend(runs.join_all().await);
    }
    took.sort();
    let at = |p: f64| took[((p * TRIALS as f64).ceil() as usize).clamp(1, TRIALS) - 1];
    println!(
        "logout -> gallery refuses (ttl {} s, {TRIALS} trials): min {} p50 {} p90 {} p99 {} max {}",
        TTL.as_secs(),
        ms(took[0]),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(took[TRIALS - 1])
    );
    assert!(
        at(0.99) <= TTL + Duration::from_secs(1),
        "p99 {} is past ttl + 1 s",
        ms(at(0.99))
    );
}
