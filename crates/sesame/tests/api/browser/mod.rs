//! The pages in a real headless Chromium (JavaScript on unless a test says otherwise): the
//! journeys a person makes with only a browser, the keyboard alone, a phone-sized screen,
//! Russian, and an axe-core accessibility check of every page. Form-level negatives (CSRF,
//! open redirects, statuses) are in `tests/api/pages`, over plain HTTP.

mod harness;
mod passkeys;

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
    let admin = app.new_admin().await;
    let base = app.base.clone();
    // A third party's app: its consent page, then the person's list of apps.
    let redirect = format!("{base}/cb");
    let third_party = register_client(&app, &admin, &redirect, false).await;
    let authorize = authorize_url(&base, &third_party, &redirect);
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
            b.goto(&authorize).await;
            assert!(b.text().await.contains("Allow Notes?"), "the consent page");
            for v in b.axe_serious().await {
                found.push(("/oauth/authorize (consent)".to_string(), v));
            }
            b.press("Allow").await;
            for path in [
                "/account",
                "/account/security",
                "/account/sessions",
                "/account/apps",
                "/signout",
            ] {
                b.goto(&format!("{base}{path}")).await;
                for v in b.axe_serious().await {
                    found.push((path.to_string(), v));
                }
            }
            b.goto(&format!("{base}/account/apps")).await;
            assert!(b.text().await.contains("Notes"), "the app is listed");
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

const VERIFIER: &str = "a-verifier-of-forty-three-characters-or-more-0123";

/// An app for the code flow, public, at `redirect`; its client id.
async fn register_client(
    app: &TestApp,
    admin: &TestUser,
    redirect: &str,
    first_party: bool,
) -> String {
    let res = app
        .post_auth(
            "/admin/clients",
            &admin.tokens.access,
            serde_json::json!({"name": "Notes", "audiences": ["api"], "redirect_uris": [redirect],
                "grant_types": ["authorization_code"], "public": true, "first_party": first_party}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    body(res).await["client_id"].as_str().unwrap().to_string()
}

/// The authorization request of that app, with [`VERIFIER`]'s challenge.
fn authorize_url(base: &str, client_id: &str, redirect: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
    format!(
        "{base}/oauth/authorize?response_type=code&client_id={client_id}&scope=openid&state=s1\
         &redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    )
}

#[tokio::test]
async fn set_up_an_authenticator_app_on_the_page_then_an_app_signs_in_with_it() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let admin = app.new_admin().await;
    let base = app.base.clone();
    // An app of one's own at an https address (Sesame itself answers it, with a 404 page: the
    // browser only has to arrive there with the code).
    let redirect = format!("{base}/cb");
    let client_id = register_client(&app, &admin, &redirect, true).await;
    let authorize = authorize_url(&base, &client_id, &redirect);
    let clock = app.clock.clone();
    let code = with_browser_returning(&user, &base, &authorize, &redirect, clock).await;
    let res = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", VERIFIER),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let t = body(res).await;
    let claims = sesame_testkit::jwt::part(t["id_token"].as_str().unwrap(), 1);
    assert_eq!(claims["acr"], "aal2", "{claims}");
    assert!(
        claims["amr"]
            .as_array()
            .unwrap()
            .contains(&Value::from("otp")),
        "{claims}"
    );
}

/// The browser half of the test above: sign in, set up the app on the security page (with an
/// accessibility check of each step), sign out, then sign in to the app with the second factor.
/// The code the app got.
async fn with_browser_returning(
    user: &TestUser,
    base: &str,
    authorize: &str,
    redirect: &str,
    clock: sesame_core::ManualClock,
) -> String {
    use sesame_core::Clock as _;
    let (username, base, authorize, redirect) = (
        user.username.clone(),
        base.to_string(),
        authorize.to_string(),
        redirect.to_string(),
    );
    let got = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let out = got.clone();
    with_browser("second_factor", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&format!("{base}/signin")).await;
            b.fill("Username or email", &username).await;
            b.fill("Password", PASSWORD).await;
            b.press("Sign in").await;
            b.goto(&format!("{base}/account/security")).await;
            b.fill_in_form("/account/security/totp", "Current password", PASSWORD)
                .await;
            b.press("Set up an authenticator app").await;
            assert!(b.find(".qr svg").await.is_displayed().await.unwrap());
            assert!(b.axe_serious().await.is_empty(), "the QR code step");
            let key = b
                .find("code.secret")
                .await
                .text()
                .await
                .unwrap()
                .replace(' ', "");
            let code = crate::mfa::code_at(&key, clock.now());
            b.fill("The 6-digit code the app now shows", &code).await;
            b.press("Turn on").await;
            let text = b.text().await;
            assert!(text.contains("Your recovery codes"), "{text}");
            assert!(b.axe_serious().await.is_empty(), "the recovery codes");

            b.goto(&format!("{base}/signout")).await;
            b.press("Sign out").await;
            // The code above is spent: the app's next one.
            clock.advance(chrono::Duration::seconds(30));
            b.goto(&authorize).await;
            b.fill("Username or email", &username).await;
            b.fill("Password", PASSWORD).await;
            b.press("Sign in").await;
            assert_eq!(b.path().await.split('?').next().unwrap(), "/signin/mfa");
            b.fill("Code", &crate::mfa::code_at(&key, clock.now()))
                .await;
            b.press("Continue").await;
            let url = b.client.current_url().await.unwrap();
            assert!(url.as_str().starts_with(&redirect), "{url}");
            let code = url
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
                .expect("a code");
            *out.lock().unwrap() = code;
        })
    })
    .await;
    got.lock().unwrap().clone()
}

