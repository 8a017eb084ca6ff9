//! The pages in a real headless Chromium (JavaScript on unless a test says otherwise): the
//! journeys a person makes with only a browser, the keyboard alone, a phone-sized screen,
//! Russian, and an axe-core accessibility check of every page. Form-level negatives (CSRF,
//! open redirects, statuses) are in `tests/api/pages`, over plain HTTP.

mod harness;

use reqwest::StatusCode;
use serde_json::Value;

use crate::email::{PUBLIC_URL, app_with_sink};
use crate::helpers::*;
use harness::{Options, with_browser};

/// The link of a mail, pointed at the test app instead of the public URL the mail names.
fn local(app: &TestApp, mail_link_path: &str, token: &str) -> String {
    format!("{}{mail_link_path}?token={token}", app.base)
}

#[tokio::test]
async fn sign_up_then_verify_the_address_from_the_mail() {
    let (app, sink) = app_with_sink(&[]).await;
    let email = format!("{}@example.com", unique("b"));
    let base = app.base.clone();
    let e = email.clone();
    with_browser("sign_up_then_verify", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&format!("{base}/signup")).await;
            b.fill("Email", &e).await;
            b.fill("Password", "a long and fine passphrase").await;
            b.press("Create account").await;
            assert_eq!(b.path().await, "/account");
            assert!(b.text().await.contains(&e));
            assert!(b.text().await.contains("not confirmed yet"));
        })
    })
    .await;
    let mail = sink.wait_for(&email, "Verify", 1).await;
    assert!(
        mail.data
            .contains(&format!("{PUBLIC_URL}/verify-email?token="))
    );
    let link = local(&app, "/verify-email", &mail.token("/verify-email"));
    let tokens = app.login(&email, "a long and fine passphrase").await;
    with_browser("verify_link", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&link).await;
            b.press("Confirm my address").await;
            assert!(b.text().await.contains("Your email address is confirmed."));
        })
    })
    .await;
    let profile: Value = app
        .get("/profile", Some(&tokens.access))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["email_verified"], true);
}

#[tokio::test]
async fn sign_in_manage_the_account_and_sessions_then_sign_out() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let api_session_refresh = user.tokens.refresh.clone();
    let base = app.base.clone();
    let u = user.clone();
    with_browser("account_journey", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&format!("{base}/account")).await;
            assert!(
                b.path().await.starts_with("/signin?return_to="),
                "{}",
                b.path().await
            );
            b.fill("Username or email", &u.email).await;
            b.fill("Password", PASSWORD).await;
            b.press("Sign in").await;
            assert_eq!(b.path().await, "/account");
            b.fill("Display name", "Ada Lovelace").await;
            b.press("Save").await;
            assert!(b.text().await.contains("Your profile is saved."));
            assert!(b.text().await.contains("Signed in as Ada Lovelace"));

            b.find("a[href='/account/sessions']")
                .await
                .click()
                .await
                .unwrap();
            let text = b.text().await;
            assert!(text.contains("this browser"), "{text}");
            assert!(
                text.contains("App or API"),
                "the JSON API's session is listed: {text}"
            );
            b.press("End").await;
            assert!(b.text().await.contains("The session is ended."));
            assert!(!b.text().await.contains("App or API"));

            b.follow("a[href='/signout']").await;
            b.press("Sign out").await;
            assert!(b.path().await.starts_with("/signin"));
            assert!(b.text().await.contains("You are signed out."));
            b.goto(&format!("{base}/account")).await;
            assert!(b.path().await.starts_with("/signin"), "signed out for real");
        })
    })
    .await;
    let res = app.refresh_raw(&api_session_refresh).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the ended API session is over"
    );
}

