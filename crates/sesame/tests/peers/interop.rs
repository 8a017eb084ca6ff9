//! Other ecosystems verify Sesame's tokens from its JWKS, and speak its OAuth endpoints.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::tools;

/// Runs a program with the test app's certificate trusted, returns stdout (asserting success).
/// It runs on the blocking pool: the app under test is served by this same runtime.
pub(crate) async fn run_with_trust(app: &TestApp, mut cmd: Command) -> String {
    let cert = app.data_dir.join("tls/cert.pem");
    cmd.env("SSL_CERT_FILE", &cert)
        .env("REQUESTS_CA_BUNDLE", &cert)
        .env("NODE_EXTRA_CA_CERTS", &cert);
    let (cmd, out) = tokio::task::spawn_blocking(move || {
        let out = cmd.output();
        (cmd, out)
    })
    .await
    .unwrap();
    let out = out.unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const PYJWT: &str = r#"
import json, sys, jwt
base, token, alg = sys.argv[1], sys.argv[2], sys.argv[3]
client = jwt.PyJWKClient(base + "/.well-known/jwks.json")
key = client.get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=[alg], audience="api", issuer="https://localhost:8443",
                    options={"require": ["exp", "iat", "sub", "aud", "iss"]})
print(json.dumps(claims))
# A tampered token must fail.
head, body, sig = token.split(".")
import base64
payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
payload["roles"] = ["admin"]
forged = ".".join([head, base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("="), sig])
try:
    jwt.decode(forged, key.key, algorithms=[alg], audience="api")
    print("FORGED-ACCEPTED")
except jwt.InvalidSignatureError:
    pass
"#;

const JOSE: &str = r#"
import { createRemoteJWKSet, jwtVerify } from 'jose';
const [base, token, alg] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(base + '/.well-known/jwks.json'));
const { payload, protectedHeader } = await jwtVerify(token, jwks, {
  issuer: 'https://localhost:8443', audience: 'api', algorithms: [alg], typ: 'at+jwt',
});
console.log(JSON.stringify({ sub: payload.sub, alg: protectedHeader.alg }));
try {
  await jwtVerify(token, jwks, { audience: 'other' });
  console.log('WRONG-AUDIENCE-ACCEPTED');
} catch (e) {}
"#;

#[tokio::test]
async fn pyjwt_and_jose_verify_tokens_for_every_algorithm() {
    let (py, node_dir) = tokio::task::spawn_blocking(|| (tools::python(), tools::node()))
        .await
        .unwrap();
    for alg in ["EdDSA", "ES256", "RS256"] {
        let app = spawn_app_with(&[("SESAME_SIGNING_ALG", alg)]).await;
        let user = app.new_user().await;
        let mut cmd = Command::new(&py);
        cmd.args(["-c", PYJWT, &app.base, &user.tokens.access, alg]);
        let out = run_with_trust(&app, cmd).await;
        assert!(
            !out.contains("FORGED-ACCEPTED"),
            "{alg}: PyJWT accepted a forged token"
        );
        let claims: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(claims["sub"], user.id, "{alg} via PyJWT");

        let script = node_dir.join(format!("verify-{alg}.mjs"));
        std::fs::write(&script, JOSE).unwrap();
        let mut cmd = Command::new("node");
        cmd.arg(&script)
            .args([&app.base, &user.tokens.access, alg])
            .current_dir(&node_dir);
        let out = run_with_trust(&app, cmd).await;
        assert!(
            !out.contains("WRONG-AUDIENCE-ACCEPTED"),
            "{alg}: jose accepted the wrong audience"
        );
        let v: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(v, json!({"sub": user.id, "alg": alg}), "{alg} via jose");
    }
}

const PYJWT_ID_TOKEN: &str = r#"
import json, sys, jwt
base, token = sys.argv[1], sys.argv[2]
client = jwt.PyJWKClient(base + "/.well-known/jwks.json")
key = client.get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="app-1",
                    issuer="https://localhost:8443", options={"require": ["exp", "iat", "sub", "aud", "iss"]})
print(json.dumps({"claims": claims, "kty": key.key_type, "typ": jwt.get_unverified_header(token)["typ"]}))
"#;

