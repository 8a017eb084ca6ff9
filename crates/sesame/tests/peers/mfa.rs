//! An authenticator app's view of Sesame's TOTP: Python's pyotp (an implementation of RFC 6238
//! that shares nothing with Sesame's) reads the `otpauth://` URI Sesame hands out, as the apps
//! do from its QR code, and computes the codes; Sesame accepts them to confirm the enrollment
//! and to finish a login.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sesame_core::Clock as _;

use crate::helpers::*;
use crate::interop::run_with_trust;
use crate::tools;

/// Parses the URI with pyotp and prints what it understood and its code at unix time `at`.
const PYOTP: &str = r#"
import json, sys, pyotp
uri, at = sys.argv[1], int(sys.argv[2])
totp = pyotp.parse_uri(uri)
print(json.dumps({
    "name": totp.name, "issuer": totp.issuer, "digits": totp.digits,
    "interval": totp.interval, "digest": totp.digest().name, "code": totp.at(at),
}))
"#;

async fn pyotp(app: &TestApp, uri: &str) -> Value {
    let py = tokio::task::spawn_blocking(tools::python).await.unwrap();
    let mut cmd = Command::new(py);
    cmd.args(["-c", PYOTP, uri, &app.clock.now().timestamp().to_string()]);
    serde_json::from_str(&run_with_trust(app, cmd).await).unwrap()
}

#[tokio::test]
async fn pyotp_reads_the_otpauth_uri_and_its_codes_are_accepted() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app
        .post_auth(
            "/auth/mfa/totp",
            &user.tokens.access,
            json!({"password": user.password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let uri = body(res).await["otpauth_uri"].as_str().unwrap().to_string();

    let app_view = pyotp(&app, &uri).await;
    assert_eq!(app_view["issuer"], "Sesame");
    assert_eq!(app_view["name"], user.email);
    assert_eq!(app_view["digits"], 6);
    assert_eq!(app_view["interval"], 30);
    assert_eq!(app_view["digest"], "sha1");
    let res = app
        .post_auth(
            "/auth/mfa/totp/confirm",
            &user.tokens.access,
            json!({"code": app_view["code"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "pyotp's code confirms");

    // The next step's code, from pyotp again, finishes a login.
    app.advance(30);
    let res = app.login_raw(&user.username, &user.password).await;
    let challenge = assert_error(res, StatusCode::UNAUTHORIZED, "mfa_required").await;
    let code = pyotp(&app, &uri).await["code"].clone();
    let res = app
        .post(
            "/auth/mfa/verify",
            json!({"mfa_token": challenge["mfa_token"], "code": code}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let claims = jwt::part(&tokens(&body(res).await).access, 1);
    assert_eq!(claims["acr"], "aal2");
}
