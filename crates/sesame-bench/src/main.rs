//! `sesame-bench`: a keep-alive HTTP/1.1 load generator for Sesame. A fixed number of
//! connections, each sending its next request as soon as the last answer is read, for a fixed
//! time; it reports requests/s, p50/p99/p99.9 latency, errors and the server's resident memory.
//!
//! One command gives the whole table (see docs/performance.md):
//!
//! ```text
//! cargo run --release -p sesame-bench -- --spawn [--tls off|on|both] [--duration 10s]
//! ```
//!
//! starts the bare-axum ceilings and Sesame itself (benchmark settings: `SESAME_RATE_LIMIT=off`,
//! a throwaway data directory, TLS off and/or on), measures start-up and idle memory, runs every
//! scenario and prints a markdown table with the ratios to the ceilings measured in the same run.
//!
//! Against a server that is already running, one scenario at a time:
//!
//! ```text
//! sesame-bench --url https://127.0.0.1:8443 --cacert data/tls/cert.pem --scenario refresh --pid 1234
//! ```
//!
//! Scenarios: `verify` (GET /auth/verify, one token reused), `verify-distinct` (every request a
//! token the server has not seen), `profile` (GET /profile), `refresh` (every refresh token
//! presented exactly once), `login`, `register`, `client-token` (client credentials),
//! `introspect`, `login-storm` (verify latency while logins saturate the hash workers),
//! `code-flow` (authorization with a browser session, token request, ID token checked).
//!
//! `code-flow`, `client-token` and `introspect` find their endpoints in the discovery document,
//! so they run against other OpenID providers too (scripts/bench-oidc.sh):
//!
//! ```text
//! sesame-bench --url http://127.0.0.1:3000 --scenario code-flow --user bench@bench.example.com \
//!   --client-id bench --client-secret S --redirect-uri https://app.example/cb
//! ```
#![allow(
    clippy::disallowed_methods,
    reason = "a load generator measures, and mints tokens, in real time"
)]

mod ceiling;
mod load;
mod oidc;
mod scenario;
mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hyper::header::HeaderValue;

use load::{Outcome, Script, Target};
use scenario::Setup;

#[derive(Debug, Parser)]
#[command(
    about = "Load generator for Sesame",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    args: Args,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Serve a ceiling (used by --spawn): `hello` or `verify`.
    Ceiling {
        #[arg(long)]
        mode: String,
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
}

#[derive(Debug, clap::Args)]
struct Args {
    /// Base URL of a running Sesame, e.g. https://127.0.0.1:8443 (one scenario, one row).
    #[arg(long, required_unless_present = "spawn")]
    url: Option<String>,
    /// Start the ceilings and Sesame itself and run every scenario (or --scenarios).
    #[arg(long)]
    spawn: bool,
    /// With --url: the scenario to run.
    #[arg(long, default_value = "profile")]
    scenario: String,
    /// With --spawn: comma-separated scenarios (default: all).
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<String>,
    /// With --spawn: plain HTTP, TLS, or both (two tables and the ratio).
    #[arg(long, default_value = "both")]
    tls: String,
    /// With --spawn: the sesame binary (default: beside this one, built if missing).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// With --spawn: the database (default: SQLite in the throwaway data directory).
    #[arg(long)]
    database_url: Option<String>,
    /// With --spawn: skip the ceiling servers.
    #[arg(long)]
    no_ceiling: bool,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Threads of the generator's runtime (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// PEM certificate to trust (a self-signed Sesame).
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Server PID, to report its resident memory.
    #[arg(long)]
    pid: Option<u32>,
    /// verify-distinct: how many distinct tokens to prepare.
    #[arg(long, default_value_t = 300_000)]
    distinct: usize,
    /// verify-distinct against --url: the server's SQLite database, to mint tokens with its key
    /// (without it, tokens come from a refresh chain, at most 5,000).
    #[arg(long)]
    mint_db: Option<String>,
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long)]
    client_secret: Option<String>,
    /// The client's redirect URI: it is an app people sign in to. Needed by `code-flow`; with
    /// it, `introspect` introspects an access token from the app's code flow (without it, the
    /// account token of a login).
    #[arg(long)]
    redirect_uri: Option<String>,
    /// Sign in as this existing account (with the bench's password) instead of registering a
    /// fresh one through Sesame's account API: for servers without that API. Scenarios that
    /// need an account token (verify, profile, ...) then refuse to run.
    #[arg(long)]
    user: Option<String>,
    /// Write the markdown report here as well.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A label for the result row.
    #[arg(long)]
    label: Option<String>,
    /// With --url: print the row as one JSON object instead of a markdown table (for scripts,
    /// e.g. scripts/bench-peers.sh).
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Sub::Ceiling { mode, listen }) = cli.command {
        // Like Sesame: a multi-threaded runtime with one worker per core.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        return rt.block_on(ceiling::serve(&mode, &listen));
    }
    let args = cli.args;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(async {
        if args.spawn {
            spawn_all(&args).await
        } else {
            one(&args).await
        }
    })
}