#[tokio::test]
async fn forgot_the_password_reset_it_from_the_mail_and_old_sessions_are_refused() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    let base = app.base.clone();
    let email = user.email.clone();
    with_browser("forgot", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&format!("{base}/signin")).await;
            b.find("a[href='/forgot-password']")
                .await
                .click()
                .await
                .unwrap();
            b.fill("Email", &email).await;
            b.press("Send the link").await;
            assert!(b.text().await.contains("Check your email"));
        })
    })
    .await;
    let link = local(
        &app,
        "/reset-password",
        &sink
            .wait_for(&user.email, "Reset", 1)
            .await
            .token("/reset-password"),
    );
    let base = app.base.clone();
    let email = user.email.clone();
    with_browser("reset", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&link).await;
            b.fill("New password", "an entirely new passphrase").await;
            b.press("Set the password").await;
            assert!(b.path().await.starts_with("/signin"));
            assert!(b.text().await.contains("Sign in with the new one."));
            b.fill("Username or email", &email).await;
            b.fill("Password", "an entirely new passphrase").await;
            b.press("Sign in").await;
            assert_eq!(b.path().await, "/account");
            let _ = base;
        })
    })
    .await;
    assert_eq!(
        app.refresh_raw(&user.tokens.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_locked_account_shows_the_time_left() {
    let app = spawn_app_with(&[
        ("SESAME_LOCKOUT_MAX_FAILURES", "2"),
        ("SESAME_LOCKOUT_DURATION", "15m"),
    ])
    .await;
    let user = app.new_user().await;
    let base = app.base.clone();
    with_browser("lockout", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&format!("{base}/signin")).await;
            for _ in 0..3 {
                b.fill("Username or email", &user.email).await;
                b.fill("Password", "wrong-password").await;
                b.press("Sign in").await;
            }
            let text = b.text().await;
            assert!(text.contains("Try again in 15 minutes."), "{text}");
        })
    })
    .await;
}

#[tokio::test]
async fn the_pages_in_russian() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let base = app.base.clone();
    let opts = Options {
        russian: true,
        ..Options::default()
    };
    with_browser("russian", opts, move |b| {
        Box::pin(async move {
            b.goto(&format!("{base}/signin")).await;
            let html = b.html().await;
            assert!(html.contains("<html lang=\"ru\""), "{html}");
            b.fill("Имя пользователя или email", &user.email).await;
            b.fill("Пароль", "wrong-password").await;
            b.press("Войти").await;
            let text = b.text().await;
            assert!(
                text.contains("Неверное имя пользователя, email или пароль."),
                "{text}"
            );
            // The language switch is remembered.
            b.follow("a[hreflang='en']").await;
            let text = b.text().await;
            assert!(text.contains("Username or email"), "{text}");
            b.goto(&format!("{base}/signup")).await;
            assert!(
                b.text().await.contains("Create your account"),
                "the cookie keeps English"
            );
        })
    })
    .await;
}

#[tokio::test]
async fn sign_in_works_with_javascript_off_and_on_a_phone() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let base = app.base.clone();
    let opts = Options {
        no_js: true,
        phone: true,
        ..Options::default()
    };
    with_browser("no_js_phone", opts, move |b| {
        Box::pin(async move {
            b.goto(&format!("{base}/signin")).await;
            b.fill("Username or email", &user.email).await;
            b.fill("Password", PASSWORD).await;
            b.press("Sign in").await;
            assert_eq!(b.path().await, "/account");
            // Nothing is wider than the phone's screen.
            let overflow = b
                .client
                .execute(
                    "return document.documentElement.scrollWidth > window.innerWidth;",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(
                overflow,
                Value::Bool(false),
                "horizontal scrolling on a phone"
            );
        })
    })
    .await;
}

