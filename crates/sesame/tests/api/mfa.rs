//! Second factors (issue #19) over the HTTP API: enrolling an authenticator app, the login's
//! `mfa_required` and `/auth/mfa/verify`, replay and clock skew, recovery codes, the lockout
//! shared with passwords, `amr`/`acr` in tokens (kept by refresh, checked by `/auth/verify`),
//! `SESAME_MFA_REQUIRED_ROLES` on `/admin`, an admin's removal (audited and mailed), and
//! secrets that never come back. TOTP codes are computed here from the secret Sesame returned,
//! at the test app's manual clock.

use chrono::{DateTime, Utc};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;
use sesame_core::Clock as _;

/// The 6-digit code of base32 `secret` at `at` (RFC 6238: SHA-1, 30 s).
pub(crate) fn code_at(secret: &str, at: DateTime<Utc>) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_string())
        .to_bytes()
        .expect("a base32 secret");
    totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes)
        .generate(at.timestamp() as u64)
}

/// A code that is none of the three Sesame accepts at `at`.
pub(crate) fn wrong_code(secret: &str, at: DateTime<Utc>) -> String {
    let valid: Vec<String> = [-30, 0, 30]
        .iter()
        .map(|d| code_at(secret, at + chrono::Duration::seconds(*d)))
        .collect();
    (0..)
        .map(|n: u32| format!("{:06}", (n * 7919) % 1_000_000))
        .find(|c| !valid.contains(c))
        .unwrap()
}

/// A user with a confirmed authenticator app.
pub(crate) struct Enrolled {
    pub(crate) user: TestUser,
    pub(crate) secret: String,
    otpauth_uri: String,
    pub(crate) recovery_codes: Vec<String>,
}

impl Enrolled {
    /// The code of the app now (by the app's clock).
    pub(crate) fn code(&self, app: &TestApp) -> String {
        code_at(&self.secret, app.clock.now())
    }
}

