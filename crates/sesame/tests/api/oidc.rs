//! Sign in with Sesame (issue #18) over plain HTTP: the authorization endpoint, consent, the code
//! and refresh grants, ID tokens, userinfo, grants and RP-initiated logout — each security rule
//! with its negative. (Real relying-party libraries drive the same flow in the peers suite.)

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sesame_core::Clock as _;
use sha2::{Digest, Sha256};

use crate::helpers::*;
use crate::oauth::{admin_token, form};
use crate::pages::{FormClient, Page};

const REDIRECT: &str = "https://app.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more";

fn issuer(app: &TestApp) -> String {
    app.sesame.settings().issuer.clone()
}

fn challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// An app registered through the admin API.
struct App {
    id: String,
    secret: Option<String>,
}

impl App {
    fn basic(&self) -> Option<(&str, &str)> {
        self.secret.as_deref().map(|s| (self.id.as_str(), s))
    }
}

async fn register_app(app: &TestApp, admin: &str, extra: Value) -> App {
    let mut body_json = json!({
        "name": "Photo Book",
        "audiences": ["api"],
        "redirect_uris": [REDIRECT, "http://127.0.0.1/cb"],
        "post_logout_redirect_uris": ["https://app.example/bye"],
    });
    for (k, v) in extra.as_object().unwrap() {
        body_json[k] = v.clone();
    }
    let res = app.post_auth("/admin/clients", admin, body_json).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body(res).await;
    App {
        id: b["client_id"].as_str().unwrap().to_string(),
        secret: b["client_secret"].as_str().map(str::to_string),
    }
}

fn authorize_url(client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, String)> = vec![
        ("response_type", "code".into()),
        ("client_id", client_id.into()),
        ("redirect_uri", REDIRECT.into()),
        ("scope", "openid email profile offline_access".into()),
        ("state", "st-1".into()),
        ("nonce", "n-1".into()),
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".into()),
    ];
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            pairs.push((k, v.to_string()));
        }
    }
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, &v);
    }
    format!("/oauth/authorize?{}", q.finish())
}

/// The query of a redirect's `Location`.
fn query(location: &str) -> HashMap<String, String> {
    let url = url::Url::parse(location).unwrap_or_else(|_| panic!("not a URL: {location}"));
    url.query_pairs().into_owned().collect()
}

/// A browser signed in as a fresh user.
async fn signed_in(app: &TestApp) -> (FormClient<'_>, TestUser) {
    let user = app.new_user().await;
    let mut browser = FormClient::new(app);
    browser.sign_in(&user.username, &user.password).await;
    (browser, user)
}