#[tokio::test]
async fn the_whole_sign_in_works_with_the_keyboard_alone() {
    use fantoccini::key::Key;
    let app = spawn_app().await;
    let user = app.new_user().await;
    let base = app.base.clone();
    with_browser("keyboard", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&format!("{base}/signin")).await;
            let tab = char::from(Key::Tab).to_string();
            // Tab from the top of the page until the identifier has the focus.
            let mut reached = false;
            for _ in 0..10 {
                b.find("body").await;
                b.client
                    .active_element()
                    .await
                    .unwrap()
                    .send_keys(&tab)
                    .await
                    .unwrap();
                let id = b
                    .client
                    .active_element()
                    .await
                    .unwrap()
                    .attr("id")
                    .await
                    .unwrap();
                if id.as_deref() == Some("identifier") {
                    reached = true;
                    break;
                }
            }
            assert!(reached, "the identifier is reachable by Tab");
            let focused = b.client.active_element().await.unwrap();
            focused.send_keys(&user.email).await.unwrap();
            focused.send_keys(&tab).await.unwrap();
            let password = b.client.active_element().await.unwrap();
            assert_eq!(
                password.attr("id").await.unwrap().as_deref(),
                Some("password")
            );
            password.send_keys(PASSWORD).await.unwrap();
            password
                .send_keys(&char::from(Key::Enter).to_string())
                .await
                .unwrap();
            b.find("h1").await;
            assert_eq!(b.path().await, "/account");
        })
    })
    .await;
}

#[tokio::test]
async fn no_page_has_a_serious_accessibility_violation() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let base = app.base.clone();
    with_browser("axe", Options::default(), move |b| {
        Box::pin(async move {
            let mut found = Vec::new();
            for path in [
                "/signin",
                "/signup",
                "/forgot-password",
                "/reset-password?token=x",
                "/verify-email?token=x",
            ] {
                b.goto(&format!("{base}{path}")).await;
                for v in b.axe_serious().await {
                    found.push((path.to_string(), v));
                }
            }
            // A failed sign-in (the form with its error), then the account pages.
            b.goto(&format!("{base}/signin")).await;
            b.fill("Username or email", &user.email).await;
            b.fill("Password", "wrong-password").await;
            b.press("Sign in").await;
            for v in b.axe_serious().await {
                found.push(("/signin (error)".to_string(), v));
            }
            b.fill("Username or email", &user.email).await;
            b.fill("Password", PASSWORD).await;
            b.press("Sign in").await;
            for path in [
                "/account",
                "/account/security",
                "/account/sessions",
                "/signout",
            ] {
                b.goto(&format!("{base}{path}")).await;
                for v in b.axe_serious().await {
                    found.push((path.to_string(), v));
                }
            }
            assert!(found.is_empty(), "axe-core: {found:#?}");
        })
    })
    .await;
}

#[tokio::test]
async fn the_accessibility_check_can_fail() {
    // An unlabelled input on a page of our own making: axe must report it, or the check above
    // proves nothing.
    with_browser("axe_negative", Options::default(), |b| {
        Box::pin(async move {
            b.goto("data:text/html,<!doctype html><html lang=en><title>t</title><main><input id=x></main></html>")
                .await;
            let ids: Vec<String> = b
                .axe_serious()
                .await
                .iter()
                .map(|v| v["id"].as_str().unwrap_or("").to_string())
                .collect();
            assert!(ids.contains(&"label".to_string()), "{ids:?}");
        })
    })
    .await;
}

#[tokio::test]
async fn a_failing_browser_test_leaves_a_screenshot_and_the_page() {
    let app = spawn_app().await;
    let base = app.base.clone();
    with_browser("artifacts_probe", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&format!("{base}/signin")).await;
            let saved = b.save_artifacts("probe").await;
            assert_eq!(saved.len(), 2, "{saved:?}");
            let png = std::fs::read(&saved[0]).unwrap();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG screenshot");
            let html = std::fs::read_to_string(&saved[1]).unwrap();
            assert!(html.contains("csrf_token"), "the page's source");
            assert!(
                saved[0].starts_with(env!("CARGO_TARGET_TMPDIR")),
                "kept after the run"
            );
        })
    })
    .await;
}
