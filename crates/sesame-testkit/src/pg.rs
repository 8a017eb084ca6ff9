//! A throwaway PostgreSQL server for tests, built from the `initdb` and `postgres` binaries on
//! PATH (or in Debian's /usr/lib/postgresql/<version>/bin), with a fresh database per test.
//!
//! One server per test process ([`PgCluster::shared`]), started on first use: starting one takes
//! about a second, creating a database a few milliseconds. Each test then calls
//! [`PgCluster::fresh_database`] and gets a URL nobody else uses, so tests run in parallel and in
//! any order.
//!
//! The server is for tests only: trust authentication, listening on 127.0.0.1 alone, and
//! `fsync=off` / `synchronous_commit=off` because durability is worthless for data thrown away at
//! exit. PostgreSQL refuses to run as root; when the tests do (CI does), both `initdb` and
//! `postgres` run as `nobody` through `setpriv`, which changes user and then `exec`s, so the child
//! we hold *is* the postmaster.
//!
//! Statics are never dropped, so the shared server cannot be stopped by a destructor. A small
//! `sh` "reaper" started alongside it waits on a pipe from this process instead; the kernel
//! closes the pipe however the process ends (normal exit, panic, abort, SIGKILL), and the reaper
//! then shuts the server down and removes its directory. Test runs do not leave servers behind.
//!
//! A cluster of one's own ([`PgCluster::start`]) can also be stopped and started again on the
//! same data directory and port ([`PgCluster::stop`], [`PgCluster::restart`]), for tests of what
//! a client does while its database is down. The shared one cannot: other tests use it.
//!
//! Failing to start is an error carrying initdb's or postgres's output: tests fail, never skip.

use std::fs::{self, File};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use sqlx::{Connection, Executor, PgConnection};

use crate::free_port;

/// How long a starting server may take to accept connections (normally well under a second).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stopping server may take to exit (fast shutdown normally takes milliseconds).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Tries at starting `postgres`: the free port we pick can be taken by someone else before the
/// server binds it.
const START_ATTEMPTS: u32 = 3;