/// Follows an authorization to the app; returns the redirect's query.
async fn authorize(
    browser: &mut FormClient<'_>,
    client_id: &str,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let page = browser.get(&authorize_url(client_id, extra)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(page.location().starts_with(REDIRECT), "{}", page.location());
    assert_eq!(page.header("cache-control"), "no-store");
    query(page.location())
}

async fn exchange(app: &TestApp, client: &App, code: &str, verifier: &str) -> reqwest::Response {
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    if client.secret.is_none() {
        fields.push(("client_id", &client.id));
    }
    form(app, "/oauth/token", client.basic(), &fields).await
}

/// An authorization with the browser's session and its code exchanged: the token response.
async fn tokens(app: &TestApp, browser: &mut FormClient<'_>, client: &App) -> Value {
    let q = authorize(browser, &client.id, &[]).await;
    let res = exchange(app, client, &q["code"], VERIFIER).await;
    assert_eq!(res.status(), StatusCode::OK);
    body(res).await
}

async fn userinfo(app: &TestApp, token: &str) -> reqwest::Response {
    app.get("/oauth/userinfo", Some(token)).await
}

/// The ID token's claims, its signature checked against the published keys.
async fn id_claims(app: &TestApp, id_token: &str) -> Value {
    let jwks = app.jwks().await;
    let keys = sesame_verify::KeySet::from_jwks_json(&jwks.to_string()).unwrap();
    let v = sesame_verify::Verifier::new(app.base.clone(), ["api"], keys);
    v.verify_signature_typed::<Value>(id_token, "JWT")
        .expect("an ID token signed by a published key")
}

async fn first_party_public(app: &TestApp) -> App {
    let admin = admin_token(app).await;
    register_app(app, &admin, json!({"public": true, "first_party": true})).await
}

#[tokio::test]
async fn a_first_party_public_client_signs_a_person_in_with_pkce() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let (mut browser, user) = signed_in(&app).await;
    let q = authorize(&mut browser, &client.id, &[]).await;
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], issuer(&app), "RFC 9207");
    let res = exchange(&app, &client, &q["code"], VERIFIER).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let t = body(res).await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["scope"], "email offline_access openid profile");
    assert!(t["refresh_token"].is_string(), "offline_access was granted");

    let id = id_claims(&app, t["id_token"].as_str().unwrap()).await;
    assert_eq!(id["iss"], issuer(&app));
    assert_eq!(id["sub"], user.id);
    assert_eq!(id["aud"], client.id);
    assert_eq!(id["azp"], client.id);
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["email"], user.email);
    assert_eq!(id["amr"], json!(["pwd"]));
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
    assert!(id["sid"].is_string());
    let alg = {
        let header = t["id_token"].as_str().unwrap().split('.').next().unwrap();
        let h: Value = serde_json::from_slice(&B64.decode(header).unwrap()).unwrap();
        h["alg"].as_str().unwrap().to_string()
    };
    let access = t["access_token"].as_str().unwrap();
    let expected_hash = match alg.as_str() {
        "EdDSA" => B64.encode(&sha2::Sha512::digest(access.as_bytes())[..32]),
        _ => B64.encode(&Sha256::digest(access.as_bytes())[..16]),
    };
    assert_eq!(id["at_hash"], expected_hash);

    // The access token is the app's: RFC 9068 with client_id = the app, aud = its audience.
    let claims: Value =
        serde_json::from_slice(&B64.decode(access.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["client_id"], client.id);
    assert_eq!(claims["aud"], "api");
    assert_eq!(claims["scope"], "email offline_access openid profile");

    let info = body(userinfo(&app, access).await).await;
    assert_eq!(info["sub"], user.id);
    assert_eq!(info["email"], user.email);
    assert_eq!(info["preferred_username"], user.username);

    // The app's token does not act on the person's account API.
    let res = app.get("/profile", Some(access)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The person sees the app's session among theirs.
    let sessions = body(app.get("/auth/sessions", Some(&user.tokens.access)).await).await;
    assert!(
        sessions["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["client_id"] == client.id.as_str()),
        "{sessions}"
    );
}

#[tokio::test]
async fn without_a_session_the_browser_signs_in_first_and_comes_back() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let user = app.new_user().await;
    let mut browser = FormClient::new(&app);
    let page = browser
        .get(&authorize_url(&client.id, &[("login_hint", "someone")]))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let to = page.location().to_string();
    assert!(
        to.starts_with("/signin?return_to=%2Foauth%2Fauthorize"),
        "{to}"
    );
    let signin = browser.get(&to).await;
    assert_eq!(
        input_value(&signin.body, "identifier").as_deref(),
        Some("someone")
    );
    let form_action = signin.header("content-security-policy");
    assert!(
        form_action.contains("form-action 'self' https://app.example"),
        "{form_action}"
    );
    let return_to = crate::pages::input_value(&signin.body, "return_to").unwrap();
    let page = browser
        .post(
            "/signin",
            &[
                ("identifier", &user.username),
                ("password", &user.password),
                ("return_to", &return_to),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let back = browser.get(page.location()).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    let q = query(back.location());
    let res = exchange(&app, &client, &q["code"], VERIFIER).await;
    assert_eq!(res.status(), StatusCode::OK);
}

use crate::pages::input_value;

#[tokio::test]
async fn an_unknown_client_or_an_unregistered_redirect_uri_gets_a_page_never_a_redirect() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let (mut browser, _) = signed_in(&app).await;
    for (client_id, redirect) in [
        ("nobody", REDIRECT),
        (client.id.as_str(), "https://app.example/cb/"),
        (client.id.as_str(), "https://app.example:8443/cb"),
        (client.id.as_str(), "https://evil.example/cb"),
        (client.id.as_str(), "http://127.0.0.1:5000/cb/"),
    ] {
        let page = browser
            .get(
                &authorize_url(client_id, &[("redirect_uri", redirect)]).replace(
                    &format!("client_id={}", client.id),
                    &format!("client_id={client_id}"),
                ),
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{client_id} {redirect}"
        );
        assert_eq!(page.location(), "", "never a redirect");
    }
    // A native app's loopback URI registered without a port matches any port (after the
    // person's approval: see the next test).
    let page = browser
        .get(&authorize_url(
            &client.id,
            &[("redirect_uri", "http://127.0.0.1:5000/cb")],
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK, "the consent page");
    let allow = decide(&mut browser, &hidden_fields(&page), "allow").await;
    assert!(
        allow
            .location()
            .starts_with("http://127.0.0.1:5000/cb?code="),
        "{}",
        allow.location()
    );
}

#[tokio::test]
async fn a_public_app_at_a_loopback_uri_is_approved_by_the_person_every_time() {
    // RFC 8252 §8.6: any program on the device may listen on a loopback port with a public
    // client's id, so not even a first-party app or an earlier approval skips the question.
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let (mut browser, _) = signed_in(&app).await;
    let loopback = [("redirect_uri", "http://127.0.0.1:5000/cb")];
    for round in ["first", "second"] {
        let page = browser.get(&authorize_url(&client.id, &loopback)).await;
        assert_eq!(page.status, StatusCode::OK, "{round}: asked");
        let allow = decide(&mut browser, &hidden_fields(&page), "allow").await;
        assert!(
            allow
                .location()
                .starts_with("http://127.0.0.1:5000/cb?code=")
        );
    }
    let page = browser
        .get(&authorize_url(
            &client.id,
            &[("prompt", "none"), loopback[0]],
        ))
        .await;
    assert!(
        page.location().contains("error=consent_required"),
        "{}",
        page.location()
    );
    // At its https address only the app itself can answer: first party, no question.
    authorize(&mut browser, &client.id, &[]).await;
}

#[tokio::test]
async fn pkce_is_required_and_a_wrong_verifier_gets_no_tokens() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let (mut browser, _) = signed_in(&app).await;
    for extra in [
        vec![("code_challenge_method", "plain")],
        vec![("code_challenge", ""), ("code_challenge_method", "")],
    ] {
        let q = authorize(&mut browser, &client.id, &extra).await;
        assert_eq!(q["error"], "invalid_request", "{extra:?}");
        assert_eq!(q["state"], "st-1");
        assert_eq!(q["iss"], issuer(&app));
    }
    let q = authorize(&mut browser, &client.id, &[]).await;
    let wrong = "x".repeat(43);
    let res = exchange(&app, &client, &q["code"], &wrong).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(res).await["error"], "invalid_grant");
    // Wrong redirect_uri at the token endpoint: refused too.
    let res = form(
        &app,
        "/oauth/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", "https://app.example/cb2"),
            ("code_verifier", VERIFIER),
            ("client_id", &client.id),
        ],
    )
    .await;
    assert_eq!(body(res).await["error"], "invalid_grant");
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_it_issued() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let (mut browser, _) = signed_in(&app).await;
    let q = authorize(&mut browser, &client.id, &[]).await;
    let t = body(exchange(&app, &client, &q["code"], VERIFIER).await).await;
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access).await.status(), StatusCode::OK);
    let res = exchange(&app, &client, &q["code"], VERIFIER).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(res).await["error"], "invalid_grant");
    let res = userinfo(&app, access).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let res = refresh(&app, &client, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(body(res).await["error"], "invalid_grant");
}

