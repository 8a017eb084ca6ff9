//! Logs: every line of a request carries its request id, JSON format works, and no password,
//! refresh token, access token or webhook secret ever reaches the log — checked on the real
//! binary's output.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use sesame_testkit::process;

const ADMIN_EMAIL: &str = "root@example.com";
const ADMIN_PASSWORD: &str = "Admin-Orbit-Lantern-8812";

/// The real binary, on SQLite in `dir` (its default `./data`), logging JSON to a file.
struct Running {
    child: std::process::Child,
    client: reqwest::Client,
    base: String,
    log_path: std::path::PathBuf,
}

async fn start(dir: &std::path::Path, level: &str) -> Running {
    let port = free_port().expect("a free port");
    let log_path = dir.join("sesame.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = process::sesame_command(env!("CARGO_BIN_EXE_sesame"), dir)
        .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
        .env("SESAME_LOG", level)
        .env("SESAME_LOG_FORMAT", "json")
        .env("SESAME_RATE_LIMIT", "off")
        // An admin to add a webhook with, and a receiver on loopback for it.
        .env("SESAME_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("SESAME_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SESAME_WEBHOOK_ALLOW_PRIVATE", "on")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut child = child;
    let base = format!("https://localhost:{port}");
    let client = process::ready_over_tls(
        &dir.join("data/tls/cert.pem"),
        &base,
        Duration::from_secs(10),
        || child.try_wait().unwrap().map(|s| s.to_string()),
    )
    .await
    .expect("sesame started within 10 s");
    Running {
        child,
        client,
        base,
        log_path,
    }
}

impl Running {
    /// SIGTERM, waits for the exit, and returns the whole log.
    async fn stop(mut self) -> String {
        // A graceful stop, so every line is written before the log is read.
        process::terminate_async(&mut self.child, Duration::from_secs(20))
            .await
            .expect("sesame stops on SIGTERM");
        std::fs::read_to_string(&self.log_path).unwrap()
    }
}

async fn run_flow_and_capture(level: &str) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), level).await;
    let c = running.client.clone();
    let base = running.base.clone();
    let password = "Zebra-Quartz-Nimbus-4471";
    let post = |path: &str, body: Value, bearer: Option<String>| {
        let mut r = c.post(format!("{base}{path}")).json(&body);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        r.send()
    };
    // A webhook: its secret is shown once, then only ever used to sign.
    let admin = tokens(
        &body(
            post(
                "/auth/login",
                json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
                None,
            )
            .await
            .unwrap(),
        )
        .await,
    );
    let receiver = crate::receiver::Receiver::start().await;
    let res = post(
        "/admin/webhooks",
        json!({"url": receiver.url, "events": ["user.created", "session.revoked"]}),
        Some(admin.access.clone()),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let webhook_secret = body(res).await["secret"].as_str().unwrap().to_string();
    let res = post(
        "/auth/register",
        json!({"email": "logs@example.com", "username": "logsuser", "password": password}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    post(
        "/auth/login",
        json!({"username": "logsuser", "password": "Wrong-Password-9931"}),
        None,
    )
    .await
    .unwrap();
    let t = tokens(
        &body(
            post(
                "/auth/login",
                json!({"username": "logsuser", "password": password}),
                None,
            )
            .await
            .unwrap(),
        )
        .await,
    );
    c.get(format!("{base}/profile"))
        .bearer_auth(&t.access)
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    let next = tokens(
        &body(
            post("/auth/token/refresh", json!({"refresh": t.refresh}), None)
                .await
                .unwrap(),
        )
        .await,
    );
    post("/auth/token/refresh", json!({"refresh": t.refresh}), None)
        .await
        .unwrap();
    let res = post(
        "/auth/logout",
        json!({"refresh_token": next.refresh}),
        Some(next.access.clone()),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Both deliveries made (user.created, the logout's session.revoked) before the log is read.
    let delivered = receiver.wait_for(2, Duration::from_secs(20)).await;
    assert_eq!(delivered.len(), 2, "the webhooks were delivered");
    let text = running.stop().await;
    let secrets = vec![
        webhook_secret.clone(),
        webhook_secret.trim_start_matches("whsec_").to_string(),
        ADMIN_PASSWORD.to_string(),
        password.to_string(),
        "Wrong-Password-9931".to_string(),
        t.access.clone(),
        t.refresh.clone(),
        next.access.clone(),
        next.refresh.clone(),
        // The signature part alone must not appear either.
        t.access.rsplit('.').next().unwrap().to_string(),
    ];
    (text, secrets)
}

#[tokio::test]
async fn debug_logs_carry_request_ids_and_no_secrets() {
    let (text, secrets) = run_flow_and_capture("debug").await;
    assert!(!text.is_empty());
    for s in &secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret reached the log: {}…",
            &s[..8.min(s.len())]
        );
    }
    let mut request_lines = 0;
    for line in text.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        if let Some(span) = v.get("span").filter(|s| s["name"] == "request") {
            request_lines += 1;
            assert!(
                span["request_id"]
                    .as_str()
                    .is_some_and(|id| !id.is_empty() && id != "-"),
                "{line}"
            );
        }
    }
    assert!(request_lines > 0, "request lines are logged at debug");
    assert!(
        text.contains("trace-me-123"),
        "a client's x-request-id is used in the logs"
    );
}

#[tokio::test]
async fn trace_logs_leak_no_secrets_either() {
    let (text, secrets) = run_flow_and_capture("trace").await;
    for s in &secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret reached the trace log: {}…",
            &s[..8.min(s.len())]
        );
    }
}

