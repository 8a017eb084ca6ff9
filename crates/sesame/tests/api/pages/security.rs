//! What every page shares: the header set, CSRF, `return_to`, languages.

use reqwest::StatusCode;

use super::FormClient;
use crate::helpers::*;

#[tokio::test]
async fn every_page_answers_with_the_security_headers() {
    let app = spawn_app().await;
    let mut b = FormClient::new(&app);
    for path in [
        "/signin",
        "/signup",
        "/forgot-password",
        "/reset-password?token=x",
        "/verify-email?token=x",
        "/account",
        "/signout",
    ] {
        let page = b.get(path).await;
        let csp = page.header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") || csp.contains("script-src 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(page.header("x-frame-options"), "DENY", "{path}");
        assert_eq!(page.header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(page.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(page.header("cache-control"), "no-store", "{path}");
    }
}

#[tokio::test]
async fn the_sign_in_form_is_labelled_with_the_right_autocomplete_and_sets_the_csrf_cookie() {
    let app = spawn_app().await;
    let mut b = FormClient::new(&app);
    let page = b.get("/signin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(
        page.body.contains("<html lang=\"en\""),
        "{}",
        &page.body[..200.min(page.body.len())]
    );
    assert!(page.body.contains("autocomplete=\"username\""));
    assert!(page.body.contains("autocomplete=\"current-password\""));
    assert!(page.body.contains("for=\"identifier\"") && page.body.contains("for=\"password\""));
    let csrf = page
        .set_cookie("__Host-sesame-csrf")
        .expect("a binding cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(csrf.contains(attr), "{csrf}");
    }
    assert!(page.csrf_token().is_some_and(|t| !t.is_empty()));
    assert!(!page.body.contains("<script>"), "no inline script");
    let css = b.get("/static/sesame.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.body.contains("prefers-color-scheme: dark"));
}

#[tokio::test]
async fn a_post_without_the_right_token_is_refused_with_403_and_changes_nothing() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let mut b = FormClient::new(&app);
    b.get("/signin").await;
    let good = b.token.clone().unwrap();
    let creds = [("identifier", user.email.as_str()), ("password", PASSWORD)];
    // Missing, wrong, and another browser's token.
    let mut other = FormClient::new(&app);
    other.get("/signin").await;
    let foreign = other.token.clone().unwrap();
    for token in ["", "not-a-token", foreign.as_str()] {
        let mut fields = creds.to_vec();
        fields.push(("csrf_token", token));
        let page = b.post("/signin", &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "token {token:?}");
        assert!(page.set_cookie("__Host-sesame").is_none(), "not signed in");
    }
    // The right token without the binding cookie it belongs to.
    let mut stripped = FormClient::new(&app);
    let mut fields = creds.to_vec();
    fields.push(("csrf_token", good.as_str()));
    assert_eq!(
        stripped.post("/signin", &fields).await.status,
        StatusCode::FORBIDDEN
    );
    // And the right one works.
    assert_eq!(
        b.post("/signin", &fields).await.status,
        StatusCode::SEE_OTHER
    );
    // A forged account change (signed in, wrong token) changes nothing.
    let page = b
        .post(
            "/account",
            &[("display_name", "Forged"), ("csrf_token", "x")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let profile: serde_json::Value = app
        .get("/profile", Some(&user.tokens.access))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(profile["display_name"], "Forged");
}

#[tokio::test]
async fn a_cross_site_post_is_refused_even_with_a_valid_token_but_origin_null_is_not() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let creds = [("identifier", user.email.as_str()), ("password", PASSWORD)];
    let mut b = FormClient::new(&app);
    b.get("/signin").await;
    b.origin = Some("https://evil.example".into());
    assert_eq!(
        b.post("/signin", &creds).await.status,
        StatusCode::FORBIDDEN
    );
    b.origin = None;
    let token = b.token.clone().unwrap();
    let res = app
        .client
        .post(app.url("/signin"))
        .header(
            "cookie",
            format!("__Host-sesame-csrf={}", b.jar["__Host-sesame-csrf"]),
        )
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("identifier", user.email.as_str()),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "Sec-Fetch-Site: cross-site"
    );
    // With Referrer-Policy: no-referrer, browsers send Origin: null on same-origin posts.
    b.origin = Some("null".into());
    assert_eq!(
        b.post("/signin", &creds).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn return_to_is_followed_only_to_a_same_origin_path() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for (return_to, expected) in [
        ("/account/sessions", "/account/sessions"),
        ("//evil.example", "/account"),
        ("https://evil.example", "/account"),
        ("/\\evil.example", "/account"),
        ("/\t/evil.example", "/account"),
        ("javascript:alert(1)", "/account"),
    ] {
        let mut b = FormClient::new(&app);
        b.get("/signin").await;
        let page = b
            .post(
                "/signin",
                &[
                    ("identifier", &user.email),
                    ("password", PASSWORD),
                    ("return_to", return_to),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(page.location(), expected, "return_to {return_to:?}");
    }
    // And the sign-in page does not put a foreign return_to into its form.
    let mut b = FormClient::new(&app);
    let page = b.get("/signin?return_to=%2F%2Fevil.example").await;
    assert_eq!(super::input_value(&page.body, "return_to"), None);
}

#[tokio::test]
async fn pages_speak_russian_by_query_cookie_or_accept_language() {
    let app = spawn_app().await;
    let mut b = FormClient::new(&app);
    let page = b.get("/signin?lang=ru").await;
    assert!(page.body.contains("<html lang=\"ru\""));
    let remembered = page.set_cookie("__Host-sesame-lang").expect("remembered");
    assert!(remembered.starts_with("__Host-sesame-lang=ru"));
    let again = b.get("/signup").await;
    assert!(
        again.body.contains("<html lang=\"ru\""),
        "the cookie keeps it"
    );
    let english = b.get("/signin?lang=en").await;
    assert!(english.body.contains("<html lang=\"en\""));

    let mut fresh = FormClient::new(&app);
    fresh.accept_language = Some("ru-RU,ru;q=0.9,en;q=0.5".into());
    let page = fresh.get("/signin").await;
    assert!(page.body.contains("<html lang=\"ru\""));
    fresh.accept_language = Some("de-DE,fr;q=0.8".into());
    assert!(
        fresh
            .get("/signin")
            .await
            .body
            .contains("<html lang=\"en\""),
        "the default"
    );
}