/// One table row.
#[derive(Debug)]
struct Row {
    name: String,
    connections: usize,
    out: Outcome,
    /// (at the end, peak during the run), MiB.
    rss: Option<(f64, f64)>,
    note: String,
    /// For the login row: cores ÷ the time of one hash, measured just before it.
    login_bound: Option<f64>,
}

const HEADER: &str = "| scenario | conns | req/s | p50 ms | p99 ms | p99.9 ms | errors | server RSS end / peak MB | note |\n|---|---|---|---|---|---|---|---|---|";

impl Row {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "scenario": self.name,
            "connections": self.connections,
            "ok": self.out.ok,
            "errors": self.out.errors,
            "secs": self.out.secs,
            "rate": self.out.rate(),
            "p50_ms": self.out.ms(0.5),
            "p99_ms": self.out.ms(0.99),
            "p999_ms": self.out.ms(0.999),
            "rss_end_mb": self.rss.map(|r| r.0),
            "rss_peak_mb": self.rss.map(|r| r.1),
            "note": self.note,
        })
    }

    fn markdown(&self) -> String {
        let rss = self
            .rss
            .map(|(end, peak)| format!("{end:.1} / {peak:.1}"))
            .unwrap_or_else(|| "-".into());
        format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            self.name,
            self.connections,
            self.out.rate(),
            self.out.ms(0.5),
            self.out.ms(0.99),
            self.out.ms(0.999),
            self.out.errors,
            rss,
            self.note
        )
    }
}

/// What the scenarios of one server share.
struct Ctx {
    target: Target,
    setup: Setup,
    pid: Option<u32>,
    connections: usize,
    duration: Duration,
    run_id: String,
    user_email: String,
    /// An account token from a login (none with `--user`).
    access: Option<String>,
    client_id: Option<String>,
    client: Option<HeaderValue>,
    redirect_uri: Option<String>,
    /// SQLite URL to mint distinct tokens with the server's key.
    mint_db: Option<String>,
    distinct: usize,
}

impl Ctx {
    async fn new(
        url: &str,
        cacert: Option<&std::path::Path>,
        pid: Option<u32>,
        args: &Args,
        client: Option<(String, String)>,
        mint_db: Option<String>,
    ) -> anyhow::Result<Self> {
        let target = Target::from_url(url, cacert)?;
        let setup = Setup::new(url, cacert)?;
        let run_id = format!("{}x{}", std::process::id(), rand_suffix());
        let (user_email, access) = match &args.user {
            Some(u) => (u.clone(), None),
            None => {
                let email = format!("bench-{run_id}@bench.example.com");
                setup.register(&email).await?;
                let (access, _) = setup.login(&email).await?;
                (email, Some(access))
            }
        };
        let client_id = client.as_ref().map(|(id, _)| id.clone());
        let client = client
            .map(|(id, secret)| scenario::basic(&id, &secret))
            .transpose()?;
        Ok(Ctx {
            target,
            setup,
            pid,
            connections: args.connections,
            duration: args.duration,
            run_id,
            user_email,
            access,
            client_id,
            client,
            redirect_uri: args.redirect_uri.clone(),
            mint_db,
            distinct: args.distinct,
        })
    }

