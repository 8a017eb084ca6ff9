//! The `sesame` binary: its commands, configuration errors, zero-config serving with graceful
//! shutdown, the bootstrap admin, and secrets kept out of `Debug` output.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use sesame_testkit::process;

/// How long a starting server may take to answer /healthz, and a stopping one to exit.
const STARTUP_BOUND: Duration = Duration::from_secs(20);
const SHUTDOWN_BOUND: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

/// The binary with a clean `SESAME_*` environment, cheap argon2, run in `dir`.
fn sesame(dir: &Path) -> Command {
    process::sesame_command(env!("CARGO_BIN_EXE_sesame"), dir)
}

/// The binary with its own data directory (`dir/data`).
fn sesame_in(dir: &Path) -> Command {
    let mut cmd = sesame(dir);
    cmd.env("SESAME_DATA_DIR", dir.join("data"))
        .env("SESAME_LOG", "warn");
    cmd
}

fn run(mut cmd: Command, stdin: Option<&str>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("sesame starts");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input.as_bytes()).expect("stdin written");
    }
    child.wait_with_output().expect("sesame finishes")
}

fn stdout_json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {text}"))
}

fn explain(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn create_user(dir: &Path, email: &str, username: &str, roles: &[&str], password: &str) -> Output {
    let mut cmd = sesame_in(dir);
    cmd.args(["user", "create", "--email", email, "--username", username]);
    for r in roles {
        cmd.args(["--role", r]);
    }
    cmd.arg("--password-stdin");
    run(cmd, Some(&format!("{password}\n")))
}

fn keys_list(dir: &Path) -> Vec<Value> {
    let mut cmd = sesame_in(dir);
    cmd.args(["keys", "list"]);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", explain(&out));
    stdout_json(&out)["keys"]
        .as_array()
        .expect("a keys list")
        .clone()
}

/// The keys of one family (`access` or `id_token`) in a keys list.
fn of_purpose(keys: &[Value], purpose: &str) -> Vec<Value> {
    keys.iter()
        .filter(|k| k["purpose"] == purpose)
        .cloned()
        .collect()
}

fn kid_in_state(keys: &[Value], state: &str) -> String {
    let found: Vec<&Value> = keys.iter().filter(|k| k["state"] == state).collect();
    assert_eq!(found.len(), 1, "one {state} key in {keys:?}");
    found[0]["kid"].as_str().expect("kid").to_string()
}

// ---- commands ----------------------------------------------------------------------------

#[test]
fn user_create_prints_the_user_with_its_roles() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = create_user(dir.path(), "a@example.com", "admin1", &["admin"], PASSWORD);
    assert!(out.status.success(), "{}", explain(&out));
    let user = stdout_json(&out);
    assert!(
        user["id"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()),
        "{user}"
    );
    assert_eq!(user["email"], "a@example.com");
    assert_eq!(user["username"], "admin1");
    assert_eq!(user["roles"], json!(["admin", "customer"]));
    let shown = format!("{user}");
    assert!(
        !shown.contains(PASSWORD) && !shown.contains("argon2"),
        "{shown}"
    );

    // The same email again is refused.
    let out = create_user(dir.path(), "a@example.com", "admin2", &[], PASSWORD);
    assert!(!out.status.success(), "{}", explain(&out));
}

#[test]
fn user_create_refuses_an_invalid_role() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = create_user(
        dir.path(),
        "r@example.com",
        "roles1",
        &["Not A Role!"],
        PASSWORD,
    );
    assert!(!out.status.success(), "{}", explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("role"),
        "{}",
        explain(&out)
    );
}

#[test]
fn user_create_refuses_a_weak_password_and_creates_nobody() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = create_user(dir.path(), "w@example.com", "weak1", &[], "password");
    assert!(!out.status.success(), "{}", explain(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("password"), "a message: {}", explain(&out));
    assert!(
        out.stdout.is_empty(),
        "nothing printed as created: {}",
        explain(&out)
    );

    // No user was created: the same email and username are still free.
    let out = create_user(dir.path(), "w@example.com", "weak1", &[], PASSWORD);
    assert!(out.status.success(), "{}", explain(&out));
}

