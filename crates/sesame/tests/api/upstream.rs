//! Sign in with another provider (issue #22) over HTTP, against stand-ins served by this test:
//! an OpenID provider whose ID tokens the test writes (so each wrong claim can be tried), and
//! GitHub's documented endpoints (`/login/oauth/*`, `/user`, `/user/emails` — there is no
//! network to GitHub here). The real OpenID provider (Node's oidc-provider) and the round trip
//! in Chromium are in `tests/peers/upstream.rs`.
//!
//! Each refusal has its own test: a tampered or replayed `state`, a callback in another
//! browser, ID tokens with the wrong `aud`, `nonce` or `iss`, an unverified email trying to take
//! over an account, and the provider down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::routing::{get, post};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sesame_core::keys::{KeyPurpose, KeyState, Signer, SigningAlg, generate_key_for};
use sesame_core::secret::ExposeSecret;

use crate::helpers::*;
use crate::pages::FormClient;

const CLIENT_ID: &str = "sesame-app";
const CLIENT_SECRET: &str = "stand-in-secret";

/// What the stand-in's token endpoint answers for a code: the claims of its ID token (the test
/// fills `nonce` from the authorization request unless it says otherwise).
#[derive(Default)]
struct Stand {
    base: String,
    codes: HashMap<String, Value>,
    /// The form of every token request, to check PKCE and client authentication.
    token_requests: Vec<(HashMap<String, String>, Option<String>)>,
    github_user: Value,
    github_emails: Value,
}

/// The stand-in's state and its published key set, shared with its handlers.
type Shared = (Arc<Mutex<Stand>>, Arc<Mutex<Value>>);

struct StandIn {
    base: String,
    state: Arc<Mutex<Stand>>,
    /// The signing key and its kid; the published set is `jwks` in the shared state.
    key: Mutex<(Signer, String)>,
    jwks: Arc<Mutex<Value>>,
}

fn new_key() -> (Signer, String, Value) {
    let key = generate_key_for(
        KeyPurpose::IdToken,
        SigningAlg::RS256,
        KeyState::Current,
        chrono::Utc::now(),
    )
    .unwrap();
    let signer = Signer::from_pkcs8(SigningAlg::RS256, key.private_der.expose_secret()).unwrap();
    let jwk = serde_json::to_value(&key.public_jwk).unwrap();
    (signer, key.kid, jwk)
}

impl StandIn {
    async fn start() -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let (signer, kid, jwk) = new_key();
        let jwks = Arc::new(Mutex::new(json!({"keys": [jwk]})));
        let state = Arc::new(Mutex::new(Stand {
            base: base.clone(),
            ..Stand::default()
        }));
        let shared = (state.clone(), jwks.clone());
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|State((s, _)): State<Shared>| async move {
                    let base = s.lock().unwrap().base.clone();
                    axum::Json(json!({
                        "issuer": base,
                        "authorization_endpoint": format!("{base}/authorize"),
                        "token_endpoint": format!("{base}/token"),
                        "jwks_uri": format!("{base}/jwks"),
                    }))
                }),
            )
            .route(
                "/jwks",
                get(|State((_, jwks)): State<Shared>| async move {
                    axum::Json(jwks.lock().unwrap().clone())
                }),
            )
            .route("/token", post(token))
            .route("/login/oauth/access_token", post(token))
            .route(
                "/user",
                get(|State((s, _)): State<Shared>| async move {
                    axum::Json(s.lock().unwrap().github_user.clone())
                }),
            )
            .route(
                "/user/emails",
                get(|State((s, _)): State<Shared>| async move {
                    axum::Json(s.lock().unwrap().github_emails.clone())
                }),
            )
            .with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await });
        StandIn {
            base,
            state,
            key: Mutex::new((signer, kid)),
            jwks,
        }
    }

    /// The provider rotates: a new key signs, and the set publishes only it.
    fn rotate(&self) {
        let (signer, kid, jwk) = new_key();
        *self.key.lock().unwrap() = (signer, kid);
        *self.jwks.lock().unwrap() = json!({"keys": [jwk]});
    }

    /// A signed ID token with `claims`.
    fn id_token(&self, claims: &Value) -> String {
        use base64::Engine as _;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let key = self.key.lock().unwrap();
        let header = json!({"alg": "RS256", "kid": key.1, "typ": "JWT"});
        let input = format!("{}.{}", b64(&header), b64(claims));
        let sig = key.0.sign(input.as_bytes()).unwrap();
        format!(
            "{input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// Good claims for `sub` with `email` (verified or not), for the sign-in whose nonce is given.
    fn claims(&self, sub: &str, email: &str, verified: bool, nonce: &str) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.base, "aud": CLIENT_ID, "sub": sub, "nonce": nonce,
            "iat": now, "exp": now + 300, "email": email, "email_verified": verified,
        })
    }

    /// The token endpoint will answer `code` with an ID token of `claims`.
    fn answer(&self, code: &str, claims: Value) {
        let token = self.id_token(&claims);
        self.state.lock().unwrap().codes.insert(
            code.to_string(),
            json!({"id_token": token, "access_token": "at-1", "token_type": "Bearer"}),
        );
    }
}