    fn client(&self) -> anyhow::Result<&HeaderValue> {
        self.client
            .as_ref()
            .context("this scenario needs a client (--client-id/--client-secret)")
    }

    fn access(&self) -> anyhow::Result<&str> {
        self.access.as_deref().context(
            "this scenario needs an account token from Sesame's login (run without --user)",
        )
    }

    /// The client as an app with a redirect URI, and the provider's endpoints and keys.
    async fn flow(&self) -> anyhow::Result<oidc::Flow> {
        let redirect_uri = self
            .redirect_uri
            .clone()
            .context("this scenario needs an app (--redirect-uri)")?;
        let client_id = self
            .client_id
            .clone()
            .context("this scenario needs a client (--client-id/--client-secret)")?;
        let discovery = oidc::Discovery::fetch(&self.setup).await?;
        let id_tokens = oidc::IdTokens::fetch(&self.setup, &discovery, &client_id).await?;
        Ok(oidc::Flow {
            discovery,
            app: oidc::App {
                client_id,
                basic: self.client()?.clone(),
                redirect_uri,
            },
            id_tokens,
        })
    }

    /// A browser session of the user in which the app is authorized (signed in and consent
    /// given, each if asked): its `Cookie` header, and the code of that first authorization
    /// with its verifier.
    async fn browser_session(
        &self,
        flow: &oidc::Flow,
    ) -> anyhow::Result<(HeaderValue, (String, String))> {
        let mut browser = oidc::Browser::new(&self.setup);
        let (verifier, code) = browser
            .authorize(
                &flow.discovery,
                &flow.app,
                &self.user_email,
                scenario::PASSWORD,
            )
            .await?;
        Ok((HeaderValue::from_str(&browser.cookie())?, (verifier, code)))
    }

    async fn timed(
        &self,
        name: &str,
        connections: usize,
        scripts: Vec<Box<dyn Script>>,
        note: String,
    ) -> anyhow::Result<Row> {
        if let Some(pid) = self.pid {
            server::reset_peak(pid);
        }
        let out = load::run(&self.target, scripts, self.duration).await?;
        Ok(Row {
            name: name.to_string(),
            connections,
            rss: self.pid.and_then(server::rss),
            out,
            note,
            login_bound: None,
        })
    }

