//! `sesame-bench`: drives a running Sesame with a fixed number of keep-alive connections for a
//! fixed time and reports requests/s, latency percentiles, errors and (given its PID) the
//! server's resident memory.
//!
//! Scenarios:
//! - `profile`: GET /profile with one valid token;
//! - `verify`: GET /auth/verify with one token (`--distinct N` rotates over N users' tokens);
//! - `refresh`: every worker owns a session and refreshes its token chain, so each refresh token
//!   is presented exactly once;
//! - `login`: POST /auth/login for one user (argon2 at the server's cost);
//! - `register`: POST /auth/register with fresh emails;
//! - `client-token`: POST /oauth/token (client credentials; needs `--client-id/--client-secret`);
//! - `introspect`: POST /oauth/introspect of a user token (same client flags).
//!
//! Example: `cargo run --release -p sesame-bench -- --url https://127.0.0.1:8443 \
//!   --cacert data/tls/cert.pem --scenario refresh --connections 32 --duration 10s`

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "Load generator for Sesame")]
struct Args {
    /// Base URL of Sesame, e.g. https://127.0.0.1:8443
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "profile")]
    scenario: String,
    /// Concurrent keep-alive connections (one worker each).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// PEM certificate to trust (a self-signed Sesame).
    #[arg(long)]
    cacert: Option<std::path::PathBuf>,
    /// Server PID, to report its resident memory at the end.
    #[arg(long)]
    pid: Option<u32>,
    /// For `verify`: how many distinct users' tokens to rotate over.
    #[arg(long, default_value_t = 1)]
    distinct: usize,
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long)]
    client_secret: Option<String>,
    /// A label for the result row.
    #[arg(long)]
    label: Option<String>,
}

const PASSWORD: &str = "bench horse battery staple";

fn client(args: &Args) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30));
    if let Some(p) = &args.cacert {
        let pem = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
    }
    Ok(b.build()?)
}

async fn post(c: &reqwest::Client, url: String, body: Value) -> anyhow::Result<Value> {
    let res = c.post(url).json(&body).send().await?;
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{status}: {v}");
    }
    Ok(v)
}

/// Registers (or reuses) a bench user and logs in; returns (access, refresh).
async fn session(c: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<(String, String)> {
    let email = format!("{name}@bench.example.com");
    let _ = post(
        c,
        format!("{base}/auth/register"),
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    let t = post(
        c,
        format!("{base}/auth/login"),
        json!({"email": email, "password": PASSWORD}),
    )
    .await?;
    Ok((
        t["access"].as_str().unwrap_or_default().to_string(),
        t["refresh"].as_str().unwrap_or_default().to_string(),
    ))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = args.url.trim_end_matches('/').to_string();
    let setup = client(&args)?;
    let run_id = std::process::id();
    // Per-worker state prepared before the clock starts.
    let mut workers: Vec<(reqwest::Client, String, String)> = Vec::new();
    let shared_users = args.distinct.max(1);
    let mut tokens = Vec::new();
    if matches!(
        args.scenario.as_str(),
        "profile" | "verify" | "introspect" | "login"
    ) {
        for i in 0..shared_users {
            tokens.push(session(&setup, &base, &format!("bench{run_id}u{i}")).await?);
        }
    }
    for w in 0..args.connections {
        let c = client(&args)?;
        let (access, refresh) = if args.scenario == "refresh" {
            session(&c, &base, &format!("bench{run_id}w{w}")).await?
        } else if tokens.is_empty() {
            (String::new(), String::new())
        } else {
            tokens[w % tokens.len()].clone()
        };
        workers.push((c, access, refresh));
    }
    let login_email = format!("bench{run_id}u0@bench.example.com");
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    let empty = hdrhistogram::Histogram::<u64>::new(3)?;
    for (w, (c, access, refresh)) in workers.into_iter().enumerate() {
        let (stop, errors, base, scenario) = (
            stop.clone(),
            errors.clone(),
            base.clone(),
            args.scenario.clone(),
        );
        let (cid, secret, login_email) = (
            args.client_id.clone(),
            args.client_secret.clone(),
            login_email.clone(),
        );
        let proto = empty.clone();
        handles.push(tokio::spawn(async move {
            let mut hist = proto;
            let mut refresh = refresh;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let req = match scenario.as_str() {
                    "profile" => c.get(format!("{base}/profile")).bearer_auth(&access),
                    "verify" => c.get(format!("{base}/auth/verify")).bearer_auth(&access),
                    "refresh" => c.post(format!("{base}/auth/token/refresh")).json(&json!({"refresh": refresh})),
                    "login" => c.post(format!("{base}/auth/login")).json(&json!({"email": login_email, "password": PASSWORD})),
                    "register" => {
                        n += 1;
                        c.post(format!("{base}/auth/register")).json(&json!({"email": format!("r{run_id}w{w}n{n}@bench.example.com"), "password": PASSWORD}))
                    }
                    "client-token" => c
                        .post(format!("{base}/oauth/token"))
                        .basic_auth(cid.clone().unwrap_or_default(), secret.clone())
                        .form(&[("grant_type", "client_credentials")]),
                    "introspect" => c
                        .post(format!("{base}/oauth/introspect"))
                        .basic_auth(cid.clone().unwrap_or_default(), secret.clone())
                        .form(&[("token", access.as_str())]),
                    _ => break,
                };
                match req.send().await {
                    Ok(res) if res.status().is_success() => {
                        if scenario == "refresh" {
                            match res.json::<Value>().await {
                                Ok(v) => refresh = v["refresh"].as_str().unwrap_or_default().to_string(),
                                Err(_) => {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                    continue;
                                }
                            }
                        } else {
                            let _ = res.bytes().await;
                        }
                        let _ = hist.record(t.elapsed().as_micros() as u64);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            hist
        }));
    }
    tokio::time::sleep(args.duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = hdrhistogram::Histogram::<u64>::new(3)?;
    for h in handles {
        let h = h.await?;
        total.add(&h)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    let rss = args
        .pid
        .and_then(rss_kib)
        .map(|k| format!("{:.1} MB", k as f64 / 1024.0))
        .unwrap_or_else(|| "-".into());
    println!(
        "| scenario | connections | req/s | p50 ms | p99 ms | p99.9 ms | errors | server RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |",
        args.label.as_deref().unwrap_or(&args.scenario),
        args.connections,
        total.len() as f64 / secs,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        errors.load(Ordering::Relaxed),
        rss
    );
    Ok(())
}
