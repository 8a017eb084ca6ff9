//! `/forgot-password`, `/reset-password`, `/verify-email`, with mail through the SMTP sink.

use reqwest::StatusCode;

use super::FormClient;
use crate::email::app_with_sink;
use crate::helpers::*;

#[tokio::test]
async fn forgot_answers_the_same_page_for_known_and_unknown_addresses() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.get("/forgot-password").await;
    let known = b.post("/forgot-password", &[("email", &user.email)]).await;
    let unknown = b
        .post("/forgot-password", &[("email", "nobody@example.com")])
        .await;
    assert_eq!(known.status, StatusCode::OK);
    assert_eq!(unknown.status, StatusCode::OK);
    let strip = |s: &str| s.replace(&user.email, "").replace("nobody@example.com", "");
    assert_eq!(
        strip(&known.body).replace(known.csrf_token().as_deref().unwrap_or("-"), ""),
        strip(&unknown.body).replace(unknown.csrf_token().as_deref().unwrap_or("-"), ""),
        "the same page"
    );
    sink.wait_for(&user.email, "Reset", 1).await;
    let bad = b
        .post("/forgot-password", &[("email", "not an address")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_reset_through_the_pages_ends_every_session_and_the_link_works_once() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    let mut signed_in = FormClient::new(&app);
    signed_in.sign_in(&user.email, PASSWORD).await;

    let mut b = FormClient::new(&app);
    b.get("/forgot-password").await;
    b.post("/forgot-password", &[("email", &user.email)]).await;
    let token = sink
        .wait_for(&user.email, "Reset", 1)
        .await
        .token("/reset-password");
    let form = b.get(&format!("/reset-password?token={token}")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("autocomplete=\"new-password\""));
    let new_password = "a completely new passphrase 7";
    let done = b
        .post(
            "/reset-password",
            &[("token", &token), ("new_password", new_password)],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(done.location().starts_with("/signin"));
    assert_eq!(
        signed_in.get("/account").await.status,
        StatusCode::SEE_OTHER,
        "old session ended"
    );
    assert_eq!(
        app.refresh_raw(&user.tokens.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let again = b
        .post(
            "/reset-password",
            &[
                ("token", &token),
                ("new_password", "yet another passphrase 8"),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "a used link");
    b.sign_in(&user.email, new_password).await;
}

#[tokio::test]
async fn verify_email_spends_the_token_only_on_post() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    let token = sink
        .wait_for(&user.email, "Verify", 1)
        .await
        .token("/verify-email");
    let mut b = FormClient::new(&app);
    // A mail scanner fetches the link (twice): nothing is spent.
    for _ in 0..2 {
        let page = b.get(&format!("/verify-email?token={token}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("<button"));
    }
    let profile: serde_json::Value = app
        .get("/profile", Some(&user.tokens.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["email_verified"], false);
    let done = b.post("/verify-email", &[("token", &token)]).await;
    assert_eq!(done.status, StatusCode::OK);
    let profile: serde_json::Value = app
        .get("/profile", Some(&user.tokens.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["email_verified"], true);
    let again = b.post("/verify-email", &[("token", &token)]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    let bogus = b.get("/verify-email").await;
    assert_eq!(bogus.status, StatusCode::BAD_REQUEST);
}
