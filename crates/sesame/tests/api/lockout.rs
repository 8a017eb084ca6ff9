//! Lockout: concurrent guesses, a lock per source that leaves the owner a way in, the
//! account-wide lock, wrong current passwords, and the audit of unknown login names
//! (docs/security.md, "Lockout"; security review findings 2, 3 and 7).

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const WRONG: &str = "wrong password here";

/// An app that believes `X-Forwarded-For` from loopback, so a test can speak from any address.
async fn app_behind_proxy() -> TestApp {
    spawn_app_with(&[("SESAME_TRUSTED_PROXIES", "127.0.0.0/8,::1")]).await
}

async fn login_from(app: &TestApp, ip: &str, login: &str, password: &str) -> Response {
    app.client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({"username": login, "password": password}))
        .send()
        .await
        .expect("request sent")
}

fn retry_after(res: &Response) -> u64 {
    res.headers()
        .get("retry-after")
        .expect("Retry-After on a lockout")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is seconds")
}

/// 403 `account_locked` with a `Retry-After` of at most the lockout duration.
async fn assert_locked(res: Response) {
    let secs = retry_after(&res);
    assert!((1..=900).contains(&secs), "Retry-After {secs}");
    assert_error(res, StatusCode::FORBIDDEN, "account_locked").await;
}

async fn audit(app: &TestApp, user_id: Option<&str>, event: &str) -> Vec<Value> {
    let page = app
        .sesame
        .admin()
        .audit_trail(
            user_id.map(|id| uuid::Uuid::parse_str(id).unwrap()),
            Some(event.to_string()),
            Some(200),
            None,
        )
        .await
        .unwrap();
    page.items.into_iter().map(|e| e.detail).collect()
}

async fn user_detail(app: &TestApp, admin: &TestUser, id: &str) -> Value {
    let res = app
        .get(&format!("/admin/users/{id}"), Some(&admin.tokens.access))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    body(res).await
}

// ---- concurrent guesses (finding 2) ---------------------------------------------------------

