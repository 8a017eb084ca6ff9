//! The load generator: a fixed number of keep-alive HTTP/1.1 connections, each driven by one
//! task that sends its next request as soon as the previous answer has been read (closed loop,
//! like `wrk`), for a fixed time.
//!
//! Requests go through hyper's client connection API directly — no pool, no redirect or cookie
//! machinery, headers prepared once — so that on a 2-core box the generator costs as little of
//! the CPU it shares with the server as possible. Its own ceiling is measured in the same run
//! against a bare axum "hello" server (see `ceiling`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

/// Where the load goes.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// `Host` header value (`127.0.0.1:PORT`).
    pub authority: String,
    pub tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Target {
    pub fn from_url(url: &str, cacert: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let (scheme, rest) = url.split_once("://").context("URL needs a scheme")?;
        let authority = rest.split('/').next().unwrap_or(rest).to_string();
        let addr: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&authority)?
            .next()
            .context("URL host does not resolve")?;
        let tls = match scheme {
            "http" => None,
            "https" => Some(tls_connector(cacert)?),
            other => anyhow::bail!("unsupported scheme {other}"),
        };
        Ok(Target {
            addr,
            authority,
            tls,
        })
    }

    pub async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => handshake(tcp).await,
            Some(connector) => {
                let host = self.authority.split(':').next().unwrap_or("localhost");
                // The dev certificate names localhost; an IP authority is checked as localhost.
                let name = if host.parse::<std::net::IpAddr>().is_ok() {
                    "localhost"
                } else {
                    host
                };
                let name = ServerName::try_from(name.to_string())?;
                let tls = connector.connect(name, tcp).await?;
                handshake(tls).await
            }
        }
    }
}

async fn handshake<T>(io: T) -> anyhow::Result<SendRequest<Full<Bytes>>>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn tls_connector(cacert: Option<&std::path::Path>) -> anyhow::Result<tokio_rustls::TlsConnector> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = cacert {
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read {}", path.display()))?
        {
            roots.add(cert?)?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// What one connection sends and how it judges each answer.
pub trait Script: Send + 'static {
    fn request(&mut self) -> Request<Full<Bytes>>;
    /// Whether the answer counts as a success (it may also carry state to the next request,
    /// as a refresh chain does, or a code flow from its authorization to its token request).
    fn response(&mut self, status: StatusCode, _headers: &HeaderMap, _body: &Bytes) -> bool {
        status.is_success()
    }
    /// Whether the unit being measured has steps left after a successful answer (a code flow
    /// is two requests). The run counts one success, and one latency from its first request,
    /// per completed unit; a failed step counts one error and the script starts over.
    fn pending(&self) -> bool {
        false
    }
}

/// The result of one run.
#[derive(Debug)]
pub struct Outcome {
    pub ok: u64,
    pub errors: u64,
    pub secs: f64,
    pub hist: Histogram<u64>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }

    /// Latency at quantile `q`, in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Opens one connection per script, then drives them all for `duration`.
pub async fn run(
    target: &Target,
    scripts: Vec<Box<dyn Script>>,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let mut conns = Vec::with_capacity(scripts.len());
    for script in scripts {
        conns.push((target.connect().await.context("cannot connect")?, script));
    }
    let proto = new_hist()?;
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(conns.len());
    for (sender, script) in conns {
        let (stop, target) = (stop.clone(), target.clone());
        tasks.push(tokio::spawn(drive(
            target,
            sender,
            script,
            stop,
            proto.clone(),
        )));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = Outcome {
        ok: 0,
        errors: 0,
        secs: 0.0,
        hist: proto,
    };
    for t in tasks {
        let (hist, ok, errors) = t.await?;
        total.hist.add(&hist)?;
        total.ok += ok;
        total.errors += errors;
    }
    total.secs = started.elapsed().as_secs_f64();
    Ok(total)
}

/// 1 µs .. 60 s at 3 significant digits.
pub fn new_hist() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 60_000_000, 3)?)
}

async fn drive(
    target: Target,
    mut sender: SendRequest<Full<Bytes>>,
    mut script: Box<dyn Script>,
    stop: Arc<AtomicBool>,
    mut hist: Histogram<u64>,
) -> (Histogram<u64>, u64, u64) {
    let (mut ok, mut errors) = (0u64, 0u64);
    // The last answer said `Connection: close` (a server without keep-alive, such as
    // gunicorn's sync workers): the next request opens a new connection first, and its
    // latency includes the connect, as a real client's would. Sesame never says it.
    let mut closed = false;
    // When the current unit's first request went out (a multi-step unit keeps it).
    let mut started: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let req = script.request();
        let t = *started.get_or_insert_with(Instant::now);
        if closed {
            match target.connect().await {
                Ok(s) => {
                    sender = s;
                    closed = false;
                }
                Err(_) => {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let answer = async {
            sender.ready().await?;
            let res = sender.send_request(req).await?;
            let (parts, body) = res.into_parts();
            let close = parts
                .headers
                .get(hyper::header::CONNECTION)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
            let body = body.collect().await?.to_bytes();
            Ok::<_, hyper::Error>((parts, body, close))
        }
        .await;
        match answer {
            Ok((parts, body, close)) => {
                closed = close;
                if !script.response(parts.status, &parts.headers, &body) {
                    errors += 1;
                    started = None;
                } else if !script.pending() {
                    ok += 1;
                    let _ = hist.record((t.elapsed().as_micros() as u64).max(1));
                    started = None;
                }
            }
            Err(_) => {
                errors += 1;
                started = None;
                // The connection is gone (the server closed it): open another.
                match target.connect().await {
                    Ok(s) => sender = s,
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    }
    (hist, ok, errors)
}

/// A request builder with the `Host` header already set.
pub fn request(
    target: &Target,
    method: hyper::Method,
    path: &str,
) -> hyper::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, target.authority.as_str())
}