async fn token(
    State((s, _)): State<Shared>,
    headers: axum::http::HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> axum::Json<Value> {
    let mut s = s.lock().unwrap();
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    s.token_requests.push((form.clone(), basic));
    let code = form.get("code").cloned().unwrap_or_default();
    axum::Json(
        s.codes
            .remove(&code)
            .unwrap_or_else(|| json!({"error": "invalid_grant"})),
    )
}

/// A Sesame with the stand-in as provider `corp` (OpenID) and `gh` (GitHub's shape).
async fn app_with(stand: &StandIn, extra: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap().keep();
    let path = dir.join("sesame.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[[upstream]]
id = "corp"
kind = "oidc"
name = "Corp ID"
issuer = "{base}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
roles = [{{ claim = "groups", value = "staff", role = "staff" }}]
{extra}

[[upstream]]
id = "gh"
kind = "github"
name = "GitHub"
issuer = "{base}"
api_url = "{base}"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
"#,
            base = stand.base
        ),
    )
    .unwrap();
    spawn_app_with(&[
        ("SESAME_CONFIG", path.to_str().unwrap()),
        ("SESAME_WEBHOOK_ALLOW_PRIVATE", "on"),
    ])
    .await
}

/// Starts a sign-in at `provider` in `b`: the state and nonce the provider was sent.
async fn begin(b: &mut FormClient<'_>, provider: &str) -> (String, Option<String>) {
    let page = b.get(&format!("/signin/{provider}")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let to = url::Url::parse(page.location()).unwrap();
    let q: HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["code_challenge"].len() >= 43);
    assert!(q["redirect_uri"].ends_with(&format!("/signin/{provider}/callback")));
    (q["state"].clone(), q.get("nonce").cloned())
}

async fn callback(
    b: &mut FormClient<'_>,
    provider: &str,
    state: &str,
    code: &str,
) -> super::pages::Page {
    b.get(&format!(
        "/signin/{provider}/callback?state={state}&code={code}"
    ))
    .await
}

