//! Generated API tests: schemathesis (from PyPI) reads Sesame's own `/openapi.json` and sends
//! every operation generated requests, valid and invalid, and holds each answer to the document:
//! no 5xx, every status and content type documented, every body and declared header matching its
//! schema. It runs twice against one real server (HTTPS with its self-signed certificate, the
//! embedded store, rate limits off):
//!
//! 1. with credentials on every request that needs them (`hooks.py`): a user's bearer token, an
//!    admin's on `/admin/*`, a service client's Basic credentials on `/oauth/*` — so the
//!    operations behind authentication are exercised past their 401;
//! 2. with none, so every operation's unauthenticated answer is checked too.
//!
//! schemathesis is installed once into a virtualenv under `CARGO_TARGET_TMPDIR` (kept between
//! runs), pinned to one version; a marker file names it. Bounded: a time budget per pass, a
//! per-request timeout, and a deadline for each pass after which it is killed.
//! Every run draws new data; a failure prints its seed, and `SESAME_SCHEMATHESIS_SEED=<seed>`
//! replays it.
//!
//! `found` pins down, deterministically, the bugs the generated tests found.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::disallowed_methods,
    reason = "tests compare with, and stamp records by, the real time"
)]

mod found;
#[path = "../api/helpers.rs"]
mod helpers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use helpers::{PASSWORD, TestApp, spawn_app};

/// This binary's apps run on the embedded store.
const BACKEND: helpers::Backend = helpers::Backend::Sqlite;

/// The schemathesis release the checks below were written against (v4's CLI).
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// What every answer is held to. `not_a_server_error`: no 5xx. `status_code_conformance`: the
/// status is documented for the operation. `content_type_conformance`: so is the content type.
/// `response_schema_conformance`: the body matches the documented schema.
/// `response_headers_conformance`: documented headers are present and well-formed.
///
/// Not held: `positive_data_acceptance` (a schema-valid body must succeed: impossible for
/// password checks, tokens and ids the generator cannot know), `negative_data_rejection` (Sesame
/// clamps out-of-range `limit`s and ignores unknown fields, as documented, instead of refusing
/// them) and `unsupported_method` (`/auth/verify` answers every method, as gateways need).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance";

/// Each pass is bounded by time, not by a count, so the test takes the same time on an idle
/// machine as on a saturated one (where it covers less): schemathesis spreads the budget over its
/// phases and repeats them, with fresh data, until the budget is spent — at most this many test
/// cases per operation in one round. About 2.5 minutes in all.
const PASS_WITH_AUTH: (&str, Duration) = ("100", Duration::from_secs(100));
const PASS_WITHOUT_AUTH: (&str, Duration) = ("30", Duration::from_secs(35));

/// How long past its budget a pass may take (start-up, the last requests, the report) before it
/// is killed and fails the test.
const DEADLINE_SLACK: Duration = Duration::from_secs(60);

/// The `schemathesis` executable of a virtualenv under the target directory, installed once.
fn schemathesis() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-venv");
    sesame_testkit::tools::python_venv(&dir, &[SCHEMATHESIS]).unwrap();
    dir.join("bin/schemathesis")
}

/// A URL of this process that makes a fresh admin (through the core, as the CLI does) and
/// answers its username: the hooks ask for one whenever the fuzzer broke the last.
async fn admin_factory(app: Arc<TestApp>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/admin",
        axum::routing::post(move || {
            let app = app.clone();
            async move { app.new_admin().await.username }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}/admin")
}

/// Runs one schemathesis pass to completion or the deadline; returns (success, output).
fn schemathesis_pass(
    exe: &Path,
    workdir: &Path,
    args: &[String],
    env: &[(&str, String)],
    deadline: Duration,
) -> (bool, String) {
    let log = workdir.join("output.txt");
    let file = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(exe);
    cmd.arg("run")
        .args(args)
        .current_dir(workdir)
        .env_remove("SCHEMATHESIS_HOOKS")
        // These would override the certificate given to schemathesis and the hooks.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("schemathesis starts");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut output = std::fs::read_to_string(&log).unwrap_or_default();
    output.push_str(&format!("\n(pass took {:.0?})\n", started.elapsed()));
    match status {
        Some(s) => (s.success(), output),
        None => (
            false,
            format!("{output}\nkilled after the {deadline:?} deadline"),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_get_documented_answers() {
    let exe = tokio::task::spawn_blocking(schemathesis).await.unwrap();
    let app = Arc::new(spawn_app().await);
    let factory = admin_factory(app.clone()).await;

    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-run");
    std::fs::create_dir_all(&work).unwrap();
    let ca = work.join("sesame-ca.pem");
    std::fs::write(&ca, &app.cert_pem).unwrap();
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/hooks.py");

    // Each run draws a fresh seed (printed in the output); this replays one.
    let seed = std::env::var("SESAME_SCHEMATHESIS_SEED").ok();
    let common = |(examples, budget): (&str, Duration)| -> Vec<String> {
        [
            &format!("{}/openapi.json", app.base),
            "--checks",
            CHECKS,
            "--max-examples",
            examples,
            "--max-time",
            &budget.as_secs().to_string(),
            "--request-timeout",
            "10",
            "--tls-verify",
            ca.to_str().unwrap(),
            "--generation-database",
            "none",
            "--no-color",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(seed.iter().flat_map(|s| ["--seed".to_string(), s.clone()]))
        .collect()
    };

    let env = vec![
        ("SCHEMATHESIS_HOOKS", hooks.display().to_string()),
        ("SESAME_ST_BASE", app.base.clone()),
        ("SESAME_ST_CA", ca.display().to_string()),
        ("SESAME_ST_PASSWORD", PASSWORD.to_string()),
        ("SESAME_ST_ADMIN_FACTORY", factory),
    ];
    let (exe2, work2) = (exe.clone(), work.clone());
    let args = common(PASS_WITH_AUTH);
    let deadline = PASS_WITH_AUTH.1 + DEADLINE_SLACK;
    let (ok, output) = tokio::task::spawn_blocking(move || {
        schemathesis_pass(&exe2, &work2, &args, &env, deadline)
    })
    .await
    .unwrap();
    assert!(ok, "schemathesis with credentials failed:\n{output}");
    println!("{output}");

    let args = common(PASS_WITHOUT_AUTH);
    let deadline = PASS_WITHOUT_AUTH.1 + DEADLINE_SLACK;
    let (ok, output) =
        tokio::task::spawn_blocking(move || schemathesis_pass(&exe, &work, &args, &[], deadline))
            .await
            .unwrap();
    assert!(ok, "schemathesis without credentials failed:\n{output}");
    println!("{output}");
}
