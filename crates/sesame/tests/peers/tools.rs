//! Installs the peer tools once per test process, into `CARGO_TARGET_TMPDIR` (kept between runs).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn run(cmd: &mut Command) {
    sesame_testkit::tools::run_checked(cmd).unwrap();
}

/// A Python virtualenv with PyJWT (with cryptography), authlib (and Flask, for its web client),
/// requests, pyotp and standardwebhooks; returns its python.
pub fn python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        sesame_testkit::tools::python_venv(
            &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("peers-venv"),
            &[
                "pyjwt[crypto]>=2.8,<3",
                "authlib>=1.3,<2",
                "flask>=3,<4",
                "requests>=2.31,<3",
                "pyotp>=2.9,<3",
                "standardwebhooks>=1.1,<2",
            ],
        )
        .unwrap()
    })
    .clone()
}

/// A node_modules with jose, openid-client, standardwebhooks and oidc-provider; returns the
/// directory to run node scripts in.
pub fn node() -> PathBuf {
    static NODE: OnceLock<PathBuf> = OnceLock::new();
    NODE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("peers-node");
        let marker = dir.join(".installed-v4");
        if !marker.exists() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("package.json"),
                r#"{"name":"sesame-peers","private":true,"type":"module"}"#,
            )
            .unwrap();
            run(Command::new("npm")
                .args([
                    "install",
                    "--silent",
                    "--no-audit",
                    "--no-fund",
                    "jose@5",
                    "openid-client@6",
                    "standardwebhooks@1",
                    "oidc-provider@8",
                ])
                .current_dir(&dir));
            std::fs::write(&marker, "").unwrap();
        }
        dir
    })
    .clone()
}
