//! Service clients (OAuth 2.0 client credentials), introspection, revocation and forward-auth.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) struct ServiceClient {
    pub(crate) id: String,
    pub(crate) secret: String,
}

pub(crate) async fn admin_token(app: &TestApp) -> String {
    app.new_admin().await.tokens.access
}

pub(crate) async fn create_client(
    app: &TestApp,
    admin: &str,
    audiences: &[&str],
    scopes: &[&str],
) -> ServiceClient {
    let res = app
        .post_auth(
            "/admin/clients",
            admin,
            json!({"name": "cart service", "audiences": audiences, "scopes": scopes}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body(res).await;
    ServiceClient {
        id: b["client_id"].as_str().unwrap().into(),
        secret: b["client_secret"].as_str().unwrap().into(),
    }
}

/// A client that may carry `roles` into the tokens it obtains by exchange.
pub(crate) async fn create_delegating_client(
    app: &TestApp,
    admin: &str,
    audiences: &[&str],
    roles: &[&str],
) -> ServiceClient {
    let res = app
        .post_auth(
            "/admin/clients",
            admin,
            json!({"name": "delegating service", "audiences": audiences, "delegable_roles": roles}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body(res).await;
    assert_eq!(b["delegable_roles"], json!(roles));
    ServiceClient {
        id: b["client_id"].as_str().unwrap().into(),
        secret: b["client_secret"].as_str().unwrap().into(),
    }
}

pub(crate) async fn form(
    app: &TestApp,
    path: &str,
    basic: Option<(&str, &str)>,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).form(fields);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    req.send().await.unwrap()
}

/// A client-credentials access token for `client` (its default audience and scopes).
pub(crate) async fn service_token(app: &TestApp, client: &ServiceClient) -> String {
    let b = body(
        form(
            app,
            "/oauth/token",
            Some((&client.id, &client.secret)),
            &[("grant_type", "client_credentials")],
        )
        .await,
    )
    .await;
    b["access_token"].as_str().unwrap().to_string()
}

/// RFC 7662 introspection of `token`, authenticated as `by`.
async fn introspect(app: &TestApp, by: &ServiceClient, token: &str) -> Value {
    body(
        form(
            app,
            "/oauth/introspect",
            Some((&by.id, &by.secret)),
            &[("token", token)],
        )
        .await,
    )
    .await
}

async fn oauth_error(res: reqwest::Response, status: StatusCode, error: &str) -> Value {
    assert_eq!(res.status(), status);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let b = body(res).await;
    assert_eq!(b["error"], error, "{b}");
    assert!(b["error_description"].is_string());
    b
}

#[tokio::test]
async fn client_credentials_with_basic_and_with_post() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(
        &app,
        &admin,
        &["cart_service", "user_service"],
        &["cart:read", "cart:write"],
    )
    .await;
    let res = form(
        &app,
        "/oauth/token",
        Some((&c.id, &c.secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("cache-control").unwrap(), "no-store");
    let b = body(res).await;
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    assert_eq!(
        b["scope"], "cart:read cart:write",
        "all of the client's scopes by default"
    );
    let claims = jwt::part(b["access_token"].as_str().unwrap(), 1);
    assert_eq!(claims["sub"], c.id);
    assert_eq!(claims["client_id"], c.id);
    assert_eq!(
        claims["aud"], "cart_service",
        "the client's first audience by default"
    );
    assert!(claims.get("sid").is_none());
    assert_eq!(
        jwt::part(b["access_token"].as_str().unwrap(), 0)["typ"],
        "at+jwt"
    );

    let res = form(
        &app,
        "/oauth/token",
        None,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &c.id),
            ("client_secret", &c.secret),
            ("audience", "user_service"),
            ("scope", "cart:read"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = body(res).await;
    assert_eq!(b["scope"], "cart:read");
    assert_eq!(
        jwt::part(b["access_token"].as_str().unwrap(), 1)["aud"],
        "user_service"
    );
    // RFC 8707 `resource` works like `audience`.
    let res = form(
        &app,
        "/oauth/token",
        Some((&c.id, &c.secret)),
        &[
            ("grant_type", "client_credentials"),
            ("resource", "user_service"),
        ],
    )
    .await;
    assert_eq!(
        jwt::part(body(res).await["access_token"].as_str().unwrap(), 1)["aud"],
        "user_service"
    );
}

#[tokio::test]
async fn token_endpoint_refusals_follow_rfc_6749() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(&app, &admin, &["cart_service"], &["cart:read"]).await;
    let cc = [("grant_type", "client_credentials")];
    let res = form(&app, "/oauth/token", Some((&c.id, "wrong-secret")), &cc).await;
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    oauth_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await;
    oauth_error(
        form(&app, "/oauth/token", Some(("svc_unknown", &c.secret)), &cc).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    oauth_error(
        form(&app, "/oauth/token", None, &cc).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    oauth_error(
        form(
            &app,
            "/oauth/token",
            Some((&c.id, &c.secret)),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", &c.secret),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    oauth_error(
        form(&app, "/oauth/token", Some((&c.id, &c.secret)), &[]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    oauth_error(
        form(
            &app,
            "/oauth/token",
            Some((&c.id, &c.secret)),
            &[("grant_type", "password")],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;
    oauth_error(
        form(
            &app,
            "/oauth/token",
            Some((&c.id, &c.secret)),
            &[
                ("grant_type", "client_credentials"),
                ("audience", "billing"),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_target",
    )
    .await;
    oauth_error(
        form(
            &app,
            "/oauth/token",
            Some((&c.id, &c.secret)),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "cart:read admin"),
            ],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
    // JSON is not what the RFC specifies.
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    oauth_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Repeated single-valued parameters are refused.
    let res = form(
        &app,
        "/oauth/token",
        Some((&c.id, &c.secret)),
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
    )
    .await;
    oauth_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn admin_manages_clients_and_secrets_are_shown_once() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(&app, &admin, &["cart_service"], &[]).await;
    assert!(c.secret.len() >= 43, "256-bit secret");
    let list = body(app.get("/admin/clients", Some(&admin)).await).await;
    assert_eq!(list["clients"].as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains(&c.secret),
        "the secret is never listed"
    );
    let res = app
        .post_auth(
            "/admin/clients",
            &admin,
            json!({"name": "x", "audiences": []}),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    let res = app
        .post_auth(
            "/admin/clients",
            &admin,
            json!({"name": "x", "audiences": ["has space"]}),
        )
        .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    let user = app.new_user().await;
    assert_error(
        app.post_auth(
            "/admin/clients",
            &user.tokens.access,
            json!({"name": "x", "audiences": ["a"]}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = app
        .request(
            Method::DELETE,
            &format!("/admin/clients/{}", c.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    oauth_error(
        form(
            &app,
            "/oauth/token",
            Some((&c.id, &c.secret)),
            &[("grant_type", "client_credentials")],
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    let res = app
        .request(
            Method::DELETE,
            &format!("/admin/clients/{}", c.id),
            Some(&admin),
            None,
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let audit = body(
        app.get("/admin/audit?event=client_created", Some(&admin))
            .await,
    )
    .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn introspection_reports_active_tokens_and_follows_revocation() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(&app, &admin, &["api"], &[]).await;
    let user = app.new_user().await;
    let a = introspect(&app, &c, &user.tokens.access).await;
    assert_eq!(a["active"], true);
    assert_eq!(a["sub"], user.id);
    assert_eq!(a["token_type"], "access_token");
    assert_eq!(a["roles"], json!(["customer"]));
    assert!(
        a["sid"].is_string()
            && a["exp"].is_number()
            && a["iat"].is_number()
            && a["aud"] == "api"
            && a["client_id"] == "sesame"
    );
    assert_eq!(
        introspect(&app, &c, "garbage").await,
        json!({"active": false})
    );
    // Log the session out: its access token becomes inactive.
    app.post(
        "/auth/logout",
        json!({"refresh_token": user.tokens.refresh}),
    )
    .await;
    assert_eq!(
        introspect(&app, &c, &user.tokens.access).await,
        json!({"active": false})
    );
    // Expired tokens are inactive.
    let other = app.new_user().await;
    app.advance(900 + 4);
    assert_eq!(
        introspect(&app, &c, &other.tokens.access).await,
        json!({"active": false})
    );
    // Client authentication is required.
    oauth_error(
        form(&app, "/oauth/introspect", None, &[("token", "x")]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    oauth_error(
        form(&app, "/oauth/introspect", Some((&c.id, &c.secret)), &[]).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

/// RFC 7009 answers 200 whatever the token, so a made-up refresh token must not be able to end
/// a session: one built around a session id a client saw (the `sid` of an access token, and the
/// token's own bytes) but without Sesame's tag is ignored.
#[tokio::test]
async fn revoking_a_refresh_token_made_up_for_a_known_session_ends_nothing() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(&app, &admin, &["api"], &[]).await;
    let user = app.new_user().await;
    let mut forged = b64.decode(&user.tokens.refresh).unwrap();
    forged[20] ^= 1; // the secret changed, the session id and tag kept
    let res = form(
        &app,
        "/oauth/revoke",
        Some((c.id.as_str(), c.secret.as_str())),
        &[("token", &b64.encode(forged))],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.get("/profile", Some(&user.tokens.access))
            .await
            .status(),
        StatusCode::OK,
        "the session lives on"
    );
    assert_eq!(
        app.refresh_raw(&user.tokens.refresh).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn revocation_ends_sessions_and_deny_lists_access_tokens() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(&app, &admin, &["api"], &[]).await;
    let user = app.new_user().await;
    let basic = Some((c.id.as_str(), c.secret.as_str()));
    // Access token: deny-listed, the session lives on.
    let res = form(
        &app,
        "/oauth/revoke",
        basic,
        &[
            ("token", &user.tokens.access),
            ("token_type_hint", "access_token"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        app.get("/profile", Some(&user.tokens.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let next = tokens(&body(app.refresh_raw(&user.tokens.refresh).await).await);
    assert_eq!(
        app.get("/profile", Some(&next.access)).await.status(),
        StatusCode::OK
    );
    // Refresh token: the whole session ends.
    assert_eq!(
        form(&app, "/oauth/revoke", basic, &[("token", &next.refresh)])
            .await
            .status(),
        StatusCode::OK
    );
    assert_error(
        app.refresh_raw(&next.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_error(
        app.get("/profile", Some(&next.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    // Unknown tokens: still 200. Without client authentication: 401.
    assert_eq!(
        form(&app, "/oauth/revoke", basic, &[("token", "not-a-token")])
            .await
            .status(),
        StatusCode::OK
    );
    oauth_error(
        form(&app, "/oauth/revoke", None, &[("token", "x")]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
}

async fn get_verify(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    app.request(Method::GET, path, token, None).await
}

#[tokio::test]
async fn forward_auth_passes_identity_headers_and_refuses_what_it_must() {
    let app = spawn_app_with(&[("SESAME_AUDIENCES", "api,gallery")]).await;
    let user = app.new_user().await;
    let res = get_verify(&app, "/auth/verify", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert_eq!(h.get("x-auth-subject").unwrap(), user.id.as_str());
    assert_eq!(h.get("x-auth-roles").unwrap(), "customer");
    let sid = jwt::part(&user.tokens.access, 1)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(h.get("x-auth-session").unwrap(), sid.as_str());
    assert!(h.get("x-auth-scope").is_some());
    // Any method; Envoy appends the original path.
    let res = app
        .request(
            Method::POST,
            "/auth/verify/images/42?x=1",
            Some(&user.tokens.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        get_verify(&app, "/auth/verify", None).await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;
    assert_error(
        get_verify(&app, "/auth/verify", Some("garbage")).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    assert_error(
        get_verify(
            &app,
            "/auth/verify?audience=gallery",
            Some(&user.tokens.access),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        get_verify(&app, "/auth/verify?audience=api", Some(&user.tokens.access))
            .await
            .status(),
        StatusCode::OK
    );
    assert_error(
        get_verify(&app, "/auth/verify?role=admin", Some(&user.tokens.access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        get_verify(
            &app,
            "/auth/verify?role=customer",
            Some(&user.tokens.access)
        )
        .await
        .status(),
        StatusCode::OK
    );
    let res = app
        .client
        .get(app.url("/auth/verify"))
        .bearer_auth(&user.tokens.access)
        .header("x-sesame-role", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Revoked at once.
    app.post(
        "/auth/logout",
        json!({"refresh_token": user.tokens.refresh}),
    )
    .await;
    assert_error(
        get_verify(&app, "/auth/verify", Some(&user.tokens.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    app.advance(900 + 4);
    let u2 = app.login(&user.username, PASSWORD).await;
    app.advance(900 + 4);
    assert_error(
        get_verify(&app, "/auth/verify", Some(&u2.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;
}

#[tokio::test]
async fn forward_auth_accepts_service_tokens_for_their_audience() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(&app, &admin, &["cart_service"], &["cart:read"]).await;
    let res = form(
        &app,
        "/oauth/token",
        Some((&c.id, &c.secret)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let token = body(res).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .request(
            Method::GET,
            "/auth/verify?audience=cart_service",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("x-auth-subject").unwrap(), c.id.as_str());
    assert_eq!(res.headers().get("x-auth-scope").unwrap(), "cart:read");
    assert_eq!(
        app.request(Method::GET, "/auth/verify?audience=api", Some(&token), None)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // A service token is not a user token: Sesame's own user API refuses it.
    assert_eq!(
        app.get("/profile", Some(&token)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn basic_credentials_are_form_decoded_as_rfc_6749_says() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(&app, &admin, &["api"], &[]).await;
    // Percent-encoding an unreserved character must not change the credentials.
    let encoded_id = c.id.replacen("svc_", "svc%5F", 1);
    let header =
        base64::engine::general_purpose::STANDARD.encode(format!("{encoded_id}:{}", c.secret));
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .header("authorization", format!("Basic {header}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn discovery_advertises_the_oauth_endpoints() {
    let app = spawn_app().await;
    let d = body(
        app.get("/.well-known/oauth-authorization-server", None)
            .await,
    )
    .await;
    assert_eq!(d["token_endpoint"], "https://localhost:8443/oauth/token");
    assert_eq!(
        d["introspection_endpoint"],
        "https://localhost:8443/oauth/introspect"
    );
    assert_eq!(
        d["revocation_endpoint"],
        "https://localhost:8443/oauth/revoke"
    );
    assert!(
        d["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials"))
    );
    assert!(
        d["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_secret_basic"))
    );
}

pub(crate) const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";

#[tokio::test]
async fn token_exchange_gives_a_client_a_token_for_the_same_user_and_another_audience() {
    // Delegation between services: the user service obtains a cart_service token for a user
    // whose token (issued for the user service) it holds.
    let app = spawn_app_with(&[("SESAME_AUDIENCES", "api,user_service")]).await;
    let admin = admin_token(&app).await;
    let c = create_client(
        &app,
        &admin,
        &["user_service", "cart_service"],
        &["cart:read"],
    )
    .await;
    let user = app.new_user().await;
    let session = login_for(&app, &user, json!("user_service")).await;
    let subject = session.access;
    let res = form(
        &app,
        "/oauth/token",
        Some((&c.id, &c.secret)),
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", &subject),
            ("subject_token_type", AT),
            ("audience", "cart_service"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = body(res).await;
    assert_eq!(b["issued_token_type"], AT);
    assert_eq!(b["token_type"], "Bearer");
    let token = b["access_token"].as_str().unwrap();
    let mine = jwt::part(&subject, 1);
    let got = jwt::part(token, 1);
    assert_eq!(got["sub"], user.id);
    assert_eq!(got["sid"], mine["sid"]);
    assert_eq!(mine["roles"], json!(["customer"]));
    assert_eq!(
        got["roles"],
        json!([]),
        "a client delegates no roles unless it was allowed some"
    );
    assert_eq!(got["aud"], "cart_service");
    assert_eq!(got["client_id"], c.id);
    assert_eq!(got["act"], json!({"sub": c.id}));
    assert!(
        got["exp"].as_i64().unwrap() <= mine["exp"].as_i64().unwrap(),
        "never outlives the subject token"
    );
    // The cart service accepts it at the gateway, until the user's session ends.
    let verify = app
        .request(
            Method::GET,
            "/auth/verify?audience=cart_service",
            Some(token),
            None,
        )
        .await;
    assert_eq!(verify.status(), StatusCode::OK);
    assert_eq!(
        verify.headers().get("x-auth-subject").unwrap(),
        user.id.as_str()
    );
    assert_eq!(
        verify.headers().get("x-auth-client").unwrap(),
        c.id.as_str()
    );
    app.post("/auth/logout", json!({"refresh_token": session.refresh}))
        .await;
    let verify = app
        .request(
            Method::GET,
            "/auth/verify?audience=cart_service",
            Some(token),
            None,
        )
        .await;
    assert_eq!(verify.status(), StatusCode::UNAUTHORIZED);
}

/// Logs `user` in for `audience` (a name or a list, each in `SESAME_AUDIENCES`).
async fn login_for(app: &TestApp, user: &TestUser, audience: Value) -> Tokens {
    let res = app
        .post(
            "/auth/login",
            json!({"username": user.username, "password": PASSWORD, "audience": audience}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    tokens(&body(res).await)
}

/// A token-exchange request of `c` for `subject`, with `audience` when given.
pub(crate) async fn exchange(
    app: &TestApp,
    c: &ServiceClient,
    subject: &str,
    audience: Option<&str>,
) -> reqwest::Response {
    let mut fields = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", AT),
    ];
    if let Some(a) = audience {
        fields.push(("audience", a));
    }
    form(app, "/oauth/token", Some((&c.id, &c.secret)), &fields).await
}

#[tokio::test]
async fn token_exchange_refusals() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    // Sesame's own audience is the client's, so the user's login tokens are its to exchange.
    let c = create_client(&app, &admin, &["cart_service", "api"], &[]).await;
    let user = app.new_user().await;
    let basic = Some((c.id.as_str(), c.secret.as_str()));
    let ex = |subject: &str, ty: &str, aud: &str| {
        vec![
            ("grant_type".to_string(), EXCHANGE.to_string()),
            ("subject_token".into(), subject.to_string()),
            ("subject_token_type".into(), ty.to_string()),
            ("audience".into(), aud.to_string()),
        ]
    };
    let send = |fields: Vec<(String, String)>| {
        let req = app
            .client
            .post(app.url("/oauth/token"))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&fields);
        async move { req.send().await.unwrap() }
    };
    // The control: this subject token is exchangeable as it is.
    assert_eq!(
        send(ex(&user.tokens.access, AT, "cart_service"))
            .await
            .status(),
        StatusCode::OK
    );
    // An audience the client may not request.
    oauth_error(
        send(ex(&user.tokens.access, AT, "billing")).await,
        StatusCode::BAD_REQUEST,
        "invalid_target",
    )
    .await;
    // A malformed request: a wrong-typed or missing subject token.
    oauth_error(
        send(ex(
            &user.tokens.access,
            "urn:ietf:params:oauth:token-type:id_token",
            "cart_service",
        ))
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    oauth_error(
        form(
            &app,
            "/oauth/token",
            basic,
            &[("grant_type", EXCHANGE), ("subject_token_type", AT)],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // A subject token that is not a valid token of Sesame's: garbage, a tampered payload under
    // the original signature, `alg: none`.
    let real = &user.tokens.access;
    let parts: Vec<&str> = real.split('.').collect();
    let mut claims = jwt::part(real, 1);
    claims["roles"] = json!(["admin"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        jwt::b64url(claims.to_string()),
        parts[2]
    );
    let header = json!({"alg": "none", "typ": "at+jwt", "kid": jwt::part(real, 0)["kid"]});
    let unsigned = format!("{}.{}.", jwt::b64url(header.to_string()), parts[1]);
    for bad in ["garbage", tampered.as_str(), unsigned.as_str()] {
        let b = oauth_error(
            send(ex(bad, AT, "cart_service")).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
        assert!(!b.to_string().contains("eyJ"), "no token echoed: {b}");
    }
    // A refresh token is not an access token.
    oauth_error(
        send(ex(&user.tokens.refresh, AT, "cart_service")).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // A service token (here the client's own, for its own audience) is not a user's token to
    // exchange: the contract's subject is a user's access token.
    let svc = service_token(&app, &c).await;
    assert_eq!(jwt::part(&svc, 1)["aud"], "cart_service");
    oauth_error(
        send(ex(&svc, AT, "cart_service")).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // A revoked user token cannot be exchanged.
    app.post(
        "/auth/logout",
        json!({"refresh_token": user.tokens.refresh}),
    )
    .await;
    oauth_error(
        send(ex(&user.tokens.access, AT, "cart_service")).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // Nor an expired one.
    let other = app.new_user().await;
    app.advance(900 + 4);
    oauth_error(
        send(ex(&other.tokens.access, AT, "cart_service")).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // Without client authentication: 401.
    let fresh = app.login(&other.username, PASSWORD).await.access;
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .form(&ex(&fresh, AT, "cart_service"))
        .send()
        .await
        .unwrap();
    oauth_error(res, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn token_exchange_takes_only_subject_tokens_issued_for_the_clients_audiences() {
    let app = spawn_app_with(&[("SESAME_AUDIENCES", "api,gallery,orders")]).await;
    let admin = admin_token(&app).await;
    let orders = create_client(&app, &admin, &["orders", "shipping"], &[]).await;
    let user = app.new_user().await;
    // The user's token for Sesame (api) or for the gallery is not the orders service's to use.
    for subject in [
        user.tokens.access.clone(),
        login_for(&app, &user, json!("gallery")).await.access,
    ] {
        let b = oauth_error(
            exchange(&app, &orders, &subject, Some("shipping")).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
        assert!(
            b["error_description"]
                .as_str()
                .unwrap()
                .contains("audience"),
            "{b}"
        );
    }
    // A token issued for the orders service is; so is one of several audiences, one of them
    // the client's.
    for aud in [json!("orders"), json!(["gallery", "orders"])] {
        let subject = login_for(&app, &user, aud).await.access;
        let res = exchange(&app, &orders, &subject, Some("shipping")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let got = jwt::part(body(res).await["access_token"].as_str().unwrap(), 1);
        assert_eq!(got["sub"], user.id);
        assert_eq!(got["aud"], "shipping");
        assert_eq!(got["act"], json!({"sub": orders.id}));
    }
}

#[tokio::test]
async fn an_exchanged_token_carries_only_the_roles_the_client_may_delegate() {
    let app = spawn_app().await;
    let admin_user = app.new_admin().await;
    let admin = &admin_user.tokens.access;
    assert_eq!(jwt::part(admin, 1)["roles"], json!(["admin", "customer"]));
    let plain = create_client(&app, admin, &["api"], &[]).await;
    let support = create_delegating_client(&app, admin, &["api"], &["customer", "support"]).await;
    let trusted = create_delegating_client(&app, admin, &["api"], &["admin"]).await;
    // The roles of the token `c` obtains for the admin.
    async fn roles_via(app: &TestApp, c: &ServiceClient, subject: &str) -> Value {
        let res = exchange(app, c, subject, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let token = body(res).await["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let claims = jwt::part(&token, 1);
        assert_eq!(claims["act"], json!({"sub": c.id}));
        // Introspection reports the same, narrowed, roles.
        assert_eq!(introspect(app, c, &token).await["roles"], claims["roles"]);
        claims["roles"].clone()
    }
    // An admin's token: no `admin` unless the client may delegate it, and only the roles both
    // the user has and the client may delegate (`support` is not the user's).
    assert_eq!(roles_via(&app, &plain, admin).await, json!([]));
    assert_eq!(roles_via(&app, &support, admin).await, json!(["customer"]));
    assert_eq!(roles_via(&app, &trusted, admin).await, json!(["admin"]));
    // The allowance is shown to admins.
    let list = body(app.get("/admin/clients", Some(admin)).await).await;
    let shown: std::collections::HashMap<&str, &Value> = list["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["client_id"].as_str().unwrap(), &c["delegable_roles"]))
        .collect();
    assert_eq!(shown[plain.id.as_str()], &json!([]));
    assert_eq!(shown[support.id.as_str()], &json!(["customer", "support"]));
    assert_eq!(shown[trusted.id.as_str()], &json!(["admin"]));
    // Roles follow the role alphabet.
    let res = app
        .post_auth(
            "/admin/clients",
            admin,
            json!({"name": "x", "audiences": ["api"], "delegable_roles": ["Admin!"]}),
        )
        .await;
    let b = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(b["fields"]["delegable_roles"].is_array(), "{b}");
}

#[tokio::test]
async fn an_exchanged_token_never_outlives_its_subject_token_and_names_its_actor() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let a = create_client(&app, &admin, &["api", "cart_service"], &[]).await;
    let b = create_client(&app, &admin, &["cart_service", "billing"], &[]).await;
    let user = app.new_user().await;
    let subject_exp = jwt::part(&user.tokens.access, 1)["exp"].as_i64().unwrap();
    // Most of the subject token's life has gone.
    app.advance(600);
    let res = exchange(&app, &a, &user.tokens.access, Some("cart_service")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let first = body(res).await;
    let token = first["access_token"].as_str().unwrap().to_string();
    let got = jwt::part(&token, 1);
    assert_eq!(got["exp"], subject_exp, "cut to the subject token's expiry");
    let left = first["expires_in"].as_i64().unwrap();
    assert!((295..=300).contains(&left), "expires_in {left}");
    assert_eq!(got["act"], json!({"sub": a.id}));
    // Exchanged again by another client: the actors nest, the expiry holds.
    let res = exchange(&app, &b, &token, Some("billing")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let got = jwt::part(body(res).await["access_token"].as_str().unwrap(), 1);
    assert_eq!(got["act"], json!({"sub": b.id, "act": {"sub": a.id}}));
    assert_eq!(got["exp"], subject_exp);
    assert_eq!(got["sub"], user.id);
}

#[tokio::test]
async fn token_exchange_signs_once_and_counts_as_an_exchange() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(&app, &admin, &["api"], &[]).await;
    let user = app.new_user().await;
    let res = exchange(&app, &c, &user.tokens.access, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        text.contains("sesame_tokens_issued_total{kind=\"exchange\"} 1"),
        "{text}"
    );
    assert!(
        !text.contains("sesame_tokens_issued_total{kind=\"client\"}"),
        "an exchange is not a client-credentials token: {text}"
    );
    service_token(&app, &c).await;
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        text.contains("sesame_tokens_issued_total{kind=\"client\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn introspection_answers_only_for_the_callers_audiences() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let cart = create_client(&app, &admin, &["cart_service"], &["cart:read"]).await;
    let orders = create_client(&app, &admin, &["orders"], &[]).await;
    let sesame_api = create_client(&app, &admin, &["api", "orders"], &[]).await;
    let user = app.new_user().await;
    let cart_token = service_token(&app, &cart).await;
    // Another client's token, for an audience that is not the caller's: nothing to say.
    assert_eq!(
        introspect(&app, &orders, &cart_token).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, &orders, &user.tokens.access).await,
        json!({"active": false})
    );
    // A refresh token is never a client's business, whatever its audience.
    for caller in [&orders, &sesame_api, &cart] {
        assert_eq!(
            introspect(&app, caller, &user.tokens.refresh).await,
            json!({"active": false})
        );
    }
    let hinted = form(
        &app,
        "/oauth/introspect",
        Some((&sesame_api.id, &sesame_api.secret)),
        &[
            ("token", &user.tokens.refresh),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(body(hinted).await, json!({"active": false}));
    // A token for one of the caller's audiences: active, with the documented fields.
    let a = introspect(&app, &cart, &cart_token).await;
    assert_eq!(a["active"], true);
    assert_eq!(a["sub"], cart.id);
    assert_eq!(a["client_id"], cart.id);
    assert_eq!(a["aud"], "cart_service");
    assert_eq!(a["scope"], "cart:read");
    assert_eq!(a["token_type"], "access_token");
    assert_eq!(a["roles"], json!([]));
    assert!(a["exp"].is_number() && a["iat"].is_number(), "{a}");
    let u = introspect(&app, &sesame_api, &user.tokens.access).await;
    assert_eq!(u["active"], true);
    assert_eq!(u["sub"], user.id);
    assert_eq!(u["aud"], "api");
    assert_eq!(u["client_id"], "sesame");
    assert_eq!(u["roles"], json!(["customer"]));
    assert_eq!(u["token_type"], "access_token");
    assert!(u["sid"].is_string(), "{u}");
    // The hint is a hint: an access token sent as a refresh token is still looked at.
    let hinted = form(
        &app,
        "/oauth/introspect",
        Some((&sesame_api.id, &sesame_api.secret)),
        &[
            ("token", &user.tokens.access),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(body(hinted).await["active"], true);
}

#[tokio::test]
async fn any_client_still_revokes_a_users_tokens_it_cannot_introspect() {
    // Revocation (RFC 7009) is unchanged by introspection's narrowing: a service may end a
    // user's session on their behalf whatever the token's audience.
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let orders = create_client(&app, &admin, &["orders"], &[]).await;
    let basic = Some((orders.id.as_str(), orders.secret.as_str()));
    let user = app.new_user().await;
    assert_eq!(
        introspect(&app, &orders, &user.tokens.access).await,
        json!({"active": false})
    );
    let res = form(
        &app,
        "/oauth/revoke",
        basic,
        &[("token", &user.tokens.access)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        app.get("/profile", Some(&user.tokens.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let res = form(
        &app,
        "/oauth/revoke",
        basic,
        &[("token", &user.tokens.refresh)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn a_client_cannot_widen_forward_auth_checks() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    // Envoy appends the client's path and query: there the query is not trusted at all, and
    // the gateway's header stands.
    let res = app
        .client
        .post(app.url("/auth/verify/orders/7?role=customer"))
        .bearer_auth(&user.tokens.access)
        .header("x-sesame-role", "admin")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // Where query and header both speak, both must hold.
    let res = app
        .client
        .get(app.url("/auth/verify?role=customer"))
        .bearer_auth(&user.tokens.access)
        .header("x-sesame-role", "admin")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = app
        .client
        .get(app.url("/auth/verify?audience=api"))
        .bearer_auth(&user.tokens.access)
        .header("x-sesame-audience", "gallery")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // An expired token is 401 token_expired even when its audience is also wrong.
    app.advance(900 + 4);
    let res = app
        .request(
            Method::GET,
            "/auth/verify?audience=gallery",
            Some(&user.tokens.access),
            None,
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "token_expired").await;
}

#[tokio::test]
async fn every_value_of_a_repeated_forward_auth_constraint_must_hold() {
    let app = spawn_app_with(&[("SESAME_AUDIENCES", "api,gallery")]).await;
    let user = app.new_user().await;
    let token = Some(user.tokens.access.as_str());
    // A client that manages to append a value can only narrow the check: the first value is
    // not replaced by the last, nor the last by the first.
    for path in [
        "/auth/verify?role=customer&role=admin",
        "/auth/verify?role=admin&role=customer",
        "/auth/verify?audience=api&audience=gallery",
    ] {
        assert_error(
            get_verify(&app, path, token).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    for path in [
        "/auth/verify?role=customer&role=customer&audience=api",
        "/auth/verify?role=&audience=",
        "/auth/verify?other=1&role=customer",
    ] {
        assert_eq!(
            get_verify(&app, path, token).await.status(),
            StatusCode::OK,
            "{path}: empty and unknown parameters constrain nothing"
        );
    }
}

#[tokio::test]
async fn exchanged_and_service_tokens_cannot_use_sesames_own_api() {
    // A client allowed Sesame's own audience must not act as the user (or as an admin) on
    // /profile or /admin with an exchanged token.
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(&app, &admin, &["api"], &[]).await;
    let res = form(
        &app,
        "/oauth/token",
        Some((&c.id, &c.secret)),
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", &admin),
            ("subject_token_type", AT),
            ("audience", "api"),
        ],
    )
    .await;
    let exchanged = body(res).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(jwt::part(&exchanged, 1)["aud"], "api");
    assert_error(
        app.get("/admin/users", Some(&exchanged)).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    assert_error(
        app.get("/profile", Some(&exchanged)).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    let svc = body(
        form(
            &app,
            "/oauth/token",
            Some((&c.id, &c.secret)),
            &[("grant_type", "client_credentials")],
        )
        .await,
    )
    .await;
    assert_error(
        app.get("/profile", Some(svc["access_token"].as_str().unwrap()))
            .await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
}

#[tokio::test]
async fn a_client_revokes_only_its_own_service_tokens_but_any_users_token() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let a = create_client(&app, &admin, &["cart_service"], &[]).await;
    let b = create_client(&app, &admin, &["cart_service"], &[]).await;
    let token_of_a = service_token(&app, &a).await;
    let verify = |t: String| {
        let app = &app;
        async move {
            app.request(
                Method::GET,
                "/auth/verify?audience=cart_service",
                Some(&t),
                None,
            )
            .await
            .status()
        }
    };
    assert_eq!(
        form(
            &app,
            "/oauth/revoke",
            Some((&b.id, &b.secret)),
            &[("token", &token_of_a)]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        verify(token_of_a.clone()).await,
        StatusCode::OK,
        "B cannot revoke A's token"
    );
    assert_eq!(
        form(
            &app,
            "/oauth/revoke",
            Some((&a.id, &a.secret)),
            &[("token", &token_of_a)]
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        verify(token_of_a).await,
        StatusCode::UNAUTHORIZED,
        "A revokes its own"
    );
}

#[tokio::test]
async fn a_clients_first_audience_is_its_default() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(&app, &admin, &["orders", "billing", "orders"], &[]).await;
    let list = body(app.get("/admin/clients", Some(&admin)).await).await;
    assert_eq!(
        list["clients"][0]["audiences"],
        json!(["orders", "billing"])
    );
    let t = body(
        form(
            &app,
            "/oauth/token",
            Some((&c.id, &c.secret)),
            &[("grant_type", "client_credentials")],
        )
        .await,
    )
    .await;
    assert_eq!(
        jwt::part(t["access_token"].as_str().unwrap(), 1)["aud"],
        "orders"
    );
}

#[tokio::test]
async fn deleting_a_client_revokes_its_secret_and_its_tokens_at_once() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let gone = create_client(&app, &admin, &["cart_service", "api"], &[]).await;
    let auditor = create_client(&app, &admin, &["api", "cart_service"], &[]).await;
    let user = app.new_user().await;
    // A service token, and a user's token the client obtained by exchange.
    let service = service_token(&app, &gone).await;
    let exchanged = body(
        form(
            &app,
            "/oauth/token",
            Some((&gone.id, &gone.secret)),
            &[
                ("grant_type", EXCHANGE),
                ("subject_token", &user.tokens.access),
                ("subject_token_type", AT),
            ],
        )
        .await,
    )
    .await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for token in [&service, &exchanged] {
        assert_eq!(introspect(&app, &auditor, token).await["active"], true);
        assert_eq!(
            get_verify(&app, "/auth/verify?audience=cart_service", Some(token))
                .await
                .status(),
            StatusCode::OK
        );
    }
    // The client authenticates on every OAuth endpoint before (and is held in memory since).
    let own = form(
        &app,
        "/oauth/introspect",
        Some((&gone.id, &gone.secret)),
        &[("token", &service)],
    )
    .await;
    assert_eq!(body(own).await["active"], true);

    let res = app
        .request(
            Method::DELETE,
            &format!("/admin/clients/{}", gone.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    // At once on this replica: its secret is refused everywhere ...
    for (path, fields) in [
        ("/oauth/token", vec![("grant_type", "client_credentials")]),
        ("/oauth/introspect", vec![("token", service.as_str())]),
        ("/oauth/revoke", vec![("token", service.as_str())]),
    ] {
        oauth_error(
            form(&app, path, Some((&gone.id, &gone.secret)), &fields).await,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        )
        .await;
    }
    // ... and the tokens issued to it are inactive and refused at the gateway.
    for token in [&service, &exchanged] {
        assert_eq!(
            introspect(&app, &auditor, token).await,
            json!({"active": false})
        );
        assert_eq!(
            get_verify(&app, "/auth/verify?audience=cart_service", Some(token))
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The user's own session is not the client's: it lives on.
    assert_eq!(
        introspect(&app, &auditor, &user.tokens.access).await["active"],
        true
    );
    assert_eq!(
        app.get("/profile", Some(&user.tokens.access))
            .await
            .status(),
        StatusCode::OK
    );
}

/// Security review finding 9: removing a role reaches forward-auth and introspection at once —
/// the user's access tokens issued before the change carry the lost role and are refused there
/// (401 `token_revoked`, `active: false`) — while a refresh, even in the same instant, gets a
/// token with the roles as they are now, which works. Granting a role refuses nothing. Sesame's
/// own admin API reads the role from the database, as before (403).
#[tokio::test]
async fn a_removed_role_reaches_forward_auth_and_introspection_and_a_refresh_gets_the_new_roles() {
    let app = spawn_app().await;
    let boss = app.new_admin().await;
    let demoted = app.new_admin().await;
    let auditor = create_client(&app, &boss.tokens.access, &["api"], &[]).await;
    let set_roles = |roles: Value| {
        let path = format!("/admin/users/{}/roles", demoted.id);
        let token = boss.tokens.access.clone();
        let app = &app;
        async move {
            let res = app
                .request(
                    Method::PUT,
                    &path,
                    Some(&token),
                    Some(&json!({"roles": roles})),
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
        }
    };
    let old = demoted.tokens.access.clone();

    app.advance(1);
    set_roles(json!(["admin", "customer", "support"])).await;
    let res = get_verify(&app, "/auth/verify?role=admin", Some(&old)).await;
    assert_eq!(res.status(), StatusCode::OK, "a grant refuses nothing");

    app.advance(1);
    set_roles(json!(["customer"])).await;
    for path in ["/auth/verify?role=admin", "/auth/verify"] {
        assert_error(
            get_verify(&app, path, Some(&old)).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
    }
    assert_eq!(
        introspect(&app, &auditor, &old).await,
        json!({"active": false})
    );
    assert_error(
        app.get("/admin/users", Some(&old)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Refreshed in the same instant (same second, same millisecond on the test clock): the new
    // token says what is true now, and is accepted.
    let res = app.refresh_raw(&demoted.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh = tokens(&body(res).await);
    assert_eq!(jwt::part(&fresh.access, 1)["roles"], json!(["customer"]));
    let res = get_verify(&app, "/auth/verify", Some(&fresh.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("x-auth-roles").unwrap(), "customer");
    assert_error(
        get_verify(&app, "/auth/verify?role=admin", Some(&fresh.access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let seen = introspect(&app, &auditor, &fresh.access).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["roles"], json!(["customer"]), "{seen}");
    // Someone else's token is untouched.
    let res = get_verify(&app, "/auth/verify?role=admin", Some(&boss.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_openapi_document_describes_delegable_roles_and_invalid_grant() {
    let app = spawn_app().await;
    let doc = body(app.get("/openapi.json", None).await).await;
    let schemas = &doc["components"]["schemas"];
    for schema in ["NewClientRequest", "ClientView"] {
        assert!(
            schemas[schema]["properties"]["delegable_roles"].is_object(),
            "{schema}: {}",
            schemas[schema]
        );
    }
    let token = doc["paths"]["/oauth/token"]["post"].to_string();
    assert!(token.contains("invalid_grant"), "{token}");
}

// Issue #16.2: a 5xx of the OAuth endpoints is an RFC 6749 §5.2 body like their other errors,
// not the JSON API's `{detail, code}` (a middleware once rewrote every 5xx into that). The
// database is broken for real: the clients table renamed behind the service's back, so
// authenticating a client that is not held in memory fails in the driver.
#[tokio::test]
async fn an_oauth_endpoints_500_keeps_the_rfc_6749_shape() {
    let app = spawn_app().await;
    let fields = [
        ("grant_type", "client_credentials"),
        ("token", "not-a-token"),
    ];
    let unknown = Some(("no-such-client", "no-such-secret"));
    // Before: the same request reads the database and is refused.
    let res = form(&app, "/oauth/token", unknown, &fields).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(res).await["error"], "invalid_client");

    app.rename_table("clients", "clients_gone").await;
    for path in ["/oauth/token", "/oauth/introspect", "/oauth/revoke"] {
        let res = form(&app, path, unknown, &fields).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        let headers = res.headers().clone();
        assert!(
            headers.get("x-request-id").is_some_and(|id| !id.is_empty()),
            "{path}: the request id is in the header"
        );
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .is_ok_and(|ct| ct.starts_with("application/json")),
            "{path}: {headers:?}"
        );
        assert_eq!(
            body(res).await,
            json!({"error": "server_error", "error_description": "Internal server error."}),
            "{path}"
        );
    }
}
