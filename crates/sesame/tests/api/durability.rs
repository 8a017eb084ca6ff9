//! Acknowledged writes survive `kill -9`: register (or refresh) under load, kill the process
//! mid-stream, restart on the same data dir, and every user that got a 201 is there — every
//! refresh token handed out in a 200 works.

use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use sesame_testkit::process;

fn start(dir: &std::path::Path, port: u16) -> Child {
    process::sesame_command(env!("CARGO_BIN_EXE_sesame"), dir)
        .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
        .env("SESAME_RATE_LIMIT", "off")
        .env("SESAME_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A client trusting the server's certificate, once it answers /healthz.
async fn wait_ready(dir: &std::path::Path, port: u16, child: &mut Child) -> reqwest::Client {
    let base = format!("https://localhost:{port}");
    process::ready_over_tls(
        &dir.join("data/tls/cert.pem"),
        &base,
        Duration::from_secs(10),
        || child.try_wait().unwrap().map(|s| s.to_string()),
    )
    .await
    .expect("sesame starts within 10 s")
}

/// Starts Sesame on `dir` at a free port: the process, a client trusting it, its base URL.
async fn launch(dir: &std::path::Path) -> (Child, reqwest::Client, String) {
    let port = free_port().expect("a free port");
    let mut child = start(dir, port);
    let client = wait_ready(dir, port, &mut child).await;
    (child, client, format!("https://localhost:{port}"))
}

#[tokio::test]
async fn acknowledged_registrations_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, client, base) = launch(dir.path()).await;
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (client, base, acknowledged, stop) = (
            client.clone(),
            base.clone(),
            acknowledged.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) && i < 2_000 {
                let email = format!("w{w}n{i}@example.com");
                i += 1;
                let res = client
                    .post(format!("{base}/auth/register"))
                    .json(&json!({"email": email, "password": PASSWORD}))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        acknowledged.lock().unwrap().push(email)
                    }
                    Ok(_) => {}
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    // Let some registrations through, then kill without warning.
    while acknowledged.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 100);

    // Restart on the same data dir and log in as every acknowledged user.
    let (mut child, client, base) = launch(dir.path()).await;
    let mut missing = Vec::new();
    for email in &acknowledged {
        let res = client
            .post(format!("{base}/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        if res.status() != StatusCode::OK {
            missing.push(email.clone());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged registrations lost: {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(5)]
    );
}

/// Refresh rotations are committed in groups (`store::group_commit`): each caller is answered
/// only after its batch's COMMIT. Sixteen sessions follow their chains as fast as they can; the
/// server is killed mid-stream; after the restart the last token each chain was handed works.
/// A rotation acknowledged but lost would leave that token unknown to its session — taken for
/// an old one, i.e. reuse, and refused.
#[tokio::test]
async fn acknowledged_refreshes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, client, base) = launch(dir.path()).await;
    let email = "chains@example.com";
    let res = client
        .post(format!("{base}/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let acks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..16 {
        let res = client
            .post(format!("{base}/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let mut last: String = body(res).await["refresh"].as_str().unwrap().into();
        let (client, base, acks) = (client.clone(), base.clone(), acks.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let res = client
                    .post(format!("{base}/auth/token/refresh"))
                    .json(&json!({"refresh": last}))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == StatusCode::OK => {
                        let Ok(b) = r.json::<serde_json::Value>().await else {
                            return last; // cut off mid-body: not acknowledged
                        };
                        last = b["refresh"].as_str().unwrap().into();
                        acks.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => panic!("refresh answered {}", r.status()),
                    Err(_) => return last, // the server is gone
                }
            }
        }));
    }
    while acks.load(Ordering::SeqCst) < 1_000 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut lasts = Vec::new();
    for w in workers {
        lasts.push(w.await.unwrap());
    }

    let (mut child, client, base) = launch(dir.path()).await;
    let mut refused = Vec::new();
    for last in &lasts {
        let res = client
            .post(format!("{base}/auth/token/refresh"))
            .json(&json!({"refresh": last}))
            .send()
            .await
            .unwrap();
        if res.status() != StatusCode::OK {
            refused.push(res.status());
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        refused.is_empty(),
        "{} of {} chains lost their acknowledged token ({} refreshes acknowledged): {refused:?}",
        refused.len(),
        lasts.len(),
        acks.load(Ordering::SeqCst)
    );
}

/// A change and its webhook deliveries commit together: users registered while the receiver is
/// down, the server killed with SIGKILL right after the last 201, then restarted — every
/// acknowledged registration reaches the receiver as `user.created`.
#[tokio::test]
async fn committed_webhooks_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let receiver_port = free_port().expect("a free port for the receiver");
    let hook_url = format!("http://127.0.0.1:{receiver_port}/hook");
    let admin_email = "root@example.com";
    let start = |port: u16| {
        process::sesame_command(env!("CARGO_BIN_EXE_sesame"), dir.path())
            .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
            .env("SESAME_RATE_LIMIT", "off")
            .env("SESAME_LOG", "warn")
            .env("SESAME_WEBHOOK_ALLOW_PRIVATE", "on")
            .env("SESAME_BOOTSTRAP_ADMIN_EMAIL", admin_email)
            .env("SESAME_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let port = free_port().expect("a free port");
    let mut child = start(port);
    let client = wait_ready(dir.path(), port, &mut child).await;
    let base = format!("https://localhost:{port}");
    let login = client
        .post(format!("{base}/auth/login"))
        .json(&json!({"email": admin_email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let admin = tokens(&body(login).await);
    let res = client
        .post(format!("{base}/admin/webhooks"))
        .bearer_auth(&admin.access)
        .json(&json!({"url": hook_url, "events": ["user.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    // Nobody listens on the receiver's port yet: every delivery waits in the outbox.
    let mut acknowledged = Vec::new();
    for i in 0..20 {
        let res = client
            .post(format!("{base}/auth/register"))
            .json(&json!({"email": format!("hooked{i}@example.com"), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        acknowledged.push(body(res).await["id"].as_str().unwrap().to_string());
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let receiver = crate::receiver::Receiver::on_port(receiver_port, 204).await;
    let port = free_port().expect("a free port");
    let mut child = start(port);
    wait_ready(dir.path(), port, &mut child).await;
    // Due within the first retry's 5 s — or, for a delivery that was being attempted at the
    // kill, once its lease (60 s) runs out.
    let got = receiver.wait_for(20, Duration::from_secs(90)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let mut delivered: Vec<String> = got
        .iter()
        .map(|r| r.json()["data"]["user_id"].as_str().unwrap().to_string())
        .collect();
    delivered.sort();
    delivered.dedup();
    acknowledged.sort();
    assert_eq!(delivered, acknowledged);
}
