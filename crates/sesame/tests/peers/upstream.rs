//! Issue #22: a person signs in to Sesame through a real OpenID provider — Node's
//! oidc-provider (panva's, OpenID-certified) with its own login and consent pages — in a real
//! headless Chromium. Alice (email verified at the provider) gets an account and is signed in;
//! Mallory, who registered a Sesame user's address at the provider without verifying it, takes
//! over nothing. (The refusals one by one are in `tests/api/upstream.rs`, against a stand-in
//! whose ID tokens the test writes.)

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::Locator;

use crate::harness::{Browser, Options, with_browser};
use crate::helpers::*;
use crate::tools;

/// The provider as a child process, killed with the test.
struct Op {
    child: std::process::Child,
    issuer: String,
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = sesame_testkit::process::terminate(&mut self.child, Duration::from_secs(5));
    }
}

fn start_op(port: u16, redirect: &str, mallorys_email: &str) -> Op {
    let dir = tools::node();
    // ESM resolves packages from the script's own directory: run a copy beside node_modules.
    let script = dir.join("oidc_provider.mjs");
    std::fs::copy(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc_provider.mjs"),
        &script,
    )
    .unwrap();
    let mut child = Command::new("node")
        .arg(&script)
        .args([&port.to_string(), redirect, mallorys_email])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // Keep reading what it prints (its pages log to stdout): a closed pipe would end it.
    std::thread::spawn(move || for _ in out.lines() {});
    let v: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the provider did not start ({e}): {line:?}"));
    Op {
        child,
        issuer: v["issuer"].as_str().unwrap().to_string(),
    }
}

/// Sesame with the provider as `[[upstream]] op`.
async fn sesame_with_op(op_port: u16) -> TestApp {
    let dir = tempfile::tempdir().unwrap().keep();
    let path = dir.join("sesame.toml");
    std::fs::write(
        &path,
        format!(
            "[[upstream]]\nid = \"op\"\nkind = \"oidc\"\nname = \"Example OP\"\nissuer = \"http://127.0.0.1:{op_port}\"\nclient_id = \"sesame\"\nclient_secret = \"op-secret\"\n"
        ),
    )
    .unwrap();
    // The redirect URI the provider checks is built from the issuer: listen where it says.
    let port = free_port().unwrap();
    let app = spawn_app_with(&[
        ("SESAME_CONFIG", path.to_str().unwrap()),
        ("SESAME_LISTEN", &format!("127.0.0.1:{port}")),
        ("SESAME_ISSUER", &format!("https://localhost:{port}")),
    ])
    .await;
    assert_eq!(app.sesame.settings().issuer, app.base);
    app
}

/// The provider's development login and consent pages, answered as `who`.
async fn log_in_at_op(b: &Browser, who: &str) {
    let login = b.find("input[name=login]").await;
    login.send_keys(who).await.unwrap();
    b.find("input[name=password]")
        .await
        .send_keys("any password")
        .await
        .unwrap();
    b.find("button[type=submit]").await.click().await.unwrap();
    // Consent ("Continue"), then back to Sesame.
    for _ in 0..200 {
        if b.path().await.contains("/interaction/")
            && let Ok(button) = b.client.find(Locator::Css("button[type=submit]")).await
            && b.text().await.contains("Authorize")
        {
            // The page may move on between finding the button and clicking it (the element
            // goes stale, seen once in CI): look again rather than fail.
            if button.click().await.is_ok() {
                break;
            }
            continue;
        }
        if !b
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("127.0.0.1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_back_at_sesame(b: &Browser, base: &str) {
    for _ in 0..400 {
        if b.client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(base)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "never back at Sesame: {}",
        b.client.current_url().await.unwrap()
    );
}

#[tokio::test]
async fn a_person_signs_in_through_a_real_openid_provider_and_nobody_takes_over_an_account() {
    let op_port = free_port().unwrap();
    let app = sesame_with_op(op_port).await;
    let victim = app.new_user().await;
    let op = start_op(
        op_port,
        &format!("{}/signin/op/callback", app.base),
        &victim.email,
    );
    assert_eq!(op.issuer, format!("http://127.0.0.1:{op_port}"));
    let base = app.base.clone();

    // Alice: a new account, signed in.
    let b_base = base.clone();
    with_browser("upstream_alice", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&format!("{b_base}/signin")).await;
            b.follow("a[href='/signin/op']").await;
            log_in_at_op(b, "alice").await;
            wait_back_at_sesame(b, &b_base).await;
            b.wait_for_path("/account").await;
            let text = b.text().await;
            assert!(text.contains("alice@op.example"), "{text}");
            assert!(
                !text.contains("not confirmed yet"),
                "verified by the provider: {text}"
            );
            b.goto(&format!("{b_base}/account/security")).await;
            let text = b.text().await;
            assert!(
                text.contains("Example OP"),
                "the linked identity is listed: {text}"
            );
        })
    })
    .await;
    let alice = app
        .sesame
        .store()
        .find_user_by_login("alice@op.example")
        .await
        .unwrap()
        .expect("alice's account");
    let ids = app.sesame.store().list_identities(alice.id).await.unwrap();
    assert_eq!(
        (ids[0].provider.as_str(), ids[0].subject.as_str()),
        ("op", "alice")
    );

    // Mallory, with the victim's address unverified at the provider: refused, nothing linked.
    let b_base = base.clone();
    with_browser("upstream_mallory", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&format!("{b_base}/signin/op")).await;
            log_in_at_op(b, "mallory").await;
            wait_back_at_sesame(b, &b_base).await;
            for _ in 0..200 {
                if b.text().await.contains("Sign in to it with your password") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let text = b.text().await;
            assert!(text.contains("Sign in to it with your password"), "{text}");
            assert!(b.path().await.starts_with("/signin/op/callback"));
        })
    })
    .await;
    let victim_id = victim.id.parse().unwrap();
    assert!(
        app.sesame
            .store()
            .list_identities(victim_id)
            .await
            .unwrap()
            .is_empty()
    );
    drop(op);
}
