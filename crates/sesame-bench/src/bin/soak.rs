//! `soak`: a long mixed load against Sesame replicas on one database while `scripts/soak.sh`
//! injects faults around it (kill -9 of a replica, a PostgreSQL restart), then the checks of what
//! must hold afterwards. Prints a markdown summary; exits non-zero when a check fails.
//!
//! The load: registrations, logins, refresh chains (each refresh spends its token; some refreshes
//! are raced at two replicas at once), profile reads, token verifies and logouts, and logins and
//! registrations whose client goes away after 0–50 ms (judged by the requests after them), from
//! a fixed number of workers spread over the replicas. It records every acknowledged registration (201)
//! and every refresh token it spent with the successor it got.
//!
//! The checks:
//! - every acknowledged registration is in the database (psql);
//! - no refresh token was spent twice: every spend of one token (a client's retry inside the
//!   grace window) returned the same successor, and so did every raced pair; no session has two
//!   unspent refresh records (psql);
//! - spent tokens replayed after the grace window are refused, and so is their session's newest
//!   token afterwards (reuse detection); logged-out refresh tokens are refused;
//! - no 5xx but 503, and 503 only while the database was down (plus a recovery margin); no
//!   transport error but at a replica while it was killed;
//! - the resident memory of the processes watched (sampled every few seconds from /proc) did
//!   not grow without bound: mean of the last third against the first.
//!
//! The fault timeline comes from the orchestrator as a file of lines `<unix ms> <event> [arg]`:
//! `db_stop`, `db_start`, `kill <replica index>`, `ready <replica index>`.
#![allow(
    clippy::disallowed_methods,
    reason = "a load generator measures, and mints tokens, in real time"
)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "Soak load with fault checks for Sesame replicas (driven by scripts/soak.sh)")]
struct Args {
    /// Base URLs of the replicas, comma-separated (plain HTTP).
    #[arg(long, value_delimiter = ',', required = true)]
    targets: Vec<String>,
    /// How long the load runs.
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Concurrent workers.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// The fault timeline the orchestrator appends to.
    #[arg(long)]
    events: PathBuf,
    /// A process to sample the memory of, as NAME=PIDFILE (read at every sample: a restarted
    /// process has a new pid). Repeatable.
    #[arg(long = "watch")]
    watch: Vec<String>,
    /// The database the replicas share, for psql.
    #[arg(long)]
    database_url: String,
    /// Where to write the acknowledged registrations (for psql's \copy).
    #[arg(long)]
    work_dir: PathBuf,
    /// The replicas' SESAME_REFRESH_REUSE_GRACE.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    grace: Duration,
    /// How long after the database is back its 503s still count as the outage's.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    recovery: Duration,
    /// Memory sampling interval.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    sample_every: Duration,
}

const PASSWORD: &str = "soak test passphrase, long enough";
/// Refresh chains kept alive at once; past this, logins give way to logouts.
const MAX_CHAINS: usize = 400;
/// Attempts of one operation while the answer is 503 or no answer, 500 ms apart.
const ATTEMPTS: u32 = 40;
/// Sample sizes of the end-of-run replays.
const REPLAY_SAMPLE: usize = 50;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One logged-in session as the client holds it.
#[derive(Debug, Clone)]
struct Chain {
    access: String,
    refresh: String,
    /// Every refresh token this chain spent, oldest first.
    spent: Vec<String>,
}

/// A failed request: no answer, or a 5xx.
#[derive(Debug)]
struct Failure {
    at: u64,
    target: usize,
    op: &'static str,
    status: Option<u16>,
    detail: String,
}

#[derive(Debug, Default)]
struct OpStats {
    answers: BTreeMap<u16, u64>,
    transport_errors: u64,
    latencies_us: Vec<u32>,
}

#[derive(Debug, Default)]
struct Log {
    ops: BTreeMap<&'static str, OpStats>,
    failures: Vec<Failure>,
    /// Emails answered 201.
    acked: Vec<String>,
    /// Spent refresh token → every successor a spend of it returned.
    spends: HashMap<String, Vec<String>>,
    race_pairs: u64,
    race_divergent: u64,
    /// Answers a healthy system must not give (a live chain's refresh refused, ...).
    unexpected: Vec<String>,
    /// Chains ended by a refusal after an ambiguous failure (no answer or 503 to a refresh that
    /// may have committed, retried past the grace window): reuse detection doing its job.
    lost_after_ambiguous: u64,
    logged_out: Vec<String>,
}

