//! External tools for tests: a command that must succeed, a Python virtualenv made once, nginx.
//!
//! Several test binaries install peers from PyPI (PyJWT and authlib, Django and bcrypt,
//! schemathesis); each keeps its own virtualenv under its `CARGO_TARGET_TMPDIR`, made on first
//! use and reused by later runs. nginx (the gateway tests and the gallery's end-to-end test) must
//! be installed: CI installs it, and a test without it fails rather than skips.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Where distributions put nginx.
const NGINX_PATHS: [&str; 3] = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"];

/// Runs `cmd` to completion and returns its stdout; an error carrying both outputs when it
/// cannot start or exits unsuccessfully.
pub fn run_checked(cmd: &mut Command) -> Result<Vec<u8>> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

/// A virtualenv at `dir` with `packages` (pip requirement strings) installed, and its python.
/// A marker file written last records the package list: a venv whose install was cut short, or
/// that was made for another list, is made again from scratch.
pub fn python_venv(dir: &Path, packages: &[&str]) -> Result<PathBuf> {
    let python = dir.join("bin/python");
    let marker = dir.join(".sesame-installed");
    let wanted = packages.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(python);
    }
    run_checked(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(dir),
    )?;
    run_checked(
        Command::new(&python)
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(packages),
    )?;
    std::fs::write(&marker, wanted)
        .with_context(|| format!("cannot write {}", marker.display()))?;
    Ok(python)
}

/// The installed nginx binary, or an error saying how to install it.
pub fn nginx() -> Result<PathBuf> {
    NGINX_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("nginx is not installed (apt-get install nginx); scripts/test.sh installs it")
}
