//! The documentation's examples of checking a token's status list offline
//! (docs/examples/status_list.py with PyJWT + zlib, docs/examples/status_list.mjs with jose +
//! zlib), run as they are against a real Sesame: a live session's token is "valid", the same
//! token after its logout "revoked".

use std::path::PathBuf;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::interop::run_with_trust;
use crate::tools;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/examples/{name}"))
}

/// (python, node) verdicts for `token`, Sesame reached at the app's address.
async fn verdicts(app: &TestApp, token: &str) -> (String, String) {
    let (py, node_dir) = tokio::task::spawn_blocking(|| (tools::python(), tools::node()))
        .await
        .unwrap();
    let issuer = app.sesame.settings().issuer.clone();
    let mut cmd = Command::new(&py);
    cmd.arg(example("status_list.py"))
        .args([&issuer, "api", token, &app.base]);
    let python = run_with_trust(app, cmd).await.trim().to_string();
    // Node resolves `jose` from the script's own directory.
    let script = node_dir.join("status_list.mjs");
    std::fs::copy(example("status_list.mjs"), &script).unwrap();
    let mut cmd = Command::new("node");
    cmd.arg(&script)
        .args([&issuer, "api", token, &app.base])
        .current_dir(&node_dir);
    let node = run_with_trust(app, cmd).await.trim().to_string();
    (python, node)
}

#[tokio::test]
async fn the_docs_examples_see_a_logout_in_the_status_list() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (py, node) = verdicts(&app, &user.tokens.access).await;
    assert_eq!((py.as_str(), node.as_str()), ("valid", "valid"));

    let res = app
        .post(
            "/auth/logout",
            json!({"refresh_token": user.tokens.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (py, node) = verdicts(&app, &user.tokens.access).await;
    assert_eq!((py.as_str(), node.as_str()), ("revoked", "revoked"));
}
