//! The gallery's whole story, end to end, through the one entry point — sign up at Sesame, log
//! in for the gallery, create, change, share and delete images, refresh, log out — with a real
//! Sesame (its `Application`, over HTTPS with its self-signed certificate), the real `gallery`
//! binary, and a real nginx running deploy/nginx/sesame-gallery.conf, each on its own free port,
//! each stopped at the end (SIGTERM and a bounded wait, also when the test fails).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sesame::{Application, Config};
use sesame_testkit::{PASSWORD, free_port, process, tools, unique};
use tokio::sync::oneshot;

/// A child process stopped with SIGTERM, then waited for, when dropped. SIGKILL would orphan
/// nginx's workers (and they would hold the test's output open).
struct Process {
    child: Child,
}

impl Process {
    fn stop(&mut self) {
        let _ = process::terminate(&mut self.child, Duration::from_secs(15));
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sesame in-process, with `SESAME_AUDIENCES=api,gallery`. Its issuer is the URL it really
/// answers on, so the port is chosen first (and chosen again if someone took it meanwhile).
struct Sesame {
    port: u16,
    cert: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Sesame {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn start_sesame() -> Sesame {
    let mut last_error = None;
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port().expect("a free port");
        let env: BTreeMap<String, String> = [
            ("SESAME_LISTEN", format!("127.0.0.1:{port}")),
            ("SESAME_ISSUER", format!("https://localhost:{port}")),
            ("SESAME_AUDIENCES", "api,gallery".into()),
            ("SESAME_DATA_DIR", dir.path().display().to_string()),
            ("SESAME_TLS", "auto".into()),
            ("SESAME_TRUSTED_PROXIES", "127.0.0.1/32".into()),
            ("SESAME_ARGON2_MEMORY_KIB", "64".into()),
            ("SESAME_ARGON2_ITERATIONS", "1".into()),
            ("SESAME_RATE_LIMIT", "off".into()),
            ("SESAME_LOG", "warn".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let config = Config::from_sources(None, &env).expect("valid Sesame config");
        let app = match Application::build(config).await {
            Ok(app) => app,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        let cert = app.cert_path().cloned().expect("Sesame serves HTTPS");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        return Sesame {
            port,
            cert,
            shutdown: Some(tx),
            _dir: dir,
        };
    }
    panic!("Sesame did not start: {last_error:?}");
}

/// The `gallery` binary on a port of its choosing (read from the line it prints).
fn start_gallery(sesame: &Sesame, public_url: &str, dir: &Path) -> (Process, u16) {
    let data = dir.join("gallery-data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gallery"))
        .env_clear()
        .env("GALLERY_LISTEN", "127.0.0.1:0")
        .env(
            "GALLERY_ISSUER",
            format!("https://localhost:{}", sesame.port),
        )
        .env("GALLERY_ISSUER_CA", &sesame.cert)
        .env("GALLERY_AUDIENCE", "gallery")
        .env("GALLERY_DATA_DIR", &data)
        .env("GALLERY_PUBLIC_URL", public_url)
        .env("GALLERY_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("gallery.log")).unwrap())
        .spawn()
        .expect("the gallery binary starts");
    let stdout = child.stdout.take().unwrap();
    let process = Process { child };
    let (tx, rx) = std::sync::mpsc::channel();
    // The first line names the port; the rest is drained until the process exits, so the
    // gallery never writes into a closed pipe.
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let _ = tx.send(first);
        for _ in lines {}
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok());
    match port {
        Some(port) => (process, port),
        None => {
            drop(process);
            let log = std::fs::read_to_string(dir.join("gallery.log")).unwrap_or_default();
            panic!("the gallery did not start (stdout {line:?}):\n{log}");
        }
    }
}

/// deploy/nginx/sesame-gallery.conf with its placeholders filled in, as envsubst would.
fn render_entry_point(vars: &[(&str, String)]) -> String {
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/nginx/sesame-gallery.conf"
    ))
    .expect("deploy/nginx/sesame-gallery.conf exists");
    let mut conf = template;
    for (name, value) in vars {
        conf = conf.replace(&format!("${{{name}}}"), value);
    }
    let left: Vec<&str> = conf
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains("${"))
        .collect();
    assert!(left.is_empty(), "placeholders left unfilled: {left:?}");
    conf
}

/// nginx on `port`, or the reason it did not start (the port may have been taken meanwhile).
async fn start_nginx(
    port: u16,
    sesame: &Sesame,
    gallery_port: u16,
    dir: &Path,
) -> Result<Process, String> {
    let n = dir.join(format!("nginx-{port}"));
    std::fs::create_dir_all(&n).unwrap();
    // nginx workers run as an unprivileged user when started by root: let them in.
    for d in [dir, &n] {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let site = render_entry_point(&[
        ("NGINX_LISTEN", format!("127.0.0.1:{port}")),
        ("SESAME_UPSTREAM", format!("127.0.0.1:{}", sesame.port)),
        ("SESAME_TLS_NAME", "localhost".into()),
        ("SESAME_CA_FILE", sesame.cert.display().to_string()),
        ("GALLERY_UPSTREAM", format!("127.0.0.1:{gallery_port}")),
    ]);
    std::fs::write(n.join("sesame-gallery.conf"), site).unwrap();
    let d = n.display();
    let main = format!(
        r#"
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    include {d}/sesame-gallery.conf;
}}
"#
    );
    std::fs::write(n.join("nginx.conf"), main).unwrap();
    let child = Command::new(tools::nginx().unwrap())
        .arg("-e")
        .arg(n.join("error.log"))
        .arg("-p")
        .arg(&n)
        .arg("-c")
        .arg(n.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let mut process = Process { child };
    // Up when it wrote its pid file (after binding) and accepts connections; down if it exited.
    for _ in 0..200 {
        if let Ok(Some(_)) = process.child.try_wait() {
            break;
        }
        if n.join("nginx.pid").exists() && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        {
            return Ok(process);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    process.stop();
    Err(std::fs::read_to_string(n.join("error.log")).unwrap_or_default())
}

/// The three services; dropped in reverse order (nginx, gallery, Sesame).
struct System {
    entry: String,
    _sesame: Sesame,
    _gallery: Process,
    _nginx: Process,
    _dir: tempfile::TempDir,
}

async fn start_system() -> System {
    let dir = tempfile::tempdir().unwrap();
    let sesame = start_sesame().await;
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port().expect("a free port");
        let entry = format!("http://127.0.0.1:{port}");
        let (gallery, gallery_port) = start_gallery(&sesame, &entry, dir.path());
        match start_nginx(port, &sesame, gallery_port, dir.path()).await {
            Ok(nginx) => {
                return System {
                    entry,
                    _nginx: nginx,
                    _gallery: gallery,
                    _sesame: sesame,
                    _dir: dir,
                };
            }
            Err(log) => last = log,
        }
    }
    panic!("nginx did not start: {last}");
}

struct Client {
    http: reqwest::Client,
    entry: String,
}

impl Client {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.entry)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let (s, _, b) = self
            .send(reqwest::Method::POST, path, token, Some(body))
            .await;
        (s, b)
    }

    /// Registers through the `/register` alias and logs in through `/login` for `audience`.
    async fn sign_up(&self, name: &str, audience: Option<&str>) -> (String, String, String) {
        let username = unique(name);
        let (status, body) = self
            .post(
                "/register",
                None,
                json!({"email": format!("{username}@example.com"), "username": username, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        let mut login = json!({"username": username, "password": PASSWORD});
        if let Some(a) = audience {
            login["audience"] = json!(a);
        }
        let (status, body) = self.post("/login", None, login).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        (
            id,
            body["access"].as_str().unwrap().to_string(),
            body["refresh"].as_str().unwrap().to_string(),
        )
    }

    async fn public(&self, url: &str) -> (StatusCode, String, Vec<u8>) {
        let res = self.http.get(url).send().await.unwrap();
        let status = res.status();
        let ct = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ct, res.bytes().await.unwrap().to_vec())
    }
}

fn png(size: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    b.resize(size.max(b.len()), 0x42);
    b
}

fn jpeg() -> Vec<u8> {
    let mut b = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0,
    ];
    b.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_sign_up_share_and_manage_images_through_the_entry_point() {
    use reqwest::Method;
    let system = start_system().await;
    let c = Client {
        http: reqwest::Client::new(),
        entry: system.entry.clone(),
    };

    // The client tries the resource service first: refused, with a bearer challenge.
    let (status, headers, body) = c.send(Method::GET, "/images", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "not_authenticated");
    assert!(headers.contains_key("www-authenticate"));
    let (status, body) = c
        .post("/images", None, json!({"title": "x", "data": ""}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Discovery is served through the entry point too.
    let (status, _, body) = c
        .send(Method::GET, "/.well-known/openid-configuration", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["jwks_uri"].as_str().is_some());

    // Unknown credentials are refused (through the /auth/ prefix, with a trailing slash).
    let (status, body) = c
        .post(
            "/auth/login/",
            None,
            json!({"username": "nobody-by-that-name", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "invalid_credentials");

    // A login for the default audience ("api") is not a login for the gallery.
    let (_, api_access, _) = c.sign_up("carol", None).await;
    let (status, _, body) = c
        .send(Method::GET, "/images", Some(&api_access), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "token_invalid");

    // Register and log in with "audience": "gallery".
    let (alice, access, refresh) = c.sign_up("alice", Some("gallery")).await;

    // Create: the resource comes back with a public URL under the entry point.
    let bytes = png(2048);
    let (status, created) = c
        .post(
            "/images",
            Some(&access),
            json!({"title": "Harbour", "description": "at dawn", "data": STANDARD.encode(&bytes)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["owner"], alice.as_str());
    assert_eq!(created["content_type"], "image/png");
    let id = created["id"].as_str().unwrap().to_string();
    let url = created["image_url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}/images/files/", system.entry)),
        "{url}"
    );

    // The image itself needs no token.
    let (status, ct, got) = c.public(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "image/png");
    assert_eq!(got, bytes);

    // Update: a new title (PUT), new bytes (PATCH, a new URL; the old one is gone).
    let path = format!("/images/{id}");
    let (status, _, updated) = c
        .send(
            Method::PUT,
            &path,
            Some(&access),
            Some(json!({"title": "Harbour at dawn"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["title"], "Harbour at dawn");
    assert_eq!(updated["image_url"], url.as_str());
    let new_bytes = jpeg();
    let (status, _, updated) = c
        .send(
            Method::PATCH,
            &path,
            Some(&access),
            Some(json!({"data": STANDARD.encode(&new_bytes)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let new_url = updated["image_url"].as_str().unwrap().to_string();
    assert_ne!(new_url, url);
    assert_eq!(c.public(&url).await.0, StatusCode::NOT_FOUND);
    let (status, ct, got) = c.public(&new_url).await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "image/jpeg"));
    assert_eq!(got, new_bytes);

    // Someone else may look, but not change or delete.
    let (_, bob_access, _) = c.sign_up("bob", Some("gallery")).await;
    let (status, _, body) = c.send(Method::GET, &path, Some(&bob_access), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = c
        .send(
            Method::PUT,
            &path,
            Some(&bob_access),
            Some(json!({"title": "mine"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");
    let (status, _, body) = c.send(Method::DELETE, &path, Some(&bob_access), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The largest image fits through the proxy; a body far past it is refused in the same shape.
    let (status, big) = c
        .post(
            "/images",
            Some(&access),
            json!({"title": "big", "data": STANDARD.encode(png(500 * 1024))}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{big}");
    let (status, body) = c
        .post(
            "/images",
            Some(&access),
            json!({"title": "too big", "data": "A".repeat(2 * 1024 * 1024)}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "payload_too_large");

    // Refresh (the `/refresh` alias): a new pair, and the new access token works at the gallery.
    let (status, body) = c.post("/refresh", None, json!({"refresh": refresh})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access"].as_str().unwrap().to_string();
    let refresh = body["refresh"].as_str().unwrap().to_string();
    let (status, _, body) = c.send(Method::GET, &path, Some(&access), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Delete: gone, and so is its file.
    let (status, _, _) = c.send(Method::DELETE, &path, Some(&access), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, body) = c.send(Method::GET, &path, Some(&access), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(c.public(&new_url).await.0, StatusCode::NOT_FOUND);
    let (status, _, listed) = c.send(Method::GET, "/images", Some(&access), None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = listed["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![big["id"].as_str().unwrap()]);

    // Log out: the refresh token is dead, and Sesame refuses the access token at once.
    let (status, body) = c
        .post(
            "/auth/logout",
            Some(&access),
            json!({"refresh_token": refresh}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "Logged out successfully");
    let (status, body) = c.post("/refresh", None, json!({"refresh": refresh})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, body) = c.send(Method::GET, "/profile", Some(&access), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    // Paths that belong to nobody answer 404 in the contract's shape, from nginx itself.
    let (status, _, body) = c.send(Method::GET, "/admin/users", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}