#[tokio::test]
async fn a_first_sign_in_makes_an_account_and_the_next_finds_it_by_identity() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    let mut b = FormClient::new(&app);
    let page = b.get("/signin").await;
    assert!(page.body.contains("href=\"/signin/corp\""), "{}", page.body);
    assert!(page.body.contains("Sign in with Corp ID"));

    let (state, nonce) = begin(&mut b, "corp").await;
    let mut claims = stand.claims("corp-ada", "ada@corp.example", true, &nonce.unwrap());
    claims["groups"] = json!(["staff", "eng"]);
    stand.answer("code-1", claims);
    let page = callback(&mut b, "corp", &state, "code-1").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/account");
    assert!(b.session_cookie().is_some());
    // The code went back with the PKCE verifier, and the secret by HTTP Basic.
    {
        let s = stand.state.lock().unwrap();
        let (form, basic) = s.token_requests.last().unwrap();
        assert!(form["code_verifier"].len() >= 43);
        assert_eq!(form["grant_type"], "authorization_code");
        assert!(basic.as_deref().unwrap().starts_with("Basic "));
    }
    let user = app
        .sesame
        .store()
        .find_user_by_login("ada@corp.example")
        .await
        .unwrap()
        .expect("an account was made");
    assert!(user.email_verified, "the provider verified it");
    assert!(
        user.roles.contains(&"staff".to_string()),
        "{:?}",
        user.roles
    );
    assert_eq!(user.password_hash, sesame_core::store::NO_PASSWORD_HASH);
    // No password signs in to it.
    assert_eq!(
        app.login_raw("ada@corp.example", "anything at all 123")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Again, in another browser, with another email at the provider: the identity decides.
    let mut again = FormClient::new(&app);
    let (state, nonce) = begin(&mut again, "corp").await;
    stand.answer(
        "code-2",
        stand.claims("corp-ada", "ada.new@corp.example", true, &nonce.unwrap()),
    );
    let page = callback(&mut again, "corp", &state, "code-2").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let ids = app.sesame.store().list_identities(user.id).await.unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].subject, "corp-ada");
    // Audited.
    let filter = sesame_core::store::AuditFilter {
        user_id: Some(user.id),
        event: None,
        limit: 50,
        before: None,
    };
    let events: Vec<String> = app
        .sesame
        .store()
        .list_audit(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(
        events.contains(&"identity_linked".to_string()),
        "{events:?}"
    );
    assert!(events.contains(&"register".to_string()), "{events:?}");
}