#[test]
fn keys_list_shows_the_signing_key_and_the_next_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let all = keys_list(dir.path());
    assert_eq!(all.len(), 4, "access and ID-token keys: {all:?}");
    let keys = of_purpose(&all, "access");
    assert_eq!(keys.len(), 2, "{keys:?}");
    let current = kid_in_state(&keys, "current");
    let next = kid_in_state(&keys, "next");
    assert_ne!(current, next);
    for k in &keys {
        assert_eq!(k["alg"], "EdDSA", "{k}");
    }
    let id_keys = of_purpose(&all, "id_token");
    assert_eq!(id_keys.len(), 2, "{all:?}");
    for k in &id_keys {
        assert_eq!(k["alg"], "RS256", "{k}");
    }
    let id_current = kid_in_state(&id_keys, "current");
    // Listing again shows the same keys: they live in the database.
    let again = keys_list(dir.path());
    assert_eq!(
        kid_in_state(&of_purpose(&again, "access"), "current"),
        current
    );
    assert_eq!(kid_in_state(&of_purpose(&again, "access"), "next"), next);
    assert_eq!(
        kid_in_state(&of_purpose(&again, "id_token"), "current"),
        id_current
    );
}

#[test]
fn keys_rotate_promotes_the_next_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let all_before = keys_list(dir.path());
    let before = of_purpose(&all_before, "access");
    let old_current = kid_in_state(&before, "current");
    let old_next = kid_in_state(&before, "next");
    let id_before = of_purpose(&all_before, "id_token");
    let old_id_current = kid_in_state(&id_before, "current");
    let old_id_next = kid_in_state(&id_before, "next");

    let mut cmd = sesame_in(dir.path());
    cmd.args(["keys", "rotate"]);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", explain(&out));
    let all_after = stdout_json(&out)["keys"]
        .as_array()
        .expect("a keys list")
        .clone();
    assert_eq!(all_after.len(), 6, "{all_after:?}");
    let after = of_purpose(&all_after, "access");
    assert_eq!(after.len(), 3, "{after:?}");
    assert_eq!(
        kid_in_state(&after, "current"),
        old_next,
        "the former next key signs now"
    );
    assert_eq!(kid_in_state(&after, "retired"), old_current);
    let new_next = kid_in_state(&after, "next");
    assert!(new_next != old_current && new_next != old_next);
    // The ID-token family rotated in the same command.
    let id_after = of_purpose(&all_after, "id_token");
    assert_eq!(kid_in_state(&id_after, "current"), old_id_next);
    assert_eq!(kid_in_state(&id_after, "retired"), old_id_current);
    let new_id_next = kid_in_state(&id_after, "next");
    assert!(new_id_next != old_id_current && new_id_next != old_id_next);

    // The rotation was stored.
    let listed = keys_list(dir.path());
    assert_eq!(
        kid_in_state(&of_purpose(&listed, "access"), "current"),
        old_next
    );
    assert_eq!(
        kid_in_state(&of_purpose(&listed, "id_token"), "current"),
        old_id_next
    );
}

#[test]
fn client_create_takes_delegable_roles_and_refuses_invalid_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = sesame_in(dir.path());
    cmd.args([
        "client",
        "create",
        "--name",
        "orders",
        "--audience",
        "orders",
    ]);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", explain(&out));
    assert_eq!(
        stdout_json(&out)["delegable_roles"],
        json!([]),
        "none by default"
    );

    let mut cmd = sesame_in(dir.path());
    cmd.args([
        "client",
        "create",
        "--name",
        "support",
        "--audience",
        "tickets",
    ]);
    cmd.args([
        "--delegable-role",
        "support",
        "--delegable-role",
        "billing:read",
    ]);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", explain(&out));
    let created = stdout_json(&out);
    assert!(created["client_secret"].is_string(), "{created}");
    assert_eq!(
        created["delegable_roles"],
        json!(["support", "billing:read"])
    );

    let mut cmd = sesame_in(dir.path());
    cmd.args(["client", "create", "--name", "bad", "--audience", "tickets"]);
    cmd.args(["--delegable-role", "Not A Role!"]);
    let out = run(cmd, None);
    assert!(!out.status.success(), "{}", explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("delegable_roles"),
        "{}",
        explain(&out)
    );
}

#[test]
fn migrate_creates_the_database_and_exits_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = sesame_in(dir.path());
    cmd.arg("migrate");
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", explain(&out));
    assert!(dir.path().join("data/sesame.db").is_file());

    // Applying them again is a no-op.
    let mut cmd = sesame_in(dir.path());
    cmd.arg("migrate");
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", explain(&out));
}