/// Runs until its stdin reaches end of file, i.e. until the process holding the other end exits
/// or drops the cluster. Then: fast shutdown (SIGINT) of the postmaster named in the pid file —
/// only if that pid still is a postgres, since a crashed server could leave a stale file and the
/// pid be reused — wait up to 10 s for a clean exit, SIGKILL otherwise, remove the directory.
const REAPER: &str = r#"
cat >/dev/null
pidfile="$1/data/postmaster.pid"
if [ -f "$pidfile" ]; then
    pid=$(head -n 1 "$pidfile")
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then
        kill -INT "$pid" 2>/dev/null
        i=0
        while [ -f "$pidfile" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        [ -f "$pidfile" ] && kill -KILL "$pid" 2>/dev/null
    fi
fi
rm -rf "$1"
"#;

static SHARED: OnceLock<Result<PgCluster, String>> = OnceLock::new();

/// A running PostgreSQL server in its own temporary directory.
#[derive(Debug)]
pub struct PgCluster {
    dir: PathBuf,
    port: u16,
    /// Who the server runs as (`nobody` when we are root).
    run_as: Option<RunAs>,
    /// The postmaster; `None` while stopped.
    postgres: Option<Child>,
    /// Starts so far, to give each server log its own file.
    starts: u32,
    reaper: Option<Reaper>,
    next_database: AtomicU64,
}

impl PgCluster {
    /// The process-wide server, started by the first caller (blocking for about a second).
    /// A failed start is remembered: every later caller gets the same error instead of
    /// retrying.
    pub fn shared() -> Result<&'static PgCluster> {
        SHARED
            .get_or_init(|| PgCluster::start().map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow!("cannot start the test PostgreSQL server: {e}"))
    }

    /// Starts a new server (blocking until it accepts connections). Prefer [`PgCluster::shared`];
    /// a cluster of one's own is stopped and removed when dropped.
    pub fn start() -> Result<PgCluster> {
        let run_as = if effective_uid()? == 0 {
            Some(unprivileged_user()?)
        } else {
            None
        };
        // As root, the directory must be reachable by `nobody`; /tmp is, whatever TMPDIR says.
        let base = match run_as {
            Some(_) => PathBuf::from("/tmp"),
            None => std::env::temp_dir(),
        };
        let dir = tempfile::Builder::new()
            .prefix("sesame-pg-")
            .tempdir_in(&base)
            .with_context(|| format!("cannot create a directory in {}", base.display()))?;
        if let Some(user) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(user.uid), Some(user.gid)).with_context(
                || format!("cannot hand {} to uid {}", dir.path().display(), user.uid),
            )?;
        }
        // From here on the reaper owns the directory's removal.
        let dir = dir.keep();
        let reaper = match Reaper::spawn(&dir) {
            Ok(reaper) => reaper,
            Err(e) => {
                // Best effort: the error below is what matters.
                fs::remove_dir_all(&dir).ok();
                return Err(e);
            }
        };
        match boot(&dir, run_as) {
            Ok((postgres, port, starts)) => Ok(PgCluster {
                dir,
                port,
                run_as,
                postgres: Some(postgres),
                starts,
                reaper: Some(reaper),
                next_database: AtomicU64::new(1),
            }),
            Err(e) => {
                reaper.finish();
                Err(e)
            }
        }
    }

    /// A fresh database (see [`PgCluster::fresh_database`]) on the [shared](PgCluster::shared)
    /// server, for async tests: the first caller starts the server on the blocking pool, since
    /// that blocks for about a second.
    pub async fn fresh_shared_database() -> Result<String> {
        let cluster = tokio::task::spawn_blocking(PgCluster::shared)
            .await
            .context("the test server's start panicked")??;
        cluster.fresh_database().await
    }

    /// Creates an empty database no other caller gets and returns its URL.
    pub async fn fresh_database(&self) -> Result<String> {
        let name = format!(
            "sesame_test_{}",
            self.next_database.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&self.url("postgres"))
            .await
            .with_context(|| format!("cannot connect to the test server on port {}", self.port))?;
        // The simple query protocol: CREATE DATABASE may not run as a prepared statement.
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        admin.close().await.ok();
        Ok(self.url(&name))
    }

    /// `postgres://` URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's pid file (first line: its pid), for killing a leftover by hand.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("data").join("postmaster.pid")
    }

    /// Whether the server is running (not [`stop`](PgCluster::stop)ped).
    pub fn is_running(&self) -> bool {
        self.postgres.is_some()
    }

    /// Stops the server as an operator would (fast shutdown: open connections are cut, new ones
    /// refused) and waits until it has exited. The data directory and port stay; see
    /// [`PgCluster::restart`]. Stopping a stopped server does nothing.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut postgres) = self.postgres.take() else {
            return Ok(());
        };
        // SIGINT is PostgreSQL's fast shutdown. std only sends SIGKILL (which would leave the
        // backends and shared memory behind), and libc would need `unsafe`: `kill` does it.
        let sent = Command::new("kill")
            .args(["-INT", &postgres.id().to_string()])
            .status()
            .context("cannot run kill")?;
        if !sent.success() {
            self.postgres = Some(postgres);
            bail!("kill -INT of the postmaster failed ({sent})");
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while postgres.try_wait()?.is_none() {
            if Instant::now() > deadline {
                postgres.kill().ok();
                postgres.wait().ok();
                bail!("postgres did not stop within {STOP_TIMEOUT:?}; killed it");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Starts the server again on the same data directory and port (stopping it first when it
    /// runs), blocking until it accepts connections. Every database and row survive. Fails if
    /// another process took the port while the server was down (unlikely: the OS hands out
    /// ephemeral ports in turn).
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.starts += 1;
        let data = self.dir.join("data");
        let log_path = self.dir.join(format!("postgres-{}.log", self.starts));
        let mut postgres = spawn_postgres(&self.dir, self.run_as, self.port, &log_path)?;
        if let Err(e) = wait_ready(&mut postgres, &data, self.port) {
            postgres.kill().ok();
            postgres.wait().ok();
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            bail!(
                "postgres did not start again on port {}: {e:#}\n{log}",
                self.port
            );
        }
        self.postgres = Some(postgres);
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(reaper) = self.reaper.take() {
            reaper.finish();
        }
        // The reaper stopped it; collect its exit status so no zombie stays behind.
        if let Some(mut postgres) = self.postgres.take() {
            postgres.wait().ok();
        }
    }
}

/// The other end of the reaper's stdin pipe.
#[derive(Debug)]
struct Reaper {
    child: Child,
    stdin: ChildStdin,
}

impl Reaper {
    fn spawn(dir: &Path) -> Result<Reaper> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(REAPER)
            .arg("sesame-pg-reaper")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C aimed at `cargo test` must not kill the reaper
            // before it has cleaned up.
            .process_group(0)
            .spawn()
            .context("cannot start sh (the reaper that stops the test server at exit)")?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("the reaper has no stdin pipe"))?;
        Ok(Reaper { child, stdin })
    }

    /// Closes the pipe and waits until the server is stopped and the directory removed.
    fn finish(mut self) {
        drop(self.stdin);
        self.child.wait().ok();
    }
}