#[tokio::test]
async fn an_upstream_sign_up_is_a_user_created_webhook() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    let admin = app.new_admin().await;
    let receiver = crate::receiver::Receiver::start().await;
    let res = app
        .post_auth(
            "/admin/webhooks",
            &admin.tokens.access,
            json!({"url": receiver.url, "events": ["user.created"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let mut b = FormClient::new(&app);
    let (state, nonce) = begin(&mut b, "corp").await;
    stand.answer(
        "c-1",
        stand.claims("hooked", "hooked@corp.example", true, &nonce.unwrap()),
    );
    assert_eq!(
        callback(&mut b, "corp", &state, "c-1").await.status,
        StatusCode::SEE_OTHER
    );
    let user = app
        .sesame
        .store()
        .find_user_by_login("hooked@corp.example")
        .await
        .unwrap()
        .unwrap();
    app.flush_webhooks().await;
    let created = receiver.of("user.created");
    assert!(
        created
            .iter()
            .any(|r| r.json()["data"]["user_id"] == json!(user.id.to_string())),
        "{:?}",
        created.iter().map(|r| r.body.clone()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_provider_that_rotates_its_keys_is_followed() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    let sign_in = |code: &'static str, sub: &'static str| {
        let (app, stand) = (&app, &stand);
        async move {
            let mut b = FormClient::new(app);
            let (state, nonce) = begin(&mut b, "corp").await;
            stand.answer(
                code,
                stand.claims(sub, &format!("{sub}@corp.example"), true, &nonce.unwrap()),
            );
            callback(&mut b, "corp", &state, code).await.status
        }
    };
    assert_eq!(sign_in("c-1", "before").await, StatusCode::SEE_OTHER);
    // The key set Sesame holds no longer has the signing key: it fetches the set again.
    stand.rotate();
    assert_eq!(sign_in("c-2", "after").await, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_tampered_state_is_refused() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    let mut b = FormClient::new(&app);
    let (state, nonce) = begin(&mut b, "corp").await;
    stand.answer(
        "code-1",
        stand.claims("s", "t@corp.example", true, &nonce.unwrap()),
    );
    let mut tampered = state.clone();
    tampered.replace_range(0..1, if state.starts_with('A') { "B" } else { "A" });
    let page = callback(&mut b, "corp", &tampered, "code-1").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("Start it again"), "{}", page.body);
    assert!(b.session_cookie().is_none());
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    let mut b = FormClient::new(&app);
    let (state, nonce) = begin(&mut b, "corp").await;
    let claims = stand.claims("s", "r@corp.example", true, &nonce.unwrap());
    stand.answer("code-1", claims.clone());
    let cookie = b.jar.get("__Host-sesame-upstream").cloned().unwrap();
    assert_eq!(
        callback(&mut b, "corp", &state, "code-1").await.status,
        StatusCode::SEE_OTHER
    );
    // The same callback again (the cookie put back, the code answered again): the state is spent.
    b.jar.insert("__Host-sesame-upstream".into(), cookie);
    stand.answer("code-1", claims);
    let page = callback(&mut b, "corp", &state, "code-1").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
}

#[tokio::test]
async fn a_callback_planted_in_another_browser_signs_nobody_in() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    let mut attacker = FormClient::new(&app);
    let (state, nonce) = begin(&mut attacker, "corp").await;
    stand.answer(
        "code-1",
        stand.claims("evil", "evil@corp.example", true, &nonce.unwrap()),
    );
    // The victim's browser follows the attacker's callback URL: it has no matching cookie.
    let mut victim = FormClient::new(&app);
    let page = callback(&mut victim, "corp", &state, "code-1").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(victim.session_cookie().is_none());
}

/// One sign-in whose ID token has `claims` changed by `wrong`: refused with 401, no session.
async fn refused_with(wrong: impl FnOnce(&mut Value)) {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    let mut b = FormClient::new(&app);
    let (state, nonce) = begin(&mut b, "corp").await;
    let mut claims = stand.claims("s", "w@corp.example", true, &nonce.unwrap());
    wrong(&mut claims);
    stand.answer("code-1", claims);
    let page = callback(&mut b, "corp", &state, "code-1").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
    assert!(page.body.contains("not accepted"), "{}", page.body);
    assert!(b.session_cookie().is_none());
    assert!(
        app.sesame
            .store()
            .find_user_by_login("w@corp.example")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    refused_with(|c| c["aud"] = json!("someone-else")).await;
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    refused_with(|c| c["nonce"] = json!("not-this-sign-ins")).await;
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    refused_with(|c| c["iss"] = json!("https://evil.example")).await;
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    refused_with(|c| c["exp"] = json!(chrono::Utc::now().timestamp() - 3600)).await;
}

#[tokio::test]
async fn an_unverified_email_cannot_take_over_an_account() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    let victim = app.new_user().await;
    let mut b = FormClient::new(&app);
    let (state, nonce) = begin(&mut b, "corp").await;
    // Someone registered the victim's email at the provider, unverified.
    stand.answer(
        "code-1",
        stand.claims("mallory", &victim.email, false, &nonce.unwrap()),
    );
    let page = callback(&mut b, "corp", &state, "code-1").await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);
    assert!(
        page.body.contains("Sign in to it with your password"),
        "{}",
        page.body
    );
    assert!(b.session_cookie().is_none());
    let ids = app
        .sesame
        .store()
        .list_identities(victim.id.parse().unwrap())
        .await
        .unwrap();
    assert!(ids.is_empty(), "nothing linked: {ids:?}");
}

#[tokio::test]
async fn a_verified_email_joins_only_an_account_whose_email_is_verified_too() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    // An account whose address was never proven: a provider's "verified" does not join it.
    let unproven = app.new_user().await;
    let mut b = FormClient::new(&app);
    let (state, nonce) = begin(&mut b, "corp").await;
    stand.answer(
        "code-1",
        stand.claims("u-1", &unproven.email, true, &nonce.unwrap()),
    );
    let page = callback(&mut b, "corp", &state, "code-1").await;
    assert_eq!(page.status, StatusCode::CONFLICT);

    // The person signs in with the password and links the provider from the security page.
    b.sign_in(&unproven.email, &unproven.password).await;
    let page = b.get("/account/security").await;
    assert!(page.body.contains("Link Corp ID"), "{}", page.body);
    let page = b
        .post("/account/security/identities/link", &[("provider", "corp")])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let q: HashMap<String, String> = url::Url::parse(page.location())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    stand.answer(
        "code-2",
        stand.claims("u-1", &unproven.email, true, &q["nonce"]),
    );
    let page = callback(&mut b, "corp", &q["state"], "code-2").await;
    assert_eq!(page.location(), "/account/security?notice=identity-linked");
    let res = app
        .get("/auth/identities", Some(&unproven.tokens.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let list = body(res).await;
    assert_eq!(list["identities"][0]["provider"], "corp");
    assert_eq!(list["identities"][0]["subject"], "u-1");
    // It has a password: the identity may go.
    let id = list["identities"][0]["id"].as_str().unwrap().to_string();
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/auth/identities/{id}"),
            Some(&unproven.tokens.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn no_account_is_made_from_an_email_the_provider_did_not_verify() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    let mut b = FormClient::new(&app);
    let (state, nonce) = begin(&mut b, "corp").await;
    // Someone registered an address at the provider without proving it: an account made from
    // it would be theirs even after the address's owner signs up and resets its password.
    stand.answer(
        "c-1",
        stand.claims("pre", "owner@corp.example", false, &nonce.unwrap()),
    );
    let page = callback(&mut b, "corp", &state, "c-1").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    assert!(
        page.body.contains("has not verified your email"),
        "{}",
        page.body
    );
    assert!(b.session_cookie().is_none());
    assert!(
        app.sesame
            .store()
            .find_user_by_login("owner@corp.example")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        app.sesame
            .store()
            .find_identity("corp", "pre")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_verified_email_at_both_ends_links_automatically() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    // An account made by the OpenID provider, its email verified there (so here too).
    let mut b = FormClient::new(&app);
    let (state, nonce) = begin(&mut b, "corp").await;
    stand.answer(
        "code-1",
        stand.claims("corp-1", "both@corp.example", true, &nonce.unwrap()),
    );
    assert_eq!(
        callback(&mut b, "corp", &state, "code-1").await.status,
        StatusCode::SEE_OTHER
    );
    // GitHub says the same address is its verified primary one: the same account.
    {
        let mut s = stand.state.lock().unwrap();
        s.github_user = json!({"id": 77, "login": "both"});
        s.github_emails =
            json!([{"email": "both@corp.example", "primary": true, "verified": true}]);
        s.codes
            .insert("gh".into(), json!({"access_token": "gho_2"}));
    }
    let mut other = FormClient::new(&app);
    let (state, _) = begin(&mut other, "gh").await;
    assert_eq!(
        callback(&mut other, "gh", &state, "gh").await.status,
        StatusCode::SEE_OTHER
    );
    let user = app
        .sesame
        .store()
        .find_user_by_login("both@corp.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        app.sesame
            .store()
            .list_identities(user.id)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn the_only_way_in_cannot_be_unlinked() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    let mut b = FormClient::new(&app);
    let (state, nonce) = begin(&mut b, "corp").await;
    stand.answer(
        "code-1",
        stand.claims("solo", "solo@corp.example", true, &nonce.unwrap()),
    );
    assert_eq!(
        callback(&mut b, "corp", &state, "code-1").await.status,
        StatusCode::SEE_OTHER
    );
    let page = b.get("/account/security").await;
    let id = page
        .body
        .split("/account/security/identities/")
        .nth(1)
        .and_then(|s| s.split("/unlink").next())
        .unwrap()
        .to_string();
    let page = b
        .post(&format!("/account/security/identities/{id}/unlink"), &[])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("only way to sign in"), "{}", page.body);
}

#[tokio::test]
async fn github_signs_in_with_its_verified_primary_email() {
    let stand = StandIn::start().await;
    let app = app_with(&stand, "").await;
    {
        let mut s = stand.state.lock().unwrap();
        s.github_user = json!({"id": 4242, "login": "octo", "name": "Octo Cat"});
        s.github_emails = json!([
            {"email": "octo@old.example", "primary": false, "verified": true},
            {"email": "octo@gh.example", "primary": true, "verified": true},
        ]);
        s.codes.insert(
            "gh-code".into(),
            json!({"access_token": "gho_1", "token_type": "bearer"}),
        );
    }
    let mut b = FormClient::new(&app);
    let (state, nonce) = begin(&mut b, "gh").await;
    assert!(nonce.is_none(), "GitHub gets no nonce");
    let page = callback(&mut b, "gh", &state, "gh-code").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let user = app
        .sesame
        .store()
        .find_user_by_login("octo@gh.example")
        .await
        .unwrap()
        .unwrap();
    let ids = app.sesame.store().list_identities(user.id).await.unwrap();
    assert_eq!(
        (ids[0].provider.as_str(), ids[0].subject.as_str()),
        ("gh", "4242")
    );
    // The secret went in the form, as GitHub takes it.
    let s = stand.state.lock().unwrap();
    let (form, _) = s.token_requests.last().unwrap();
    assert_eq!(form["client_secret"], CLIENT_SECRET);
}

#[tokio::test]
async fn a_provider_that_is_down_gets_a_clear_page_not_a_crash() {
    let port = free_port().unwrap();
    let dir = tempfile::tempdir().unwrap().keep();
    let path = dir.join("sesame.toml");
    std::fs::write(
        &path,
        format!(
            "[[upstream]]\nid = \"down\"\nkind = \"oidc\"\nname = \"Down Inc\"\nissuer = \"http://127.0.0.1:{port}\"\nclient_id = \"a\"\nclient_secret = \"b\"\n"
        ),
    )
    .unwrap();
    let app = spawn_app_with(&[("SESAME_CONFIG", path.to_str().unwrap())]).await;
    let mut b = FormClient::new(&app);
    let page = b.get("/signin/down").await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(
        page.body.contains("Down Inc cannot be reached now"),
        "{}",
        page.body
    );
    // The rest of Sesame is fine.
    assert_eq!(b.get("/signin").await.status, StatusCode::OK);
    assert_eq!(b.get("/signin/nope").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_bad_upstream_configuration_stops_the_start_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sesame.toml");
    for (toml, says) in [
        (
            "[[upstream]]\nid = \"x\"\nkind = \"saml\"\nissuer = \"https://a\"\nclient_id = \"a\"\nclient_secret = \"b\"\n",
            "upstream[0].kind",
        ),
        (
            "[[upstream]]\nid = \"x\"\nkind = \"oidc\"\nissuer = \"http://example.com\"\nclient_id = \"a\"\nclient_secret = \"b\"\n",
            "upstream[0].issuer",
        ),
        (
            "[[upstream]]\nid = \"x\"\nkind = \"oidc\"\nissuer = \"https://a\"\nclient_id = \"a\"\n",
            "upstream[0].client_secret",
        ),
        (
            "[[upstream]]\nid = \"Bad Id\"\nkind = \"oidc\"\nissuer = \"https://a\"\nclient_id = \"a\"\nclient_secret = \"b\"\n",
            "upstream[0].id",
        ),
        (
            "[[upstream]]\nid = \"x\"\nkind = \"oidc\"\nissuer = \"https://a\"\nclient_id = \"a\"\nclient_secret = \"b\"\nroles = [{ claim = \"g\", value = \"v\", role = \"Bad Role!\" }]\n",
            "upstream[0].roles[0].role",
        ),
    ] {
        std::fs::write(&path, toml).unwrap();
        let err = sesame::Config::from_sources(Some(&path), &Default::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{says}: {err}");
    }
}