#[tokio::test]
async fn a_code_works_only_for_its_client_and_within_sixty_seconds() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let one = register_app(&app, &admin, json!({"public": true, "first_party": true})).await;
    let other = register_app(&app, &admin, json!({"first_party": true})).await;
    let (mut browser, _) = signed_in(&app).await;
    let q = authorize(&mut browser, &one.id, &[]).await;
    let res = exchange(&app, &other, &q["code"], VERIFIER).await;
    assert_eq!(
        body(res).await["error"],
        "invalid_grant",
        "another client's code"
    );
    // A confidential client must authenticate: its id alone is not enough.
    let res = form(
        &app,
        "/oauth/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", &other.id),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(res).await["error"], "invalid_client");

    let q = authorize(&mut browser, &one.id, &[]).await;
    app.advance(61);
    let res = exchange(&app, &one, &q["code"], VERIFIER).await;
    assert_eq!(body(res).await["error"], "invalid_grant", "expired");
}

#[tokio::test]
async fn prompt_none_without_a_session_answers_login_required() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let mut browser = FormClient::new(&app);
    let q = authorize(&mut browser, &client.id, &[("prompt", "none")]).await;
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "st-1");
    assert_eq!(q["iss"], issuer(&app));
}

#[tokio::test]
async fn a_third_party_app_asks_consent_once_and_a_refusal_is_access_denied() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let client = register_app(&app, &admin, json!({})).await;
    let (mut browser, user) = signed_in(&app).await;

    let q = authorize(&mut browser, &client.id, &[("prompt", "none")]).await;
    assert_eq!(q["error"], "consent_required");

    let page = browser.get(&authorize_url(&client.id, &[])).await;
    assert_eq!(page.status, StatusCode::OK, "the consent page");
    assert!(page.body.contains("Photo Book"));
    assert!(
        page.body.contains("sent to app.example"),
        "the consent page names where the browser goes back to"
    );
    assert!(
        page.header("content-security-policy")
            .contains("form-action 'self' https://app.example")
    );
    let fields = hidden_fields(&page);
    let deny = decide(&mut browser, &fields, "deny").await;
    assert_eq!(deny.status, StatusCode::SEE_OTHER);
    let q = query(deny.location());
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-1");

    // A forged decision (no anti-forgery token) changes nothing.
    let mut forged: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    forged.push(("decision", "allow"));
    forged.push(("csrf_token", "forged"));
    let page = browser.post("/oauth/authorize", &forged).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let page = browser.get(&authorize_url(&client.id, &[])).await;
    let allow = decide(&mut browser, &hidden_fields(&page), "allow").await;
    let q = query(allow.location());
    let t = body(exchange(&app, &client, &q["code"], VERIFIER).await).await;
    assert!(t["access_token"].is_string());

    // Remembered: the same scopes again go straight back with a code.
    let q = authorize(&mut browser, &client.id, &[]).await;
    assert!(q.contains_key("code"));
    // A new scope asks again.
    let page = browser
        .get(&authorize_url(&client.id, &[("scope", "openid")]))
        .await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "a subset needs no new consent"
    );
    let page = browser
        .get(&authorize_url(&client.id, &[("prompt", "consent")]))
        .await;
    assert_eq!(page.status, StatusCode::OK, "prompt=consent asks again");

    let grants = body(app.get("/auth/grants", Some(&user.tokens.access)).await).await;
    assert_eq!(grants["grants"][0]["client_id"], client.id);
    assert_eq!(grants["grants"][0]["client_name"], "Photo Book");
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/auth/grants/{}", client.id),
            Some(&user.tokens.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = userinfo(&app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "revoking the grant revokes its tokens"
    );
    let page = browser.get(&authorize_url(&client.id, &[])).await;
    assert_eq!(page.status, StatusCode::OK, "consent is asked again");
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/auth/grants/{}", client.id),
            Some(&user.tokens.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

fn hidden_fields(page: &Page) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = page.body.as_str();
    while let Some(at) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[at + "<input type=\"hidden\" name=\"".len()..];
        let name = &rest[..rest.find('"').unwrap()];
        if name != "csrf_token" {
            out.push((
                name.to_string(),
                input_value(page.body.as_str(), name).unwrap(),
            ));
        }
    }
    out
}

async fn decide(browser: &mut FormClient<'_>, fields: &[(String, String)], decision: &str) -> Page {
    let mut f: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    f.push(("decision", decision));
    browser.post("/oauth/authorize", &f).await
}

/// Asks for a fresh sign-in (`max_age=0`: let the clock move first), types the password again and exchanges the code:
/// the new browser session replaces the old one. The second token response.
async fn sign_in_again(
    app: &TestApp,
    browser: &mut FormClient<'_>,
    user: &TestUser,
    client: &App,
) -> Value {
    let page = browser
        .get(&authorize_url(&client.id, &[("max_age", "0")]))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().contains("reauth=1"), "{}", page.location());
    let signin = browser.get(page.location()).await;
    assert_eq!(
        signin.status,
        StatusCode::OK,
        "the form, although signed in"
    );
    let return_to = input_value(&signin.body, "return_to").unwrap();
    assert!(!return_to.contains("max_age"), "{return_to}");
    let page = browser
        .post(
            "/signin",
            &[
                ("identifier", &user.username),
                ("password", &user.password),
                ("return_to", &return_to),
            ],
        )
        .await;
    let back = browser.get(page.location()).await;
    let q = query(back.location());
    body(exchange(app, client, &q["code"], VERIFIER).await).await
}

