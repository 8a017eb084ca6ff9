//! Webhooks (issue #20): endpoints administered over `/admin/webhooks`, events delivered to a
//! real HTTP receiver on 127.0.0.1 with Standard Webhooks signatures, retries driven by the
//! manual clock, 410 disabling an endpoint, and private targets refused at creation and again
//! at delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sesame_core::Clock;

use crate::helpers::*;
use crate::receiver::{Receiver, signed_with};

const ALL_EVENTS: [&str; 10] = [
    "user.created",
    "user.updated",
    "user.deleted",
    "user.disabled",
    "user.enabled",
    "user.roles_changed",
    "user.password_changed",
    "user.email_verified",
    "user.mfa_changed",
    "session.revoked",
];

/// An app whose webhooks may target the test's receiver on loopback.
async fn app_allowing_private(extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("SESAME_WEBHOOK_ALLOW_PRIVATE", "on")];
    env.extend_from_slice(extra);
    spawn_app_with(&env).await
}

#[derive(Debug)]
struct Hook {
    id: String,
    secret: String,
}

async fn subscribe(app: &TestApp, admin: &TestUser, url: &str, events: &[&str]) -> Hook {
    let res = app
        .post_auth(
            "/admin/webhooks",
            &admin.tokens.access,
            json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body(res).await;
    Hook {
        id: b["id"].as_str().expect("id").to_string(),
        secret: b["secret"].as_str().expect("secret").to_string(),
    }
}

async fn deliveries(app: &TestApp, admin: &TestUser, hook: &Hook) -> Vec<Value> {
    let path = format!("/admin/webhooks/{}/deliveries", hook.id);
    let res = app.get(&path, Some(&admin.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    body(res).await["deliveries"]
        .as_array()
        .expect("deliveries")
        .clone()
}

async fn webhooks(app: &TestApp, admin: &TestUser) -> Vec<Value> {
    let res = app.get("/admin/webhooks", Some(&admin.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    body(res).await["webhooks"]
        .as_array()
        .expect("webhooks")
        .clone()
}

/// The `session.revoked` reasons the receiver got for `user_id`, in order.
fn revocations(receiver: &Receiver, user_id: &str) -> Vec<(String, String)> {
    receiver
        .of("session.revoked")
        .iter()
        .map(|r| r.json()["data"].clone())
        .filter(|d| d["user_id"] == user_id)
        .map(|d| {
            (
                d["sid"].as_str().expect("sid").to_string(),
                d["reason"].as_str().expect("reason").to_string(),
            )
        })
        .collect()
}

fn sid(access: &str) -> String {
    jwt::part(access, 1)["sid"]
        .as_str()
        .expect("sid")
        .to_string()
}

#[tokio::test]
async fn webhooks_are_for_admins_only() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let id = uuid::Uuid::now_v7();
    let routes = [
        (Method::POST, "/admin/webhooks".to_string()),
        (Method::GET, "/admin/webhooks".to_string()),
        (Method::DELETE, format!("/admin/webhooks/{id}")),
        (Method::GET, format!("/admin/webhooks/{id}/deliveries")),
    ];
    let body = json!({"url": "https://93.184.215.14/hook", "events": ["user.created"]});
    for (m, path) in routes {
        let res = app.request(m.clone(), &path, None, Some(&body)).await;
        assert_error(res, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        let res = app
            .request(m, &path, Some(&user.tokens.access), Some(&body))
            .await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let admin = app.new_admin().await;
    assert!(webhooks(&app, &admin).await.is_empty());
}

#[tokio::test]
async fn webhooks_show_the_secret_once_and_list_without_it() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let res = app
        .post_auth(
            "/admin/webhooks",
            &admin.tokens.access,
            json!({"url": "https://93.184.215.14/hook", "events": ["user.created", "session.revoked", "user.created"]}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let created = body(res).await;
    let secret = created["secret"].as_str().unwrap();
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 key");
    assert_eq!(key.len(), 32);
    assert_eq!(created["url"], "https://93.184.215.14/hook");
    // Duplicates are dropped, the order kept.
    assert_eq!(
        created["events"],
        json!(["user.created", "session.revoked"])
    );
    assert!(created["created_at"].is_string());
    let id = created["id"].as_str().unwrap();

    let listed = body(app.get("/admin/webhooks", Some(&admin.tokens.access)).await).await;
    let text = listed.to_string();
    assert!(!text.contains(secret) && !text.contains("secret"), "{text}");
    assert_eq!(
        listed["webhooks"],
        json!([{
            "id": id, "url": "https://93.184.215.14/hook",
            "events": ["user.created", "session.revoked"],
            "status": "active", "created_at": created["created_at"],
        }])
    );
    // The audit trail records the change, without the secret.
    let audit = body(
        app.get(
            "/admin/audit?event=webhook_created",
            Some(&admin.tokens.access),
        )
        .await,
    )
    .await;
    assert_eq!(audit["events"][0]["detail"]["webhook_id"], id);
    assert!(!audit.to_string().contains(secret));

    let path = format!("/admin/webhooks/{id}");
    let res = app
        .request(Method::DELETE, &path, Some(&admin.tokens.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(webhooks(&app, &admin).await.is_empty());
    for path in [path.clone(), format!("{path}/deliveries")] {
        let method = if path.ends_with("deliveries") {
            Method::GET
        } else {
            Method::DELETE
        };
        let res = app
            .request(method, &path, Some(&admin.tokens.access), None)
            .await;
        assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let res = app
        .request(
            Method::DELETE,
            "/admin/webhooks/not-an-id",
            Some(&admin.tokens.access),
            None,
        )
        .await;
    assert_error(res, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test]
async fn webhook_urls_and_events_are_validated() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let ok_url = "https://93.184.215.14/hook";
    let cases = [
        (json!({"events": ["user.created"]}), "url"),
        (json!({"url": ok_url}), "events"),
        (json!({"url": ok_url, "events": []}), "events"),
        (
            json!({"url": ok_url, "events": ["user.created", "user.exploded"]}),
            "events",
        ),
        (
            json!({"url": ok_url, "events": ["login_succeeded"]}),
            "events",
        ),
        (
            json!({"url": "not a url", "events": ["user.created"]}),
            "url",
        ),
        (
            json!({"url": "ftp://93.184.215.14/hook", "events": ["user.created"]}),
            "url",
        ),
        (
            json!({"url": "https://user:pw@93.184.215.14/hook", "events": ["user.created"]}),
            "url",
        ),
        (
            json!({"url": "https://93.184.215.14/hook#x", "events": ["user.created"]}),
            "url",
        ),
        // Plain http is for a private receiver with the setting on, not for the internet.
        (
            json!({"url": "http://93.184.215.14/hook", "events": ["user.created"]}),
            "url",
        ),
    ];
    for (request, field) in cases {
        let res = app
            .post_auth("/admin/webhooks", &admin.tokens.access, request.clone())
            .await;
        let b = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(b["fields"][field].is_array(), "{request}: {b}");
    }
    let res = app
        .post_auth("/admin/webhooks", &admin.tokens.access, json!({"url": 5}))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(webhooks(&app, &admin).await.is_empty());
}

#[tokio::test]
async fn private_targets_are_refused_at_creation_unless_allowed() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    for url in [
        "https://127.0.0.1/hook",
        "https://127.1.2.3:8443/hook",
        "https://10.0.0.7/hook",
        "https://172.16.5.4/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://224.0.0.1/hook",
        // A name is resolved: localhost is loopback.
        "https://localhost:9443/hook",
        "http://127.0.0.1:8080/hook",
    ] {
        let res = app
            .post_auth(
                "/admin/webhooks",
                &admin.tokens.access,
                json!({"url": url, "events": ["user.created"]}),
            )
            .await;
        let b = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(b["fields"]["url"].is_array(), "{url}: {b}");
    }
    assert!(webhooks(&app, &admin).await.is_empty());

    let app = app_allowing_private(&[]).await;
    let admin = app.new_admin().await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "https://localhost:9443/hook",
        "http://[::1]:8080/hook",
    ] {
        subscribe(&app, &admin, url, &["user.created"]).await;
    }
    assert_eq!(webhooks(&app, &admin).await.len(), 3);
}

#[tokio::test]
async fn webhooks_deliver_signed_events_of_users_and_sessions() {
    let app = app_allowing_private(&[]).await;
    let admin = app.new_admin().await;
    let receiver = Receiver::start().await;
    let hook = subscribe(&app, &admin, &receiver.url, &ALL_EVENTS).await;

    let user = app.new_user().await;
    app.flush_webhooks().await;
    let created = receiver.of("user.created");
    assert_eq!(created.len(), 1);
    let r = &created[0];
    assert!(signed_with(r, &hook.secret), "{:?}", r.headers);
    assert_eq!(r.header("content-type"), "application/json");
    let payload = r.json();
    assert_eq!(payload["data"], json!({"user_id": user.id}));
    let at = chrono::DateTime::parse_from_rfc3339(payload["timestamp"].as_str().unwrap())
        .expect("an RFC 3339 timestamp");
    assert!((at.timestamp() - app.clock.now().timestamp()).abs() <= 1);
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert!((ts - app.clock.now().timestamp()).abs() <= 1);
    // Never a secret or a hash: only ids (and for sessions, the reason).
    assert!(!r.body.contains("argon2") && !r.body.contains(&user.email));

    // Logout ends the session: session.revoked with its sid.
    let res = app
        .post("/auth/logout", json!({"refresh": user.tokens.refresh}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.flush_webhooks().await;
    assert_eq!(
        revocations(&receiver, &user.id),
        [(sid(&user.tokens.access), "logout".to_string())]
    );

    // An admin disables and enables, changes roles; the profile changes.
    let again = app.login(&user.username, PASSWORD).await;
    let path = format!("/admin/users/{}", user.id);
    for disabled in [true, false] {
        let res = app
            .request(
                Method::PATCH,
                &path,
                Some(&admin.tokens.access),
                Some(&json!({"disabled": disabled})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = app
        .request(
            Method::PUT,
            &format!("{path}/roles"),
            Some(&admin.tokens.access),
            Some(&json!({"roles": ["customer", "editor"]})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh = app.login(&user.username, PASSWORD).await;
    let res = app
        .request(
            Method::PUT,
            "/profile",
            Some(&fresh.access),
            Some(&json!({"display_name": "Ada"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The same again changes nothing, so it says nothing.
    let res = app
        .request(
            Method::PUT,
            "/profile",
            Some(&fresh.access),
            Some(&json!({"display_name": "Ada"})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.flush_webhooks().await;

    // A round's deliveries are attempted side by side: they arrive in any order.
    let mut kinds: Vec<String> = receiver.received().iter().map(|r| r.event()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "session.revoked",
            "session.revoked",
            "user.created",
            "user.disabled",
            "user.enabled",
            "user.roles_changed",
            "user.updated",
        ]
    );
    assert_eq!(
        revocations(&receiver, &user.id)[1],
        (sid(&again.access), "user_disabled".to_string())
    );
    for r in receiver.received() {
        assert!(signed_with(&r, &hook.secret), "{}", r.body);
        assert_eq!(r.json()["data"]["user_id"], user.id);
    }

    // The deliveries list shows each, delivered on the first attempt, ids = webhook-id.
    let listed = deliveries(&app, &admin, &hook).await;
    assert_eq!(listed.len(), 7);
    assert_eq!(listed[0]["event"], "user.updated", "newest first");
    for d in &listed {
        assert_eq!(d["status"], "delivered");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["response_status"], 204);
        assert!(d["last_attempt_at"].is_string());
        assert!(d["last_error"].is_null());
    }
    let mut ids: Vec<&str> = listed.iter().map(|d| d["id"].as_str().unwrap()).collect();
    ids.sort();
    let received = receiver.received();
    let mut sent: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
    sent.sort();
    assert_eq!(ids, sent);

    // Metrics: attempts by outcome, and the backlog (empty).
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("sesame_webhook_deliveries_total{outcome=\"delivered\"} 7"),
        "{metrics}"
    );
    assert!(metrics.contains("sesame_webhook_backlog 0"), "{metrics}");
}

#[tokio::test]
async fn every_way_a_session_ends_is_a_session_revoked_with_its_reason() {
    let (app, sink) = crate::email::app_with_sink(&[("SESAME_WEBHOOK_ALLOW_PRIVATE", "on")]).await;
    let admin = app.new_admin().await;
    let receiver = Receiver::start().await;
    subscribe(&app, &admin, &receiver.url, &ALL_EVENTS).await;
    let user = app.new_user().await;
    let second = app.login(&user.username, PASSWORD).await;
    let third = app.login(&user.username, PASSWORD).await;

    // One session by id, then every other one. (Flushed after each change: the deliveries of
    // one round arrive in any order.)
    let path = format!("/auth/sessions/{}", sid(&second.access));
    let res = app
        .request(Method::DELETE, &path, Some(&third.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.flush_webhooks().await;
    let res = app
        .post_auth("/auth/logout/all", &third.access, json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.flush_webhooks().await;
    let mut got = revocations(&receiver, &user.id);
    let all = got.split_off(1);
    assert_eq!(got, [(sid(&second.access), "logout".to_string())]);
    let mut all_sids: Vec<_> = all.iter().map(|(s, _)| s.clone()).collect();
    all_sids.sort();
    let mut want = vec![sid(&user.tokens.access), sid(&third.access)];
    want.sort();
    assert_eq!(all_sids, want);
    assert!(all.iter().all(|(_, r)| r == "logout_all"), "{all:?}");

    // A spent refresh token presented again after the grace window.
    let t = app.login(&user.username, PASSWORD).await;
    let res = app.refresh_raw(&t.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    app.advance(60);
    assert_eq!(
        app.refresh_raw(&t.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.flush_webhooks().await;
    // A password change ends the other sessions.
    let other = app.login(&user.username, PASSWORD).await;
    let current = app.login(&user.username, PASSWORD).await;
    let new_password = "a brand new passphrase 7";
    let res = app
        .post_auth(
            "/auth/password",
            &current.access,
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.flush_webhooks().await;
    // A reset ends every session.
    let res = app
        .post("/auth/password/forgot", json!({"email": user.email}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let token = sink
        .wait_for(&user.email, "Reset", 1)
        .await
        .token("/reset-password");
    let res = app
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": "yet another passphrase 8"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.flush_webhooks().await;
    let got: Vec<_> = revocations(&receiver, &user.id).split_off(3);
    assert_eq!(
        got,
        [
            (sid(&t.access), "refresh_token_reused".to_string()),
            (sid(&other.access), "password_changed".to_string()),
            (sid(&current.access), "password_reset".to_string()),
        ]
    );
    assert_eq!(receiver.of("user.password_changed").len(), 2);

    // An admin ends the sessions, then deletes the user (with a live session).
    let password = "yet another passphrase 8";
    let a = app.login(&user.username, password).await;
    let path = format!("/admin/users/{}/sessions", user.id);
    let res = app
        .request(Method::DELETE, &path, Some(&admin.tokens.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.flush_webhooks().await;
    let b = app.login(&user.username, password).await;
    let path = format!("/admin/users/{}", user.id);
    let res = app
        .request(Method::DELETE, &path, Some(&admin.tokens.access), None)
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.flush_webhooks().await;
    let got: Vec<_> = revocations(&receiver, &user.id).split_off(6);
    assert_eq!(
        got,
        [
            (sid(&a.access), "admin".to_string()),
            (sid(&b.access), "user_deleted".to_string()),
        ]
    );
    assert_eq!(receiver.of("user.deleted").len(), 1);
}

#[tokio::test]
async fn email_verification_and_self_deletion_are_delivered() {
    let (app, sink) = crate::email::app_with_sink(&[("SESAME_WEBHOOK_ALLOW_PRIVATE", "on")]).await;
    let admin = app.new_admin().await;
    let receiver = Receiver::start().await;
    subscribe(&app, &admin, &receiver.url, &ALL_EVENTS).await;
    let user = app.new_user().await;
    let token = sink
        .wait_for(&user.email, "Verify", 1)
        .await
        .token("/verify-email");
    let res = app
        .post("/auth/email/verify", json!({"token": token}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.flush_webhooks().await;
    // The address did not change: verified, not updated.
    assert_eq!(receiver.of("user.email_verified").len(), 1);
    assert!(receiver.of("user.updated").is_empty());

    // A proven change of address is both.
    let new_email = format!("{}@example.org", unique("moved"));
    let res = app
        .request(
            Method::PUT,
            "/profile",
            Some(&user.tokens.access),
            Some(&json!({"email": new_email, "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let token = sink
        .wait_for(&new_email, "Verify", 1)
        .await
        .token("/verify-email");
    let res = app
        .post("/auth/email/verify", json!({"token": token}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.flush_webhooks().await;
    assert_eq!(receiver.of("user.email_verified").len(), 2);
    assert_eq!(receiver.of("user.updated").len(), 1);

    let res = app
        .request(
            Method::DELETE,
            "/profile",
            Some(&user.tokens.access),
            Some(&json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.flush_webhooks().await;
    assert_eq!(receiver.of("user.deleted").len(), 1);
    assert_eq!(
        revocations(&receiver, &user.id),
        [(sid(&user.tokens.access), "user_deleted".to_string())]
    );
}

// Issue #19: changes to a user's second factors are `user.mfa_changed`; sign-ins that use one
// (a code, a recovery code, a wrong code) are attempts and send nothing.
#[tokio::test]
async fn second_factor_changes_are_delivered_as_user_mfa_changed_and_their_use_is_not() {
    let app = app_allowing_private(&[]).await;
    let admin = app.new_admin().await;
    let receiver = Receiver::start().await;
    subscribe(&app, &admin, &receiver.url, &ALL_EVENTS).await;
    let e = crate::mfa::enroll(&app, app.new_user().await).await;
    app.flush_webhooks().await;
    let changes = |r: &Receiver| {
        r.of("user.mfa_changed")
            .iter()
            .map(|d| d.json()["data"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        changes(&receiver),
        [json!({"user_id": e.user.id})],
        "enrolled"
    );

    let res = app
        .post_auth(
            "/auth/mfa/recovery-codes",
            &e.user.tokens.access,
            json!({"password": e.user.password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.flush_webhooks().await;
    assert_eq!(changes(&receiver).len(), 2, "a new set of recovery codes");

    // Signing in with the factor, wrongly then rightly, changes nothing about it.
    let mfa_token = |b: Value| b["mfa_token"].as_str().expect("mfa_token").to_string();
    let token = mfa_token(body(app.login_raw(&e.user.username, &e.user.password).await).await);
    let wrong = crate::mfa::wrong_code(&e.secret, app.clock.now());
    let res = app
        .post(
            "/auth/mfa/verify",
            json!({"mfa_token": token, "code": wrong}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .post(
            "/auth/mfa/verify",
            json!({"mfa_token": token, "code": e.code(&app)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.flush_webhooks().await;
    assert_eq!(changes(&receiver).len(), 2, "a sign-in is no change");

    let res = app
        .request(
            Method::DELETE,
            &format!("/admin/users/{}/mfa", e.user.id),
            Some(&admin.tokens.access),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    app.flush_webhooks().await;
    assert_eq!(changes(&receiver).len(), 3, "an admin's removal");
}

#[tokio::test]
async fn an_endpoint_gets_only_the_events_it_subscribed_to() {
    let app = app_allowing_private(&[]).await;
    let admin = app.new_admin().await;
    let sessions_only = Receiver::start().await;
    let users_only = Receiver::start().await;
    subscribe(&app, &admin, &sessions_only.url, &["session.revoked"]).await;
    subscribe(&app, &admin, &users_only.url, &["user.created"]).await;
    let user = app.new_user().await;
    let res = app
        .post("/auth/logout", json!({"refresh": user.tokens.refresh}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.flush_webhooks().await;
    let kinds = |r: &Receiver| r.received().iter().map(|r| r.event()).collect::<Vec<_>>();
    assert_eq!(kinds(&sessions_only), ["session.revoked"]);
    assert_eq!(kinds(&users_only), ["user.created"]);
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_with_backoff_for_24_hours() {
    let app = app_allowing_private(&[]).await;
    let admin = app.new_admin().await;
    let receiver = Receiver::answering(500).await;
    let hook = subscribe(&app, &admin, &receiver.url, &["user.created"]).await;
    app.new_user().await;
    app.flush_webhooks().await;
    let d = &deliveries(&app, &admin, &hook).await[0];
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempts"], 1);
    assert_eq!(d["response_status"], 500);
    assert!(d["last_attempt_at"].is_string());

    // Not due yet: nothing is sent before the backoff has passed.
    app.flush_webhooks().await;
    assert_eq!(receiver.received().len(), 1);
    // The first retry within 5 s, then twice the wait each time.
    app.advance(5);
    app.flush_webhooks().await;
    assert_eq!(receiver.received().len(), 2);
    app.advance(9);
    app.flush_webhooks().await;
    assert_eq!(receiver.received().len(), 2, "the second retry waits 10 s");
    app.advance(1);
    app.flush_webhooks().await;
    assert_eq!(receiver.received().len(), 3);
    let d = &deliveries(&app, &admin, &hook).await[0];
    assert_eq!(
        (d["status"].as_str(), d["attempts"].as_u64()),
        (Some("pending"), Some(3))
    );

    // A retry after the receiver recovers delivers, with the same webhook-id throughout.
    receiver.answer(200);
    app.advance(20);
    app.flush_webhooks().await;
    let got = receiver.received();
    assert_eq!(got.len(), 4);
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == got[0].header("webhook-id"))
    );
    assert!(got.iter().all(|r| r.body == got[0].body));
    let d = &deliveries(&app, &admin, &hook).await[0];
    assert_eq!(d["status"], "delivered");
    assert_eq!(d["attempts"], 4);
    assert_eq!(d["response_status"], 200);
    assert_eq!(d["id"], got[0].header("webhook-id"));

    // Another event, never accepted: retried until 24 h after it, then failed.
    receiver.answer(503);
    app.new_user().await;
    app.flush_webhooks().await;
    let mut attempts = 1;
    let mut admin = admin;
    for _ in 0..40 {
        app.advance(3600);
        app.flush_webhooks().await;
        // A new login: the admin's access token lives 15 minutes.
        admin.tokens = app.login(&admin.username, PASSWORD).await;
        let d = &deliveries(&app, &admin, &hook).await[0];
        attempts = d["attempts"].as_u64().unwrap();
        if d["status"] != "pending" {
            break;
        }
    }
    let d = &deliveries(&app, &admin, &hook).await[0];
    assert_eq!(d["status"], "failed");
    assert_eq!(d["response_status"], 503);
    assert!(attempts > 10, "{attempts} attempts in 24 h");
    let sent = receiver.received().len();
    app.advance(3600);
    app.flush_webhooks().await;
    assert_eq!(
        receiver.received().len(),
        sent,
        "a failed delivery is not retried"
    );
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains("sesame_webhook_deliveries_total{outcome=\"failed\"} 1"));
    assert!(metrics.contains("sesame_webhook_deliveries_total{outcome=\"retry\"}"));
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_a_page_at_a_time() {
    let app = app_allowing_private(&[]).await;
    let admin = app.new_admin().await;
    let receiver = Receiver::start().await;
    let hook = subscribe(&app, &admin, &receiver.url, &["user.created"]).await;
    for _ in 0..3 {
        app.new_user().await;
    }
    app.flush_webhooks().await;
    let path = format!("/admin/webhooks/{}/deliveries", hook.id);
    let first = body(
        app.get(&format!("{path}?limit=2"), Some(&admin.tokens.access))
            .await,
    )
    .await;
    assert_eq!(first["deliveries"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = body(
        app.get(
            &format!("{path}?limit=2&cursor={cursor}"),
            Some(&admin.tokens.access),
        )
        .await,
    )
    .await;
    assert_eq!(second["deliveries"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    let all = deliveries(&app, &admin, &hook).await;
    let ids: Vec<&Value> = first["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["deliveries"].as_array().unwrap())
        .map(|d| &d["id"])
        .collect();
    assert_eq!(ids, all.iter().map(|d| &d["id"]).collect::<Vec<_>>());
    assert!(
        all[0]["id"].as_str() > all[2]["id"].as_str(),
        "newest first"
    );
    for bad in ["?limit=0", "?limit=201", "?cursor=nope"] {
        let res = app
            .get(&format!("{path}{bad}"), Some(&admin.tokens.access))
            .await;
        assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
}

#[tokio::test]
async fn a_410_disables_the_endpoint() {
    let app = app_allowing_private(&[]).await;
    let admin = app.new_admin().await;
    let gone = Receiver::answering(410).await;
    let fine = Receiver::start().await;
    let hook = subscribe(
        &app,
        &admin,
        &gone.url,
        &["user.created", "session.revoked"],
    )
    .await;
    subscribe(&app, &admin, &fine.url, &["user.created"]).await;
    let user = app.new_user().await;
    app.flush_webhooks().await;
    assert_eq!(gone.received().len(), 1);
    let listed = webhooks(&app, &admin).await;
    let status: Vec<&str> = listed
        .iter()
        .map(|w| w["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["disabled", "active"]);
    let d = &deliveries(&app, &admin, &hook).await[0];
    assert_eq!(d["status"], "disabled");
    assert_eq!(d["response_status"], 410);

    // Nothing more goes to it; the other endpoint carries on.
    let res = app
        .post("/auth/logout", json!({"refresh": user.tokens.refresh}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    app.new_user().await;
    app.flush_webhooks().await;
    app.advance(3600);
    app.flush_webhooks().await;
    assert_eq!(gone.received().len(), 1);
    assert_eq!(fine.received().len(), 2);
    let admin = TestUser {
        tokens: app.login(&admin.username, PASSWORD).await,
        ..admin
    };
    assert_eq!(deliveries(&app, &admin, &hook).await.len(), 1);
    let audit = body(
        app.get(
            "/admin/audit?event=webhook_disabled",
            Some(&admin.tokens.access),
        )
        .await,
    )
    .await;
    assert_eq!(audit["events"][0]["detail"]["webhook_id"], hook.id);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(metrics.contains("sesame_webhook_deliveries_total{outcome=\"disabled\"} 1"));
}

/// A TCP listener on 127.0.0.1 that counts connections and closes them: it shows whether
/// Sesame connected at all.
async fn connection_counter() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, count)
}

/// An endpoint stored as it would be had its name resolved to a public address when it was
/// created: the store takes it as it is, without the creation check.
async fn store_endpoint(app: &TestApp, url: &str) -> Hook {
    use sesame_core::store::{NewWebhookEndpoint, WebhookEndpoint, WebhookStatus};
    let id = uuid::Uuid::now_v7();
    let endpoint = NewWebhookEndpoint {
        endpoint: WebhookEndpoint {
            id,
            url: url.to_string(),
            events: vec!["user.created".to_string()],
            status: WebhookStatus::Active,
            created_at: app.clock.now(),
        },
        secret: sesame_core::secret::secret_bytes(vec![7; 32]),
    };
    app.sesame
        .store()
        .create_webhook(&endpoint, &[])
        .await
        .expect("stored");
    Hook {
        id: id.to_string(),
        secret: String::new(),
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_at_delivery() {
    // `localhost` now resolves to loopback: with the setting off, Sesame does not connect.
    let (port, connections) = connection_counter().await;
    let url = format!("https://localhost:{port}/hook");
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let hook = store_endpoint(&app, &url).await;
    app.new_user().await;
    app.flush_webhooks().await;
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "no connection was made"
    );
    let d = &deliveries(&app, &admin, &hook).await[0];
    assert_eq!(
        d["status"], "pending",
        "retried later: names may resolve elsewhere then"
    );
    assert_eq!(d["attempts"], 1);
    assert!(d["response_status"].is_null());
    let error = d["last_error"].as_str().unwrap();
    assert!(error.contains("not a public address"), "{error}");

    // The same endpoint with the setting on: Sesame does connect (the check above is what
    // stopped it, not the address).
    let app = app_allowing_private(&[]).await;
    let admin = app.new_admin().await;
    let hook = store_endpoint(&app, &url).await;
    app.new_user().await;
    app.flush_webhooks().await;
    assert!(connections.load(Ordering::SeqCst) > 0);
    let d = &deliveries(&app, &admin, &hook).await[0];
    assert_eq!(d["status"], "pending");
    assert!(
        !d["last_error"]
            .as_str()
            .unwrap()
            .contains("not a public address")
    );
}

#[tokio::test]
async fn literal_private_addresses_and_plain_http_are_refused_at_delivery() {
    let (port, connections) = connection_counter().await;
    let app = spawn_app().await;
    let admin = app.new_admin().await;
    let literal = store_endpoint(&app, &format!("https://127.0.0.1:{port}/hook")).await;
    let http = store_endpoint(&app, &format!("http://127.0.0.1:{port}/hook")).await;
    app.new_user().await;
    app.flush_webhooks().await;
    assert_eq!(connections.load(Ordering::SeqCst), 0);
    for hook in [literal, http] {
        let d = &deliveries(&app, &admin, &hook).await[0];
        assert_eq!(d["attempts"], 1);
        assert!(
            d["last_error"].as_str().unwrap().starts_with("refused"),
            "{d}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_webhook_endpoints() {
    let app = spawn_app().await;
    let doc = body(app.get("/openapi.json", None).await).await;
    let paths = &doc["paths"];
    for (path, method) in [
        ("/admin/webhooks", "post"),
        ("/admin/webhooks", "get"),
        ("/admin/webhooks/{id}", "delete"),
        ("/admin/webhooks/{id}/deliveries", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    let created = &doc["components"]["schemas"]["CreatedWebhookView"]["properties"];
    assert!(created["secret"].is_object());
    let listed = &doc["components"]["schemas"]["WebhookView"]["properties"];
    assert!(listed.get("secret").is_none());
}
