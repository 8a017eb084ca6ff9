//! Servers the bench starts itself: Sesame with the benchmark settings in a throwaway data
//! directory, and the ceiling servers. Also what it reads about them from /proc.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::load::Target;
use sesame_testkit::free_port;

/// A child process that is stopped when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    pub url: String,
    pub cacert: Option<PathBuf>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM (graceful), then SIGKILL after 10 s.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// The server's log (its stderr), kept in its data directory.
fn log_file(dir: &Path) -> anyhow::Result<Stdio> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))?;
    Ok(Stdio::from(f))
}

/// How to start Sesame.
#[derive(Debug, Clone)]
pub struct SesameSpec {
    pub bin: PathBuf,
    pub data_dir: PathBuf,
    pub tls: bool,
    pub database_url: Option<String>,
}

impl SesameSpec {
    /// Production settings except for what a benchmark must change: rate limiting off (one
    /// client address sends everything), a throwaway data directory, TLS as asked. The log
    /// level stays the default (`info`); the log goes to /dev/null.
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(&self.data_dir)
            .env("SESAME_DATA_DIR", &self.data_dir)
            .env("SESAME_TLS", if self.tls { "auto" } else { "off" })
            .env("SESAME_RATE_LIMIT", "off")
            .stdin(Stdio::null());
        if let Some(url) = &self.database_url {
            cmd.env("SESAME_DATABASE_URL", url);
        }
        cmd
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("sesame.db").display()))
    }

    /// Starts Sesame and waits for its first 200 on /healthz; returns the server and the time
    /// from spawning the process to that answer.
    pub async fn start(&self) -> anyhow::Result<(Server, Duration)> {
        let port = free_port()?;
        let scheme = if self.tls { "https" } else { "http" };
        let url = format!("{scheme}://127.0.0.1:{port}");
        let cacert = self.tls.then(|| self.data_dir.join("tls").join("cert.pem"));
        let target = match &cacert {
            Some(c) if !c.exists() => None,
            _ => Some(Target::from_url(&url, cacert.as_deref())?),
        };
        let started = Instant::now();
        let child = self
            .command()
            .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log_file(&self.data_dir)?)
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        let mut server = Server { child, url, cacert };
        let ready = wait_healthy(&mut server, started, target).await?;
        Ok((server, ready))
    }

    /// `sesame client create`: a service client for the client-credentials and introspection
    /// scenarios; returns (client_id, client_secret).
    pub fn create_client(&self) -> anyhow::Result<(String, String)> {
        let out = self
            .command()
            .args(["client", "create", "--name", "bench", "--audience", "api"])
            .stderr(Stdio::inherit())
            .output()?;
        if !out.status.success() {
            bail!("sesame client create failed");
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let field = |k: &str| {
            v[k].as_str()
                .map(str::to_string)
                .context("client without id")
        };
        Ok((field("client_id")?, field("client_secret")?))
    }
}

/// Polls /healthz every millisecond until it answers 200 (30 s at most). The client side is
/// prepared before the clock starts when it can be (TLS set up once, not per attempt), so the
/// time measured is the server's.
async fn wait_healthy(
    server: &mut Server,
    started: Instant,
    mut target: Option<Target>,
) -> anyhow::Result<Duration> {
    use http_body_util::{BodyExt, Full};
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            bail!("the server exited at start ({status})");
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the server did not answer /healthz within 30 s");
        }
        if target.is_none() {
            // First start: the certificate appears once the server has made it.
            let cacert = server.cacert.as_deref().filter(|p| p.exists());
            if server.cacert.is_none() || cacert.is_some() {
                target = Target::from_url(&server.url, cacert).ok();
            }
        }
        if let Some(target) = &target
            && let Ok(mut sender) = target.connect().await
        {
            let req = crate::load::request(target, hyper::Method::GET, "/healthz")
                .body(Full::new(bytes::Bytes::new()))?;
            if let Ok(res) = sender.send_request(req).await
                && res.status().is_success()
            {
                let _ = res.into_body().collect().await;
                return Ok(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Starts a ceiling server (`hello` or `verify`) as a child of this very binary.
pub async fn start_ceiling(mode: &str) -> anyhow::Result<Server> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["ceiling", "--mode", mode, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut server = Server {
        child,
        url: String::new(),
        cacert: None,
    };
    let read = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .context("ceiling server did not start")???;
    let line = line.trim();
    let addr = line
        .strip_prefix("listening ")
        .context("unexpected ceiling output")?;
    server.url = format!("http://{addr}");
    Ok(server)
}

/// The sesame binary: `--server-bin`, else the one beside this binary (same target dir and
/// profile), built with cargo first if missing.
pub fn sesame_bin(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        // Absolute: the server runs in its data directory.
        return std::fs::canonicalize(p)
            .with_context(|| format!("no server binary {}", p.display()));
    }
    let dir = std::env::current_exe()?
        .parent()
        .context("no exe dir")?
        .to_path_buf();
    let bin = dir.join("sesame");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = dir.ends_with("release");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "sesame"]);
        if release {
            cmd.arg("--release");
        }
        if !cmd.status()?.success() {
            bail!("cannot build sesame");
        }
    }
    Ok(bin)
}

/// (VmRSS, VmHWM) in MiB.
pub fn rss(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let kib: f64 = status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets the process's peak RSS (VmHWM), so the next reading is the peak of what follows.
pub fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}