    /// Prepares and runs one scenario.
    async fn scenario(&self, name: &str) -> anyhow::Result<Row> {
        let n = self.connections;
        let t = &self.target;
        match name {
            "verify" | "profile" => {
                let path = if name == "verify" {
                    "/auth/verify"
                } else {
                    "/profile"
                };
                let scripts = (0..n)
                    .map(|_| scenario::Get::boxed(t, path, Some(self.access()?)))
                    .collect::<anyhow::Result<_>>()?;
                self.timed(name, n, scripts, String::new()).await
            }
            "verify-distinct" => {
                let (tokens, how) = match &self.mint_db {
                    Some(db) => (
                        scenario::mint(db, self.access()?, self.distinct).await?,
                        "minted",
                    ),
                    None => {
                        let (_, refresh) = self.setup.login(&self.user_email).await?;
                        (
                            self.setup
                                .refresh_chain(refresh, self.distinct.min(5_000))
                                .await?,
                            "refresh chain, tokens repeat",
                        )
                    }
                };
                let pool = scenario::distinct_pool(&tokens)?;
                drop(tokens);
                let next = Arc::new(AtomicUsize::new(0));
                let scripts = (0..n)
                    .map(|_| {
                        Box::new(scenario::Distinct {
                            target: t.clone(),
                            tokens: pool.clone(),
                            next: next.clone(),
                        }) as Box<dyn Script>
                    })
                    .collect();
                let mut row = self.timed(name, n, scripts, String::new()).await?;
                let used = next.load(Ordering::Relaxed);
                row.note = format!(
                    "{} tokens ({how}), {} sent{}",
                    pool.len(),
                    used,
                    if used > pool.len() {
                        ", pool wrapped"
                    } else {
                        ", each once"
                    }
                );
                Ok(row)
            }
            "refresh" => {
                let mut scripts: Vec<Box<dyn Script>> = Vec::new();
                for _ in 0..n {
                    let (_, refresh) = self.setup.login(&self.user_email).await?;
                    scripts.push(Box::new(scenario::Refresh {
                        target: t.clone(),
                        refresh,
                    }));
                }
                self.timed(name, n, scripts, "each refresh token once".into())
                    .await
            }
            "login" => {
                // The bound is measured right before the row, under the same conditions (on a
                // shared box the time of one hash moves with the neighbours' load).
                let (hash_ms, bound) = login_bound().await?;
                let scripts = (0..n)
                    .map(|_| scenario::login_script(t, &self.user_email))
                    .collect();
                let mut row = self.timed(name, n, scripts, String::new()).await?;
                row.note = format!(
                    "one hash {hash_ms:.1} ms just before: bound {bound:.0}/s, reached {:.0} %",
                    100.0 * row.out.rate() / bound
                );
                row.login_bound = Some(bound);
                Ok(row)
            }
            "register" => {
                let scripts = (0..n)
                    .map(|w| {
                        Box::new(scenario::Register {
                            target: t.clone(),
                            prefix: format!("r{}w{w}", self.run_id),
                            n: 0,
                        }) as Box<dyn Script>
                    })
                    .collect();
                self.timed(name, n, scripts, String::new()).await
            }
            "client-token" => {
                let auth = self.client()?.clone();
                let path = oidc::Discovery::fetch(&self.setup).await?.token;
                let scripts = (0..n)
                    .map(|_| scenario::client_token_script(t, &path, &auth))
                    .collect();
                self.timed(name, n, scripts, String::new()).await
            }
            "introspect" => {
                let auth = self.client()?.clone();
                let (path, token, note) = if self.redirect_uri.is_some() {
                    let flow = self.flow().await?;
                    let (_, (verifier, code)) = self.browser_session(&flow).await?;
                    let t =
                        oidc::exchange(&self.setup, &flow.discovery, &flow.app, &code, &verifier)
                            .await?;
                    let token = t["access_token"]
                        .as_str()
                        .context("a token response without access_token")?
                        .to_string();
                    let path = flow
                        .discovery
                        .introspection
                        .context("the provider has no introspection endpoint")?;
                    (path, token, "the app's access token from its code flow")
                } else {
                    let path = oidc::Discovery::fetch(&self.setup)
                        .await?
                        .introspection
                        .unwrap_or_else(|| "/oauth/introspect".into());
                    (path, self.access()?.to_string(), "an account token")
                };
                let scripts = (0..n)
                    .map(|_| scenario::introspect_script(t, &path, &auth, &token))
                    .collect();
                self.timed(name, n, scripts, note.into()).await
            }
            "code-flow" => {
                let flow = Arc::new(self.flow().await?);
                // One browser session per connection, as many people signing in to the app
                // would have (made one after the other: each is a sign-in and perhaps a
                // consent, not measured).
                let mut scripts: Vec<Box<dyn Script>> = Vec::with_capacity(n);
                for _ in 0..n {
                    let (cookie, _) = self.browser_session(&flow).await?;
                    scripts.push(Box::new(oidc::CodeFlow::new(t, flow.clone(), cookie)));
                }
                let note = format!(
                    "a flow = authorize + token + ID token verified; scope {}",
                    oidc::SCOPE
                );
                self.timed(name, n, scripts, note).await
            }
            "healthz" | "signin-page" => {
                // The sign-in page as a first visit: rendered, a fresh anti-forgery binding
                // made and set, no cookie sent; /healthz is its ceiling in the same run.
                let path = if name == "healthz" {
                    "/healthz"
                } else {
                    "/signin"
                };
                let scripts = (0..n)
                    .map(|_| scenario::Get::boxed(t, path, None))
                    .collect::<anyhow::Result<_>>()?;
                self.timed(name, n, scripts, String::new()).await
            }
            "page-signin" => {
                let (hash_ms, bound) = login_bound().await?;
                let (cookie, body) = self.setup.signin_form(&self.user_email).await?;
                let scripts = (0..n)
                    .map(|_| {
                        Box::new(scenario::PageSignIn {
                            target: t.clone(),
                            cookie: cookie.clone(),
                            body: body.clone(),
                        }) as Box<dyn Script>
                    })
                    .collect();
                let mut row = self.timed(name, n, scripts, String::new()).await?;
                row.note = format!(
                    "one hash {hash_ms:.1} ms just before: bound {bound:.0}/s, reached {:.0} %",
                    100.0 * row.out.rate() / bound
                );
                row.login_bound = Some(bound);
                Ok(row)
            }
            "login-storm" => {
                // Half the connections log in (more than enough to keep every hash worker busy
                // with a queue behind it), half verify; the row is the verify half.
                let half = (n / 2).max(1);
                let logins: Vec<Box<dyn Script>> = (0..half)
                    .map(|_| scenario::login_script(t, &self.user_email))
                    .collect();
                let verifies = (0..half)
                    .map(|_| scenario::Get::boxed(t, "/auth/verify", Some(self.access()?)))
                    .collect::<anyhow::Result<_>>()?;
                if let Some(pid) = self.pid {
                    server::reset_peak(pid);
                }
                let (l, v) = tokio::join!(
                    load::run(t, logins, self.duration),
                    load::run(t, verifies, self.duration)
                );
                let (l, v) = (l?, v?);
                Ok(Row {
                    name: "verify during login storm".into(),
                    connections: half,
                    rss: self.pid.and_then(server::rss),
                    note: format!(
                        "meanwhile {half} conns log in: {:.1} logins/s, p99 {:.0} ms, {} errors",
                        l.rate(),
                        l.ms(0.99),
                        l.errors
                    ),
                    out: v,
                    login_bound: None,
                })
            }
            "statuslist" | "statuslist-304" => {
                let db = self
                    .mint_db
                    .as_deref()
                    .context("the statuslist scenarios need the server's SQLite database (--mint-db with --url)")?;
                let size = scenario::million_sessions(db, &self.setup).await?;
                let etag = if name == "statuslist-304" {
                    Some(scenario::status_etag(&self.setup).await?)
                } else {
                    None
                };
                let scripts = (0..n)
                    .map(|_| {
                        Box::new(scenario::StatusList {
                            target: t.clone(),
                            etag: etag.clone(),
                        }) as Box<dyn Script>
                    })
                    .collect();
                let note = format!(
                    "{} sessions, a tenth revoked; list 0 (131,072 entries) is {size} B on the wire",
                    scenario::STATUS_SESSIONS
                );
                self.timed(name, n, scripts, note).await
            }
            other => bail!("unknown scenario {other}"),
        }
    }
}