#[test]
fn invalid_setting_exits_2_naming_the_variable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = sesame_in(dir.path());
    cmd.env("SESAME_ACCESS_TTL", "soon").arg("migrate");
    let out = run(cmd, None);
    assert_eq!(out.status.code(), Some(2), "{}", explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SESAME_ACCESS_TTL"),
        "{}",
        explain(&out)
    );
    assert!(
        !dir.path().join("data/sesame.db").exists(),
        "nothing was opened"
    );
}

/// A secret mounted as a file (Docker/Kubernetes secrets): `SESAME_DATABASE_URL_FILE` names it,
/// its content is the URL; an unreadable one stops start-up naming the variable and the path.
#[test]
fn secrets_are_read_from_the_files_their_file_variables_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("elsewhere.db");
    let secret = dir.path().join("database_url");
    std::fs::write(&secret, format!("sqlite://{}\n", db.display())).expect("secret file");
    let mut cmd = sesame_in(dir.path());
    cmd.env("SESAME_DATABASE_URL_FILE", &secret).arg("migrate");
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", explain(&out));
    assert!(db.exists(), "the database is where the secret file says");
    assert!(!dir.path().join("data/sesame.db").exists());

    let missing = dir.path().join("no-such-secret");
    let mut cmd = sesame_in(dir.path());
    cmd.env("SESAME_SMTP_URL_FILE", &missing).arg("migrate");
    let out = run(cmd, None);
    assert_eq!(out.status.code(), Some(2), "{}", explain(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SESAME_SMTP_URL_FILE") && stderr.contains(&missing.display().to_string()),
        "{}",
        explain(&out)
    );
}

/// Outside development (an issuer not on localhost) and without SMTP, emailed links would land
/// in the log: Sesame refuses to start unless `SESAME_EMAIL_LOG=on` says that is wanted.
#[test]
fn a_public_issuer_without_smtp_refuses_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = sesame_in(dir.path());
    cmd.env("SESAME_ISSUER", "https://id.example.com")
        .env(
            "SESAME_LISTEN",
            format!("127.0.0.1:{}", free_port().expect("a free port")),
        )
        .arg("serve");
    let out = run(cmd, None);
    assert_eq!(out.status.code(), Some(2), "{}", explain(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("configuration error")
            && stderr.contains("SESAME_EMAIL_LOG=on")
            && stderr.contains("SESAME_SMTP_URL")
            && stderr.contains("https://id.example.com (environment)"),
        "{}",
        explain(&out)
    );
    assert!(
        !dir.path().join("data/sesame.db").exists(),
        "nothing was opened"
    );
}

/// With `SESAME_EMAIL_LOG=on` it starts, and the log sender writes the message, link and all.
#[tokio::test]
async fn email_log_on_writes_links_to_the_log_for_a_public_issuer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port().expect("a free port");
    let mut cmd = sesame_in(dir.path());
    cmd.arg("serve")
        .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
        .env("SESAME_ISSUER", "https://id.example.com")
        .env("SESAME_EMAIL_LOG", "on")
        .env("SESAME_LOG", "info");
    let data = dir.path().join("data");
    let (server, client, base) = start_server(cmd, dir.path(), &data, port).await;
    let res = client
        .post(format!("{base}/auth/register"))
        .json(&json!({"email": "logged@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("register sent");
    assert_eq!(res.status(), StatusCode::CREATED, "{}", server.log());
    let deadline = Instant::now() + STARTUP_BOUND;
    while !server
        .log()
        .contains("https://id.example.com/verify-email?token=")
    {
        assert!(
            Instant::now() < deadline,
            "no verification link in the log\n{}",
            server.log()
        );
        tokio::time::sleep(POLL).await;
    }
    assert!(server.log().contains("SESAME_EMAIL_LOG=on"));
    let status = server.terminate().await;
    assert_eq!(status.code(), Some(0));
}

// ---- serving -----------------------------------------------------------------------------

/// A `sesame` server process; killed if a test fails before stopping it.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Only when a test failed before stopping it: no need to wait for a graceful exit.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status within the bound.
    async fn terminate(mut self) -> std::process::ExitStatus {
        process::terminate_async(&mut self.child, SHUTDOWN_BOUND)
            .await
            .unwrap_or_else(|e| panic!("sesame: {e:#}\n{}", self.log()))
    }
}

/// Starts `cmd` (logs to a file beside `data/`), waits for its certificate in `data_dir` and
/// then for /healthz to answer 200; returns the server and a client that trusts it.
async fn start_server(
    mut cmd: Command,
    dir: &Path,
    data_dir: &Path,
    port: u16,
) -> (Server, reqwest::Client, String) {
    let log = dir.join("server.log");
    let file = std::fs::File::create(&log).expect("log file");
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone().expect("log file"))
        .stderr(file);
    let mut server = Server {
        child: cmd.spawn().expect("sesame starts"),
        log,
    };
    let base = format!("https://localhost:{port}");
    let client =
        process::ready_over_tls(&data_dir.join("tls/cert.pem"), &base, STARTUP_BOUND, || {
            server
                .child
                .try_wait()
                .expect("child status")
                .map(|status| status.to_string())
        })
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", server.log()));
    (server, client, base)
}