/// Who to run PostgreSQL as when we are root.
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// The effective uid, read as the owner of a file we create: std has no `geteuid`, and calling
/// libc's would need `unsafe`, which the workspace forbids.
fn effective_uid() -> Result<u32> {
    let probe = tempfile::tempfile().context("cannot create a temporary file")?;
    Ok(probe.metadata()?.uid())
}

fn unprivileged_user() -> Result<RunAs> {
    let passwd = fs::read_to_string("/etc/passwd").context("cannot read /etc/passwd")?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.first() == Some(&"nobody")
            && let (Some(uid), Some(gid)) = (fields.get(2), fields.get(3))
        {
            return Ok(RunAs {
                uid: uid.parse().context("nobody's uid")?,
                gid: gid.parse().context("nobody's gid")?,
            });
        }
    }
    bail!(
        "running as root, and there is no `nobody` user in /etc/passwd to run PostgreSQL as \
         (initdb and postgres refuse to run as root)"
    )
}

/// Where a PostgreSQL program is: on PATH, else in Debian's versioned directory (the newest),
/// where the packages install it without linking it onto PATH. A bare name when neither has it,
/// so that spawning fails with "not found".
fn pg_program(program: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    debian.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    on_path
        .into_iter()
        .chain(debian.into_iter().map(|(_, dir)| dir))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

/// `program` in `dir`, as `nobody` when we are root.
fn command(program: &str, dir: &Path, run_as: Option<RunAs>) -> Command {
    // A full path: `setpriv` looks programs up on the PATH it inherits, which is ours anyway,
    // but the Debian fallback is on nobody's PATH neither.
    let program = pg_program(program);
    let mut cmd = match run_as {
        Some(user) => {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={}", user.uid))
                .arg(format!("--regid={}", user.gid))
                .arg("--clear-groups")
                .arg("--")
                .arg(program);
            cmd
        }
        None => Command::new(program),
    };
    // A working directory `nobody` can enter (the caller's may not be).
    cmd.current_dir(dir).stdin(Stdio::null());
    cmd
}

/// Creates the cluster and starts the server; returns the postmaster, its port, and how many
/// tries starting it took.
fn boot(dir: &Path, run_as: Option<RunAs>) -> Result<(Child, u16, u32)> {
    let data = dir.join("data");
    let out = command("initdb", dir, run_as)
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"])
        // No fsync of the new files: a throwaway cluster.
        .arg("--no-sync")
        .output()
        .context("cannot run initdb (is PostgreSQL installed? setpriv, when running as root?)")?;
    if !out.status.success() {
        bail!(
            "initdb failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut failure = String::new();
    for attempt in 1..=START_ATTEMPTS {
        let port = free_port()?;
        let log_path = dir.join(format!("postgres-{attempt}.log"));
        let mut postgres = spawn_postgres(dir, run_as, port, &log_path)?;
        match wait_ready(&mut postgres, &data, port) {
            Ok(()) => return Ok((postgres, port, attempt)),
            Err(e) => {
                postgres.kill().ok();
                postgres.wait().ok();
                let log = fs::read_to_string(&log_path).unwrap_or_default();
                failure = format!("postgres did not start: {e:#}\n{log}");
                let port_taken = log.contains("could not bind") || log.contains("already in use");
                if !port_taken {
                    break;
                }
            }
        }
    }
    Err(anyhow!(failure))
}

/// Starts the postmaster on the cluster in `dir/data`, logging to `log_path`.
fn spawn_postgres(dir: &Path, run_as: Option<RunAs>, port: u16, log_path: &Path) -> Result<Child> {
    let log = File::create(log_path).context("cannot create the server log")?;
    command("postgres", dir, run_as)
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-p")
        .arg(port.to_string())
        .arg("-c")
        .arg("listen_addresses=127.0.0.1")
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()))
        // Durability buys nothing for data deleted at exit; speed does.
        .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
        .args(["-c", "full_page_writes=off"])
        // Tests run in parallel, each with its own pool.
        .args(["-c", "max_connections=300"])
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot run postgres")
}

fn wait_ready(postgres: &mut Child, data: &Path, port: u16) -> Result<()> {
    let pid_file = data.join("postmaster.pid");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = postgres.try_wait()? {
            bail!("it exited with {status}");
        }
        // The postmaster writes its status on line 8 of its pid file; "ready" means it accepts
        // connections (a TCP connect alone would also reach a server still starting up).
        let ready = fs::read_to_string(&pid_file)
            .map(|s| s.lines().nth(7).is_some_and(|l| l.trim() == "ready"))
            .unwrap_or(false);
        if ready && TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("it did not accept connections within {READY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn databases_are_fresh_and_distinct() {
        let cluster = PgCluster::shared().expect("test server");
        let a = cluster.fresh_database().await.expect("database a");
        let b = cluster.fresh_database().await.expect("database b");
        assert_ne!(a, b);
        let mut conn = PgConnection::connect(&a).await.expect("connect");
        let (n,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("query");
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn an_own_cluster_stops_and_restarts_with_its_data() {
        let mut cluster = PgCluster::start().expect("test server");
        let url = cluster.fresh_database().await.expect("database");
        let mut conn = PgConnection::connect(&url).await.expect("connect");
        conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
            .await
            .expect("write");
        cluster.stop().expect("stops");
        assert!(!cluster.is_running());
        assert!(!cluster.pid_file().exists());
        assert!(conn.execute("SELECT 1").await.is_err(), "connections cut");
        assert!(
            PgConnection::connect(&url).await.is_err(),
            "new ones refused"
        );
        cluster.stop().expect("stopping twice is harmless");

        cluster.restart().expect("starts again");
        assert!(cluster.is_running());
        let mut conn = PgConnection::connect(&url).await.expect("same port");
        let (n,): (i32,) = sqlx::query_as("SELECT n FROM kept")
            .fetch_one(&mut conn)
            .await
            .expect("the data survived");
        assert_eq!(n, 7);
        conn.close().await.ok();
        cluster
            .restart()
            .expect("restarting a running server works too");
        let dir = cluster.dir.clone();
        drop(cluster);
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    #[test]
    fn an_own_cluster_is_removed_when_dropped() {
        let cluster = PgCluster::start().expect("test server");
        let dir = cluster.dir.clone();
        let port = cluster.port();
        assert!(cluster.pid_file().exists());
        drop(cluster);
        assert!(!dir.exists(), "{} left behind", dir.display());
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