struct Shared {
    targets: Vec<String>,
    client: reqwest::Client,
    stop: AtomicBool,
    rr: AtomicUsize,
    seq: AtomicU64,
    run: String,
    users: Mutex<Vec<String>>,
    chains: Mutex<Vec<Chain>>,
    log: Mutex<Log>,
}

/// What came back: an answer or nothing.
enum Outcome {
    Answer(u16, Value),
    Transport(String),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A small xorshift generator: the load needs variety, not cryptography.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

impl Shared {
    fn pick(&self) -> usize {
        self.rr.fetch_add(1, Ordering::Relaxed) % self.targets.len()
    }

    /// One request to one replica, recorded.
    async fn call(
        &self,
        op: &'static str,
        target: usize,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Outcome {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.targets[target], path));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let started = Instant::now();
        let result = match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                match res.text().await {
                    Ok(text) => Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null))),
                    Err(e) => Err(format!("body: {e}")),
                }
            }
            Err(e) => Err(format!("{e}")),
        };
        let took = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        let mut log = lock(&self.log);
        let stats = log.ops.entry(op).or_default();
        match result {
            Ok((status, body)) => {
                *stats.answers.entry(status).or_default() += 1;
                stats.latencies_us.push(took);
                if status >= 500 {
                    log.failures.push(Failure {
                        at: unix_ms(),
                        target,
                        op,
                        status: Some(status),
                        detail: body["code"].as_str().unwrap_or("").to_string(),
                    });
                }
                Outcome::Answer(status, body)
            }
            Err(e) => {
                stats.transport_errors += 1;
                log.failures.push(Failure {
                    at: unix_ms(),
                    target,
                    op,
                    status: None,
                    detail: e.clone(),
                });
                Outcome::Transport(e)
            }
        }
    }

    /// Retries while the answer is 503 or nothing, moving to the next replica each time.
    /// Returns the last outcome and whether an earlier attempt may have taken effect.
    async fn call_retrying(
        &self,
        op: &'static str,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> (Outcome, bool) {
        let mut ambiguous = false;
        let mut target = self.pick();
        let mut attempt = 1;
        loop {
            let out = self
                .call(op, target, method.clone(), path, bearer, body)
                .await;
            let retry = match &out {
                Outcome::Answer(503, _) | Outcome::Transport(_) => true,
                Outcome::Answer(..) => false,
            };
            if !retry || attempt >= ATTEMPTS || self.stop.load(Ordering::Relaxed) {
                return (out, ambiguous);
            }
            ambiguous = true;
            attempt += 1;
            target = (target + 1) % self.targets.len();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn unexpected(&self, what: String) {
        let mut log = lock(&self.log);
        if log.unexpected.len() < 1000 {
            log.unexpected.push(what);
        }
    }

    fn take_chain(&self, rng: &mut Rng) -> Option<Chain> {
        let mut chains = lock(&self.chains);
        if chains.is_empty() {
            return None;
        }
        let i = rng.below(chains.len());
        Some(chains.swap_remove(i))
    }

    fn put_chain(&self, chain: Chain) {
        lock(&self.chains).push(chain);
    }

    async fn register(&self) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let email = format!("soak-{}-{n}@example.com", self.run);
        let body = json!({"email": email, "password": PASSWORD});
        let (out, ambiguous) = self
            .call_retrying(
                "register",
                reqwest::Method::POST,
                "/auth/register",
                None,
                Some(&body),
            )
            .await;
        match out {
            Outcome::Answer(201, _) => {
                lock(&self.log).acked.push(email.clone());
                lock(&self.users).push(email);
            }
            // The attempt that went unanswered had committed: the account exists.
            Outcome::Answer(409, _) if ambiguous => lock(&self.users).push(email),
            Outcome::Answer(status, b) => self.unexpected(format!("register → {status} {b}")),
            Outcome::Transport(_) => {}
        }
    }

    async fn login(&self, rng: &mut Rng) {
        let email = {
            let users = lock(&self.users);
            if users.is_empty() {
                return;
            }
            users[rng.below(users.len())].clone()
        };
        let body = json!({"username": email, "password": PASSWORD});
        let (out, _) = self
            .call_retrying(
                "login",
                reqwest::Method::POST,
                "/auth/login",
                None,
                Some(&body),
            )
            .await;
        match out {
            Outcome::Answer(200, b) => match (b["access"].as_str(), b["refresh"].as_str()) {
                (Some(a), Some(r)) => self.put_chain(Chain {
                    access: a.to_string(),
                    refresh: r.to_string(),
                    spent: Vec::new(),
                }),
                _ => self.unexpected(format!("login 200 without tokens: {b}")),
            },
            Outcome::Answer(status, b) => self.unexpected(format!("login → {status} {b}")),
            Outcome::Transport(_) => {}
        }
    }

    /// A registration or a login whose client goes away after 0–50 ms, as wrk's connections do
    /// at the end of a run (issue #16.1: a request dropped half-way once left the SQLite writer
    /// inside a transaction, and every write after it answered 500). Not retried; an answer that
    /// comes in time is recorded and judged like any other, and so are the requests after it.
    async fn cut_short(&self, rng: &mut Rng) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let (path, body) = if rng.below(2) == 0 {
            let email = format!("soak-cut-{}-{n}@example.com", self.run);
            (
                "/auth/register",
                json!({"email": email, "password": PASSWORD}),
            )
        } else {
            let users = lock(&self.users);
            let Some(email) = users.get(rng.below(users.len())).cloned() else {
                return;
            };
            (
                "/auth/login",
                json!({"username": email, "password": PASSWORD}),
            )
        };
        let wait = Duration::from_millis(rng.below(50) as u64);
        let call = self.call(
            "cut_short",
            self.pick(),
            reqwest::Method::POST,
            path,
            None,
            Some(&body),
        );
        let _ = tokio::time::timeout(wait, call).await;
    }

    fn record_spend(&self, spent: &str, successor: &str) {
        lock(&self.log)
            .spends
            .entry(spent.to_string())
            .or_default()
            .push(successor.to_string());
    }

    async fn refresh(&self, mut chain: Chain) {
        let body = json!({"refresh": chain.refresh});
        let (out, ambiguous) = self
            .call_retrying(
                "refresh",
                reqwest::Method::POST,
                "/auth/token/refresh",
                None,
                Some(&body),
            )
            .await;
        match out {
            Outcome::Answer(200, b) => match (b["access"].as_str(), b["refresh"].as_str()) {
                (Some(a), Some(r)) => {
                    self.record_spend(&chain.refresh, r);
                    chain
                        .spent
                        .push(std::mem::replace(&mut chain.refresh, r.to_string()));
                    chain.access = a.to_string();
                    self.put_chain(chain);
                }
                _ => self.unexpected(format!("refresh 200 without tokens: {b}")),
            },
            Outcome::Answer(401, _) if ambiguous => lock(&self.log).lost_after_ambiguous += 1,
            Outcome::Answer(status, b) => {
                self.unexpected(format!("refresh of a live chain → {status} {b}"))
            }
            // Still nothing after every attempt: keep the chain; a later refresh tells.
            Outcome::Transport(_) => self.put_chain(chain),
        }
    }

    /// The same refresh token at two replicas at once: both must get the same successor.
    async fn race(&self, mut chain: Chain) {
        if self.targets.len() < 2 {
            return self.refresh(chain).await;
        }
        let body = json!({"refresh": chain.refresh});
        let post = reqwest::Method::POST;
        let (a, b) = tokio::join!(
            self.call(
                "race",
                0,
                post.clone(),
                "/auth/token/refresh",
                None,
                Some(&body)
            ),
            self.call(
                "race",
                1,
                post.clone(),
                "/auth/token/refresh",
                None,
                Some(&body)
            ),
        );
        let successor = |o: &Outcome| match o {
            Outcome::Answer(200, b) => b["refresh"].as_str().map(str::to_string),
            _ => None,
        };
        match (successor(&a), successor(&b)) {
            (Some(x), Some(y)) => {
                {
                    let mut log = lock(&self.log);
                    log.race_pairs += 1;
                    if x != y {
                        log.race_divergent += 1;
                    }
                }
                self.record_spend(&chain.refresh, &x);
                self.record_spend(&chain.refresh, &y);
                let access = match &a {
                    Outcome::Answer(_, b) => b["access"].as_str().unwrap_or("").to_string(),
                    Outcome::Transport(_) => String::new(),
                };
                chain.spent.push(std::mem::replace(&mut chain.refresh, x));
                chain.access = access;
                self.put_chain(chain);
            }
            // A replica down or the database away: not a race any more; settle it plainly.
            _ if matches!(a, Outcome::Transport(_) | Outcome::Answer(503, _))
                || matches!(b, Outcome::Transport(_) | Outcome::Answer(503, _)) =>
            {
                self.refresh(chain).await
            }
            _ => self.unexpected(format!(
                "raced refresh: {} / {}",
                describe(&a),
                describe(&b)
            )),
        }
    }

    /// GET /profile with the chain's access token.
    async fn profile(&self, chain: Chain) {
        self.use_access(
            "profile",
            reqwest::Method::GET,
            "/profile",
            chain,
            true,
            None,
        )
        .await
    }

    /// POST /auth/token/verify of the chain's access token.
    async fn verify(&self, chain: Chain) {
        let body = json!({"token": chain.access});
        self.use_access(
            "verify",
            reqwest::Method::POST,
            "/auth/token/verify",
            chain,
            false,
            Some(body),
        )
        .await
    }

    /// A request that only uses the chain's access token (as bearer, or in `body`): 200 is
    /// expected; a chain left idle longer than the access-token lifetime is refreshed instead.
    async fn use_access(
        &self,
        op: &'static str,
        method: reqwest::Method,
        path: &str,
        chain: Chain,
        bearer: bool,
        body: Option<Value>,
    ) {
        let (out, _) = self
            .call_retrying(
                op,
                method,
                path,
                bearer.then_some(chain.access.as_str()),
                body.as_ref(),
            )
            .await;
        match out {
            Outcome::Answer(200, _) | Outcome::Transport(_) => {}
            Outcome::Answer(401, b) if b["code"] == "token_expired" => {
                return self.refresh(chain).await;
            }
            Outcome::Answer(status, b) => self.unexpected(format!("{op} → {status} {b}")),
        }
        self.put_chain(chain);
    }

    async fn logout(&self, chain: Chain) {
        let body = json!({"refresh_token": chain.refresh});
        let (out, ambiguous) = self
            .call_retrying(
                "logout",
                reqwest::Method::POST,
                "/auth/logout",
                Some(&chain.access),
                Some(&body),
            )
            .await;
        match out {
            Outcome::Answer(200, _) => lock(&self.log).logged_out.push(chain.refresh),
            // An unanswered attempt had logged out already.
            Outcome::Answer(401, _) if ambiguous => lock(&self.log).logged_out.push(chain.refresh),
            Outcome::Answer(status, b) => self.unexpected(format!("logout → {status} {b}")),
            Outcome::Transport(_) => {}
        }
    }

    async fn worker(self: Arc<Self>, seed: u64) {
        let mut rng = Rng(seed | 1);
        while !self.stop.load(Ordering::Relaxed) {
            let users = lock(&self.users).len();
            let chains = lock(&self.chains).len();
            let roll = rng.below(100);
            if users < 20 || roll < 6 {
                self.register().await;
            } else if chains < 20 || (roll < 14 && chains < MAX_CHAINS) {
                self.login(&mut rng).await;
            } else if (14..16).contains(&roll) {
                self.cut_short(&mut rng).await;
            } else if let Some(chain) = self.take_chain(&mut rng) {
                match roll {
                    0..=19 => self.logout(chain).await,
                    20..=49 => self.refresh(chain).await,
                    50..=53 => self.race(chain).await,
                    54..=77 => self.profile(chain).await,
                    _ => self.verify(chain).await,
                }
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Answer(s, b) => format!("{s} {}", b["code"].as_str().unwrap_or("")),
        Outcome::Transport(e) => format!("no answer ({e})"),
    }
}

/// Resident memory samples: (unix ms, name, pid, kB).
type Samples = Arc<Mutex<Vec<(u64, String, u32, u64)>>>;

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn sample_memory(
    watch: Vec<(String, PathBuf)>,
    every: Duration,
    samples: Samples,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        for (name, pidfile) in &watch {
            let pid = std::fs::read_to_string(pidfile)
                .ok()
                .and_then(|s| s.lines().next().and_then(|l| l.trim().parse::<u32>().ok()));
            if let Some(pid) = pid
                && let Some(kb) = rss_kb(pid)
            {
                lock(&samples).push((unix_ms(), name.clone(), pid, kb));
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// The fault timeline: (unix ms, event, argument).
fn read_events(path: &PathBuf) -> Vec<(u64, String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let at = parts.next()?.parse().ok()?;
            let event = parts.next()?.to_string();
            let arg = parts.next().unwrap_or("").to_string();
            Some((at, event, arg))
        })
        .collect()
}

/// Windows [from, to] (unix ms) between each `start_event` and the next `end_event`, the end
/// widened by `margin`; a window never closed lasts to `open_end`.
fn windows(
    events: &[(u64, String, String)],
    start_event: &str,
    end_event: &str,
    arg: &str,
    margin: u64,
    open_end: u64,
) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut open: Option<u64> = None;
    for (at, event, a) in events {
        if a != arg {
            continue;
        }
        if event == start_event && open.is_none() {
            open = Some(*at);
        } else if event == end_event
            && let Some(from) = open.take()
        {
            out.push((from, at + margin));
        }
    }
    if let Some(from) = open {
        out.push((from, open_end));
    }
    out
}

fn within(at: u64, windows: &[(u64, u64)]) -> bool {
    windows.iter().any(|(from, to)| at >= *from && at <= *to)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// Runs a psql script (through stdin, so `\copy` works); returns its last output line.
fn psql(url: &str, script: &str) -> anyhow::Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run psql")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string())
}

struct Report {
    rows: Vec<(String, String, &'static str)>,
    failed: bool,
}

impl Report {
    fn check(&mut self, what: impl Into<String>, value: impl Into<String>, ok: bool) {
        self.failed |= !ok;
        self.rows
            .push((what.into(), value.into(), if ok { "PASS" } else { "FAIL" }));
    }

    fn info(&mut self, what: impl Into<String>, value: impl Into<String>) {
        self.rows.push((what.into(), value.into(), "info"));
    }
}

/// Waits until every replica answers /readyz 200 (bounded).
async fn wait_ready(shared: &Shared, bound: Duration) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        let mut all = true;
        for t in &shared.targets {
            let ok = shared
                .client
                .get(format!("{t}/readyz"))
                .send()
                .await
                .map(|r| r.status().as_u16() == 200)
                .unwrap_or(false);
            all &= ok;
        }
        if all {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .user_agent("sesame-soak/1.0")
        .timeout(Duration::from_secs(15))
        .build()?;
    let shared = Arc::new(Shared {
        targets: args
            .targets
            .iter()
            .map(|t| t.trim_end_matches('/').to_string())
            .collect(),
        client,
        stop: AtomicBool::new(false),
        rr: AtomicUsize::new(0),
        seq: AtomicU64::new(0),
        run: format!("{:x}", unix_ms()),
        users: Mutex::new(Vec::new()),
        chains: Mutex::new(Vec::new()),
        log: Mutex::new(Log::default()),
    });
    let watch: Vec<(String, PathBuf)> = args
        .watch
        .iter()
        .filter_map(|w| {
            w.split_once('=')
                .map(|(n, p)| (n.to_string(), PathBuf::from(p)))
        })
        .collect();

    let load_start = unix_ms();
    let started = Instant::now();
    let samples: Samples = Arc::default();
    let sampling_stop = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_memory(
        watch.clone(),
        args.sample_every,
        samples.clone(),
        sampling_stop.clone(),
    ));
    let workers: Vec<_> = (0..args.workers)
        .map(|i| {
            tokio::spawn(
                shared
                    .clone()
                    .worker(unix_ms() ^ ((i as u64 + 1) * 0x9E37_79B9_7F4A_7C15)),
            )
        })
        .collect();
    tokio::time::sleep(args.duration).await;
    shared.stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let load_end = unix_ms();
    let load_took = started.elapsed();
    sampling_stop.store(true, Ordering::Relaxed);
    let _ = sampler.await;

    let mut report = Report {
        rows: Vec::new(),
        failed: false,
    };
    let ready = wait_ready(&shared, Duration::from_secs(60)).await;
    report.check(
        "every replica ready after the load",
        if ready { "yes" } else { "no" },
        ready,
    );

    // Replays, after the grace window has passed for every token spent.
    tokio::time::sleep(args.grace + Duration::from_secs(2)).await;
    let sample: Vec<Chain> = lock(&shared.chains)
        .iter()
        .filter(|c| !c.spent.is_empty())
        .take(REPLAY_SAMPLE)
        .cloned()
        .collect();
    let (mut replay_refused, mut newest_refused) = (0, 0);
    for (i, chain) in sample.iter().enumerate() {
        let target = i % shared.targets.len();
        let post = reqwest::Method::POST;
        let old = json!({"refresh": chain.spent[0]});
        if let Outcome::Answer(401, _) = shared
            .call(
                "replay",
                target,
                post.clone(),
                "/auth/token/refresh",
                None,
                Some(&old),
            )
            .await
        {
            replay_refused += 1;
        }
        let newest = json!({"refresh": chain.refresh});
        if let Outcome::Answer(401, _) = shared
            .call(
                "replay",
                (target + 1) % shared.targets.len(),
                post,
                "/auth/token/refresh",
                None,
                Some(&newest),
            )
            .await
        {
            newest_refused += 1;
        }
    }
    let logged_out: Vec<String> = lock(&shared.log)
        .logged_out
        .iter()
        .take(REPLAY_SAMPLE)
        .cloned()
        .collect();
    let mut logout_refused = 0;
    for (i, token) in logged_out.iter().enumerate() {
        let body = json!({"refresh": token});
        if let Outcome::Answer(401, _) = shared
            .call(
                "replay",
                i % shared.targets.len(),
                reqwest::Method::POST,
                "/auth/token/refresh",
                None,
                Some(&body),
            )
            .await
        {
            logout_refused += 1;
        }
    }

    // The database's view.
    let acked: Vec<String> = lock(&shared.log).acked.clone();
    std::fs::create_dir_all(&args.work_dir)?;
    let acked_file = args.work_dir.join("acked-registrations.txt");
    std::fs::write(&acked_file, acked.join("\n") + "\n")?;
    let missing = psql(
        &args.database_url,
        &format!(
            "CREATE TEMP TABLE acked(email text);\n\\copy acked FROM '{}'\nSELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.email_canonical = lower(a.email));\n",
            acked_file.display()
        ),
    );
    let two_live = psql(
        &args.database_url,
        "SELECT count(*) FROM sessions WHERE refresh_hash = spent_hash",
    );
    let users_in_db = psql(&args.database_url, "SELECT count(*) FROM users");
    let spent_in_db = psql(
        &args.database_url,
        "SELECT count(*) FROM sessions WHERE spent_hash IS NOT NULL",
    );

    // Classify what failed, against the fault timeline.
    let events = read_events(&args.events);
    let now = unix_ms();
    let recovery = args.recovery.as_millis() as u64;
    let db_down = windows(&events, "db_stop", "db_start", "", recovery, now);
    let replica_down: Vec<Vec<(u64, u64)>> = (0..shared.targets.len())
        .map(|i| windows(&events, "kill", "ready", &i.to_string(), 2_000, now))
        .collect();

    let log = lock(&shared.log);
    let mut five_xx_other = 0;
    let mut s503_in = 0;
    let mut s503_out = Vec::new();
    let mut transport_in = 0;
    let mut transport_out = Vec::new();
    for f in &log.failures {
        match f.status {
            Some(503) if within(f.at, &db_down) => s503_in += 1,
            Some(503) => s503_out.push(f),
            Some(_) => five_xx_other += 1,
            None if within(f.at, &replica_down[f.target]) => transport_in += 1,
            None => transport_out.push(f),
        }
    }
    let double_spent = log
        .spends
        .values()
        .filter(|successors| successors.iter().any(|s| s != &successors[0]))
        .count();
    let spends_total: usize = log.spends.values().map(Vec::len).sum();

    // Load table.
    let total: u64 = log
        .ops
        .values()
        .map(|s| s.answers.values().sum::<u64>() + s.transport_errors)
        .sum();
    println!("## Soak run\n");
    println!(
        "Load: {} workers for {:.0?} against {} replica(s); {} requests ({:.0}/s).\n",
        args.workers,
        load_took,
        shared.targets.len(),
        total,
        total as f64 / load_took.as_secs_f64().max(1.0)
    );
    println!("| operation | answers by status | no answer | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    for (op, stats) in &log.ops {
        let mut lat = stats.latencies_us.clone();
        lat.sort_unstable();
        let statuses = stats
            .answers
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {op} | {statuses} | {} | {:.1} | {:.1} | {:.1} |",
            stats.transport_errors,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().map(|v| *v as f64 / 1000.0).unwrap_or(0.0)
        );
    }

    println!("\n### Fault timeline (seconds from the start of the load)\n");
    println!("| at | event |");
    println!("|---|---|");
    for (at, event, arg) in &events {
        let secs = (*at as f64 - load_start as f64) / 1000.0;
        let what = match event.as_str() {
            "db_stop" => "PostgreSQL stopped (fast shutdown)".to_string(),
            "db_start" => "PostgreSQL started again".to_string(),
            "kill" => format!("replica {arg} killed (SIGKILL)"),
            "ready" => format!("replica {arg} restarted and ready"),
            other => format!("{other} {arg}"),
        };
        println!("| {secs:.1} s | {what} |");
    }

    let db_line = |r: &anyhow::Result<String>| match r {
        Ok(v) => v.clone(),
        Err(e) => format!("error: {e:#}"),
    };
    report.check(
        "acknowledged registrations (201) missing from the database",
        format!("{} of {}", db_line(&missing), acked.len()),
        matches!(&missing, Ok(v) if v == "0"),
    );
    report.info("users in the database", db_line(&users_in_db));
    report.check(
        "refresh tokens spent with two different successors",
        format!(
            "{double_spent} of {} tokens spent ({} spends incl. retries and races; {} sessions rotated in the database)",
            log.spends.len(),
            spends_total,
            db_line(&spent_in_db)
        ),
        double_spent == 0,
    );
    report.check(
        "same token raced at two replicas at once: different successors",
        format!("{} of {} pairs", log.race_divergent, log.race_pairs),
        log.race_divergent == 0,
    );
    report.check(
        "sessions whose live refresh token is the one they spent (database; one live token per session is the schema's: one column)",
        db_line(&two_live),
        matches!(&two_live, Ok(v) if v == "0"),
    );
    report.check(
        "spent tokens replayed after the grace window: refused",
        format!("{replay_refused} of {}", sample.len()),
        replay_refused == sample.len() && !sample.is_empty(),
    );
    report.check(
        "… then their session's newest token: refused (reuse revoked the session)",
        format!("{newest_refused} of {}", sample.len()),
        newest_refused == sample.len(),
    );
    report.check(
        "logged-out refresh tokens: refused",
        format!("{logout_refused} of {}", logged_out.len()),
        logout_refused == logged_out.len(),
    );
    report.check(
        "5xx other than 503",
        five_xx_other.to_string(),
        five_xx_other == 0,
    );
    report.info(
        "503 while the database was down (+ recovery margin)",
        s503_in.to_string(),
    );
    report.check(
        "503 outside the database outage",
        s503_out.len().to_string(),
        s503_out.is_empty(),
    );
    report.info(
        "no answer from a replica while it was killed",
        transport_in.to_string(),
    );
    report.check(
        "no answer outside a replica's downtime",
        transport_out.len().to_string(),
        transport_out.is_empty(),
    );
    report.info(
        "chains ended by reuse detection after an unanswered refresh was retried past the grace",
        log.lost_after_ambiguous.to_string(),
    );
    report.check(
        "unexpected answers (a live session refused, …)",
        log.unexpected.len().to_string(),
        log.unexpected.is_empty(),
    );

    // Memory: per process, the samples of its last pid (a restarted replica starts afresh).
    let samples = lock(&samples).clone();
    let mut memory_rows = Vec::new();
    for (name, _) in &watch {
        let mine: Vec<&(u64, String, u32, u64)> = samples.iter().filter(|s| &s.1 == name).collect();
        let Some(last_pid) = mine.last().map(|s| s.2) else {
            report.check(format!("memory of {name}"), "no samples", false);
            continue;
        };
        let restarts = {
            let mut pids: Vec<u32> = mine.iter().map(|s| s.2).collect();
            pids.dedup();
            pids.len() - 1
        };
        let life: Vec<u64> = mine
            .iter()
            .filter(|s| s.2 == last_pid)
            .map(|s| s.3)
            .collect();
        let third = (life.len() / 3).max(1);
        let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64 / 1024.0;
        let first = mean(&life[..third.min(life.len())]);
        let last = mean(&life[life.len().saturating_sub(third)..]);
        let max = life.iter().copied().max().unwrap_or(0) as f64 / 1024.0;
        // Bounded: the last third within 25 % (or 16 MiB) of the first.
        let ok = last <= first * 1.25 + 16.0;
        memory_rows.push(format!(
            "| {name} | {} | {} | {first:.1} | {last:.1} | {:+.1} % | {max:.1} |",
            life.len(),
            restarts,
            (last / first.max(0.001) - 1.0) * 100.0
        ));
        let what = format!("memory of {name}: last third vs first third of its life");
        if life.len() < 6 {
            report.info(what, format!("too few samples ({})", life.len()));
        } else {
            report.check(what, format!("{first:.1} → {last:.1} MiB"), ok);
        }
    }

    println!("\n### Checks\n");
    println!("| check | result | verdict |");
    println!("|---|---|---|");
    for (what, value, verdict) in &report.rows {
        println!("| {what} | {value} | {verdict} |");
    }
    println!(
        "\n### Resident memory (VmRSS, MiB; sampled every {:?})\n",
        args.sample_every
    );
    println!(
        "| process | samples (last life) | restarts | first third | last third | change | max |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in &memory_rows {
        println!("{row}");
    }
    // The shape over time: a plateau, or a line that keeps climbing.
    let minutes = ((load_end - load_start) / 60_000) as usize;
    if minutes >= 2 {
        let header: Vec<String> = (0..=minutes).map(|m| format!("{m} min")).collect();
        println!("\nVmRSS (MiB) at each minute of the load (the sample nearest the mark):\n");
        println!("| process | {} |", header.join(" | "));
        println!("|---|{}", "---|".repeat(header.len()));
        for (name, _) in &watch {
            let cells: Vec<String> = (0..=minutes)
                .map(|m| {
                    let mark = load_start + m as u64 * 60_000;
                    samples
                        .iter()
                        .filter(|s| &s.1 == name && s.0.abs_diff(mark) <= 10_000)
                        .min_by_key(|s| s.0.abs_diff(mark))
                        .map(|s| format!("{:.1}", s.3 as f64 / 1024.0))
                        .unwrap_or_else(|| "–".to_string())
                })
                .collect();
            println!("| {name} | {} |", cells.join(" | "));
        }
    }
    let show = |title: &str, items: Vec<String>| {
        if !items.is_empty() {
            println!("\n{title} (first {}):\n", items.len().min(20));
            for i in items.iter().take(20) {
                println!("- {i}");
            }
        }
    };
    let at = |f: &Failure| (f.at as f64 - load_start as f64) / 1000.0;
    show("Unexpected answers", log.unexpected.clone());
    show(
        "503 outside the outage",
        s503_out
            .iter()
            .map(|f| format!("{:.1} s replica {} {} {}", at(f), f.target, f.op, f.detail))
            .collect(),
    );
    show(
        "No answer outside downtime",
        transport_out
            .iter()
            .map(|f| format!("{:.1} s replica {} {} {}", at(f), f.target, f.op, f.detail))
            .collect(),
    );
    println!(
        "\nLoad ended {:.1} s after it started; checks took {:.1} s more.",
        (load_end - load_start) as f64 / 1000.0,
        (unix_ms() - load_end) as f64 / 1000.0
    );
    if report.failed {
        eprintln!("soak: checks failed");
        return Ok(std::process::ExitCode::FAILURE);
    }
    Ok(std::process::ExitCode::SUCCESS)
}
