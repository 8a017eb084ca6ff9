//! Child processes of tests: the `sesame` binary started the way every test starts it, waited
//! for over HTTPS, and stopped.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

/// `bin` (the `sesame` binary: `env!("CARGO_BIN_EXE_sesame")` in its own crate's tests) run in
/// `dir`, with no `SESAME_*` setting inherited from whoever runs the tests and a cheap argon2
/// cost (hashing speed is not what these tests measure). The caller adds the rest.
pub fn sesame_command(bin: impl AsRef<OsStr>, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SESAME_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(dir)
        .env("SESAME_ARGON2_MEMORY_KIB", "64")
        .env("SESAME_ARGON2_ITERATIONS", "1");
    cmd
}

/// Waits, at most `bound`, until a Sesame that writes its self-signed certificate to `cert`
/// answers 200 on `{base}/healthz`; returns a client that trusts that certificate (5 s timeout,
/// user agent `sesame-tests/1.0`). `exited` is asked each round whether the server has ended —
/// `Some(why)` — and waiting is pointless.
pub async fn ready_over_tls(
    cert: &Path,
    base: &str,
    bound: Duration,
    mut exited: impl FnMut() -> Option<String>,
) -> Result<reqwest::Client> {
    let deadline = Instant::now() + bound;
    let mut client: Option<reqwest::Client> = None;
    loop {
        if let Some(why) = exited() {
            bail!("the server ended before it answered: {why}");
        }
        if client.is_none()
            && let Ok(pem) = std::fs::read(cert)
            && let Ok(c) = reqwest::Certificate::from_pem(&pem)
        {
            client = Some(
                reqwest::Client::builder()
                    .add_root_certificate(c)
                    .user_agent("sesame-tests/1.0")
                    .timeout(Duration::from_secs(5))
                    .build()
                    .context("cannot build an HTTPS client")?,
            );
        }
        if let Some(c) = &client {
            match c.get(format!("{base}/healthz")).send().await {
                Ok(res) if res.status() == reqwest::StatusCode::OK => return Ok(c.clone()),
                // Not trusted (a certificate read before it was whole, or replaced): read it again.
                Err(e) if e.is_connect() => client = None,
                _ => {}
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "no 200 from {base}/healthz within {bound:?} (certificate at {}: {})",
                cert.display(),
                if client.is_some() { "read" } else { "not yet" }
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Stops `child` the way a service manager would: SIGTERM, so it shuts down gracefully and
/// stops children of its own (nginx's master stops its workers; SIGKILL would orphan them, and
/// they would hold the test's output open); then waits at most `bound`. Still running after
/// that, it is killed and the result is an error. An already ended child just gives its status.
///
/// Blocks the calling thread while it waits (a `Drop` cannot await); async code that keeps
/// other work going meanwhile calls [`terminate_async`].
pub fn terminate(child: &mut Child, bound: Duration) -> Result<ExitStatus> {
    let deadline = Instant::now() + bound;
    if let Some(status) = sigterm(child)? {
        return Ok(status);
    }
    loop {
        if let Some(status) = exited_by(child, deadline, bound)? {
            return Ok(status);
        }
        std::thread::sleep(POLL);
    }
}

/// [`terminate`] for async code: the runtime keeps running while the child shuts down.
pub async fn terminate_async(child: &mut Child, bound: Duration) -> Result<ExitStatus> {
    let deadline = Instant::now() + bound;
    if let Some(status) = sigterm(child)? {
        return Ok(status);
    }
    loop {
        if let Some(status) = exited_by(child, deadline, bound)? {
            return Ok(status);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Sends SIGTERM unless the child has ended already (then its status).
fn sigterm(child: &mut Child) -> Result<Option<ExitStatus>> {
    if let Some(status) = child.try_wait().context("cannot query the child")? {
        return Ok(Some(status));
    }
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .context("cannot run kill")?;
    if !sent.success() {
        bail!("kill -TERM {} failed ({sent})", child.id());
    }
    Ok(None)
}

/// The child's status once it has exited; an error (after killing it) once `deadline` passed.
fn exited_by(child: &mut Child, deadline: Instant, bound: Duration) -> Result<Option<ExitStatus>> {
    if let Some(status) = child.try_wait().context("cannot query the child")? {
        return Ok(Some(status));
    }
    if Instant::now() >= deadline {
        // Last resort, so the test run does not leave it behind.
        child.kill().ok();
        child.wait().ok();
        bail!(
            "pid {} did not exit within {bound:?} of SIGTERM",
            child.id()
        );
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn terminate_stops_a_running_child_and_reports_an_ended_one() {
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        let started = Instant::now();
        let status = terminate(&mut child, Duration::from_secs(10)).unwrap();
        assert!(!status.success(), "ended by the signal: {status}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(
            terminate(&mut child, Duration::from_secs(1)).unwrap(),
            status
        );
    }

    #[tokio::test]
    async fn terminate_async_stops_a_running_child() {
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        let status = terminate_async(&mut child, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(!status.success(), "ended by the signal: {status}");
        assert!(child.try_wait().unwrap().is_some());
    }

    #[test]
    fn terminate_kills_a_child_that_ignores_sigterm() {
        let mut child = Command::new("sh")
            .args([
                "-c",
                "trap '' TERM; echo trapped; while :; do sleep 0.05; done",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Once it says so, the shell ignores SIGTERM.
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line, "trapped\n");
        let err = terminate(&mut child, Duration::from_millis(300)).unwrap_err();
        assert!(err.to_string().contains("did not exit"), "{err}");
        assert!(child.try_wait().unwrap().is_some(), "killed");
    }

    #[test]
    fn the_command_runs_in_its_directory_with_only_the_test_settings() {
        let dir = tempfile::tempdir().unwrap();
        let out = sesame_command("sh", dir.path())
            .args(["-c", "pwd; env"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let pwd = std::fs::canonicalize(lines.next().unwrap()).unwrap();
        assert_eq!(pwd, std::fs::canonicalize(dir.path()).unwrap());
        let mut settings: Vec<&str> = lines.filter(|l| l.starts_with("SESAME_")).collect();
        settings.sort();
        assert_eq!(
            settings,
            ["SESAME_ARGON2_ITERATIONS=1", "SESAME_ARGON2_MEMORY_KIB=64"]
        );
    }
}