/// One hash timed just before a login row, under the same conditions (on a shared box the
/// time of one hash moves with the neighbours' load), and the logins/s the cores allow with it.
async fn login_bound() -> anyhow::Result<(f64, f64)> {
    let hash_ms = tokio::task::spawn_blocking(single_hash_ms).await??;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    Ok((hash_ms, cores as f64 * 1000.0 / hash_ms))
}

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// `--url`: one scenario against a running server.
async fn one(args: &Args) -> anyhow::Result<()> {
    let url = args.url.as_deref().context("--url")?;
    let client = match (&args.client_id, &args.client_secret) {
        (Some(i), Some(s)) => Some((i.clone(), s.clone())),
        _ => None,
    };
    let ctx = Ctx::new(
        url,
        args.cacert.as_deref(),
        args.pid,
        args,
        client,
        args.mint_db.clone(),
    )
    .await?;
    let mut row = ctx.scenario(&args.scenario).await?;
    if let Some(l) = &args.label {
        row.name = l.clone();
    }
    let text = if args.json {
        format!("{}\n", row.json())
    } else {
        format!("{HEADER}\n{}\n", row.markdown())
    };
    print!("{text}");
    if let Some(p) = &args.out {
        std::fs::write(p, text)?;
    }
    Ok(())
}

