//! `/signup` and `SESAME_SIGNUP`.

use reqwest::StatusCode;
use serde_json::json;

use super::FormClient;
use crate::helpers::*;

#[tokio::test]
async fn signing_up_signs_in_and_lands_on_the_account() {
    let app = spawn_app().await;
    let mut b = FormClient::new(&app);
    let form = b.get("/signup").await;
    assert_eq!(form.status, StatusCode::OK);
    for ac in [
        "autocomplete=\"email\"",
        "autocomplete=\"username\"",
        "autocomplete=\"new-password\"",
    ] {
        assert!(form.body.contains(ac), "{ac}");
    }
    let email = format!("{}@example.com", unique("signup"));
    let page = b
        .post(
            "/signup",
            &[
                ("email", &email),
                ("username", &unique("u")),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/account");
    assert!(b.session_cookie().is_some());
    let account = b.get("/account").await;
    assert!(account.body.contains(&email));
    // The account is real: the JSON login works too.
    assert_eq!(
        app.login_raw(&email, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn field_problems_come_back_on_the_form_with_their_status() {
    let app = spawn_app().await;
    let taken = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.get("/signup").await;
    let weak = b
        .post(
            "/signup",
            &[
                ("email", "weak@example.com"),
                ("username", ""),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(
        weak.body.contains("aria-describedby"),
        "the error is tied to its field"
    );
    assert!(
        weak.body.contains("value=\"weak@example.com\""),
        "values are kept"
    );
    assert!(!weak.body.contains("value=\"short\""), "never the password");
    let dup = b
        .post(
            "/signup",
            &[
                ("email", &taken.email),
                ("username", ""),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert!(b.session_cookie().is_none());
}

#[tokio::test]
async fn with_signup_off_the_page_is_404_and_the_api_403() {
    let app = spawn_app_with(&[("SESAME_SIGNUP", "off")]).await;
    let mut b = FormClient::new(&app);
    assert_eq!(b.get("/signup").await.status, StatusCode::NOT_FOUND);
    let signin = b.get("/signin").await;
    assert!(
        !signin.body.contains("href=\"/signup\""),
        "no link to a page that is not there"
    );
    let res = app
        .post(
            "/auth/register",
            json!({"email": "x@example.com", "password": PASSWORD}),
        )
        .await;
    assert_error(res, StatusCode::FORBIDDEN, "signup_disabled").await;
}

#[tokio::test]
async fn with_verified_email_required_sign_up_says_to_check_the_mail() {
    let app = spawn_app_with(&[("SESAME_REQUIRE_VERIFIED_EMAIL", "on")]).await;
    let mut b = FormClient::new(&app);
    b.get("/signup").await;
    let page = b
        .post(
            "/signup",
            &[
                ("email", &format!("{}@example.com", unique("v"))),
                ("username", ""),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/signup/check-email");
    assert!(
        b.session_cookie().is_none(),
        "not signed in before verifying"
    );
    assert_eq!(b.get("/signup/check-email").await.status, StatusCode::OK);
}