async fn begin(app: &TestApp, user: &TestUser) -> Value {
    let res = app
        .post_auth(
            "/auth/mfa/totp",
            &user.tokens.access,
            json!({"password": user.password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["cache-control"],
        "no-store",
        "the secret is not cached"
    );
    body(res).await
}

/// Enrolls `user` and moves the clock to the next step, so the confirming code is in the past.
pub(crate) async fn enroll(app: &TestApp, user: TestUser) -> Enrolled {
    let started = begin(app, &user).await;
    let secret = started["secret"].as_str().unwrap().to_string();
    let res = app
        .post_auth(
            "/auth/mfa/totp/confirm",
            &user.tokens.access,
            json!({"code": code_at(&secret, app.clock.now())}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let codes: Vec<String> = body(res).await["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    app.advance(30);
    Enrolled {
        user,
        otpauth_uri: started["otpauth_uri"].as_str().unwrap().to_string(),
        secret,
        recovery_codes: codes,
    }
}

/// Logs in with the right password: 401 `mfa_required`; the `mfa_token`.
pub(crate) async fn mfa_token(app: &TestApp, user: &TestUser) -> String {
    let res = app.login_raw(&user.username, &user.password).await;
    assert_eq!(res.headers()["cache-control"], "no-store");
    let b = assert_error(res, StatusCode::UNAUTHORIZED, "mfa_required").await;
    assert!(
        b.get("access").is_none() && b.get("refresh").is_none(),
        "{b}"
    );
    b["mfa_token"].as_str().expect("an mfa_token").to_string()
}

async fn verify(app: &TestApp, token: &str, code: &str) -> Response {
    app.post(
        "/auth/mfa/verify",
        json!({"mfa_token": token, "code": code}),
    )
    .await
}

pub(crate) async fn verify_recovery(app: &TestApp, token: &str, code: &str) -> Response {
    app.post(
        "/auth/mfa/verify",
        json!({"mfa_token": token, "recovery_code": code}),
    )
    .await
}

/// A full login with the app's current code.
async fn login_with_code(app: &TestApp, e: &Enrolled) -> Tokens {
    let token = mfa_token(app, &e.user).await;
    let res = verify(app, &token, &e.code(app)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    tokens(&body(res).await)
}

fn claims(token: &str) -> Value {
    jwt::part(token, 1)
}

async fn status(app: &TestApp, access: &str) -> Value {
    let res = app.get("/auth/mfa", Some(access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    body(res).await
}

async fn audit(app: &TestApp, user_id: &str, event: &str) -> Vec<Value> {
    app.sesame
        .admin()
        .audit_trail(
            Some(uuid::Uuid::parse_str(user_id).unwrap()),
            Some(event.to_string()),
            Some(200),
            None,
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.detail)
        .collect()
}

#[tokio::test]
async fn an_authenticator_app_is_enrolled_with_the_password_and_confirmed_by_a_code() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let access = user.tokens.access.clone();
    assert_eq!(
        status(&app, &access).await,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    assert_error(
        app.post_auth(
            "/auth/mfa/totp",
            &access,
            json!({"password": "not it at all"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_current_password",
    )
    .await;
    assert_error(
        app.post_auth("/auth/mfa/totp", &access, json!({})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        app.post("/auth/mfa/totp", json!({"password": user.password}))
            .await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;

    let started = begin(&app, &user).await;
    let secret = started["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = started["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Sesame:")
            && uri.contains(&format!("secret={secret}"))
            && uri.contains("issuer=Sesame")
            && uri.contains("algorithm=SHA1")
            && uri.contains("digits=6")
            && uri.contains("period=30"),
        "{uri}"
    );
    // Pending: not a second factor yet, and the login still answers with tokens.
    assert_eq!(status(&app, &access).await["totp"], false);
    assert_eq!(
        app.login_raw(&user.username, &user.password).await.status(),
        StatusCode::OK
    );
    // Starting again replaces the pending secret: the first one's codes no longer confirm.
    let again = begin(&app, &user).await;
    let secret2 = again["secret"].as_str().unwrap().to_string();
    assert_ne!(secret2, secret);
    let now = app.clock.now();
    assert_error(
        app.post_auth(
            "/auth/mfa/totp/confirm",
            &access,
            json!({"code": code_at(secret, now)}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_mfa_code",
    )
    .await;
    assert_error(
        app.post_auth(
            "/auth/mfa/totp/confirm",
            &access,
            json!({"code": wrong_code(&secret2, now)}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_mfa_code",
    )
    .await;
    let res = app
        .post_auth(
            "/auth/mfa/totp/confirm",
            &access,
            json!({"code": code_at(&secret2, now)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let codes = body(res).await["recovery_codes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::HashSet<_> = codes.iter().map(|c| c.to_string()).collect();
    assert_eq!(distinct.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() == 19));
    assert_eq!(
        status(&app, &access).await,
        json!({"totp": true, "passkeys": 0, "recovery_codes_left": 10})
    );
    assert_eq!(audit(&app, &user.id, "mfa_enrolled").await.len(), 1);

    // Enrolled: another enrollment, or a second confirmation, is a conflict.
    for (path, body) in [
        ("/auth/mfa/totp", json!({"password": user.password})),
        ("/auth/mfa/totp/confirm", json!({"code": "123456"})),
    ] {
        assert_error(
            app.post_auth(path, &access, body).await,
            StatusCode::CONFLICT,
            "mfa_already_enrolled",
        )
        .await;
    }
    // Nothing pending for a user who never started: 400.
    let other = app.new_user().await;
    assert_error(
        app.post_auth(
            "/auth/mfa/totp/confirm",
            &other.tokens.access,
            json!({"code": "123456"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "mfa_not_enrolled",
    )
    .await;
}

#[tokio::test]
async fn login_asks_for_the_code_and_verify_signs_in_at_aal2() {
    let app = spawn_app().await;
    let plain = app.new_user().await;
    let c = claims(&plain.tokens.access);
    assert_eq!(c["amr"], json!(["pwd"]));
    assert_eq!(c["acr"], "aal1");

    let e = enroll(&app, app.new_user().await).await;
    let res = app.login_raw(&e.user.username, &e.user.password).await;
    assert!(res.headers().contains_key("www-authenticate"));
    let b = assert_error(res, StatusCode::UNAUTHORIZED, "mfa_required").await;
    assert_eq!(b["methods"], json!(["totp", "recovery_code"]));
    let token = b["mfa_token"].as_str().unwrap();
    assert_eq!(token.len(), 43);
    // The same with the email, and with an audience: the token is for that audience.
    let res = app
        .post(
            "/auth/login",
            json!({"email": e.user.email, "password": e.user.password, "audience": "api"}),
        )
        .await;
    assert_error(res, StatusCode::UNAUTHORIZED, "mfa_required").await;

    let res = verify(&app, token, &e.code(&app)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = body(res).await;
    assert_eq!(b["token_type"], "Bearer");
    let t = tokens(&b);
    let c = claims(&t.access);
    assert_eq!(c["sub"], e.user.id);
    assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(c["acr"], "aal2");
    assert_eq!(
        app.get("/profile", Some(&t.access)).await.status(),
        StatusCode::OK
    );

    // Kept across refresh (the session remembers how its user signed in).
    app.advance(5);
    let res = app.refresh_raw(&t.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed = tokens(&body(res).await);
    let c = claims(&refreshed.access);
    assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(c["acr"], "aal2");
    let res = app.refresh_raw(&plain.tokens.refresh).await;
    let c = claims(&tokens(&body(res).await).access);
    assert_eq!(c["acr"], "aal1");

    // The login audit says how.
    let successes = audit(&app, &e.user.id, "login_succeeded").await;
    assert_eq!(successes[0]["second_factor"], "totp", "{successes:?}");
}

#[tokio::test]
async fn a_code_works_once() {
    let app = spawn_app().await;
    let e = enroll(&app, app.new_user().await).await;
    let code = e.code(&app);
    let first = mfa_token(&app, &e.user).await;
    assert_eq!(verify(&app, &first, &code).await.status(), StatusCode::OK);
    // The same code, in a new sign-in within its window: refused, and the token survives.
    let second = mfa_token(&app, &e.user).await;
    assert_error(
        verify(&app, &second, &code).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_code",
    )
    .await;
    let failed = audit(&app, &e.user.id, "mfa_failed").await;
    assert_eq!(failed[0]["reason"], "already_used", "{failed:?}");
    // The confirming code (one step back, inside the skew) was used by the enrollment.
    let confirming = code_at(&e.secret, app.clock.now() - chrono::Duration::seconds(30));
    assert_error(
        verify(&app, &second, &confirming).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_code",
    )
    .await;
    // The next step's code finishes the very same token.
    app.advance(30);
    assert_eq!(
        verify(&app, &second, &e.code(&app)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn one_step_of_clock_skew_is_accepted_and_two_are_not() {
    let app = spawn_app().await;
    let e = enroll(&app, app.new_user().await).await;
    // Well past the enrollment's step, so no refusal below is a replay.
    app.advance(300);
    let now = app.clock.now();
    let step = |steps: i64| code_at(&e.secret, now + chrono::Duration::seconds(30 * steps));
    let token = mfa_token(&app, &e.user).await;
    for far in [-2, 2] {
        // A code two steps away could equal a nearer one by chance (one in a million).
        if (-1..=1).any(|near| step(near) == step(far)) {
            continue;
        }
        assert_error(
            verify(&app, &token, &step(far)).await,
            StatusCode::UNAUTHORIZED,
            "invalid_mfa_code",
        )
        .await;
    }
    assert_eq!(
        verify(&app, &token, &step(-1)).await.status(),
        StatusCode::OK,
        "a phone 30 s slow"
    );
    let token = mfa_token(&app, &e.user).await;
    assert_eq!(
        verify(&app, &token, &step(1)).await.status(),
        StatusCode::OK,
        "a phone 30 s fast"
    );
}

#[tokio::test]
async fn a_recovery_code_works_once_and_typing_is_forgiving() {
    let app = spawn_app().await;
    let e = enroll(&app, app.new_user().await).await;
    let token = mfa_token(&app, &e.user).await;
    // As typed from paper: upper case, no dashes.
    let typed = e.recovery_codes[0].to_uppercase().replace('-', "");
    let res = verify_recovery(&app, &token, &typed).await;
    assert_eq!(res.status(), StatusCode::OK);
    let c = claims(&tokens(&body(res).await).access);
    assert_eq!(c["acr"], "aal2");
    assert_eq!(audit(&app, &e.user.id, "recovery_code_used").await.len(), 1);

    let token = mfa_token(&app, &e.user).await;
    assert_error(
        verify_recovery(&app, &token, &e.recovery_codes[0]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_code",
    )
    .await;
    assert_error(
        verify_recovery(&app, &token, "not-a-recovery-code").await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_code",
    )
    .await;
    assert_eq!(
        verify_recovery(&app, &token, &e.recovery_codes[1])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        status(&app, &e.user.tokens.access).await["recovery_codes_left"],
        8
    );
    // Exactly one of code and recovery_code.
    for b in [
        json!({"mfa_token": token}),
        json!({"mfa_token": token, "code": "123456", "recovery_code": e.recovery_codes[2]}),
        json!({"code": "123456"}),
    ] {
        assert_error(
            app.post("/auth/mfa/verify", b).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
}

#[tokio::test]
async fn new_recovery_codes_kill_the_old_set() {
    let app = spawn_app().await;
    let e = enroll(&app, app.new_user().await).await;
    let access = &e.user.tokens.access;
    assert_error(
        app.post_auth(
            "/auth/mfa/recovery-codes",
            access,
            json!({"password": "not the password"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_current_password",
    )
    .await;
    let res = app
        .post_auth(
            "/auth/mfa/recovery-codes",
            access,
            json!({"password": e.user.password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let fresh: Vec<String> = body(res).await["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !e.recovery_codes.contains(c)));
    let token = mfa_token(&app, &e.user).await;
    for old in &e.recovery_codes[..2] {
        assert_error(
            verify_recovery(&app, &token, old).await,
            StatusCode::UNAUTHORIZED,
            "invalid_mfa_code",
        )
        .await;
    }
    assert_eq!(
        verify_recovery(&app, &token, &fresh[0]).await.status(),
        StatusCode::OK
    );
    // Without a second factor there is nothing for codes to stand in for.
    let plain = app.new_user().await;
    assert_error(
        app.post_auth(
            "/auth/mfa/recovery-codes",
            &plain.tokens.access,
            json!({"password": plain.password}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "mfa_not_enrolled",
    )
    .await;
}

#[tokio::test]
async fn wrong_codes_lock_the_account_exactly_like_wrong_passwords() {
    let app = spawn_app().await;
    let e = enroll(&app, app.new_user().await).await;
    let first = mfa_token(&app, &e.user).await;
    // Two wrong passwords and three wrong codes are five failures of this source.
    for _ in 0..2 {
        assert_error(
            app.login_raw(&e.user.username, "a wrong password").await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    // A right password between them restarts no count: the sign-in is not complete.
    let second = mfa_token(&app, &e.user).await;
    for token in [&first, &second, &first] {
        let wrong = wrong_code(&e.secret, app.clock.now());
        assert_error(
            verify(&app, token, &wrong).await,
            StatusCode::UNAUTHORIZED,
            "invalid_mfa_code",
        )
        .await;
    }
    // Locked: the right code, and the right password, answer 403 with Retry-After.
    let res = verify(&app, &second, &e.code(&app)).await;
    let secs: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&secs), "Retry-After {secs}");
    assert_error(res, StatusCode::FORBIDDEN, "account_locked").await;
    assert_error(
        app.login_raw(&e.user.username, &e.user.password).await,
        StatusCode::FORBIDDEN,
        "account_locked",
    )
    .await;
    let failed = audit(&app, &e.user.id, "mfa_failed").await;
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|f| f["method"] == "totp"));
    assert_eq!(audit(&app, &e.user.id, "account_locked").await.len(), 1);

    // The lock ends like any other; the wrong codes did not spend the tokens, but they expired.
    app.advance(15 * 60 + 1);
    assert_error(
        verify(&app, &second, &e.code(&app)).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    login_with_code(&app, &e).await;
}

#[tokio::test]
async fn spent_expired_and_foreign_mfa_tokens_are_refused() {
    let app = spawn_app().await;
    let alice = enroll(&app, app.new_user().await).await;
    let bob = enroll(&app, app.new_user().await).await;
    // Spent: a second code (even a right one) does not reuse it.
    let spent = mfa_token(&app, &alice.user).await;
    assert_eq!(
        verify(&app, &spent, &alice.code(&app)).await.status(),
        StatusCode::OK
    );
    app.advance(30);
    assert_error(
        verify(&app, &spent, &alice.code(&app)).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    // Garbage and unknown tokens.
    for token in ["", "x", &"A".repeat(43)] {
        assert_error(
            verify(&app, token, &alice.code(&app)).await,
            StatusCode::UNAUTHORIZED,
            "token_invalid",
        )
        .await;
    }
    // Alice's token with Bob's right code: Alice's code is checked, and Bob's is not hers.
    let alices = mfa_token(&app, &alice.user).await;
    if bob.code(&app) != alice.code(&app) {
        assert_error(
            verify(&app, &alices, &bob.code(&app)).await,
            StatusCode::UNAUTHORIZED,
            "invalid_mfa_code",
        )
        .await;
        assert_error(
            verify_recovery(&app, &alices, &bob.recovery_codes[0]).await,
            StatusCode::UNAUTHORIZED,
            "invalid_mfa_code",
        )
        .await;
    }
    // Expired after five minutes.
    app.advance(5 * 60 + 1);
    assert_error(
        verify(&app, &alices, &alice.code(&app)).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    // Bob's own sign-in still works with his code (nothing of his was spent above).
    login_with_code(&app, &bob).await;
}

#[tokio::test]
async fn the_gateway_can_ask_for_aal2() {
    let app = spawn_app().await;
    let plain = app.new_user().await;
    let e = enroll(&app, app.new_user().await).await;
    let strong = login_with_code(&app, &e).await;
    let check = |token: String, query: &'static str| {
        let app = &app;
        async move { app.get(&format!("/auth/verify{query}"), Some(&token)).await }
    };
    assert_error(
        check(plain.tokens.access.clone(), "?acr=aal2").await,
        StatusCode::FORBIDDEN,
        "mfa_required",
    )
    .await;
    // A password-only token of a user who has a second factor now is still aal1.
    assert_error(
        check(e.user.tokens.access.clone(), "?acr=aal2").await,
        StatusCode::FORBIDDEN,
        "mfa_required",
    )
    .await;
    assert_eq!(
        check(strong.access.clone(), "?acr=aal2").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        check(plain.tokens.access.clone(), "?acr=aal1")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        check(plain.tokens.access.clone(), "").await.status(),
        StatusCode::OK
    );
    // The header form, as a gateway adds it.
    let res = app
        .client
        .get(app.url("/auth/verify"))
        .bearer_auth(&plain.tokens.access)
        .header("x-sesame-acr", "aal2")
        .send()
        .await
        .unwrap();
    assert_error(res, StatusCode::FORBIDDEN, "mfa_required").await;
}

#[tokio::test]
async fn mfa_required_roles_keep_aal1_tokens_out_of_admin() {
    let app = spawn_app_with(&[("SESAME_MFA_REQUIRED_ROLES", "admin")]).await;
    let admin = app.new_admin().await;
    assert_error(
        app.get("/admin/users", Some(&admin.tokens.access)).await,
        StatusCode::FORBIDDEN,
        "mfa_required",
    )
    .await;
    // A non-admin is refused as before: forbidden.
    let user = app.new_user().await;
    assert_error(
        app.get("/admin/users", Some(&user.tokens.access)).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // The admin sets up an app (their /auth routes need no aal2) and signs in with it.
    let e = enroll(&app, admin).await;
    let strong = login_with_code(&app, &e).await;
    assert_eq!(
        app.get("/admin/users", Some(&strong.access)).await.status(),
        StatusCode::OK
    );
    // Kept across refresh.
    let res = app.refresh_raw(&strong.refresh).await;
    let refreshed = tokens(&body(res).await);
    assert_eq!(
        app.get("/admin/users", Some(&refreshed.access))
            .await
            .status(),
        StatusCode::OK
    );
    // Without the setting, an admin's password is enough (the default).
    let relaxed = spawn_app().await;
    let admin = relaxed.new_admin().await;
    assert_eq!(
        relaxed
            .get("/admin/users", Some(&admin.tokens.access))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_admin_removes_every_factor_audited_and_the_user_is_mailed() {
    let (app, sink) = crate::email::app_with_sink(&[]).await;
    let admin = app.new_admin().await;
    let e = enroll(&app, app.new_user().await).await;
    let user_id = e.user.id.clone();
    let path = format!("/admin/users/{user_id}/mfa");
    // Only admins.
    assert_error(
        app.request(Method::DELETE, &path, Some(&e.user.tokens.access), None)
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let res = app
        .request(Method::DELETE, &path, Some(&admin.tokens.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let removed = audit(&app, &user_id, "mfa_removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["by"], admin.id, "audited with the acting admin");
    let mail = sink
        .wait_for(&e.user.email, "no longer asks for a second factor", 1)
        .await;
    assert!(mail.data.contains("administrator"), "{}", mail.data);
    assert!(!mail.data.contains(&e.secret));

    // The password alone signs in again; nothing is left.
    assert_eq!(
        app.login_raw(&e.user.username, &e.user.password)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        status(&app, &e.user.tokens.access).await,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    // Again: nothing to remove, nothing sent or audited; an unknown user is 404.
    let res = app
        .request(Method::DELETE, &path, Some(&admin.tokens.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(audit(&app, &user_id, "mfa_removed").await.len(), 1);
    assert_error(
        app.request(
            Method::DELETE,
            &format!("/admin/users/{}/mfa", uuid::Uuid::now_v7()),
            Some(&admin.tokens.access),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    app.flush_outbox().await;
    assert_eq!(
        sink.wait_for(&e.user.email, "no longer asks", 1).await.data,
        mail.data,
        "one message"
    );
}

#[tokio::test]
async fn the_user_removes_their_app_with_the_password() {
    let app = spawn_app().await;
    let e = enroll(&app, app.new_user().await).await;
    let access = e.user.tokens.access.clone();
    assert_error(
        app.request(
            Method::DELETE,
            "/auth/mfa/totp",
            Some(&access),
            Some(&json!({"password": "not the password"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_current_password",
    )
    .await;
    let res = app
        .request(
            Method::DELETE,
            "/auth/mfa/totp",
            Some(&access),
            Some(&json!({"password": e.user.password})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status(&app, &access).await,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0})
    );
    let removed = audit(&app, &e.user.id, "mfa_removed").await;
    assert_eq!(removed[0]["by"], "user");
    let res = app.login_raw(&e.user.username, &e.user.password).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(claims(&tokens(&body(res).await).access)["acr"], "aal1");
    // And a new app can be set up.
    enroll(&app, e.user).await;
}

#[tokio::test]
async fn the_secret_and_the_codes_never_come_back() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let e = enroll(&app, app.new_user().await).await;
    let strong = login_with_code(&app, &e).await;
    let mut answers = Vec::new();
    for (path, token) in [
        ("/auth/mfa", &strong.access),
        ("/profile", &strong.access),
        ("/auth/sessions", &strong.access),
        (
            &format!("/admin/users/{}", e.user.id) as &str,
            &admin.tokens.access,
        ),
        (
            &format!("/admin/audit?user_id={}", e.user.id),
            &admin.tokens.access,
        ),
    ] {
        let res = app.get(path, Some(token)).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        answers.push(res.text().await.unwrap());
    }
    let uri_secret = e
        .otpauth_uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    for text in &answers {
        assert!(!text.contains(&e.secret), "{text}");
        assert!(!text.contains(uri_secret));
        for code in &e.recovery_codes {
            assert!(!text.contains(code.as_str()), "{text}");
        }
    }
    // Not in the database in the clear either: sealed (AES-256-GCM), not base32 nor raw.
    let factors = app
        .sesame
        .store()
        .mfa_factors(uuid::Uuid::parse_str(&e.user.id).unwrap())
        .await
        .unwrap();
    let sealed = factors.totp.unwrap().secret;
    let raw = totp_rs::Secret::Encoded(e.secret.clone())
        .to_bytes()
        .unwrap();
    assert!(!sealed.0.windows(raw.len()).any(|w| w == raw.as_slice()));
    assert!(!format!("{sealed:?}").contains(&e.secret));
}

#[tokio::test]
async fn a_pending_enrollment_expires_and_wrong_confirmations_count_toward_the_lockout() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let access = user.tokens.access.clone();
    let started = begin(&app, &user).await;
    let secret = started["secret"].as_str().unwrap().to_string();
    // Fifteen minutes to confirm; then it must be started again.
    app.advance(15 * 60 + 1);
    assert_error(
        app.post_auth(
            "/auth/mfa/totp/confirm",
            &access,
            json!({"code": code_at(&secret, app.clock.now())}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "mfa_not_enrolled",
    )
    .await;

    // Whoever holds a stolen token gets the password's five guesses, not a million.
    let started = begin(&app, &user).await;
    let secret = started["secret"].as_str().unwrap().to_string();
    for _ in 0..5 {
        assert_error(
            app.post_auth(
                "/auth/mfa/totp/confirm",
                &access,
                json!({"code": wrong_code(&secret, app.clock.now())}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_mfa_code",
        )
        .await;
    }
    assert_error(
        app.post_auth(
            "/auth/mfa/totp/confirm",
            &access,
            json!({"code": code_at(&secret, app.clock.now())}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "account_locked",
    )
    .await;
    assert_error(
        app.login_raw(&user.username, &user.password).await,
        StatusCode::FORBIDDEN,
        "account_locked",
    )
    .await;
    let failed = audit(&app, &user.id, "mfa_failed").await;
    assert_eq!(failed.len(), 5);
    assert!(failed.iter().all(|f| f["via"] == "enrollment"));
    assert_eq!(status(&app, &access).await["totp"], false);
}