/// Time of one argon2id hash at Sesame's default cost on this machine (median of 5, after one
/// warm-up).
fn single_hash_ms() -> anyhow::Result<f64> {
    let cost = sesame_core::settings::Argon2Cost::default();
    let params = argon2::Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // With one buffer reused, as Sesame's hash workers do: a fresh 19 MiB per hash would add
    // its page faults to the figure.
    let mut memory = vec![argon2::Block::default(); params.block_count()];
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut times = Vec::new();
    let mut out = [0u8; 32];
    for i in 0..6 {
        let t = std::time::Instant::now();
        argon
            .hash_password_into_with_memory(
                scenario::PASSWORD.as_bytes(),
                b"bench-salt-bytes",
                &mut out,
                &mut memory,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if i > 0 {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// One server's measurements.
struct Table {
    title: String,
    cold_start_ms: f64,
    idle_rss: Option<(f64, f64)>,
    rows: Vec<Row>,
}

fn rate_of(rows: &[Row], name: &str) -> Option<f64> {
    rows.iter().find(|r| r.name == name).map(|r| r.out.rate())
}

async fn spawn_all(args: &Args) -> anyhow::Result<()> {
    let bin = server::sesame_bin(args.server_bin.as_deref())?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let scenarios: Vec<String> = if args.scenarios.is_empty() {
        scenario::ALL.iter().map(|s| s.to_string()).collect()
    } else {
        args.scenarios.clone()
    };
    let mut report = String::new();
    let mut say = |s: String| {
        println!("{s}");
        report.push_str(&s);
        report.push('\n');
    };
    say(format!(
        "machine: {} cores, {}; load average before: {}",
        cores,
        cpu_model(),
        loadavg()
    ));
    let hash_ms = tokio::task::spawn_blocking(single_hash_ms).await??;
    let login_bound = cores as f64 * 1000.0 / hash_ms;
    say(format!(
        "one argon2id hash at the default cost: {hash_ms:.1} ms, so {cores} cores bound logins at {login_bound:.0}/s"
    ));

    // Ceilings, same generator, same connections and duration.
    let mut ceilings = Vec::new();
    if !args.no_ceiling {
        let hello = server::start_ceiling("hello").await?;
        let ctx_target = Target::from_url(&hello.url, None)?;
        let scripts = (0..args.connections)
            .map(|_| scenario::Get::boxed(&ctx_target, "/", None))
            .collect::<anyhow::Result<_>>()?;
        let pid = hello.pid();
        server::reset_peak(pid);
        let out = load::run(&ctx_target, scripts, args.duration).await?;
        ceilings.push(Row {
            name: "ceiling: bare axum hello".into(),
            connections: args.connections,
            rss: server::rss(pid),
            out,
            note: String::new(),
            login_bound: None,
        });
        hello.stop();

        let verify = server::start_ceiling("verify").await?;
        let setup = Setup::new(&verify.url, None)?;
        let token = reqwest::get(format!("{}/token", setup.base))
            .await?
            .text()
            .await?;
        let t = Target::from_url(&verify.url, None)?;
        let scripts = (0..args.connections)
            .map(|_| scenario::Get::boxed(&t, "/verify", Some(&token)))
            .collect::<anyhow::Result<_>>()?;
        let pid = verify.pid();
        server::reset_peak(pid);
        let out = load::run(&t, scripts, args.duration).await?;
        ceilings.push(Row {
            name: "ceiling: axum + one Ed25519 verification".into(),
            connections: args.connections,
            rss: server::rss(pid),
            out,
            note: String::new(),
            login_bound: None,
        });
        verify.stop();
    }

    let modes: Vec<bool> = match args.tls.as_str() {
        "off" => vec![false],
        "on" => vec![true],
        "both" => vec![false, true],
        other => bail!("--tls must be off, on or both, not {other}"),
    };
    let mut tables = Vec::new();
    for tls in modes {
        let dir = TempDir::new()?;
        let spec = server::SesameSpec {
            bin: bin.clone(),
            data_dir: dir.0.clone(),
            tls,
            database_url: args.database_url.clone(),
        };
        // First start creates the database, keys and certificate; the measured start is the
        // second, with an existing database, as in production.
        let (first, _) = spec.start().await?;
        first.stop();
        let client = spec.create_client()?;
        let (srv, ready) = spec.start().await?;
        let pid = srv.pid();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle_rss = server::rss(pid);
        let mint_db = spec
            .database_url()
            .starts_with("sqlite:")
            .then(|| spec.database_url());
        let ctx = Ctx::new(
            &srv.url,
            srv.cacert.as_deref(),
            Some(pid),
            args,
            Some(client),
            mint_db,
        )
        .await?;
        let mut rows = Vec::new();
        for s in &scenarios {
            eprintln!("{} {s}...", if tls { "https" } else { "http" });
            match ctx.scenario(s).await {
                Ok(row) => {
                    eprintln!("{}", row.markdown());
                    rows.push(row);
                }
                Err(e) => eprintln!("{s} failed: {e:#}"),
            }
            // Let the server settle (hash queue drained, WAL checkpointed) between scenarios.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        srv.stop();
        drop(dir);
        tables.push(Table {
            title: format!(
                "Sesame, {} ({})",
                if tls { "HTTPS (TLS 1.3)" } else { "plain HTTP" },
                if spec.database_url().starts_with("sqlite:") {
                    "SQLite"
                } else {
                    "PostgreSQL"
                }
            ),
            cold_start_ms: ready.as_secs_f64() * 1000.0,
            idle_rss,
            rows,
        });
    }

    say(format!(
        "\nduration {:?} per scenario, {} connections, generator on {} thread(s); load average after: {}\n",
        args.duration,
        args.connections,
        args.threads,
        loadavg()
    ));
    if !ceilings.is_empty() {
        say(HEADER.to_string());
        for r in &ceilings {
            say(r.markdown());
        }
        say(String::new());
    }
    let hello = rate_of(&ceilings, "ceiling: bare axum hello");
    let verify_ceiling = rate_of(&ceilings, "ceiling: axum + one Ed25519 verification");
    for t in &tables {
        say(format!("### {}\n", t.title));
        say(format!(
            "cold start to first 200 on /healthz (existing database): {:.0} ms; idle RSS {}\n",
            t.cold_start_ms,
            t.idle_rss
                .map(|(r, _)| format!("{r:.1} MB"))
                .unwrap_or_else(|| "-".into())
        ));
        say(HEADER.to_string());
        for r in &t.rows {
            say(r.markdown());
        }
        say(String::new());
        say(targets(t, hello, verify_ceiling, login_bound));
    }
    if tables.len() == 2 {
        say("### HTTPS ÷ plain HTTP\n".into());
        say("| scenario | plain req/s | TLS req/s | ratio |\n|---|---|---|---|".into());
        for r in &tables[0].rows {
            if let Some(tls) = rate_of(&tables[1].rows, &r.name) {
                say(format!(
                    "| {} | {:.0} | {:.0} | {:.2} |",
                    r.name,
                    r.out.rate(),
                    tls,
                    tls / r.out.rate()
                ));
            }
        }
    }
    if let Some(p) = &args.out {
        std::fs::write(p, report)?;
    }
    Ok(())
}

/// The issue's targets, each met or not, from this run's own figures.
fn targets(t: &Table, hello: Option<f64>, verify_ceiling: Option<f64>, login_bound: f64) -> String {
    let mut lines = vec![
        "| target | measured | met |".to_string(),
        "|---|---|---|".into(),
    ];
    let mut check = |what: String, measured: String, ok: bool| {
        lines.push(format!(
            "| {what} | {measured} | {} |",
            if ok { "yes" } else { "**no**" }
        ));
    };
    let rate = |n: &str| rate_of(&t.rows, n);
    if let Some(v) = rate("verify") {
        check(
            "verify, token reused ≥ 60,000/s".into(),
            format!("{v:.0}/s"),
            v >= 60_000.0,
        );
        if let Some(h) = hello {
            check(
                "verify, token reused ≥ 45 % of bare axum".into(),
                format!("{:.0} %", 100.0 * v / h),
                v >= 0.45 * h,
            );
        }
    }
    if let (Some(v), Some(c)) = (rate("verify-distinct"), verify_ceiling) {
        check(
            "verify, distinct tokens ≥ 80 % of axum + verify".into(),
            format!("{:.0} %", 100.0 * v / c),
            v >= 0.8 * c,
        );
    }
    let mut floor = |n: &str, label: &str, min: f64| {
        if let Some(v) = rate(n) {
            check(
                format!("{label} ≥ {min:.0}/s"),
                format!("{v:.0}/s"),
                v >= min,
            );
        }
    };
    floor("profile", "GET /profile", 15_000.0);
    floor("refresh", "refresh", 5_000.0);
    floor("client-token", "client-credentials token", 5_000.0);
    floor("introspect", "introspection", 20_000.0);
    if let Some(r) = t.rows.iter().find(|r| r.name == "login") {
        let (v, bound) = (r.out.rate(), r.login_bound.unwrap_or(login_bound));
        check(
            format!("login ≥ 90 % of cores ÷ hash time ({bound:.0}/s)"),
            format!("{v:.0}/s = {:.0} %", 100.0 * v / bound),
            v >= 0.9 * bound,
        );
    }
    if let (Some(page), Some(health)) = (rate("signin-page"), rate("healthz")) {
        check(
            "GET /signin (rendered, with its token) ≥ 40 % of GET /healthz".into(),
            format!("{page:.0}/s = {:.0} %", 100.0 * page / health),
            page >= 0.4 * health,
        );
    }
    if let Some(r) = t.rows.iter().find(|r| r.name == "page-signin") {
        let (v, bound) = (r.out.rate(), r.login_bound.unwrap_or(login_bound));
        check(
            format!("page sign-in ≥ 90 % of cores ÷ hash time ({bound:.0}/s)"),
            format!("{v:.0}/s = {:.0} %", 100.0 * v / bound),
            v >= 0.9 * bound,
        );
    }
    if let Some(r) = t
        .rows
        .iter()
        .find(|r| r.name == "verify during login storm")
    {
        check(
            "p99 of verify during a login storm < 10 ms".into(),
            format!("{:.2} ms", r.out.ms(0.99)),
            r.out.ms(0.99) < 10.0,
        );
    }
    if let Some((idle, _)) = t.idle_rss {
        check(
            "idle RSS < 20 MB".into(),
            format!("{idle:.1} MB"),
            idle < 20.0,
        );
    }
    if let Some(peak) = t
        .rows
        .iter()
        .find(|r| r.name == "verify")
        .and_then(|r| r.rss)
        .map(|(_, p)| p)
    {
        check(
            "RSS under verify load < 64 MB".into(),
            format!("{peak:.1} MB peak"),
            peak < 64.0,
        );
    }
    check(
        "cold start to first 200 < 100 ms".into(),
        format!("{:.0} ms", t.cold_start_ms),
        t.cold_start_ms < 100.0,
    );
    lines.push(String::new());
    lines.join("\n")
}

/// A throwaway data directory, removed when dropped (on errors too).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "sesame-bench-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
