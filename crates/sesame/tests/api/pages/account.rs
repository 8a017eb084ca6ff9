//! `/account`, `/account/security`, `/account/sessions`.

use reqwest::StatusCode;
use serde_json::Value;

use super::FormClient;
use crate::helpers::*;

#[tokio::test]
async fn account_pages_send_a_stranger_to_sign_in_and_back() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    for path in ["/account", "/account/security", "/account/sessions"] {
        let page = b.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        let back: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!(page.location(), format!("/signin?return_to={back}"));
    }
    b.get("/signin?return_to=%2Faccount%2Fsessions").await;
    let page = b
        .post(
            "/signin",
            &[
                ("identifier", &user.email),
                ("password", PASSWORD),
                ("return_to", "/account/sessions"),
            ],
        )
        .await;
    assert_eq!(page.location(), "/account/sessions");
}

#[tokio::test]
async fn the_display_name_changes_and_bad_input_answers_400() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.email, PASSWORD).await;
    b.get("/account").await;
    let saved = b
        .post(
            "/account",
            &[
                ("display_name", "Ada <b>L</b>"),
                ("username", &user.username),
                ("email", &user.email),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert!(saved.location().starts_with("/account?notice="));
    let page = b.get(saved.location()).await;
    assert!(
        page.body.contains("Ada &lt;b&gt;L&lt;"),
        "escaped: {}",
        page.body
    );
    assert!(!page.body.contains("<b>L"), "never raw HTML");
    let profile: Value = app
        .get("/profile", Some(&user.tokens.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["display_name"], "Ada <b>L</b>");
    let bad = b
        .post(
            "/account",
            &[
                ("display_name", "x"),
                ("username", "no spaces allowed"),
                ("email", &user.email),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let email_change = b
        .post(
            "/account",
            &[
                ("display_name", "x"),
                ("username", &user.username),
                ("email", "new@example.com"),
                ("current_password", "wrong-password"),
            ],
        )
        .await;
    assert_eq!(
        email_change.status,
        StatusCode::BAD_REQUEST,
        "the password is checked"
    );
}

#[tokio::test]
async fn changing_the_password_keeps_this_browser_and_ends_the_rest() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.email, PASSWORD).await;
    b.get("/account/security").await;
    let wrong = b
        .post(
            "/account/security/password",
            &[
                ("current_password", "wrong-password"),
                ("new_password", "another fine passphrase 9"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let ok = b
        .post(
            "/account/security/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "another fine passphrase 9"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(
        b.get("/account").await.status,
        StatusCode::OK,
        "this browser stays in"
    );
    assert_eq!(
        app.refresh_raw(&user.tokens.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_sessions_page_lists_this_browser_and_ends_others() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.email, PASSWORD).await;
    let page = b.get("/account/sessions").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Firefox"), "the device of this browser");
    let sessions: Value = app
        .get("/auth/sessions", Some(&user.tokens.access))
        .await
        .json()
        .await
        .unwrap();
    let api_session = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "api")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(page.body.contains(&api_session));
    let ended = b
        .post(&format!("/account/sessions/{api_session}/end"), &[])
        .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.refresh_raw(&user.tokens.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Another user's session is not found, and changes nothing.
    let other = app.new_user().await;
    let res = b.get("/account/sessions").await;
    assert_eq!(res.status, StatusCode::OK);
    let sessions: Value = app
        .get("/auth/sessions", Some(&other.tokens.access))
        .await
        .json()
        .await
        .unwrap();
    let theirs = sessions["sessions"][0]["id"].as_str().unwrap().to_string();
    let page = b
        .post(&format!("/account/sessions/{theirs}/end"), &[])
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.refresh_raw(&other.tokens.refresh).await.status(),
        StatusCode::OK
    );

    let tokens = app.login(&user.email, PASSWORD).await;
    b.get("/account/sessions").await;
    let all = b.post("/account/sessions/end-others", &[]).await;
    assert_eq!(all.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.refresh_raw(&tokens.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        b.get("/account").await.status,
        StatusCode::OK,
        "this one stays"
    );
}

#[tokio::test]
async fn password_checks_on_the_account_pages_share_the_login_rate_limit() {
    let app = spawn_app_with(&[
        ("SESAME_RATE_LIMIT", "on"),
        ("SESAME_RATE_LIMIT_LOGIN", "4/m"),
    ])
    .await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.email, PASSWORD).await;
    b.get("/account/security").await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let page = b
            .post(
                "/account/security/password",
                &[
                    ("current_password", "wrong-password"),
                    ("new_password", "another fine passphrase 9"),
                ],
            )
            .await;
        statuses.push(page.status);
        if page.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(!page.header("retry-after").is_empty());
            break;
        }
    }
    assert_eq!(statuses[0], StatusCode::BAD_REQUEST, "{statuses:?}");
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let profile = b
        .post(
            "/account",
            &[
                ("display_name", "x"),
                ("username", &user.username),
                ("email", &user.email),
            ],
        )
        .await;
    assert_eq!(
        profile.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the profile form too"
    );
}