#[tokio::test]
async fn an_admin_unlocks_a_locked_person_from_the_console_who_then_signs_in() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    for _ in 0..5 {
        app.login_raw(&user.username, "wrong password here").await;
    }
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::FORBIDDEN,
        "locked"
    );
    let base = app.base.clone();
    let (admin_name, username) = (admin.username.clone(), user.username.clone());
    let redirect = format!("{base}/cb");
    let redirect_uri = redirect.clone();
    let jwks_before = app.jwks_kids().await;
    let out = std::sync::Arc::new(std::sync::Mutex::new((String::new(), String::new())));
    let got = out.clone();
    with_browser("console_unlock", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&format!("{base}/console")).await;
            b.fill("Username or email", &admin_name).await;
            b.fill("Password", PASSWORD).await;
            b.press("Sign in").await;
            assert_eq!(b.path().await, "/console", "back where the admin was going");
            let mut found = Vec::new();
            found.extend(b.axe_serious().await);
            b.screenshot_for_docs("console/overview").await;
            b.follow("a[href='/console/users']").await;
            b.fill("Email or username", &username).await;
            b.press("Search").await;
            found.extend(b.axe_serious().await);
            b.screenshot_for_docs("console/users").await;
            b.follow("table a").await;
            found.extend(b.axe_serious().await);
            b.screenshot_for_docs("console/user").await;
            b.press("Unlock").await;
            assert!(b.text().await.contains("The account is unlocked."));
            b.press("Disable…").await;
            found.extend(b.axe_serious().await);
            assert!(b.text().await.contains("Yes, do it"), "asks first");
            for path in [
                "/console/clients",
                "/console/keys",
                "/console/audit",
                "/console/webhooks",
            ] {
                b.goto(&format!("{base}{path}")).await;
                found.extend(b.axe_serious().await);
            }
            // An app registered on the page, then signing the admin in: it gets a code.
            b.goto(&format!("{base}/console/clients")).await;
            b.fill("Name", "Notes").await;
            b.fill("Audiences", "api").await;
            b.fill("Redirect URIs", &redirect).await;
            b.find("input[name='public']").await.click().await.unwrap();
            b.find("input[name='first_party']")
                .await
                .click()
                .await
                .unwrap();
            b.press("Create client").await;
            assert!(b.text().await.contains("Client created"));
            found.extend(b.axe_serious().await);
            b.screenshot_for_docs("console/client-created").await;
            let client_id = b.find("dl.facts dd code").await.text().await.unwrap();
            b.goto(&authorize_url(&base, &client_id, &redirect)).await;
            let url = b.client.current_url().await.unwrap();
            assert!(url.as_str().starts_with(&redirect), "{url}");
            let code = url
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
                .expect("a code");
            *got.lock().unwrap() = (client_id, code);
            // Keys rotated on the page, after asking.
            b.goto(&format!("{base}/console/keys")).await;
            b.press("Rotate keys…").await;
            b.press("Yes, do it").await;
            assert!(b.text().await.contains("The keys are rotated."));
            assert!(found.is_empty(), "axe-core: {found:#?}");
        })
    })
    .await;
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK,
        "unlocked, and the confirmation alone disabled nothing"
    );
    let (client_id, code) = out.lock().unwrap().clone();
    let res = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", VERIFIER),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the app redeems its code");
    let after = app.jwks_kids().await;
    assert!(
        after.iter().any(|k| !jwks_before.contains(k)),
        "the rotation is in the JWKS: {jwks_before:?} → {after:?}"
    );
}

#[tokio::test]
async fn a_customer_gets_403_on_every_console_page() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let base = app.base.clone();
    let id = user.id.clone();
    with_browser("console_customer", Options::default(), move |b| {
        Box::pin(async move {
            b.goto(&format!("{base}/signin")).await;
            b.fill("Username or email", &user.email).await;
            b.fill("Password", PASSWORD).await;
            b.press("Sign in").await;
            for path in [
                "/console".to_string(),
                "/console/users".to_string(),
                format!("/console/users/{id}"),
                "/console/clients".to_string(),
                "/console/keys".to_string(),
                "/console/audit".to_string(),
                "/console/webhooks".to_string(),
            ] {
                b.goto(&format!("{base}{path}")).await;
                let text = b.text().await;
                assert!(
                    text.contains("This page is for administrators."),
                    "{path}: {text}"
                );
            }
        })
    })
    .await;
}