#[tokio::test]
async fn max_age_zero_asks_for_a_fresh_sign_in_and_moves_auth_time() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let (mut browser, user) = signed_in(&app).await;
    let first = tokens(&app, &mut browser, &client).await;
    let first_auth = id_claims(&app, first["id_token"].as_str().unwrap()).await["auth_time"]
        .as_i64()
        .unwrap();
    app.advance(30);
    let second = sign_in_again(&app, &mut browser, &user, &client).await;
    let second_auth = id_claims(&app, second["id_token"].as_str().unwrap()).await["auth_time"]
        .as_i64()
        .unwrap();
    assert!(
        second_auth >= first_auth + 30,
        "{first_auth} → {second_auth}"
    );
    // The first app session moved to the new browser session: still alive.
    assert_eq!(
        userinfo(&app, first["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
}

async fn refresh(app: &TestApp, client: &App, token: &str) -> reqwest::Response {
    let mut fields = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if client.secret.is_none() {
        fields.push(("client_id", &client.id));
    }
    form(app, "/oauth/token", client.basic(), &fields).await
}

#[tokio::test]
async fn an_apps_refresh_token_rotates_detects_reuse_and_stays_with_its_client() {
    let app = spawn_app_with(&[("SESAME_REFRESH_REUSE_GRACE", "0s")]).await;
    let admin = admin_token(&app).await;
    let client = register_app(&app, &admin, json!({"first_party": true})).await;
    let other = register_app(&app, &admin, json!({"first_party": true})).await;
    let (mut browser, _) = signed_in(&app).await;
    let t = tokens(&app, &mut browser, &client).await;
    let r1 = t["refresh_token"].as_str().unwrap().to_string();
    let res = refresh(&app, &client, &r1).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t2 = body(res).await;
    let r2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2, "rotated");
    assert!(t2["id_token"].is_string());
    assert_eq!(t2["scope"], t["scope"]);
    // Reuse of the spent one ends the session.
    let res = refresh(&app, &client, &r1).await;
    assert_eq!(body(res).await["error"], "invalid_grant");
    let res = refresh(&app, &client, &r2).await;
    assert_eq!(
        body(res).await["error"],
        "invalid_grant",
        "the session ended on reuse"
    );

    // Another client's refresh token is refused, and the session it belongs to ends.
    let t = tokens(&app, &mut browser, &client).await;
    let r = t["refresh_token"].as_str().unwrap();
    let res = refresh(&app, &other, r).await;
    assert_eq!(body(res).await["error"], "invalid_grant");
    let res = refresh(&app, &client, r).await;
    assert_eq!(body(res).await["error"], "invalid_grant");
    // An app's refresh token is not one of Sesame's own logins either.
    let t = tokens(&app, &mut browser, &client).await;
    let res = app.refresh_raw(t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_offline_access_there_is_no_refresh_token() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let (mut browser, _) = signed_in(&app).await;
    let q = authorize(&mut browser, &client.id, &[("scope", "openid")]).await;
    let t = body(exchange(&app, &client, &q["code"], VERIFIER).await).await;
    assert!(t.get("refresh_token").is_none());
    let info = body(userinfo(&app, t["access_token"].as_str().unwrap()).await).await;
    assert!(info.get("email").is_none(), "no email scope, no email");
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_browser_session_and_its_app_sessions() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let (mut browser, _) = signed_in(&app).await;
    let t = tokens(&app, &mut browser, &client).await;
    let id_token = t["id_token"].as_str().unwrap();

    let bad = browser
        .get(&format!(
            "/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F"
        ))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.location(), "");
    assert!(browser.session_cookie().is_some(), "nothing changed");

    // Without a genuine hint, the person is asked first.
    let page = browser.get("/oauth/logout").await;
    assert_eq!(page.location(), "/signout");

    let page = browser
        .get(&format!(
            "/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&state=s9"
        ))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "https://app.example/bye?state=s9");
    let res = userinfo(&app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the app session ended with it"
    );
    let page = browser.get("/account").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn discovery_lists_the_provider() {
    let app = spawn_app().await;
    let d = body(app.get("/.well-known/openid-configuration", None).await).await;
    assert_eq!(
        d["authorization_endpoint"],
        format!("{}/oauth/authorize", issuer(&app))
    );
    assert_eq!(
        d["userinfo_endpoint"],
        format!("{}/oauth/userinfo", issuer(&app))
    );
    assert_eq!(
        d["end_session_endpoint"],
        format!("{}/oauth/logout", issuer(&app))
    );
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert!(
        d["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("authorization_code"))
    );
    assert!(
        d["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("none"))
    );
}

// ---- back-channel logout --------------------------------------------------------------------

/// The `logout_token` of a back-channel request, its header and claims, signature checked
/// against the published keys.
async fn logout_token(app: &TestApp, r: &crate::receiver::Received) -> (Value, Value) {
    assert_eq!(
        r.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    let token = url::form_urlencoded::parse(r.body.as_bytes())
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .expect("a logout_token field");
    let header: Value =
        serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    let jwks = app.jwks().await;
    let keys = sesame_verify::KeySet::from_jwks_json(&jwks.to_string()).unwrap();
    let v = sesame_verify::Verifier::new(app.base.clone(), ["api"], keys);
    let claims = v
        .verify_signature_typed::<Value>(&token, "logout+jwt")
        .expect("a logout token signed by a published key");
    (header, claims)
}

async fn app_with_backchannel(app: &TestApp, receiver: &crate::receiver::Receiver) -> App {
    let admin = admin_token(app).await;
    register_app(
        app,
        &admin,
        json!({"public": true, "first_party": true, "backchannel_logout_uri": receiver.url}),
    )
    .await
}

#[tokio::test]
async fn rp_logout_tells_the_app_over_the_back_channel() {
    let receiver = crate::receiver::Receiver::start().await;
    let app = spawn_app().await;
    let client = app_with_backchannel(&app, &receiver).await;
    let (mut browser, user) = signed_in(&app).await;
    let t = tokens(&app, &mut browser, &client).await;
    let id_token = t["id_token"].as_str().unwrap();
    let sid = id_claims(&app, id_token).await["sid"].clone();
    assert!(receiver.received().is_empty(), "nothing before the logout");

    let page = browser
        .get(&format!("/oauth/logout?id_token_hint={id_token}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "the signed-out page");
    let got = receiver
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(got.len(), 1, "one logout token");
    let (header, claims) = logout_token(&app, &got[0]).await;
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(claims["iss"], issuer(&app));
    assert_eq!(claims["aud"], client.id);
    assert_eq!(claims["sub"], user.id);
    assert_eq!(claims["sid"], sid);
    assert!(claims["jti"].is_string());
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    assert!(claims.get("nonce").is_none());
    assert_eq!(
        claims["events"],
        json!({"http://schemas.openid.net/event/backchannel-logout": {}})
    );
}

#[tokio::test]
async fn an_apps_sid_stays_the_same_after_the_person_signs_in_again() {
    // The app keys its session by the `sid` of its ID token; a sign-in again moves the app's
    // session under the new browser session, and neither its refreshed ID tokens nor its
    // logout token may then name a `sid` the app has never seen.
    let receiver = crate::receiver::Receiver::start().await;
    let app = spawn_app().await;
    let client = app_with_backchannel(&app, &receiver).await;
    let (mut browser, user) = signed_in(&app).await;
    let first = tokens(&app, &mut browser, &client).await;
    let sid = id_claims(&app, first["id_token"].as_str().unwrap()).await["sid"].clone();
    app.advance(30);
    let second = sign_in_again(&app, &mut browser, &user, &client).await;
    let second_id = second["id_token"].as_str().unwrap();
    let new_sid = id_claims(&app, second_id).await["sid"].clone();
    assert_ne!(new_sid, sid, "the new sign-in is a new browser session");

    let res = refresh(&app, &client, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed = body(res).await;
    let claims = id_claims(&app, refreshed["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["sid"], sid, "the first app session keeps its sid");

    let page = browser
        .get(&format!("/oauth/logout?id_token_hint={second_id}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "the signed-out page");
    let got = receiver
        .wait_for(2, std::time::Duration::from_secs(10))
        .await;
    let mut sids = Vec::new();
    for r in &got {
        sids.push(logout_token(&app, r).await.1["sid"].clone());
    }
    sids.sort_by_key(|v| v.to_string());
    let mut want = vec![sid, new_sid];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(sids, want, "one logout per sid the app was given");
}

#[tokio::test]
async fn an_apps_session_ended_by_a_replayed_code_or_with_its_browser_session_is_a_webhook() {
    // Neither end is a statement naming the app's session (a trigger ends it with the browser
    // session), and each must still reach `session.revoked` subscribers, once.
    let app = spawn_app_with(&[("SESAME_WEBHOOK_ALLOW_PRIVATE", "on")]).await;
    let admin = app.new_admin().await;
    let receiver = crate::receiver::Receiver::start().await;
    let res = app
        .post_auth(
            "/admin/webhooks",
            &admin.tokens.access,
            json!({"url": receiver.url, "events": ["session.revoked"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let client = first_party_public(&app).await;
    let (mut browser, _) = signed_in(&app).await;
    let q = authorize(&mut browser, &client.id, &[]).await;
    let first = body(exchange(&app, &client, &q["code"], VERIFIER).await).await;
    let replayed = jwt_claims(first["access_token"].as_str().unwrap())["sid"].clone();
    let res = exchange(&app, &client, &q["code"], VERIFIER).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "the replay");
    let t = tokens(&app, &mut browser, &client).await;
    let cascaded = jwt_claims(t["access_token"].as_str().unwrap())["sid"].clone();
    let page = browser
        .get(&format!(
            "/oauth/logout?id_token_hint={}",
            t["id_token"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK, "signed out");
    app.flush_webhooks().await;
    let ended: Vec<Value> = receiver
        .of("session.revoked")
        .iter()
        .map(|r| r.json()["data"]["sid"].clone())
        .collect();
    assert_eq!(
        ended.iter().filter(|s| **s == replayed).count(),
        1,
        "the replayed code's session: {ended:?}"
    );
    assert_eq!(
        ended.iter().filter(|s| **s == cascaded).count(),
        1,
        "the app session that ended with the browser session: {ended:?}"
    );
}

#[tokio::test]
async fn a_password_change_and_an_account_deletion_log_the_app_out_too() {
    let receiver = crate::receiver::Receiver::start().await;
    let app = spawn_app().await;
    let client = app_with_backchannel(&app, &receiver).await;
    let (mut browser, user) = signed_in(&app).await;
    tokens(&app, &mut browser, &client).await;
    let res = app
        .post_auth(
            "/auth/password",
            &user.tokens.access,
            json!({"current_password": user.password, "new_password": "another long passphrase 2"}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let got = receiver
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(got.len(), 1);
    assert_eq!(logout_token(&app, &got[0]).await.1["sub"], user.id);

    // An account deleted by an admin: its app sessions go with it, and the app is told.
    let (mut browser, other) = signed_in(&app).await;
    tokens(&app, &mut browser, &client).await;
    let admin = admin_token(&app).await;
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/admin/users/{}", other.id),
            Some(&admin),
            None,
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let got = receiver
        .wait_for(2, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(got.len(), 2);
    assert_eq!(logout_token(&app, &got[1]).await.1["sub"], other.id);
}

#[tokio::test]
async fn a_failed_back_channel_logout_is_retried_within_five_seconds() {
    let receiver = crate::receiver::Receiver::answering(503).await;
    let app = spawn_app().await;
    let client = app_with_backchannel(&app, &receiver).await;
    let (mut browser, user) = signed_in(&app).await;
    tokens(&app, &mut browser, &client).await;
    let res = app
        .request(
            reqwest::Method::POST,
            "/auth/logout/all",
            Some(&user.tokens.access),
            None,
        )
        .await;
    assert!(res.status().is_success(), "{}", res.status());
    let got = receiver
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(got.len(), 1, "the first attempt");
    receiver.answer(204);
    // Not before its time (the clock is the app's own, stopped here)…
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 1, "no retry before the backoff");
    // …and once 5 s have passed, again.
    app.advance(5);
    let got = receiver
        .wait_for(2, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(got.len(), 2, "retried");
    app.advance(60);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 2, "delivered: no more attempts");
}

#[tokio::test]
async fn an_app_revokes_its_own_refresh_token_and_no_other_client_can() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let client = register_app(&app, &admin, json!({"public": true, "first_party": true})).await;
    let other = register_app(&app, &admin, json!({"first_party": true})).await;
    let (mut browser, _) = signed_in(&app).await;
    let t = tokens(&app, &mut browser, &client).await;
    let r = t["refresh_token"].as_str().unwrap();
    // Another client's revocation is answered 200 (RFC 7009) and changes nothing.
    let res = form(&app, "/oauth/revoke", other.basic(), &[("token", r)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = refresh(&app, &client, r).await;
    assert_eq!(res.status(), StatusCode::OK, "still alive");
    let r = body(res).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    // The public app names itself and revokes it.
    let res = form(
        &app,
        "/oauth/revoke",
        None,
        &[("token", &r), ("client_id", &client.id)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = refresh(&app, &client, &r).await;
    assert_eq!(body(res).await["error"], "invalid_grant");
}

#[tokio::test]
async fn a_browser_app_at_a_registered_origin_may_call_the_token_endpoint_and_no_other_origin() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/oauth/token"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let res = preflight("https://app.example").await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(
        res.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let res = preflight("https://evil.example").await.unwrap();
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "not registered"
    );

    // The exchange itself, as the SPA's fetch sends it.
    let (mut browser, _) = signed_in(&app).await;
    let q = authorize(&mut browser, &client.id, &[]).await;
    let res = app
        .client
        .post(app.url("/oauth/token"))
        .header("origin", "https://app.example")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", q["code"].as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", client.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(res.headers()["vary"].to_str().unwrap().contains("Origin"));

    // Public documents: any origin; the account API: none.
    let res = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .header("origin", "https://anyone.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let res = app
        .client
        .get(app.url("/profile"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

// Issue #19: an app's sign-in says how the person signed in, as their browser session does.

/// The claims of a token's payload (no signature check: the token came straight from Sesame).
fn payload(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// The second step's page on the way to the app: it lets its form's answer go on to the app.
async fn mfa_page(browser: &mut FormClient<'_>, location: &str) -> String {
    assert!(
        location.starts_with("/signin/mfa?return_to=%2Foauth%2Fauthorize"),
        "{location}"
    );
    let page = browser.get(location).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csp = page.header("content-security-policy");
    assert!(
        csp.contains("form-action 'self' https://app.example"),
        "{csp}"
    );
    input_value(&page.body, "return_to").unwrap()
}

#[tokio::test]
async fn a_totp_sign_in_gives_the_app_pwd_otp_at_aal2_in_id_access_and_refreshed_tokens() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let e = crate::mfa::enroll(&app, app.new_user().await).await;
    let mut browser = FormClient::new(&app);
    let page = browser.get(&authorize_url(&client.id, &[])).await;
    let signin = browser.get(page.location()).await;
    let return_to = input_value(&signin.body, "return_to").unwrap();
    let page = browser
        .post(
            "/signin",
            &[
                ("identifier", &e.user.username),
                ("password", &e.user.password),
                ("return_to", &return_to),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let return_to = mfa_page(&mut browser, page.location()).await;
    let code = e.code(&app);
    let page = browser
        .post("/signin/mfa", &[("code", &code), ("return_to", &return_to)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let back = browser.get(page.location()).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let q = query(back.location());
    let res = exchange(&app, &client, &q["code"], VERIFIER).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t = body(res).await;

    let two_factors = json!(["pwd", "otp", "mfa"]);
    let id = id_claims(&app, t["id_token"].as_str().unwrap()).await;
    assert_eq!(id["sub"], e.user.id);
    assert_eq!(id["amr"], two_factors);
    assert_eq!(id["acr"], "aal2");
    let access = payload(t["access_token"].as_str().unwrap());
    assert_eq!(access["client_id"], client.id);
    assert_eq!(access["amr"], two_factors);
    assert_eq!(access["acr"], "aal2");

    // The app's session keeps them: a refresh's tokens say the same.
    let res = refresh(&app, &client, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t2 = body(res).await;
    let id2 = id_claims(&app, t2["id_token"].as_str().unwrap()).await;
    assert_eq!(id2["amr"], two_factors);
    assert_eq!(id2["acr"], "aal2");
    assert_eq!(payload(t2["access_token"].as_str().unwrap())["acr"], "aal2");
}

#[tokio::test]
async fn a_password_sign_in_gives_the_app_pwd_at_aal1() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let (mut browser, _) = signed_in(&app).await;
    let t = tokens(&app, &mut browser, &client).await;
    let id = id_claims(&app, t["id_token"].as_str().unwrap()).await;
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["acr"], "aal1");
    let access = payload(t["access_token"].as_str().unwrap());
    assert_eq!(access["amr"], json!(["pwd"]));
    assert_eq!(access["acr"], "aal1");
}

#[tokio::test]
async fn acr_values_aal2_asks_an_enrolled_person_signed_in_with_a_password_for_the_code_first() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    // Signed in with the password before enrolling: the browser session is aal1.
    let (mut browser, user) = signed_in(&app).await;
    let e = crate::mfa::enroll(&app, user).await;
    let aal1_session = browser.session_cookie().unwrap().clone();

    // prompt=none may show no page: the app hears that a sign-in is needed.
    let q = authorize(
        &mut browser,
        &client.id,
        &[("acr_values", "aal2"), ("prompt", "none")],
    )
    .await;
    assert_eq!(q["error"], "login_required");
    assert!(!q.contains_key("code"));

    let page = browser
        .get(&authorize_url(&client.id, &[("acr_values", "aal2")]))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(
        !page.location().starts_with(REDIRECT),
        "no code before the second factor: {}",
        page.location()
    );
    let challenge = page
        .set_cookie("__Host-sesame-mfa")
        .expect("the challenge rides in its cookie");
    assert!(challenge.contains("HttpOnly"), "{challenge}");
    assert!(
        !page
            .location()
            .contains(browser.jar["__Host-sesame-mfa"].as_str()),
        "never in the URL"
    );
    let return_to = mfa_page(&mut browser, page.location()).await;
    assert!(return_to.contains("acr_values=aal2"), "{return_to}");

    // A wrong code: still no code for the app, and counted like any wrong code.
    let wrong = crate::mfa::wrong_code(&e.secret, app.clock.now());
    let refused = browser
        .post(
            "/signin/mfa",
            &[("code", &wrong), ("return_to", &return_to)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let failed = app
        .sesame
        .admin()
        .audit_trail(
            Some(uuid::Uuid::parse_str(&e.user.id).unwrap()),
            Some("mfa_failed".into()),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(failed.items.len(), 1);

    let code = e.code(&app);
    let page = browser
        .post("/signin/mfa", &[("code", &code), ("return_to", &return_to)])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_ne!(
        browser.session_cookie().unwrap(),
        &aal1_session,
        "a new browser session at aal2 replaces the password's"
    );
    let back = browser.get(page.location()).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let q = query(back.location());
    assert_eq!(q["state"], "st-1");
    let t = body(exchange(&app, &client, &q["code"], VERIFIER).await).await;
    let id = id_claims(&app, t["id_token"].as_str().unwrap()).await;
    assert_eq!(id["acr"], "aal2");
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));

    // At aal2 the same request goes straight to the app.
    let q = authorize(&mut browser, &client.id, &[("acr_values", "aal2")]).await;
    assert!(q.contains_key("code"), "{q:?}");
}

#[tokio::test]
async fn acr_values_aal2_for_a_person_without_a_second_factor_goes_on_at_aal1() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let (mut browser, _) = signed_in(&app).await;
    // Voluntary (OpenID Connect Core §3.1.2.1): the ID token says what the app got.
    let q = authorize(&mut browser, &client.id, &[("acr_values", "aal2")]).await;
    let t = body(exchange(&app, &client, &q["code"], VERIFIER).await).await;
    let id = id_claims(&app, t["id_token"].as_str().unwrap()).await;
    assert_eq!(id["acr"], "aal1");
    assert_eq!(id["amr"], json!(["pwd"]));
}

/// The claims of a JWT, unchecked (the tests above check signatures where it matters).
fn jwt_claims(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// An app only signs the person in: its access tokens carry none of their roles unless the app
/// may delegate them (`delegable_roles`, as for token exchange). A self-registered app gets
/// Sesame's own audience; with an admin's roles in its token it passed every
/// `/auth/verify?role=admin` gate and every service that trusts `roles`.
#[tokio::test]
async fn an_apps_access_token_carries_only_the_roles_the_app_may_delegate() {
    let app = spawn_app_with(&[("SESAME_DYNAMIC_REGISTRATION", "on")]).await;
    let res = app
        .post(
            "/oauth/register",
            json!({
                "client_name": "Anyone's app",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "scope": "openid offline_access",
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let anyone = App {
        id: body(res).await["client_id"].as_str().unwrap().to_string(),
        secret: None,
    };
    let admin = app.new_admin().await;
    let mut browser = FormClient::new(&app);
    browser.sign_in(&admin.username, &admin.password).await;
    let scope = [("scope", "openid offline_access")];
    let page = browser.get(&authorize_url(&anyone.id, &scope)).await;
    assert_eq!(page.status, StatusCode::OK, "the consent page");
    let allow = decide(&mut browser, &hidden_fields(&page), "allow").await;
    let t = body(exchange(&app, &anyone, &query(allow.location())["code"], VERIFIER).await).await;
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(access)["aud"], anyone.id.as_str(), "for itself");
    assert_eq!(jwt_claims(access)["roles"], json!([]));
    assert_eq!(
        app.get("/auth/verify?role=admin", Some(access))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/auth/verify", Some(access)).await.status(),
        StatusCode::FORBIDDEN,
        "a gate that names no audience guards Sesame's: anyone's app does not pass it as the person"
    );
    assert_eq!(
        userinfo(&app, access).await.status(),
        StatusCode::OK,
        "the person's claims, as consented"
    );
    let t = body(refresh(&app, &anyone, t["refresh_token"].as_str().unwrap()).await).await;
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(
        jwt_claims(access)["roles"],
        json!([]),
        "nor after a refresh"
    );
    assert_eq!(
        app.get("/auth/verify?role=admin", Some(access))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // An app the operator lets delegate a role gets that role, and only it.
    let trusted = register_app(
        &app,
        &admin.tokens.access,
        json!({"first_party": true, "delegable_roles": ["admin"]}),
    )
    .await;
    let q = authorize(&mut browser, &trusted.id, &[]).await;
    let t = body(exchange(&app, &trusted, &q["code"], VERIFIER).await).await;
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(access)["roles"], json!(["admin"]));
    let t = body(refresh(&app, &trusted, t["refresh_token"].as_str().unwrap()).await).await;
    assert_eq!(
        jwt_claims(t["access_token"].as_str().unwrap())["roles"],
        json!(["admin"])
    );
}

#[tokio::test]
async fn a_self_registered_app_reaches_only_the_services_the_operator_named() {
    let app = spawn_app_with(&[
        ("SESAME_DYNAMIC_REGISTRATION", "on"),
        ("SESAME_AUDIENCES", "api,mcp,gallery"),
        ("SESAME_DYNAMIC_AUDIENCES", "mcp"),
    ])
    .await;
    let res = app
        .post(
            "/oauth/register",
            json!({"client_name": "An MCP client", "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none", "scope": "openid"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let anyone = App {
        id: body(res).await["client_id"].as_str().unwrap().to_string(),
        secret: None,
    };
    let (mut browser, _) = signed_in(&app).await;
    let page = browser
        .get(&authorize_url(
            &anyone.id,
            &[("scope", "openid"), ("resource", "mcp")],
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK, "the consent page");
    let allow = decide(&mut browser, &hidden_fields(&page), "allow").await;
    let t = body(exchange(&app, &anyone, &query(allow.location())["code"], VERIFIER).await).await;
    assert_eq!(
        jwt_claims(t["access_token"].as_str().unwrap())["aud"],
        "mcp"
    );
    for other in ["gallery", "api"] {
        let page = browser
            .get(&authorize_url(
                &anyone.id,
                &[("scope", "openid"), ("resource", other)],
            ))
            .await;
        assert_eq!(
            query(page.location())["error"],
            "invalid_target",
            "{other}: {}",
            page.location()
        );
    }
}

/// `state` and `nonce` may each be 1024 characters; the request they ride on must survive the
/// sign-in detour, or the person lands on /account and the app never hears back.
#[tokio::test]
async fn the_longest_accepted_state_and_nonce_come_back_through_the_sign_in() {
    let app = spawn_app().await;
    let client = first_party_public(&app).await;
    let user = app.new_user().await;
    let mut browser = FormClient::new(&app);
    // An app's state is often an encoded return URL: every `/` and `:` is three characters in
    // the query.
    let state = "https://app.example/a/".repeat(60)[..1024].to_string();
    let nonce = "n/".repeat(512);
    let page = browser
        .get(&authorize_url(
            &client.id,
            &[("state", &state), ("nonce", &nonce)],
        ))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let signin = browser.get(page.location()).await;
    let return_to = input_value(&signin.body, "return_to").unwrap_or_default();
    assert!(return_to.starts_with("/oauth/authorize?"), "{return_to:?}");
    let page = browser
        .post(
            "/signin",
            &[
                ("identifier", &user.username),
                ("password", &user.password),
                ("return_to", &return_to),
            ],
        )
        .await;
    assert!(
        page.location().starts_with("/oauth/authorize?"),
        "{}",
        page.location()
    );
    let back = browser.get(page.location()).await;
    let q = query(back.location());
    assert_eq!(q["state"], state);
    let t = body(exchange(&app, &client, &q["code"], VERIFIER).await).await;
    assert_eq!(
        id_claims(&app, t["id_token"].as_str().unwrap()).await["nonce"],
        nonce
    );
}

#[tokio::test]
async fn the_apps_page_lists_an_app_and_removes_it_only_with_the_forms_token() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let client = register_app(&app, &admin, json!({})).await;
    let (mut browser, user) = signed_in(&app).await;
    let page = browser.get(&authorize_url(&client.id, &[])).await;
    let allow = decide(&mut browser, &hidden_fields(&page), "allow").await;
    assert_eq!(allow.status, StatusCode::SEE_OTHER);

    let page = browser.get("/account/apps").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Photo Book"), "{}", page.body);
    // A forged removal (another site's form has no valid token) changes nothing.
    let forged = browser
        .post(
            "/account/apps/revoke",
            &[("client_id", client.id.as_str()), ("csrf_token", "forged")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let grants = body(app.get("/auth/grants", Some(&user.tokens.access)).await).await;
    assert_eq!(
        grants["grants"].as_array().unwrap().len(),
        1,
        "still granted"
    );

    browser.get("/account/apps").await;
    let removed = browser
        .post("/account/apps/revoke", &[("client_id", client.id.as_str())])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(removed.location(), "/account/apps?notice=app-removed");
    let grants = body(app.get("/auth/grants", Some(&user.tokens.access)).await).await;
    assert!(grants["grants"].as_array().unwrap().is_empty(), "removed");
}