/// Default argon2 cost (hashes slow enough to overlap), no rate limit: 30 wrong passwords at
/// once, and the right one while they are being checked. Before the fix every request admitted
/// before the 5th recorded failure had its password checked, and a right password in flight
/// cleared the lock.
#[tokio::test]
async fn concurrent_guesses_check_at_most_max_failures_and_the_right_one_is_refused() {
    let app = spawn_app_with(&[
        ("SESAME_ARGON2_MEMORY_KIB", "19456"),
        ("SESAME_ARGON2_ITERATIONS", "2"),
        ("SESAME_RATE_LIMIT", "off"),
    ])
    .await;
    let user = app.new_user().await;
    let send = |password: &'static str| {
        let request = app
            .client
            .post(app.url("/auth/login"))
            .json(&json!({"username": user.username, "password": password}));
        async move {
            let res = request.send().await.expect("request sent");
            let status = res.status();
            let has_retry_after = res.headers().contains_key("retry-after");
            let code = body(res).await["code"].as_str().unwrap_or("").to_string();
            (status, code, has_retry_after)
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..30 {
        let tx = tx.clone();
        let attempt = send(WRONG);
        tokio::spawn(async move {
            let _ = tx.send(attempt.await);
        });
    }
    // The right password goes out once the first guess was refused — when, with the fix, the
    // source's budget is taken by guesses still being hashed — or after all of them.
    let mut answers = Vec::new();
    let mut right = None;
    while answers.len() < 30 {
        let answer = rx.recv().await.expect("an answer");
        let refused = answer.0 == StatusCode::FORBIDDEN;
        answers.push(answer);
        if right.is_none() && (refused || answers.len() == 30) {
            right = Some(tokio::spawn(send(PASSWORD)));
        }
    }
    let (status, code, has_retry_after) = right.unwrap().await.unwrap();

    let checked = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    assert!(
        (1..=5).contains(&checked),
        "at most max_failures passwords checked, got {checked}: {answers:?}"
    );
    for (s, code, retry) in &answers {
        assert!(
            *s == StatusCode::UNAUTHORIZED
                || (*s == StatusCode::FORBIDDEN && code == "account_locked" && *retry),
            "{answers:?}"
        );
    }
    assert_eq!(
        (status, code.as_str(), has_retry_after),
        (StatusCode::FORBIDDEN, "account_locked", true),
        "the right password after the guesses is refused"
    );
    let failed = audit(&app, Some(&user.id), "login_failed").await;
    assert!(failed.len() <= 5, "{failed:?}");
    let record = app
        .sesame
        .admin()
        .get_user(uuid::Uuid::parse_str(&user.id).unwrap())
        .await
        .unwrap();
    assert!(record.failed_logins <= 5);
    assert!(record.locked_until.is_some());
    assert!(app.sesame.attempt_gates().is_empty(), "every attempt ended");
    // And the lock holds afterwards.
    assert_locked(app.login_raw(&user.username, PASSWORD).await).await;
}

// ---- a lock per source (finding 3) ----------------------------------------------------------

#[tokio::test]
async fn the_guessers_source_is_locked_and_the_owner_elsewhere_gets_in() {
    let app = app_behind_proxy().await;
    let boss = app.new_admin().await;
    let user = app.new_user().await;
    let attacker = "203.0.113.66";
    for i in 1..=5 {
        let res = login_from(&app, attacker, &user.username, WRONG).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "failure {i}");
    }
    // The attacker stays locked, even with the right password, by username or email.
    assert_locked(login_from(&app, attacker, &user.username, PASSWORD).await).await;
    assert_locked(login_from(&app, attacker, &user.email, PASSWORD).await).await;

    // The owner, from another address (a new one as well as a known one), gets in.
    let res = login_from(&app, "198.51.100.20", &user.username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK
    );
    // ... which does not unlock the attacker.
    assert_locked(login_from(&app, attacker, &user.username, PASSWORD).await).await;

    // Admins see the lock and the count of the locked source.
    let d = user_detail(&app, &boss, &user.id).await;
    assert!(d["locked_until"].is_string(), "{d}");
    assert_eq!(d["failed_logins"], 5, "{d}");
    let locked = audit(&app, Some(&user.id), "account_locked").await;
    assert_eq!(locked.len(), 1, "{locked:?}");
    assert_eq!(locked[0]["scope"], "source");
    assert_eq!(locked[0]["source"], attacker);

    // An admin unlock clears it.
    let res = app
        .request(
            Method::POST,
            &format!("/admin/users/{}/unlock", user.id),
            Some(&boss.tokens.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = login_from(&app, attacker, &user.username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_ipv6_guesser_is_one_source_per_slash_64() {
    let app = app_behind_proxy().await;
    let user = app.new_user().await;
    for i in 1..=5 {
        // A different address of the same /64 each time.
        let ip = format!("2001:db8:0:66::{i}");
        let res = login_from(&app, &ip, &user.username, WRONG).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert_locked(login_from(&app, "2001:db8:0:66:ffff::1", &user.username, PASSWORD).await).await;
    let res = login_from(&app, "2001:db8:0:67::1", &user.username, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the next /64 is another source"
    );
}

#[tokio::test]
async fn guesses_from_many_sources_lock_the_account_but_not_for_the_owners_known_source() {
    let app = app_behind_proxy().await;
    let boss = app.new_admin().await;
    // The owner signed in from 127.0.0.1 when created: a known source.
    let user = app.new_user().await;
    for n in 1..=4 {
        let ip = format!("192.0.2.{n}");
        for _ in 0..5 {
            let res = login_from(&app, &ip, &user.username, WRONG).await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
    }
    // 4 x 5 wrong passwords from any sources: a fresh source is refused without a check...
    assert_locked(login_from(&app, "192.0.2.200", &user.username, PASSWORD).await).await;
    let locked = audit(&app, Some(&user.id), "account_locked").await;
    assert!(locked.iter().any(|d| d["scope"] == "account"), "{locked:?}");
    // ... the owner's known source still gets in.
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_locked(login_from(&app, "192.0.2.200", &user.username, PASSWORD).await).await;
    // An admin unlock ends the account-wide lock too.
    let res = app
        .request(
            Method::POST,
            &format!("/admin/users/{}/unlock", user.id),
            Some(&boss.tokens.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = login_from(&app, "192.0.2.200", &user.username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

// ---- wrong current passwords count (finding 7) ----------------------------------------------

async fn change_password(app: &TestApp, user: &TestUser, current: &str) -> Response {
    app.post_auth(
        "/auth/password",
        &user.tokens.access,
        json!({"current_password": current, "new_password": "a new passphrase 1234"}),
    )
    .await
}

async fn change_email(app: &TestApp, user: &TestUser, current: &str) -> Response {
    app.request(
        Method::PUT,
        "/profile",
        Some(&user.tokens.access),
        Some(&json!({"email": format!("{}@example.org", unique("moved")), "current_password": current})),
    )
    .await
}

async fn delete_account(app: &TestApp, user: &TestUser, current: &str) -> Response {
    app.request(
        Method::DELETE,
        "/profile",
        Some(&user.tokens.access),
        Some(&json!({"password": current})),
    )
    .await
}

/// Five wrong current passwords lock login (and the endpoint itself), even with the right one.
macro_rules! wrong_current_password_counts {
    ($name:ident, $call:ident) => {
        #[tokio::test]
        async fn $name() {
            let app = spawn_app().await;
            let user = app.new_user().await;
            for i in 1..=5 {
                let res = $call(&app, &user, WRONG).await;
                assert_eq!(res.status(), StatusCode::BAD_REQUEST, "attempt {i}");
                assert_eq!(body(res).await["code"], "invalid_current_password");
            }
            assert_locked(app.login_raw(&user.username, PASSWORD).await).await;
            // The right current password is not checked either while the lock holds.
            assert_locked($call(&app, &user, PASSWORD).await).await;
            let failed = audit(&app, Some(&user.id), "login_failed").await;
            assert_eq!(failed.len(), 5, "{failed:?}");
            // After the lock the account works again, nothing changed meanwhile.
            app.advance(15 * 60 + 1);
            assert_eq!(
                app.login_raw(&user.username, PASSWORD).await.status(),
                StatusCode::OK
            );
        }
    };
}

wrong_current_password_counts!(
    wrong_current_passwords_of_password_changes_count_toward_the_lockout,
    change_password
);
wrong_current_password_counts!(
    wrong_current_passwords_of_email_changes_count_toward_the_lockout,
    change_email
);
wrong_current_password_counts!(
    wrong_passwords_of_account_deletions_count_toward_the_lockout,
    delete_account
);

#[tokio::test]
async fn wrong_passwords_count_across_login_and_current_password_checks() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for _ in 0..2 {
        assert_eq!(
            change_password(&app, &user, WRONG).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        delete_account(&app, &user, WRONG).await.status(),
        StatusCode::BAD_REQUEST
    );
    for _ in 0..2 {
        assert_eq!(
            app.login_raw(&user.username, WRONG).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_locked(app.login_raw(&user.username, PASSWORD).await).await;
}

#[tokio::test]
async fn a_right_current_password_restarts_the_count() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    for _ in 0..4 {
        assert_eq!(
            change_email(&app, &user, WRONG).await.status(),
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        change_email(&app, &user, PASSWORD).await.status(),
        StatusCode::OK
    );
    for _ in 0..4 {
        assert_eq!(
            app.login_raw(&user.username, WRONG).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK,
        "4 + 4 failures around a success do not lock"
    );
}

// ---- info: what login_failed keeps of an unknown name --------------------------------------

#[tokio::test]
async fn login_failed_keeps_a_keyed_hash_of_an_unknown_name_never_the_text() {
    let app = spawn_app().await;
    // Someone typed their password into the name field.
    let typed = "My.Secret.Passphrase-2024";
    for _ in 0..2 {
        let res = app.login_raw(typed, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    app.login_raw("another.name", PASSWORD).await;
    let failed = audit(&app, None, "login_failed").await;
    assert_eq!(failed.len(), 3, "{failed:?}");
    for d in &failed {
        let shown = d.to_string();
        assert!(
            !shown.to_lowercase().contains("secret.passphrase") && !shown.contains("another.name"),
            "{shown}"
        );
        assert_eq!(d["reason"], "unknown_account");
        assert!(d.get("login").is_none(), "{shown}");
        assert_eq!(d["login_hmac"].as_str().map(str::len), Some(32), "{shown}");
    }
    // Newest first: the same name gives the same hash, another name another one.
    assert_eq!(failed[1]["login_hmac"], failed[2]["login_hmac"]);
    assert_ne!(failed[0]["login_hmac"], failed[1]["login_hmac"]);
}
