//! Reading Sesame's answers (and those of services speaking its error contract, like the
//! gallery): the body as JSON, the `{detail, code}` errors of API.md, issued tokens.
//!
//! These are assertions: they panic with what they found, and that panic is the test failing.

// Test code that lives in a library (publish = false): panicking is how it reports.
#![allow(clippy::expect_used, clippy::panic)]

use reqwest::{Response, StatusCode};
use serde_json::Value;

/// The body as JSON: `Null` when empty, a JSON string holding the text when it is not JSON (so
/// an assertion message shows whatever came back).
pub async fn body(res: Response) -> Value {
    let text = res.text().await.expect("a readable response body");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Asserts an error answer as the contract shapes it: `status`, a JSON body, its `code`, and a
/// non-empty `detail` sentence. Returns the body.
pub async fn assert_error(res: Response, status: StatusCode, code: &str) -> Value {
    let got = res.status();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let b = body(res).await;
    assert_eq!(got, status, "status of {b}");
    assert!(
        content_type.starts_with("application/json"),
        "errors are JSON, got {content_type:?}: {b}"
    );
    assert_eq!(b["code"], code, "code in {b}");
    assert!(
        b["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "detail in {b}"
    );
    b
}

/// The tokens of a login or refresh answer.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

/// Takes the `access` and `refresh` tokens out of a login or refresh answer.
pub fn tokens(v: &Value) -> Tokens {
    Tokens {
        access: v["access"].as_str().expect("an access token").to_string(),
        refresh: v["refresh"].as_str().expect("a refresh token").to_string(),
    }
}