#[tokio::test]
async fn zero_config_serve_in_a_fresh_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port().expect("a free port");
    let mut cmd = sesame(dir.path());
    cmd.env("SESAME_LISTEN", format!("127.0.0.1:{port}"));
    let data = dir.path().join("data");
    let (server, client, base) = start_server(cmd, dir.path(), &data, port).await;

    assert!(data.join("sesame.db").is_file(), "the embedded database");
    assert!(data.join("tls/cert.pem").is_file(), "the dev certificate");

    let res = client
        .post(format!("{base}/auth/register"))
        .json(&json!({"email": "zero@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("register sent");
    assert_eq!(res.status(), StatusCode::CREATED, "{}", server.log());
    let res = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"username": "zero@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login sent");
    assert_eq!(res.status(), StatusCode::OK);
    let t = tokens(&body(res).await);
    let res = client
        .get(format!("{base}/profile"))
        .bearer_auth(&t.access)
        .send()
        .await
        .expect("profile sent");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["email"], "zero@example.com");

    let status = server.terminate().await;
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
}

#[tokio::test]
async fn serve_creates_the_bootstrap_admin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port().expect("a free port");
    let admin_password = "bootstrap admin passphrase 7";
    let mut cmd = sesame_in(dir.path());
    cmd.arg("serve")
        .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
        .env("SESAME_BOOTSTRAP_ADMIN_EMAIL", "root@example.com")
        .env("SESAME_BOOTSTRAP_ADMIN_PASSWORD", admin_password);
    let data = dir.path().join("data");
    let (server, client, base) = start_server(cmd, dir.path(), &data, port).await;

    let res = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": "root@example.com", "password": admin_password}))
        .send()
        .await
        .expect("login sent");
    assert_eq!(res.status(), StatusCode::OK, "{}", server.log());
    let t = tokens(&body(res).await);
    let roles = jwt::part(&t.access, 1)["roles"].clone();
    assert!(
        roles
            .as_array()
            .is_some_and(|r| r.contains(&json!("admin"))),
        "{roles}"
    );
    assert!(
        !server.log().contains(admin_password),
        "the bootstrap password is never logged"
    );

    let status = server.terminate().await;
    assert_eq!(status.code(), Some(0));
}

// ---- secrets -----------------------------------------------------------------------------

