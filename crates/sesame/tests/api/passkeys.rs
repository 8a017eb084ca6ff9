//! Passkeys (issue #19) over the HTTP API, answered by a software authenticator of the
//! webauthn-authenticator-rs crate (a WebAuthn client and CTAP authenticator written by others,
//! not Sesame's code): registration, listing, renaming and removal; sign-in for a named user
//! and as the second factor; and every refusal — a replayed challenge, another ceremony's
//! answer, a tampered signature, the wrong origin, the wrong RP id, an unknown credential, a
//! signature counter gone backwards — with the lockout they count toward. Username-less
//! sign-in needs a discoverable credential, which this authenticator cannot make: the
//! Chromium test (browser/passkeys.rs) covers it with Chrome's virtual authenticator.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse, Url,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::helpers::*;

/// A software authenticator that reports user verification (as a platform authenticator
/// would after a PIN or fingerprint).
pub(crate) fn authenticator() -> WebauthnAuthenticator<SoftPasskey> {
    WebauthnAuthenticator::new(SoftPasskey::new(true))
}

fn origin(app: &TestApp) -> Url {
    Url::parse(&app.base).unwrap()
}

/// Registers a passkey for `user` through the API; returns the passkey as listed.
pub(crate) async fn add_passkey(
    app: &TestApp,
    user: &TestUser,
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    name: Option<&str>,
) -> Value {
    let started = register_start(app, user, name).await;
    let credential = create(key, &origin(app), &started["options"]);
    let res = app
        .post_auth(
            "/auth/passkeys/register/finish",
            &user.tokens.access,
            json!({"challenge_id": started["challenge_id"], "credential": credential}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    body(res).await
}

async fn register_start(app: &TestApp, user: &TestUser, name: Option<&str>) -> Value {
    let req = match name {
        Some(n) => json!({"name": n}),
        None => json!({}),
    };
    let res = app
        .post_auth("/auth/passkeys/register/start", &user.tokens.access, req)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    body(res).await
}

fn create(key: &mut WebauthnAuthenticator<SoftPasskey>, origin: &Url, options: &Value) -> Value {
    let ccr: CreationChallengeResponse =
        serde_json::from_value(json!({"publicKey": options})).unwrap();
    let credential = key.do_registration(origin.clone(), ccr).unwrap();
    serde_json::to_value(credential).unwrap()
}

fn get(key: &mut WebauthnAuthenticator<SoftPasskey>, origin: &Url, options: &Value) -> Value {
    let rcr: RequestChallengeResponse =
        serde_json::from_value(json!({"publicKey": options})).unwrap();
    let credential: PublicKeyCredential = key.do_authentication(origin.clone(), rcr).unwrap();
    serde_json::to_value(credential).unwrap()
}

async fn login_start(app: &TestApp, req: Value) -> Value {
    let res = app.post("/auth/passkeys/login/start", req).await;
    assert_eq!(res.status(), StatusCode::OK);
    body(res).await
}

async fn login_finish(app: &TestApp, challenge: &Value, credential: &Value) -> reqwest::Response {
    app.post(
        "/auth/passkeys/login/finish",
        json!({"challenge_id": challenge["challenge_id"], "credential": credential}),
    )
    .await
}

async fn assert_refused(res: reqwest::Response) {
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(res).await["code"], "invalid_passkey");
}

/// A user with one passkey, and the authenticator holding it.
async fn user_with_passkey(app: &TestApp) -> (TestUser, WebauthnAuthenticator<SoftPasskey>) {
    let user = app.new_user().await;
    let mut key = authenticator();
    add_passkey(app, &user, &mut key, Some("Laptop")).await;
    (user, key)
}

#[tokio::test]
async fn a_passkey_is_added_listed_renamed_and_removed() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut key = authenticator();
    let started = register_start(&app, &user, Some("Laptop")).await;
    let options = &started["options"];
    // What the browser is asked for: this RP, this user, user verification, a discoverable
    // credential where possible.
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], user.email);
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(
        options["authenticatorSelection"]["residentKey"],
        "preferred"
    );
    assert!(options["challenge"].as_str().unwrap().len() >= 43);
    let added = add_passkey(&app, &user, &mut key, Some("Laptop")).await;
    assert_eq!(added["name"], "Laptop");
    assert!(added["created_at"].is_string());

    let res = app.get("/auth/passkeys", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let list = body(res).await;
    assert_eq!(list["passkeys"].as_array().unwrap().len(), 1);
    assert_eq!(list["passkeys"][0]["id"], added["id"]);
    assert_eq!(list["passkeys"][0]["last_used_at"], Value::Null);
    let mfa = body(app.get("/auth/mfa", Some(&user.tokens.access)).await).await;
    assert_eq!(mfa["passkeys"], 1);
    assert_eq!(mfa["totp"], false);

    let id = added["id"].as_str().unwrap();
    let path = format!("/auth/passkeys/{id}");
    let res = app
        .request(
            Method::PATCH,
            &path,
            Some(&user.tokens.access),
            Some(&json!({"name": "Work laptop"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["name"], "Work laptop");
    let res = app
        .request(
            Method::PATCH,
            &path,
            Some(&user.tokens.access),
            Some(&json!({"name": "  "})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Someone else's token cannot see, rename or remove it.
    let other = app.new_user().await;
    for method in [Method::PATCH, Method::DELETE] {
        let res = app
            .request(
                method,
                &path,
                Some(&other.tokens.access),
                Some(&json!({"name": "mine"})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    let res = app
        .request(Method::DELETE, &path, Some(&user.tokens.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .request(Method::DELETE, &path, Some(&user.tokens.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let list = body(app.get("/auth/passkeys", Some(&user.tokens.access)).await).await;
    assert!(list["passkeys"].as_array().unwrap().is_empty());
    // Audited, both ways.
    let events: Vec<String> = app
        .sesame
        .store()
        .list_audit(&sesame_core::store::AuditFilter {
            user_id: Some(user.id.parse().unwrap()),
            event: None,
            limit: 50,
            before: None,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(events.contains(&"passkey_added".to_string()), "{events:?}");
    assert!(
        events.contains(&"passkey_removed".to_string()),
        "{events:?}"
    );
}

#[tokio::test]
async fn passkey_management_needs_a_bearer_token() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::POST, "/auth/passkeys/register/start"),
        (Method::POST, "/auth/passkeys/register/finish"),
        (Method::GET, "/auth/passkeys"),
        (
            Method::DELETE,
            "/auth/passkeys/0190a3f0-0000-7000-8000-000000000000",
        ),
    ] {
        let res = app.request(method, path, None, Some(&json!({}))).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn a_registration_answer_works_once_and_only_for_its_own_challenge() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut key = authenticator();
    let first = register_start(&app, &user, None).await;
    let second = register_start(&app, &user, None).await;
    let answer = create(&mut key, &origin(&app), &first["options"]);
    // The answer to the first challenge does not finish the second.
    let res = app
        .post_auth(
            "/auth/passkeys/register/finish",
            &user.tokens.access,
            json!({"challenge_id": second["challenge_id"], "credential": answer}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(res).await["code"], "invalid_passkey");
    // Nor does another user finish this one.
    let other = app.new_user().await;
    let res = app
        .post_auth(
            "/auth/passkeys/register/finish",
            &other.tokens.access,
            json!({"challenge_id": first["challenge_id"], "credential": answer}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // That try spent the ceremony: even its owner cannot finish it now.
    let res = app
        .post_auth(
            "/auth/passkeys/register/finish",
            &user.tokens.access,
            json!({"challenge_id": first["challenge_id"], "credential": answer}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // A fresh ceremony works, and the default name counts the passkeys.
    let added = add_passkey(&app, &user, &mut key, None).await;
    assert_eq!(added["name"], "Passkey 1");
}

#[tokio::test]
async fn a_registration_from_another_origin_or_rp_id_is_refused() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut key = authenticator();
    let started = register_start(&app, &user, None).await;
    let evil = Url::parse(&format!("https://evil.localhost:{}", app.port)).unwrap();
    let answer = create(&mut key, &evil, &started["options"]);
    let res = app
        .post_auth(
            "/auth/passkeys/register/finish",
            &user.tokens.access,
            json!({"challenge_id": started["challenge_id"], "credential": answer}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "wrong origin");

    // The authenticator asked to make a credential for another RP id (a phishing site's).
    let started = register_start(&app, &user, None).await;
    let mut options = started["options"].clone();
    options["rp"]["id"] = json!("example.com");
    let answer = create(
        &mut key,
        &Url::parse("https://example.com").unwrap(),
        &options,
    );
    let res = app
        .post_auth(
            "/auth/passkeys/register/finish",
            &user.tokens.access,
            json!({"challenge_id": started["challenge_id"], "credential": answer}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "wrong RP id");
    let list = body(app.get("/auth/passkeys", Some(&user.tokens.access)).await).await;
    assert!(list["passkeys"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_passkey_signs_a_named_user_in_at_aal2() {
    let app = spawn_app().await;
    let (user, mut key) = user_with_passkey(&app).await;
    let challenge = login_start(&app, json!({"username": user.username})).await;
    assert_eq!(challenge["conditional"], false);
    let allowed = challenge["options"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "the user's passkey is offered");
    let answer = get(&mut key, &origin(&app), &challenge["options"]);
    let res = login_finish(&app, &challenge, &answer).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let tokens = tokens(&body(res).await);
    let claims = jwt::part(&tokens.access, 1);
    assert_eq!(claims["sub"], user.id);
    assert_eq!(claims["acr"], "aal2");
    assert_eq!(claims["amr"], json!(["hwk", "user", "mfa"]));
    // The tokens work, and the passkey shows its use.
    let res = app.get("/profile", Some(&tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let list = body(app.get("/auth/passkeys", Some(&tokens.access)).await).await;
    assert!(list["passkeys"][0]["last_used_at"].is_string());
    // /auth/verify?acr=aal2 lets it through.
    let res = app.get("/auth/verify?acr=aal2", Some(&tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_username_gets_a_challenge_like_any_other() {
    let app = spawn_app().await;
    let (user, _key) = user_with_passkey(&app).await;
    let known = login_start(&app, json!({"username": user.username})).await;
    let unknown = login_start(&app, json!({"username": "nobody-here"})).await;
    // Same shape: nothing tells whether the account exists (no credentials listed for
    // nobody — the authenticator is asked to offer what it holds, as for `{}`).
    assert!(unknown["challenge_id"].is_string());
    assert!(unknown["options"]["challenge"].is_string());
    assert!(known["options"]["challenge"] != unknown["options"]["challenge"]);
    let bare = app
        .request(Method::POST, "/auth/passkeys/login/start", None, None)
        .await;
    assert_eq!(bare.status(), StatusCode::OK, "an empty body is {{}}");
    assert_eq!(body(bare).await["conditional"], true);
}

#[tokio::test]
async fn a_sign_in_answer_is_refused_when_replayed_misrouted_or_tampered() {
    let app = spawn_app().await;
    let (user, mut key) = user_with_passkey(&app).await;
    let start = || login_start(&app, json!({"username": user.username}));
    // Replayed: a finished ceremony is gone.
    let challenge = start().await;
    let answer = get(&mut key, &origin(&app), &challenge["options"]);
    assert_eq!(
        login_finish(&app, &challenge, &answer).await.status(),
        StatusCode::OK
    );
    assert_refused(login_finish(&app, &challenge, &answer).await).await;
    // Another ceremony's answer: the signed challenge is not this one's.
    let a = start().await;
    let b = start().await;
    let answer_a = get(&mut key, &origin(&app), &a["options"]);
    assert_refused(login_finish(&app, &b, &answer_a).await).await;
    // Tampered signature.
    let c = start().await;
    let mut answer = get(&mut key, &origin(&app), &c["options"]);
    let sig = answer["response"]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    answer["response"]["signature"] = json!(format!("{flipped}{}", &sig[1..]));
    assert_refused(login_finish(&app, &c, &answer).await).await;
    // Signed for another origin (a phishing page relaying the challenge).
    let d = start().await;
    let evil = Url::parse(&format!("https://evil.localhost:{}", app.port)).unwrap();
    let answer = get(&mut key, &evil, &d["options"]);
    assert_refused(login_finish(&app, &d, &answer).await).await;
    // Garbage and an unknown challenge id.
    let e = start().await;
    assert_refused(login_finish(&app, &e, &json!({"id": "x"})).await).await;
    assert_refused(login_finish(&app, &json!({"challenge_id": "nope"}), &answer).await).await;
    let res = app
        .post("/auth/passkeys/login/finish", json!({"credential": {}}))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "no challenge_id");
}

#[tokio::test]
async fn a_signature_counter_gone_backwards_is_refused() {
    let app = spawn_app().await;
    let (user, mut key) = user_with_passkey(&app).await;
    let a = login_start(&app, json!({"username": user.username})).await;
    let b = login_start(&app, json!({"username": user.username})).await;
    // The authenticator signs a (counter 1), then b (counter 2); b arrives first.
    let answer_a = get(&mut key, &origin(&app), &a["options"]);
    let answer_b = get(&mut key, &origin(&app), &b["options"]);
    assert_eq!(
        login_finish(&app, &b, &answer_b).await.status(),
        StatusCode::OK
    );
    // a's counter is behind the stored one: what a cloned authenticator looks like.
    assert_refused(login_finish(&app, &a, &answer_a).await).await;
}

#[tokio::test]
async fn another_users_credential_does_not_sign_in_the_named_user() {
    let app = spawn_app().await;
    let (alice, _alice_key) = user_with_passkey(&app).await;
    let (_bob, mut bob_key) = user_with_passkey(&app).await;
    // A ceremony for alice answered with bob's passkey (the authenticator is told to use
    // bob's credential by swapping the allowed list).
    let challenge = login_start(&app, json!({"username": alice.username})).await;
    let bob_challenge = login_start(&app, json!({"username": _bob.username})).await;
    let mut options = challenge["options"].clone();
    options["allowCredentials"] = bob_challenge["options"]["allowCredentials"].clone();
    let answer = get(&mut bob_key, &origin(&app), &options);
    assert_refused(login_finish(&app, &challenge, &answer).await).await;
    // A credential Sesame never registered.
    let mut stranger = authenticator();
    let other_app = spawn_app().await;
    let outsider = other_app.new_user().await;
    add_passkey(&other_app, &outsider, &mut stranger, None).await;
    let theirs = login_start(&other_app, json!({"username": outsider.username})).await;
    let mine = login_start(&app, json!({})).await;
    let mut options = mine["options"].clone();
    options["allowCredentials"] = theirs["options"]["allowCredentials"].clone();
    let answer = get(&mut stranger, &origin(&app), &options);
    assert_refused(login_finish(&app, &mine, &answer).await).await;
}

#[tokio::test]
async fn a_refused_passkey_counts_toward_the_lockout() {
    let app = spawn_app_with(&[("SESAME_LOCKOUT_MAX_FAILURES", "3")]).await;
    let (user, mut key) = user_with_passkey(&app).await;
    for _ in 0..3 {
        let c = login_start(&app, json!({"username": user.username})).await;
        let mut answer = get(&mut key, &origin(&app), &c["options"]);
        answer["response"]["signature"] = json!("AAAA");
        assert_refused(login_finish(&app, &c, &answer).await).await;
    }
    // Locked: even a good answer is refused now, with the time left.
    let c = login_start(&app, json!({"username": user.username})).await;
    let answer = get(&mut key, &origin(&app), &c["options"]);
    let res = login_finish(&app, &c, &answer).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(body(res).await["code"], "account_locked");
    // And so is the password.
    let res = app.login_raw(&user.email, &user.password).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn with_a_passkey_the_password_alone_no_longer_signs_in() {
    let app = spawn_app().await;
    let (user, mut key) = user_with_passkey(&app).await;
    let res = app.login_raw(&user.email, &user.password).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let required = body(res).await;
    assert_eq!(required["code"], "mfa_required");
    assert_eq!(required["methods"], json!(["passkey"]));
    let token = required["mfa_token"].as_str().unwrap();

    // The second step with the passkey.
    let challenge = login_start(&app, json!({"mfa_token": token})).await;
    let answer = get(&mut key, &origin(&app), &challenge["options"]);
    let res = login_finish(&app, &challenge, &answer).await;
    assert_eq!(res.status(), StatusCode::OK);
    let tokens = tokens(&body(res).await);
    let claims = jwt::part(&tokens.access, 1);
    assert_eq!(claims["acr"], "aal2");
    assert_eq!(claims["amr"], json!(["pwd", "hwk", "mfa"]));
    // The mfa_token is spent with it.
    let res = app
        .post("/auth/passkeys/login/start", json!({"mfa_token": token}))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(res).await["code"], "token_invalid");
    let res = app
        .post(
            "/auth/passkeys/login/start",
            json!({"mfa_token": token, "username": user.username}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_last_passkey_removed_takes_the_recovery_codes_with_it() {
    let app = spawn_app().await;
    let (user, mut key) = user_with_passkey(&app).await;
    // Sign in at aal2 (the password now needs the passkey), then ask for recovery codes.
    let res = app.login_raw(&user.email, &user.password).await;
    let token = body(res).await["mfa_token"].as_str().unwrap().to_string();
    let challenge = login_start(&app, json!({"mfa_token": token})).await;
    let answer = get(&mut key, &origin(&app), &challenge["options"]);
    let tokens = tokens(&body(login_finish(&app, &challenge, &answer).await).await);
    let res = app
        .post_auth(
            "/auth/mfa/recovery-codes",
            &tokens.access,
            json!({"password": user.password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "a passkey is a second factor");
    let codes = body(res).await["recovery_codes"].clone();
    assert_eq!(codes.as_array().unwrap().len(), 10);
    let mfa = body(app.get("/auth/mfa", Some(&tokens.access)).await).await;
    assert_eq!(mfa["recovery_codes_left"], 10);
    let list = body(app.get("/auth/passkeys", Some(&tokens.access)).await).await;
    let id = list["passkeys"][0]["id"].as_str().unwrap().to_string();
    let res = app
        .request(
            Method::DELETE,
            &format!("/auth/passkeys/{id}"),
            Some(&tokens.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let mfa = body(app.get("/auth/mfa", Some(&tokens.access)).await).await;
    assert_eq!(
        mfa,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    // And the password signs in alone again.
    assert_eq!(
        app.login_raw(&user.email, &user.password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_admin_removing_every_factor_removes_the_passkeys() {
    let app = spawn_app().await;
    let (user, _key) = user_with_passkey(&app).await;
    let admin = app.new_admin().await;
    let res = app
        .request(
            Method::DELETE,
            &format!("/admin/users/{}/mfa", user.id),
            Some(&admin.tokens.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let list = body(app.get("/auth/passkeys", Some(&user.tokens.access)).await).await;
    assert!(list["passkeys"].as_array().unwrap().is_empty());
    assert_eq!(
        app.login_raw(&user.email, &user.password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn passkeys_are_off_on_an_ip_address_issuer_and_say_so() {
    let app = spawn_app_with(&[("SESAME_ISSUER", "https://127.0.0.1:8443")]).await;
    let user = app.new_user().await;
    let res = app
        .post_auth(
            "/auth/passkeys/register/start",
            &user.tokens.access,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(res).await["code"], "passkeys_unavailable");
}

#[tokio::test]
async fn an_account_holds_at_most_32_passkeys() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for _ in 0..32 {
        let mut key = authenticator();
        add_passkey(&app, &user, &mut key, None).await;
    }
    let res = app
        .post_auth(
            "/auth/passkeys/register/start",
            &user.tokens.access,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let b = body(res).await;
    assert_eq!(b["code"], "invalid_request");
    assert!(b.to_string().contains("at most 32"), "{b}");
}
