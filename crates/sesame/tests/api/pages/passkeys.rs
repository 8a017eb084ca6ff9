//! Passkeys on the pages over plain HTTP, as `/static/passkeys.js` drives them (a form post to
//! `…/start` answered with JSON options, then the authenticator's answer posted as a form),
//! answered by webauthn-authenticator-rs's software authenticator: adding one on
//! `/account/security`, renaming and removing it, signing in with it on `/signin` and as the
//! second step on `/signin/mfa`, and the refusals (a forged answer, a missing or foreign
//! anti-forgery token). Chromium's own authenticator drives the same pages in
//! `tests/api/browser/passkeys.rs`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use super::{FormClient, Page};
use crate::helpers::*;
use crate::passkeys::authenticator;

fn json_of(page: &Page) -> Value {
    serde_json::from_str(&page.body).unwrap_or_else(|_| panic!("JSON: {}", page.body))
}

/// What passkeys.js does on `/account/security`: start, create, post the answer.
async fn add_on_page(
    b: &mut FormClient<'_>,
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    name: &str,
) -> Page {
    b.get("/account/security").await;
    let started = b
        .post(
            "/account/security/passkeys/start",
            &[("passkey_name", name)],
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_eq!(started.header("cache-control"), "no-store");
    let c = json_of(&started);
    let ccr: CreationChallengeResponse =
        serde_json::from_value(json!({"publicKey": c["options"]})).unwrap();
    let answer = key
        .do_registration(Url::parse(&b.app.base).unwrap(), ccr)
        .unwrap();
    let answer = serde_json::to_string(&answer).unwrap();
    b.post(
        "/account/security/passkeys",
        &[
            ("challenge_id", c["challenge_id"].as_str().unwrap()),
            ("credential", &answer),
        ],
    )
    .await
}

/// What passkeys.js does on `/signin` (`mode=signin`) or `/signin/mfa` (`mode=mfa`).
async fn sign_in_on_page(
    b: &mut FormClient<'_>,
    key: &mut WebauthnAuthenticator<SoftPasskey>,
    mode: &str,
    identifier: &str,
    tamper: bool,
) -> Page {
    let started = b
        .post(
            "/signin/passkey/start",
            &[("mode", mode), ("identifier", identifier)],
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let c = json_of(&started);
    let rcr: RequestChallengeResponse =
        serde_json::from_value(json!({"publicKey": c["options"]})).unwrap();
    let answer = key
        .do_authentication(Url::parse(&b.app.base).unwrap(), rcr)
        .unwrap();
    let mut answer = serde_json::to_value(&answer).unwrap();
    if tamper {
        answer["response"]["signature"] = json!("AAAA");
    }
    b.post(
        "/signin/passkey",
        &[
            ("mode", mode),
            ("challenge_id", c["challenge_id"].as_str().unwrap()),
            ("credential", &answer.to_string()),
        ],
    )
    .await
}

#[tokio::test]
async fn a_passkey_is_added_renamed_and_removed_on_the_security_page() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.username, &user.password).await;
    // After a password-only sign-in the account page offers a passkey.
    let account = b.get("/account").await;
    assert!(
        account
            .body
            .contains("href=\"/account/security#passkeys-heading\""),
        "{}",
        account.body
    );
    let page = b.get("/account/security").await;
    assert!(page.body.contains("data-passkey=\"register\""));
    assert!(
        page.body
            .contains("<script src=\"/static/passkeys.js\" defer></script>")
    );

    let mut key = authenticator();
    let added = add_on_page(&mut b, &mut key, "Laptop").await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    assert_eq!(added.location(), "/account/security?notice=passkey-added");
    let page = b.get("/account/security").await;
    assert!(page.body.contains("value=\"Laptop\""), "{}", page.body);
    assert!(page.body.contains("never used yet"));
    // No more offer: the person has a passkey.
    assert!(!b.get("/account").await.body.contains("#passkeys-heading"));

    let id = body(app.get("/auth/passkeys", Some(&user.tokens.access)).await).await["passkeys"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_string();
    let renamed = b
        .post(
            &format!("/account/security/passkeys/{id}/rename"),
            &[("name", "Work laptop")],
        )
        .await;
    assert_eq!(
        renamed.location(),
        "/account/security?notice=passkey-renamed"
    );
    let blank = b
        .post(
            &format!("/account/security/passkeys/{id}/rename"),
            &[("name", " ")],
        )
        .await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert!(blank.body.contains("1 to 64 characters"), "{}", blank.body);
    assert!(
        b.get("/account/security")
            .await
            .body
            .contains("value=\"Work laptop\"")
    );

    // A remove without the page's token changes nothing.
    let forged = b
        .post(
            &format!("/account/security/passkeys/{id}/remove"),
            &[("csrf_token", "forged")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let removed = b
        .post(&format!("/account/security/passkeys/{id}/remove"), &[])
        .await;
    assert_eq!(
        removed.location(),
        "/account/security?notice=passkey-removed"
    );
    let list = body(app.get("/auth/passkeys", Some(&user.tokens.access)).await).await;
    assert!(list["passkeys"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_forged_registration_answer_shows_the_page_again_with_400() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.username, &user.password).await;
    b.get("/account/security").await;
    let started = b.post("/account/security/passkeys/start", &[]).await;
    let c = json_of(&started);
    let page = b
        .post(
            "/account/security/passkeys",
            &[
                ("challenge_id", c["challenge_id"].as_str().unwrap()),
                ("credential", "{\"id\":\"x\"}"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("could not be added"), "{}", page.body);
    // Starting needs the page's token and a signed-in browser.
    let mut stranger = FormClient::new(&app);
    let page = stranger.post("/account/security/passkeys/start", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/signin"));
    let page = b
        .post(
            "/account/security/passkeys/start",
            &[("csrf_token", "forged")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_passkey_signs_in_on_the_sign_in_page_and_a_forged_one_gets_401() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut key = authenticator();
    crate::passkeys::add_passkey(&app, &user, &mut key, Some("Laptop")).await;

    let mut b = FormClient::new(&app);
    let page = b.get("/signin").await;
    assert!(page.body.contains("data-passkey=\"signin\""));
    // The served field keeps autocomplete="username"; passkeys.js adds "webauthn" for the
    // browser's autofill.
    assert!(page.body.contains("autocomplete=\"username\""));
    let refused = sign_in_on_page(&mut b, &mut key, "signin", &user.username, true).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.header("www-authenticate"), "Form");
    assert!(
        refused.body.contains("passkey was not accepted"),
        "{}",
        refused.body
    );
    assert!(b.session_cookie().is_none());

    let page = sign_in_on_page(&mut b, &mut key, "signin", &user.username, false).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/account");
    assert!(b.session_cookie().is_some());
    // The browser session says how: a passkey, aal2 — no offer of another one.
    let account = b.get("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(!account.body.contains("#passkeys-heading"));
    let sessions = body(app.get("/auth/sessions", Some(&user.tokens.access)).await).await;
    assert!(
        sessions["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "browser"),
        "{sessions}"
    );
}

#[tokio::test]
async fn the_second_step_page_offers_only_the_persons_methods_and_takes_a_passkey() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut key = authenticator();
    crate::passkeys::add_passkey(&app, &user, &mut key, None).await;

    let mut b = FormClient::new(&app);
    b.get("/signin").await;
    let page = b
        .post(
            "/signin",
            &[
                ("identifier", user.username.as_str()),
                ("password", user.password.as_str()),
                ("return_to", "/account/sessions"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/signin/mfa"));
    let step = b.get(page.location()).await;
    assert!(step.body.contains("data-passkey=\"mfa\""), "{}", step.body);
    assert!(
        !step.body.contains("name=\"code\""),
        "no authenticator app, so no code form"
    );
    assert!(step.body.contains("name=\"recovery_code\""));
    // A forged answer keeps the person on the second step, with 401.
    let refused = sign_in_on_page(&mut b, &mut key, "mfa", "", true).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.body.contains("data-passkey=\"mfa\""));
    let page = sign_in_on_page(&mut b, &mut key, "mfa", "", false).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(b.session_cookie().is_some());
    assert!(!b.jar.contains_key("__Host-sesame-mfa"), "{:?}", b.jar);
    // Without a pending sign-in the second step cannot be started.
    let mut other = FormClient::new(&app);
    other.get("/signin").await;
    let page = other
        .post("/signin/passkey/start", &[("mode", "mfa")])
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
}