#[test]
fn debug_output_hides_secrets() {
    let req: sesame::http::auth::LoginRequest =
        serde_json::from_str(r#"{"username": "alice", "password": "hunter2-very-secret"}"#)
            .expect("a login request");
    let shown = format!("{req:?}");
    assert!(shown.contains("alice"), "{shown}");
    assert!(!shown.contains("hunter2-very-secret"), "{shown}");

    let env: BTreeMap<String, String> = [
        (
            "SESAME_DATABASE_URL",
            "postgres://sesame:db-pass-s3cret@db.internal:5432/sesame",
        ),
        ("SESAME_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
        ("SESAME_BOOTSTRAP_ADMIN_PASSWORD", "admin-pass-s3cret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = sesame::Config::from_sources(None, &env).expect("valid config");
    let shown = format!("{config:?}");
    assert!(!shown.contains("db-pass-s3cret"), "{shown}");
    assert!(!shown.contains("admin-pass-s3cret"), "{shown}");
}

// ---- user import -------------------------------------------------------------------------

fn import_file(dir: &Path, lines: &[String]) -> PathBuf {
    let path = dir.join("users.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("file written");
    path
}

fn user_import(dir: &Path, file: &Path, extra: &[&str]) -> Output {
    let mut cmd = sesame_in(dir);
    cmd.args(["user", "import"]).arg(file).args(extra);
    run(cmd, None)
}

#[tokio::test]
async fn user_import_summarises_exits_3_on_rejected_lines_and_the_users_log_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bcrypt = bcrypt::hash(PASSWORD, 4).expect("bcrypt hash");
    let file = import_file(
        dir.path(),
        &[
            json!({"email": "ann@example.com", "username": "ann", "password_hash": bcrypt}).to_string(),
            json!({"email": "bad@example.com", "password_hash": format!("$2b$20${}", &bcrypt[7..])})
                .to_string(),
            json!({"email": "ANN@example.com", "password_hash": bcrypt}).to_string(),
        ],
    );
    let out = user_import(dir.path(), &file, &[]);
    assert_eq!(out.status.code(), Some(3), "{}", explain(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Imported 1 user(s) (bcrypt: 1)"),
        "{stdout}"
    );
    assert!(stdout.contains("Rejected 2 line(s):"), "{stdout}");
    assert!(
        stdout.contains("line 2: password_hash: bcrypt cost 20"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 3: duplicate email: already on line 1"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2 line(s) rejected"),
        "{}",
        explain(&out)
    );
    assert!(!stdout.contains(&bcrypt[7..]), "no hash in the summary");

    // Again: the imported user is skipped, the bad lines are still reported.
    let out = user_import(dir.path(), &file, &["--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", explain(&out));
    let report = stdout_json(&out);
    assert_eq!(report["imported"], 0, "{report}");
    assert_eq!(
        report["skipped"],
        json!([{"line": 1, "email": "ann@example.com"}])
    );
    assert_eq!(report["rejected"].as_array().map(Vec::len), Some(2));

    // A clean file exits 0; a dry run writes nothing.
    let clean = dir.path().join("clean.jsonl");
    std::fs::write(
        &clean,
        json!({"email": "cy@example.com", "password_hash": bcrypt}).to_string(),
    )
    .expect("file written");
    let out = user_import(dir.path(), &clean, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("Dry run: nothing was written.\nWould import 1 user(s)"),
        "{}",
        explain(&out)
    );
    let out = user_import(dir.path(), &clean, &["--dry-run"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Would import 1 user(s)"),
        "still not there: {}",
        explain(&out)
    );
    let out = user_import(dir.path(), &clean, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", explain(&out));

    // The imported users log in on the server with their original password.
    let port = free_port().expect("a free port");
    let mut cmd = sesame_in(dir.path());
    cmd.arg("serve")
        .env("SESAME_LISTEN", format!("127.0.0.1:{port}"));
    let data = dir.path().join("data");
    let (server, client, base) = start_server(cmd, dir.path(), &data, port).await;
    for login in ["ann", "cy@example.com"] {
        let res = client
            .post(format!("{base}/auth/login"))
            .json(&json!({"username": login, "password": PASSWORD}))
            .send()
            .await
            .expect("login sent");
        assert_eq!(res.status(), StatusCode::OK, "{login}: {}", server.log());
    }
    assert_eq!(server.terminate().await.code(), Some(0));
}

#[test]
fn user_import_of_a_missing_file_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = user_import(dir.path(), &dir.path().join("nope.jsonl"), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot open"),
        "{}",
        explain(&out)
    );
}

// ---- user unlock, user role (security review, finding 3: recovery without the API) --------

fn user_cmd(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = sesame_in(dir);
    cmd.arg("user").args(args);
    run(cmd, None)
}

#[test]
fn user_role_add_and_remove_keep_an_admin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    for (email, name, roles) in [
        ("root@example.com", "root", &["admin"][..]),
        ("ann@example.com", "ann", &[][..]),
    ] {
        let out = create_user(d, email, name, roles, PASSWORD);
        assert!(out.status.success(), "{}", explain(&out));
    }
    // The only admin cannot lose the role.
    let out = user_cmd(d, &["role", "remove", "root@example.com", "admin"]);
    assert!(!out.status.success(), "{}", explain(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("last active admin"), "{err}");

    let out = user_cmd(d, &["role", "add", "ANN@example.com", "admin"]);
    assert!(out.status.success(), "{}", explain(&out));
    let shown = stdout_json(&out);
    assert_eq!(shown["email"], "ann@example.com");
    assert_eq!(shown["roles"], json!(["admin", "customer"]));
    // Now root may step down, and ann is the last admin.
    let out = user_cmd(d, &["role", "remove", "root@example.com", "admin"]);
    assert!(out.status.success(), "{}", explain(&out));
    assert_eq!(stdout_json(&out)["roles"], json!(["customer"]));
    let out = user_cmd(d, &["role", "remove", "ann@example.com", "admin"]);
    assert!(!out.status.success(), "{}", explain(&out));

    for args in [
        &["role", "add", "nobody@example.com", "editor"][..],
        &["role", "add", "ann@example.com", "Not A Role!"][..],
        &["unlock", "nobody@example.com"][..],
    ] {
        let out = user_cmd(d, args);
        assert!(!out.status.success(), "{args:?}: {}", explain(&out));
        assert!(out.stdout.is_empty(), "{args:?}: {}", explain(&out));
    }
    let out = user_cmd(d, &["role", "add", "nobody@example.com", "editor"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no user with the email"),
        "{}",
        explain(&out)
    );
}

#[tokio::test]
async fn user_unlock_lets_a_locked_out_user_in_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().to_path_buf();
    for (email, name, roles) in [
        ("root@example.com", "root", &["admin"][..]),
        ("ann@example.com", "ann", &[][..]),
    ] {
        let out = create_user(&d, email, name, roles, PASSWORD);
        assert!(out.status.success(), "{}", explain(&out));
    }
    let port = free_port().expect("a free port");
    let mut cmd = sesame_in(&d);
    cmd.arg("serve")
        .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
        .env("SESAME_RATE_LIMIT", "off");
    let data = d.join("data");
    let (server, client, base) = start_server(cmd, &d, &data, port).await;
    let login = |password: &str| {
        client
            .post(format!("{base}/auth/login"))
            .json(&json!({"email": "ann@example.com", "password": password}))
            .send()
    };
    for _ in 0..5 {
        let res = login("wrong password here").await.expect("sent");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login(PASSWORD).await.expect("sent");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "{}", server.log());

    let dd = d.clone();
    let out = tokio::task::spawn_blocking(move || user_cmd(&dd, &["unlock", "ann@example.com"]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", explain(&out));
    let shown = stdout_json(&out);
    assert_eq!(shown["locked_until"], Value::Null, "{shown}");
    assert_eq!(shown["failed_logins"], 0, "{shown}");
    let res = login(PASSWORD).await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK, "{}", server.log());

    // Audited like the admin API's unlock, by the command line.
    let res = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": "root@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("sent");
    let admin = tokens(&body(res).await);
    let audit = client
        .get(format!("{base}/admin/audit?event=account_unlocked"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .expect("sent");
    let events = body(audit).await["events"].clone();
    assert_eq!(events.as_array().map(Vec::len), Some(1), "{events}");
    assert_eq!(events[0]["detail"]["by"], "command_line", "{events}");
    assert_eq!(server.terminate().await.code(), Some(0));
}

#[test]
fn client_create_takes_the_oauth_registration() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = sesame_in(dir.path());
    cmd.args(["client", "create", "--name", "spa", "--audience", "api"]);
    cmd.args(["--public", "--first-party"]);
    cmd.args(["--redirect-uri", "https://spa.example.com/cb"]);
    cmd.args(["--redirect-uri", "http://127.0.0.1/cb"]);
    cmd.args(["--backchannel-logout-uri", "https://spa.example.com/bcl"]);
    let out = run(cmd, None);
    assert!(out.status.success(), "{}", explain(&out));
    let created = stdout_json(&out);
    assert!(
        created.get("client_secret").is_none(),
        "public: no secret: {created}"
    );
    assert_eq!(created["public"], true);
    assert_eq!(created["first_party"], true);
    assert_eq!(
        created["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        created["redirect_uris"],
        json!(["https://spa.example.com/cb", "http://127.0.0.1/cb"])
    );

    let mut cmd = sesame_in(dir.path());
    cmd.args(["client", "create", "--name", "bad", "--audience", "api"]);
    cmd.args(["--redirect-uri", "https://*.example.com/cb"]);
    let out = run(cmd, None);
    assert!(!out.status.success(), "{}", explain(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("redirect_uris"),
        "{}",
        explain(&out)
    );
}
