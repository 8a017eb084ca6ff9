//! Sesame's webhook signatures checked by the official Standard Webhooks libraries — PyPI
//! `standardwebhooks` and npm `standardwebhooks` — in the documentation's receivers
//! (docs/examples/webhook_receiver.py and .mjs), run as they are: a delivery captured by the
//! test's receiver, replayed to them byte for byte, is accepted; the same delivery with its body
//! changed is refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::receiver::{Received, Receiver};
use crate::tools;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/examples/{name}"))
}

/// A receiver program, killed when dropped.
struct Program {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Program {
    async fn start(mut cmd: Command, secret: &str, dir: &Path, name: &str) -> Self {
        let port = free_port().expect("a free port");
        let log = dir.join(format!("{name}.log"));
        let child = cmd
            .arg(port.to_string())
            .arg(&log)
            .env("SESAME_WEBHOOK_SECRET", secret)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} starts: {e}"));
        let mut program = Program { child, port, log };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return program;
            }
            if let Some(status) = program.child.try_wait().unwrap() {
                panic!("the {name} receiver exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the {name} receiver did not listen within 20 s");
    }

    /// POSTs `body` with the delivery's headers, as Sesame sent them; the receiver's answer.
    async fn replay(&self, delivery: &Received, body: &str) -> StatusCode {
        let mut req = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/hook", self.port))
            .body(body.to_string());
        for name in [
            "content-type",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
        ] {
            req = req.header(name, delivery.header(name));
        }
        req.send().await.unwrap().status()
    }

    fn logged(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn the_standard_webhooks_libraries_verify_sesames_signatures() {
    let app = spawn_app_with(&[("SESAME_WEBHOOK_ALLOW_PRIVATE", "on")]).await;
    let admin = app.new_admin().await;
    let capture = Receiver::start().await;
    let res = app
        .post_auth(
            "/admin/webhooks",
            &admin.tokens.access,
            json!({"url": capture.url, "events": ["user.created", "session.revoked"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let secret = body(res).await["secret"].as_str().unwrap().to_string();
    let user = app.new_user().await;
    let res = app
        .post("/auth/logout", json!({"refresh": user.tokens.refresh}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.flush_webhooks().await;
    let deliveries = capture.received();
    assert_eq!(deliveries.len(), 2);

    let (python, node_dir) = tokio::task::spawn_blocking(|| (tools::python(), tools::node()))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut py = Command::new(&python);
    py.arg(example("webhook_receiver.py"));
    // Node resolves `standardwebhooks` from the script's own directory.
    let script = node_dir.join("webhook_receiver.mjs");
    std::fs::copy(example("webhook_receiver.mjs"), &script).unwrap();
    let mut node = Command::new("node");
    node.arg(&script).current_dir(&node_dir);
    for (name, cmd) in [("python", py), ("node", node)] {
        let receiver = Program::start(cmd, &secret, dir.path(), name).await;
        for d in &deliveries {
            assert_eq!(
                receiver.replay(d, &d.body).await,
                StatusCode::NO_CONTENT,
                "{name} accepts {}",
                d.body
            );
            // The body with its user id changed: the signature no longer matches.
            let tampered = d.body.replacen(&user.id, &user.id.replace('-', "_"), 1);
            assert_ne!(tampered, d.body);
            assert_eq!(
                receiver.replay(d, &tampered).await,
                StatusCode::BAD_REQUEST,
                "{name} refuses a changed body"
            );
        }
        let logged = receiver.logged();
        assert_eq!(logged.len(), 4, "{name}: {logged:?}");
        let verified: Vec<&Value> = logged.iter().filter(|l| l["verified"] == true).collect();
        assert_eq!(verified.len(), 2, "{name}: {logged:?}");
        let mut types: Vec<&str> = verified
            .iter()
            .map(|l| l["event"]["type"].as_str().unwrap())
            .collect();
        types.sort();
        assert_eq!(types, ["session.revoked", "user.created"], "{name}");
        assert!(
            verified
                .iter()
                .all(|l| l["event"]["data"]["user_id"] == user.id.as_str()),
            "{name}: {verified:?}"
        );
        assert!(
            logged
                .iter()
                .filter(|l| l["verified"] == false)
                .all(|l| l["error"].as_str().unwrap().contains("signature")),
            "{name}: {logged:?}"
        );
    }
}
