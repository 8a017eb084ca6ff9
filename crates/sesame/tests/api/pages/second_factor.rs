//! The second-factor part of `/account/security`: an authenticator app set up from the page's
//! QR code and key, its first code, recovery codes shown once, new ones, turning it off, and
//! `SESAME_MFA_REQUIRED_ROLES` sending a sign-in to set one up.

use reqwest::StatusCode;
use sesame_core::Clock as _;

use super::{FormClient, Page};
use crate::helpers::*;
use crate::mfa::{code_at, wrong_code};

/// The key the page shows for typing (groups of four, spaces removed).
fn shown_key(page: &Page) -> String {
    let open = "<code class=\"secret\">";
    let start = page.body.find(open).expect("the key") + open.len();
    let end = start + page.body[start..].find("</code>").unwrap();
    page.body[start..end].replace(' ', "")
}

/// The recovery codes the page lists.
fn shown_codes(page: &Page) -> Vec<String> {
    let Some(list) = page.body.split("<ol class=\"codes\"").nth(1) else {
        return Vec::new();
    };
    let list = list.split("</ol>").next().unwrap();
    list.split("<li><code>")
        .skip(1)
        .map(|c| c.split("</code>").next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_authenticator_app_is_set_up_from_the_page_and_its_codes_are_shown_once() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.username, &user.password).await;
    let page = b.get("/account/security").await;
    assert!(page.body.contains("action=\"/account/security/totp\""));

    let page = b
        .post("/account/security/totp", &[("totp_password", "not-it")])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("id=\"totp_password-error\""),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("<svg"),
        "no QR code without the password"
    );

    let page = b
        .post(
            "/account/security/totp",
            &[("totp_password", &user.password)],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("<svg role=\"img\" aria-labelledby=\"totp-qr-label\"")
    );
    assert!(!page.body.contains("<?xml"), "inline SVG, no XML prolog");
    let key = shown_key(&page);
    assert_eq!(key.len(), 32, "{key}");

    // A wrong first code: the same key again, still pending.
    let now = app.clock.now();
    let page = b
        .post(
            "/account/security/totp/confirm",
            &[("totp_code", &wrong_code(&key, now))],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("id=\"totp_code-error\""));
    assert_eq!(shown_key(&page), key);

    let page = b
        .post(
            "/account/security/totp/confirm",
            &[("totp_code", &code_at(&key, now))],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let codes = shown_codes(&page);
    assert_eq!(codes.len(), 10, "{}", page.body);
    let page = b.get("/account/security").await;
    assert!(shown_codes(&page).is_empty(), "shown once");
    assert!(!page.body.contains(&codes[0]));
    assert!(
        page.body.contains("10 unused recovery codes"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("class=\"secret\""),
        "the key never again"
    );

    // Signing in now asks for the second step.
    let mut other = FormClient::new(&app);
    other.get("/signin").await;
    let page = other
        .post(
            "/signin",
            &[("identifier", &user.username), ("password", &user.password)],
        )
        .await;
    assert_eq!(page.location(), "/signin/mfa");

    // New codes void the old ones.
    let page = b
        .post(
            "/account/security/recovery-codes",
            &[("codes_password", &user.password)],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let fresh = shown_codes(&page);
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !codes.contains(c)));

    // Turning it off takes the password too.
    let page = b
        .post(
            "/account/security/totp/remove",
            &[("remove_password", "not-it")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("id=\"remove_password-error\""));
    let page = b
        .post(
            "/account/security/totp/remove",
            &[("remove_password", &user.password)],
        )
        .await;
    assert_eq!(page.location(), "/account/security?notice=mfa-removed");
    let page = b.get("/account/security").await;
    assert!(page.body.contains("action=\"/account/security/totp\""));
}

#[tokio::test]
async fn the_page_warns_when_few_recovery_codes_are_left() {
    let app = spawn_app().await;
    let enrolled = crate::mfa::enroll(&app, app.new_user().await).await;
    let user = &enrolled.user;
    for code in &enrolled.recovery_codes[..8] {
        let token = crate::mfa::mfa_token(&app, user).await;
        let res = crate::mfa::verify_recovery(&app, &token, code).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let mut b = FormClient::new(&app);
    b.get("/signin").await;
    let page = b
        .post(
            "/signin",
            &[("identifier", &user.username), ("password", &user.password)],
        )
        .await;
    b.get(page.location()).await;
    let page = b
        .post("/signin/mfa", &[("code", &enrolled.code(&app))])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let page = b.get("/account/security").await;
    assert!(
        page.body.contains("Only 2 recovery codes are left."),
        "{}",
        page.body
    );
    assert!(page.body.contains("class=\"warning\""));
}

#[tokio::test]
async fn a_role_that_requires_a_second_factor_sends_the_sign_in_to_set_one_up() {
    let app = spawn_app_with(&[("SESAME_MFA_REQUIRED_ROLES", "admin")]).await;
    let admin = app.new_admin().await;
    let mut b = FormClient::new(&app);
    let page = b.sign_in(&admin.username, &admin.password).await;
    assert_eq!(
        page.location(),
        "/account/security?notice=mfa-enroll-required"
    );
    let page = b.get(page.location()).await;
    assert!(page.body.contains("Your role requires a second factor."));
    // Anyone else goes where they were going.
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    let page = b.sign_in(&user.username, &user.password).await;
    assert_eq!(page.location(), "/account");
}
