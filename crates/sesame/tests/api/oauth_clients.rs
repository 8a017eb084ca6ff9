//! OAuth clients (issue #18): the registration of apps people sign in to through Sesame —
//! redirect URIs, grant types, public and first-party clients — in the admin API, and what it
//! already changes for the grants that exist (a client uses only the grants it is registered for;
//! a public client never authenticates).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::oauth::{admin_token, form};

async fn create(app: &TestApp, admin: &str, body: Value) -> reqwest::Response {
    app.post_auth("/admin/clients", admin, body).await
}

#[tokio::test]
async fn an_app_client_is_registered_with_its_redirect_uris_and_code_grants() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let res = create(
        &app,
        &admin,
        json!({
            "name": "Photos web", "audiences": ["api"],
            "redirect_uris": ["https://photos.example.com/cb", "http://127.0.0.1/cb", "com.example.photos:/cb"],
            "post_logout_redirect_uris": ["https://photos.example.com/bye"],
            "first_party": true,
            "backchannel_logout_uri": "https://photos.example.com/backchannel",
        }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body(res).await;
    assert!(b["client_secret"].is_string(), "confidential by default");
    assert_eq!(
        b["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(b["public"], false);
    assert_eq!(b["first_party"], true);
    assert_eq!(
        b["backchannel_logout_uri"],
        "https://photos.example.com/backchannel"
    );

    let listed = body(app.get("/admin/clients", Some(&admin)).await).await;
    let c = &listed["clients"][0];
    assert_eq!(c["client_id"], b["client_id"]);
    assert_eq!(
        c["redirect_uris"],
        json!([
            "https://photos.example.com/cb",
            "http://127.0.0.1/cb",
            "com.example.photos:/cb"
        ])
    );
    assert_eq!(
        c["post_logout_redirect_uris"],
        json!(["https://photos.example.com/bye"])
    );
    assert!(c.get("client_secret").is_none(), "never listed");

    // Registered for the code flow only: the service grant is refused (RFC 6749 §5.2).
    let res = form(
        &app,
        "/oauth/token",
        Some((
            b["client_id"].as_str().unwrap(),
            b["client_secret"].as_str().unwrap(),
        )),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(res).await["error"], "unauthorized_client");
}

#[tokio::test]
async fn a_public_client_has_no_secret_and_never_authenticates() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let res = create(
        &app,
        &admin,
        json!({"name": "CLI", "audiences": ["api"], "public": true,
               "redirect_uris": ["http://127.0.0.1/callback"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body(res).await;
    assert!(b.get("client_secret").is_none(), "{b}");
    assert_eq!(b["public"], true);
    let id = b["client_id"].as_str().unwrap();
    // Not with an empty secret, not with any other: a public client is not authenticated.
    for secret in ["", "guess"] {
        let res = form(
            &app,
            "/oauth/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "secret {secret:?}");
        assert_eq!(body(res).await["error"], "invalid_client");
    }
}

#[tokio::test]
async fn services_keep_their_grants() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let res = create(
        &app,
        &admin,
        json!({"name": "billing", "audiences": ["api"]}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body(res).await;
    assert_eq!(
        b["grant_types"],
        json!([
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(b["redirect_uris"], json!([]));
    let res = form(
        &app,
        "/oauth/token",
        Some((
            b["client_id"].as_str().unwrap(),
            b["client_secret"].as_str().unwrap(),
        )),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn registrations_that_break_the_rules_are_refused_field_by_field() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    for (registration, field) in [
        (
            json!({"redirect_uris": ["https://*.example.com/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"redirect_uris": ["https://app.example.com/cb#x"]}),
            "redirect_uris",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "redirect_uris",
        ),
        (
            json!({"redirect_uris": ["http://app.example.com/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"redirect_uris": ["http://localhost/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"grant_types": ["authorization_code"]}),
            "redirect_uris",
        ),
        (json!({"grant_types": ["password"]}), "grant_types"),
        (json!({"grant_types": ["implicit"]}), "grant_types"),
        (
            json!({"public": true, "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (
            json!({"redirect_uris": ["https://a.example.com/cb"], "backchannel_logout_uri": "http://a.example.com/bcl"}),
            "backchannel_logout_uri",
        ),
        (
            json!({"redirect_uris": ["https://a.example.com/cb"], "post_logout_redirect_uris": ["data:text/html,x"]}),
            "post_logout_redirect_uris",
        ),
    ] {
        let mut req = json!({"name": "bad", "audiences": ["api"]});
        for (k, v) in registration.as_object().unwrap() {
            req[k] = v.clone();
        }
        let res = create(&app, &admin, req.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{req}");
        let b = body(res).await;
        assert_eq!(b["code"], "invalid_request", "{req}: {b}");
        assert!(b["fields"][field].is_array(), "{req}: {b}");
    }
    let listed = body(app.get("/admin/clients", Some(&admin)).await).await;
    assert_eq!(listed["clients"], json!([]), "nothing was created");
}

#[tokio::test]
async fn dynamic_registration_is_404_unless_turned_on() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/oauth/register",
            json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}),
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let doc = body(app.get("/.well-known/openid-configuration", None).await).await;
    assert!(doc.get("registration_endpoint").is_none(), "{doc}");
}

#[tokio::test]
async fn an_app_registers_itself_as_a_public_code_client() {
    let app = spawn_app_with(&[
        ("SESAME_DYNAMIC_REGISTRATION", "on"),
        ("SESAME_AUDIENCES", "api,mcp,gallery"),
        ("SESAME_DYNAMIC_AUDIENCES", "mcp"),
    ])
    .await;
    let doc = body(app.get("/.well-known/openid-configuration", None).await).await;
    assert_eq!(
        doc["registration_endpoint"],
        format!("{}/oauth/register", app.sesame.settings().issuer)
    );
    let res = app
        .post(
            "/oauth/register",
            json!({
                "client_name": "Claude Desktop",
                "redirect_uris": ["http://127.0.0.1/callback"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "scope": "openid profile offline_access",
                "logo_uri": "https://example.com/logo.png",
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let b = body(res).await;
    assert_eq!(b["client_name"], "Claude Desktop");
    assert_eq!(b["token_endpoint_auth_method"], "none");
    assert_eq!(
        b["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(b["response_types"], json!(["code"]));
    assert_eq!(b["scope"], "openid profile offline_access");
    assert!(b["client_id_issued_at"].is_i64());
    assert!(b.get("client_secret").is_none());

    // It is a client like any other to the admin: public, not first-party, and its tokens are
    // for itself or the services the operator named (`resource=mcp`; not `gallery`), never
    // Sesame's own audience (see
    // `oidc::an_apps_access_token_carries_only_the_roles_the_app_may_delegate`).
    let admin = admin_token(&app).await;
    let listed = body(app.get("/admin/clients", Some(&admin)).await).await;
    let c = listed["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == b["client_id"])
        .expect("listed")
        .clone();
    assert_eq!(c["public"], true);
    assert_eq!(c["first_party"], false);
    assert_eq!(c["audiences"], json!([b["client_id"], "mcp"]));
}

#[tokio::test]
async fn dynamic_registrations_that_break_the_rules_are_refused() {
    let app = spawn_app_with(&[("SESAME_DYNAMIC_REGISTRATION", "on")]).await;
    for (metadata, error) in [
        (
            json!({"redirect_uris": ["https://*.example.com/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (json!({}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "scope": "openid admin"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": "https://a.example/cb"}),
            "invalid_client_metadata",
        ),
    ] {
        let res = app.post("/oauth/register", metadata.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{metadata}");
        let b = body(res).await;
        assert_eq!(b["error"], error, "{metadata}: {b}");
        assert!(b["error_description"].is_string());
    }
    let res = app
        .post_bytes("/oauth/register", "application/json", b"{not json".to_vec())
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(res).await["error"], "invalid_client_metadata");
    let admin = admin_token(&app).await;
    let listed = body(app.get("/admin/clients", Some(&admin)).await).await;
    assert_eq!(listed["clients"], json!([]), "nothing was registered");
}
