//! `/signin` and `/signout`: outcomes, the session cookie, fixation, the JSON API's view of it.

use reqwest::StatusCode;
use serde_json::Value;

use super::FormClient;
use crate::helpers::*;
use sesame_core::Clock as _;

#[tokio::test]
async fn the_right_password_opens_a_browser_session_listed_by_the_api() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    let page = b.sign_in(&user.email, PASSWORD).await;
    assert_eq!(page.location(), "/account");
    let cookie = page.set_cookie("__Host-sesame").expect("a session cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let value = b.session_cookie().unwrap().clone();
    assert!(value.len() >= 43, "at least 256 bits: {value}");
    let account = b.get("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains(&user.email));

    let listed = app.get("/auth/sessions", Some(&user.tokens.access)).await;
    let listed: Value = listed.json().await.unwrap();
    let kinds: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"browser"), "{listed}");
    assert!(kinds.contains(&"api"), "{listed}");
}

#[tokio::test]
async fn a_username_works_as_the_identifier() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.username, PASSWORD).await;
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_account_get_the_same_401_with_a_form_challenge() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.get("/signin").await;
    let wrong = b
        .post(
            "/signin",
            &[
                ("identifier", &user.email),
                ("password", "not-the-password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.header("www-authenticate"), "Form");
    assert!(wrong.set_cookie("__Host-sesame").is_none());
    let unknown = b
        .post(
            "/signin",
            &[
                ("identifier", "nobody@example.com"),
                ("password", "not-the-password"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let message = |body: &str| {
        let at = body.find("role=\"alert\"").expect("a form-level message");
        body[at..at + 200.min(body.len() - at)].to_string()
    };
    let (a, b2) = (message(&wrong.body), message(&unknown.body));
    assert_eq!(
        a.split('<').nth(1),
        b2.split('<').nth(1),
        "one generic message for both"
    );
    assert!(
        wrong.body.contains(&format!("value=\"{}\"", user.email)),
        "the identifier is kept"
    );
    assert!(
        !wrong.body.contains("not-the-password"),
        "the password is never echoed"
    );
}

#[tokio::test]
async fn lockout_answers_403_with_the_time_left_and_counts_with_the_api() {
    let app = spawn_app_with(&[
        ("SESAME_LOCKOUT_MAX_FAILURES", "3"),
        ("SESAME_LOCKOUT_DURATION", "15m"),
    ])
    .await;
    let user = app.new_user().await;
    // Two failures through the JSON API, one through the page: one lockout policy.
    for _ in 0..2 {
        app.login_raw(&user.email, "wrong-password").await;
    }
    let mut b = FormClient::new(&app);
    b.get("/signin").await;
    let third = b
        .post(
            "/signin",
            &[("identifier", &user.email), ("password", "wrong-password")],
        )
        .await;
    assert!(
        third.status == StatusCode::UNAUTHORIZED || third.status == StatusCode::FORBIDDEN,
        "{}",
        third.status
    );
    let locked = b
        .post(
            "/signin",
            &[("identifier", &user.email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(locked.status, StatusCode::FORBIDDEN, "{}", locked.body);
    let retry: u64 = locked.header("retry-after").parse().unwrap();
    assert!(retry > 0 && retry <= 900, "{retry}");
    assert!(
        locked.body.contains("15"),
        "the minutes left are shown: {}",
        locked.body
    );
    assert!(locked.set_cookie("__Host-sesame").is_none());
}

#[tokio::test]
async fn the_page_sign_in_shares_the_login_rate_limit() {
    let app = spawn_app_with(&[
        ("SESAME_RATE_LIMIT", "on"),
        ("SESAME_RATE_LIMIT_LOGIN", "2/m"),
    ])
    .await;
    let mut b = FormClient::new(&app);
    b.get("/signin").await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let p = b
            .post(
                "/signin",
                &[
                    ("identifier", "x@example.com"),
                    ("password", "wrong-password"),
                ],
            )
            .await;
        statuses.push(p.status);
        if p.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(!p.header("retry-after").is_empty());
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn each_sign_in_gets_a_new_session_id_and_ends_the_one_before() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    // A value planted before sign-in (session fixation) is never adopted.
    b.jar
        .insert("__Host-sesame".into(), "planted-by-an-attacker".into());
    b.sign_in(&user.email, PASSWORD).await;
    let first = b.session_cookie().unwrap().clone();
    assert_ne!(first, "planted-by-an-attacker");
    b.sign_in(&user.email, PASSWORD).await;
    let second = b.session_cookie().unwrap().clone();
    assert_ne!(first, second);
    let mut old = FormClient::new(&app);
    old.jar.insert("__Host-sesame".into(), first);
    let page = old.get("/account").await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "the replaced session is over"
    );
}

#[tokio::test]
async fn signing_out_ends_the_session_and_clears_the_cookie() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.email, PASSWORD).await;
    let cookie = b.session_cookie().unwrap().clone();
    let confirm = b.get("/signout").await;
    assert_eq!(confirm.status, StatusCode::OK);
    let out = b.post("/signout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.location().starts_with("/signin"), "{}", out.location());
    assert!(
        out.set_cookie("__Host-sesame")
            .unwrap()
            .contains("Max-Age=0")
    );
    let mut replay = FormClient::new(&app);
    replay.jar.insert("__Host-sesame".into(), cookie);
    let page = replay.get("/account").await;
    assert_eq!(
        page.status,
        StatusCode::SEE_OTHER,
        "the cookie no longer signs in"
    );
    assert!(page.location().starts_with("/signin?return_to="));
}

#[tokio::test]
async fn logout_all_and_a_password_change_through_the_api_end_the_browser_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.email, PASSWORD).await;
    let res = app
        .post_auth(
            "/auth/logout/all",
            &user.tokens.access,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);

    let tokens = app.login(&user.email, PASSWORD).await;
    b.sign_in(&user.email, PASSWORD).await;
    let res = app
        .post_auth(
            "/auth/password",
            &tokens.access,
            serde_json::json!({"current_password": PASSWORD, "new_password": "a brand new passphrase 42"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_admin_disable_ends_the_browser_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.email, PASSWORD).await;
    app.disable_user(&user.id).await;
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_browser_session_ends_after_the_idle_timeout_and_the_absolute_one() {
    let app = spawn_app_with(&[
        ("SESAME_BROWSER_SESSION_IDLE", "1h"),
        ("SESAME_BROWSER_SESSION_TTL", "3h"),
    ])
    .await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&user.email, PASSWORD).await;
    app.advance(59 * 60);
    assert_eq!(
        b.get("/account").await.status,
        StatusCode::OK,
        "used within the hour"
    );
    app.advance(59 * 60);
    assert_eq!(
        b.get("/account").await.status,
        StatusCode::OK,
        "still in use"
    );
    app.advance(61 * 60);
    assert_eq!(
        b.get("/account").await.status,
        StatusCode::SEE_OTHER,
        "idle for over an hour"
    );

    b.sign_in(&user.email, PASSWORD).await;
    for _ in 0..3 {
        app.advance(55 * 60);
        assert_eq!(b.get("/account").await.status, StatusCode::OK);
    }
    app.advance(20 * 60);
    assert_eq!(
        b.get("/account").await.status,
        StatusCode::SEE_OTHER,
        "past the absolute three hours however busy"
    );
}

#[tokio::test]
async fn page_sign_ins_are_audited_and_counted_like_the_apis() {
    let app = spawn_app().await;
    let boss = app.new_admin().await;
    let user = app.new_user().await;
    let before = app.get("/metrics", None).await.text().await.unwrap();
    let count = |text: &str, result: &str| -> u64 {
        let needle = format!("sesame_logins_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&needle))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    let mut b = FormClient::new(&app);
    b.get("/signin").await;
    b.post(
        "/signin",
        &[("identifier", &user.email), ("password", "wrong-password")],
    )
    .await;
    b.sign_in(&user.email, PASSWORD).await;
    let after = app.get("/metrics", None).await.text().await.unwrap();
    assert_eq!(count(&after, "success"), count(&before, "success") + 1);
    assert_eq!(
        count(&after, "invalid_credentials"),
        count(&before, "invalid_credentials") + 1
    );
    assert!(
        after.contains("route=\"/signin\",status=\"303\""),
        "requests are counted by route and status"
    );
    let events: Value = app
        .get(
            &format!("/admin/audit?user_id={}&limit=50", user.id),
            Some(&boss.tokens.access),
        )
        .await
        .json()
        .await
        .unwrap();
    let events = events["events"].as_array().unwrap();
    let of = |name: &str| events.iter().filter(|e| e["event"] == name).count();
    assert!(of("login_failed") >= 1, "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "login_succeeded" && e["detail"]["via"] == "browser"),
        "{events:?}"
    );
}

#[tokio::test]
async fn ending_the_other_sessions_also_ends_one_whose_access_token_outlives_its_refresh() {
    // Refresh shorter than access: a session past its refresh expiry still has a live access
    // token, and "sign out everywhere else" must end it like logout-all does.
    let app = spawn_app_with(&[("SESAME_REFRESH_TTL", "5m"), ("SESAME_ACCESS_TTL", "15m")]).await;
    let user = app.new_user().await;
    app.advance(6 * 60);
    assert_eq!(
        app.get("/profile", Some(&user.tokens.access))
            .await
            .status(),
        StatusCode::OK,
        "the access token lives on"
    );
    let mut b = FormClient::new(&app);
    b.sign_in(&user.email, PASSWORD).await;
    b.get("/account/sessions").await;
    let page = b.post("/account/sessions/end-others", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get("/profile", Some(&user.tokens.access))
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "its session ended"
    );
    assert_eq!(
        b.get("/account").await.status,
        StatusCode::OK,
        "this browser stays"
    );
}

// Issue #19: a user with a second factor gets no browser session from the password alone; the
// second page finishes the sign-in with a code, under the same lockout as the API.
#[tokio::test]
async fn a_second_factor_is_asked_on_its_own_page_before_any_session() {
    let app = spawn_app().await;
    let e = crate::mfa::enroll(&app, app.new_user().await).await;
    let mut b = FormClient::new(&app);
    b.get("/signin?return_to=/account/sessions").await;
    let page = b
        .post(
            "/signin",
            &[
                ("identifier", &e.user.email),
                ("password", PASSWORD),
                ("return_to", "/account/sessions"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(
        page.location(),
        "/signin/mfa?return_to=%2Faccount%2Fsessions"
    );
    assert!(b.session_cookie().is_none(), "no session from the password");
    let challenge = page
        .set_cookie("__Host-sesame-mfa")
        .expect("the challenge's cookie");
    assert!(challenge.contains("HttpOnly") && challenge.contains("Secure"));
    assert!(
        !page
            .location()
            .contains(b.jar["__Host-sesame-mfa"].as_str())
    );
    // Not signed in meanwhile.
    let account = b.get("/account").await;
    assert_eq!(account.status, StatusCode::SEE_OTHER);

    let form = b.get("/signin/mfa?return_to=/account/sessions").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("autocomplete=\"one-time-code\""));
    let wrong = crate::mfa::wrong_code(&e.secret, app.clock.now());
    let refused = b
        .post(
            "/signin/mfa",
            &[("code", &wrong), ("return_to", "/account/sessions")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.header("www-authenticate"), "Form");
    assert!(b.session_cookie().is_none());
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
    assert_eq!(failed.items.len(), 1, "counted like the API's");

    let code = e.code(&app);
    let done = b
        .post(
            "/signin/mfa",
            &[("code", &code), ("return_to", "/account/sessions")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/account/sessions");
    assert!(b.session_cookie().is_some());
    assert!(
        !b.jar.contains_key("__Host-sesame-mfa"),
        "the challenge cookie is cleared"
    );
    assert_eq!(b.get("/account").await.status, StatusCode::OK);

    // The challenge is spent: the page sends a second attempt back to /signin.
    b.jar
        .insert("__Host-sesame-mfa".into(), challenge_value(&challenge));
    b.get("/signin/mfa").await;
    let again = b.post("/signin/mfa", &[("code", &code)]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(again.location(), "/signin");

    // A recovery code works there too.
    let mut other = FormClient::new(&app);
    other.get("/signin").await;
    other
        .post(
            "/signin",
            &[("identifier", &e.user.username), ("password", PASSWORD)],
        )
        .await;
    other.get("/signin/mfa").await;
    let page = other
        .post("/signin/mfa", &[("recovery_code", &e.recovery_codes[0])])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/account");
    assert!(other.session_cookie().is_some());
}

/// The value of a `Set-Cookie` line.
fn challenge_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_string()
}