// Issue #16.1: the log line of a 500 carries the driver's own words (here SQLite's), not only
// "database error", once, under the request id the body gives; the body carries none of them.
#[tokio::test]
async fn a_500s_log_line_carries_the_drivers_cause() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "info").await;
    let url = format!("sqlite://{}", dir.path().join("data/sesame.db").display());
    rename_table(&url, "users", "users_gone").await;
    let res = running
        .client
        .post(format!("{}/auth/register", running.base))
        .header("x-request-id", "five-hundred-1")
        .json(&json!({"email": "logs500@example.com", "password": "Zebra-Quartz-Nimbus-4471"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let sent = res.text().await.unwrap();
    let text = running.stop().await;
    assert!(
        !sent.contains("no such table"),
        "the body names the cause: {sent}"
    );
    let failed: Vec<Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["message"] == "request failed" && v["request_id"] == "five-hundred-1")
        .collect();
    assert_eq!(failed.len(), 1, "one `request failed` line:\n{text}");
    let line = &failed[0];
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["status"], 500, "{line}");
    let cause = line["cause"].as_str().unwrap_or("");
    // The core error, the store error, then sqlx's rendering of SQLite's own message, once.
    assert!(
        cause.starts_with("internal error: database error: ")
            && cause.matches("no such table: users").count() == 1,
        "{line}"
    );
}

// Issue #19: a second factor's secret, its URI, the confirming code, the recovery codes and the
// mfa_token never reach the log, even at trace level.
#[tokio::test]
async fn second_factor_secrets_never_reach_the_trace_log() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "trace").await;
    let (c, base) = (running.client.clone(), running.base.clone());
    let password = "Zebra-Quartz-Nimbus-4471";
    let post = |path: &str, body: Value, bearer: Option<&str>| {
        let mut r = c.post(format!("{base}{path}")).json(&body);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        r.send()
    };
    let res = post(
        "/auth/register",
        json!({"email": "otp@example.com", "username": "otpuser", "password": password}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let login = json!({"username": "otpuser", "password": password});
    let t = tokens(&body(post("/auth/login", login.clone(), None).await.unwrap()).await);
    let started = body(
        post(
            "/auth/mfa/totp",
            json!({"password": password}),
            Some(&t.access),
        )
        .await
        .unwrap(),
    )
    .await;
    let secret = started["secret"].as_str().unwrap().to_string();
    let uri = started["otpauth_uri"].as_str().unwrap().to_string();
    let bytes = totp_rs::Secret::Encoded(secret.clone()).to_bytes().unwrap();
    let code = totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes)
        .generate(chrono::Utc::now().timestamp() as u64);
    let res = post(
        "/auth/mfa/totp/confirm",
        json!({"code": code}),
        Some(&t.access),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let recovery: Vec<String> = body(res).await["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let challenge = body(post("/auth/login", login, None).await.unwrap()).await;
    let mfa_token = challenge["mfa_token"].as_str().unwrap().to_string();
    let res = post(
        "/auth/mfa/verify",
        json!({"mfa_token": mfa_token, "recovery_code": recovery[0]}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let strong = tokens(&body(res).await);
    let text = running.stop().await;
    assert!(text.contains("/auth/mfa/verify"), "the requests are logged");
    let mut secrets = vec![
        secret,
        uri,
        mfa_token,
        strong.access,
        strong.refresh,
        format!("\"{code}\""),
    ];
    secrets.extend(recovery);
    for s in &secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret reached the trace log: {}…",
            &s[..8.min(s.len())]
        );
    }
}