/// An OpenID client library loads the RS256 ID-token key from the JWKS it shares with the
/// EdDSA access keys, and verifies an ID token signed by Sesame's ID-token key with it.
#[tokio::test]
async fn pyjwt_verifies_an_id_token_with_the_published_rs256_key() {
    let py = tokio::task::spawn_blocking(tools::python).await.unwrap();
    let app = spawn_app().await;
    let now = app.sesame.now().timestamp();
    let claims = json!({"iss": "https://localhost:8443", "sub": "user-1", "aud": "app-1",
                        "iat": now, "exp": now + 300, "nonce": "n-0S6"});
    let token = app
        .sesame
        .key_ring()
        .current()
        .id_token
        .sign_jwt_typed("JWT", &claims)
        .expect("signs");
    let mut cmd = Command::new(&py);
    cmd.args(["-c", PYJWT_ID_TOKEN, &app.base, &token]);
    let out = run_with_trust(&app, cmd).await;
    let got: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(got, json!({"claims": claims, "kty": "RSA", "typ": "JWT"}));
}

const AUTHLIB: &str = r#"
import json, sys
from authlib.integrations.requests_client import OAuth2Session
base, cid, secret, user_token = sys.argv[1:5]
out = {}
for method in ["client_secret_basic", "client_secret_post"]:
    s = OAuth2Session(cid, secret, token_endpoint_auth_method=method, scope="cart:read")
    tok = s.fetch_token(base + "/oauth/token", grant_type="client_credentials", audience="cart_service")
    out[method] = {"token_type": tok["token_type"], "scope": tok.get("scope"), "expires_in": tok["expires_in"], "access_token": tok["access_token"]}
s = OAuth2Session(cid, secret, token_endpoint_auth_method="client_secret_basic")
r = s.introspect_token(base + "/oauth/introspect", token=user_token)
out["introspect"] = r.json()
r = s.revoke_token(base + "/oauth/revoke", token=user_token, token_type_hint="access_token")
out["revoke_status"] = r.status_code
r = s.introspect_token(base + "/oauth/introspect", token=user_token)
out["introspect_after"] = r.json()
bad = OAuth2Session(cid, "wrong", token_endpoint_auth_method="client_secret_basic")
try:
    bad.fetch_token(base + "/oauth/token", grant_type="client_credentials")
    out["bad"] = "accepted"
except Exception as e:
    out["bad"] = type(e).__name__ + ":" + str(getattr(e, "error", ""))
print(json.dumps(out))
"#;

#[tokio::test]
async fn authlib_does_client_credentials_introspection_and_revocation() {
    let py = tokio::task::spawn_blocking(tools::python).await.unwrap();
    let app = spawn_app().await;
    let admin = app.new_admin().await.tokens;
    // `api` too: introspection answers only for the caller's audiences, and the user's token
    // it introspects is for Sesame's own (api).
    let res = app.post_auth("/admin/clients", &admin.access, json!({"name": "cart", "audiences": ["cart_service", "api"], "scopes": ["cart:read", "cart:write"]})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let c = body(res).await;
    let user = app.new_user().await;
    let mut cmd = Command::new(&py);
    cmd.args([
        "-c",
        AUTHLIB,
        &app.base,
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
        &user.tokens.access,
    ]);
    let out: Value = serde_json::from_str(run_with_trust(&app, cmd).await.trim()).unwrap();
    for method in ["client_secret_basic", "client_secret_post"] {
        assert_eq!(out[method]["token_type"], "Bearer", "{out}");
        assert_eq!(out[method]["scope"], "cart:read");
        let claims = jwt::part(out[method]["access_token"].as_str().unwrap(), 1);
        assert_eq!(claims["aud"], "cart_service");
    }
    assert_eq!(out["introspect"]["active"], true);
    assert_eq!(out["introspect"]["sub"], user.id);
    assert_eq!(out["revoke_status"], 200);
    assert_eq!(out["introspect_after"], json!({"active": false}));
    assert!(
        out["bad"].as_str().unwrap().contains("invalid_client"),
        "{out}"
    );
}
