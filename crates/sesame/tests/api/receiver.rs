//! A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records every request it
//! gets and answers with a status the test chooses, plus the Standard Webhooks check of a
//! recorded request (the peers tests check the same requests with the official library).
// Each including binary uses its own part of these helpers.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    /// The raw body, byte for byte (the signature covers these bytes).
    pub body: String,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("a {name} header"))
            .to_str()
            .expect("an ASCII header")
    }

    /// The event type in the body.
    pub fn event(&self) -> String {
        self.json()["type"].as_str().expect("type").to_string()
    }
}

#[derive(Debug)]
struct Inner {
    received: Mutex<Vec<Received>>,
    status: Mutex<u16>,
}

/// A running receiver; it stops when the test's runtime ends.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`
    pub url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    /// A receiver answering 204.
    pub async fn start() -> Self {
        Self::answering(204).await
    }

    /// A receiver answering `status` to every request (until [`Receiver::answer`] changes it).
    pub async fn answering(status: u16) -> Self {
        Self::on_port(0, status).await
    }

    /// [`Receiver::answering`] on a given port (0: any free one).
    pub async fn on_port(port: u16, status: u16) -> Self {
        let inner = Arc::new(Inner {
            received: Mutex::new(Vec::new()),
            status: Mutex::new(status),
        });
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(record))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("a port for the receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("bound"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, inner }
    }

    /// Answers `status` from now on.
    pub fn answer(&self, status: u16) {
        *self.inner.status.lock().unwrap() = status;
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// The requests whose event type is `event`.
    pub fn of(&self, event: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.event() == event)
            .collect()
    }

    /// Waits (bounded) until at least `n` requests arrived: for the tests of a real process,
    /// whose worker cannot be flushed from here.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn record(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    inner.received.lock().unwrap().push(Received {
        headers,
        body: String::from_utf8(body.to_vec()).expect("a UTF-8 body"),
    });
    let status = *inner.status.lock().unwrap();
    StatusCode::from_u16(status).expect("a valid status")
}

/// Whether `r` carries a valid Standard Webhooks signature under `secret` (`whsec_…`):
/// HMAC-SHA256 of `id.timestamp.body`, keyed with the secret's base64-decoded bytes, among the
/// space-separated `v1,<base64>` signatures of the header. Written from the specification, so
/// it checks Sesame against the text rather than against its own code.
pub fn signed_with(r: &Received, secret: &str) -> bool {
    let key = B64
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 after whsec_");
    let content = format!(
        "{}.{}.{}",
        r.header("webhook-id"),
        r.header("webhook-timestamp"),
        r.body
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let expected = B64.encode(aws_lc_rs::hmac::sign(&key, content.as_bytes()).as_ref());
    r.header("webhook-signature")
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}
