//! Administration: role guard, users, roles, sessions, keys, audit trail; also rate limiting,
//! metrics and the client IP behind trusted proxies.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn admin(app: &TestApp) -> TestUser {
    app.new_admin().await
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> reqwest::Response {
    app.request(method, path, Some(token), body.as_ref()).await
}

#[tokio::test]
async fn admin_routes_need_a_token_and_the_admin_role() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let routes = [
        (Method::GET, "/admin/users".to_string()),
        (Method::GET, format!("/admin/users/{}", user.id)),
        (Method::PATCH, format!("/admin/users/{}", user.id)),
        (Method::DELETE, format!("/admin/users/{}", user.id)),
        (Method::POST, format!("/admin/users/{}/unlock", user.id)),
        (Method::PUT, format!("/admin/users/{}/roles", user.id)),
        (Method::DELETE, format!("/admin/users/{}/sessions", user.id)),
        (Method::GET, "/admin/keys".to_string()),
        (Method::POST, "/admin/keys/rotate".to_string()),
        (Method::GET, "/admin/audit".to_string()),
    ];
    for (m, path) in routes {
        let body = json!({"roles": ["admin"], "disabled": true});
        let res = app.request(m.clone(), &path, None, Some(&body)).await;
        assert_error(res, StatusCode::UNAUTHORIZED, "not_authenticated").await;
        let res = app
            .request(m.clone(), &path, Some(&user.tokens.access), Some(&body))
            .await;
        assert_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // The refused calls changed nothing: the user still works and holds only customer.
    let me = body(app.get("/profile", Some(&user.tokens.access)).await).await;
    assert_eq!(me["roles"], json!(["customer"]));
}

#[tokio::test]
async fn a_revoked_admin_role_takes_effect_before_the_token_expires() {
    let app = spawn_app().await;
    let boss = admin(&app).await;
    let other = admin(&app).await;
    let res = call(
        &app,
        Method::PUT,
        &format!("/admin/users/{}/roles", other.id),
        &boss.tokens.access,
        Some(json!({"roles": ["customer"]})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // `other` still holds a token that says admin, but the role is gone.
    assert_eq!(
        jwt::part(&other.tokens.access, 1)["roles"],
        json!(["admin", "customer"])
    );
    assert_error(
        call(
            &app,
            Method::GET,
            "/admin/users",
            &other.tokens.access,
            None,
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn list_users_paginates_by_cursor_and_searches() {
    let app = spawn_app().await;
    let boss = admin(&app).await;
    let mut ids = vec![boss.id.clone()];
    for _ in 0..5 {
        ids.push(app.new_user().await.id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/users?limit=2&cursor={c}"),
            None => "/admin/users?limit=2".to_string(),
        };
        let res = call(&app, Method::GET, &path, &boss.tokens.access, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = body(res).await;
        let users = page["users"].as_array().unwrap();
        assert!(users.len() <= 2);
        for u in users {
            assert!(u.get("password_hash").is_none());
            seen.push(u["id"].as_str().unwrap().to_string());
        }
        // A user registered mid-way shows up at the end, nobody is skipped or repeated.
        if seen.len() == 2 {
            ids.push(app.new_user().await.id);
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every user exactly once, in creation order");
    let one = app.new_user().await;
    let res = call(
        &app,
        Method::GET,
        &format!("/admin/users?q={}", one.username.to_uppercase()),
        &boss.tokens.access,
        None,
    )
    .await;
    let found = body(res).await;
    assert_eq!(found["users"].as_array().unwrap().len(), 1);
    assert_eq!(found["users"][0]["id"], one.id);
    let res = call(
        &app,
        Method::GET,
        "/admin/users?limit=0",
        &boss.tokens.access,
        None,
    )
    .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    let res = call(
        &app,
        Method::GET,
        "/admin/users?cursor=nonsense",
        &boss.tokens.access,
        None,
    )
    .await;
    assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn a_query_parameter_that_does_not_parse_is_refused_naming_it() {
    let app = spawn_app().await;
    let boss = admin(&app).await;
    for (path, field, message) in [
        (
            "/admin/users?limit=ten",
            "limit",
            "must be a whole number from 1 to 200",
        ),
        (
            "/admin/users?limit=-1",
            "limit",
            "must be a whole number from 1 to 200",
        ),
        (
            "/admin/audit?limit=1.5",
            "limit",
            "must be a whole number from 1 to 200",
        ),
        ("/admin/audit?user_id=bad", "user_id", "not a user id"),
    ] {
        let res = call(&app, Method::GET, path, &boss.tokens.access, None).await;
        let err = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert_eq!(err["fields"], json!({ field: [message] }), "{path}");
    }
}

#[tokio::test]
async fn list_query_parameters_take_the_last_of_repeated_values_and_empty_means_absent() {
    let app = spawn_app().await;
    let boss = admin(&app).await;
    app.new_user().await;
    let page = |path: &'static str| {
        let (app, token) = (&app, boss.tokens.access.clone());
        async move {
            let res = call(app, Method::GET, path, &token, None).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            body(res).await
        }
    };
    let users = page("/admin/users?limit=ten&limit=1").await;
    assert_eq!(users["users"].as_array().unwrap().len(), 1);
    assert!(users["next_cursor"].is_string());
    let users = page("/admin/users?limit=&cursor=&unknown=x").await;
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    let events = page("/admin/audit?user_id=&event=&limit=").await;
    assert!(events["events"].as_array().unwrap().len() >= 2);
    let events = page("/admin/audit?event=nothing&event=register&limit=1").await;
    assert_eq!(events["events"][0]["event"], "register");
}

#[tokio::test]
async fn user_detail_shows_lockout_state_and_unlock_clears_it() {
    let app = spawn_app().await;
    let boss = admin(&app).await;
    let user = app.new_user().await;
    for _ in 0..5 {
        app.login_raw(&user.username, "wrong password here").await;
    }
    assert_error(
        app.login_raw(&user.username, PASSWORD).await,
        StatusCode::FORBIDDEN,
        "account_locked",
    )
    .await;
    let d = body(
        call(
            &app,
            Method::GET,
            &format!("/admin/users/{}", user.id),
            &boss.tokens.access,
            None,
        )
        .await,
    )
    .await;
    assert!(d["locked_until"].is_string(), "{d}");
    assert!(
        d.get("failed_logins").is_some()
            && d.get("last_login_at").is_some()
            && d["disabled"] == false
    );
    let res = call(
        &app,
        Method::POST,
        &format!("/admin/users/{}/unlock", user.id),
        &boss.tokens.access,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body(res).await["locked_until"].is_null());
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK
    );
    let missing = uuid::Uuid::now_v7();
    assert_error(
        call(
            &app,
            Method::GET,
            &format!("/admin/users/{missing}"),
            &boss.tokens.access,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_error(
        call(
            &app,
            Method::POST,
            &format!("/admin/users/{missing}/unlock"),
            &boss.tokens.access,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn disabling_a_user_refuses_login_refresh_and_its_tokens() {
    let app = spawn_app().await;
    let boss = admin(&app).await;
    let user = app.new_user().await;
    let res = call(
        &app,
        Method::PATCH,
        &format!("/admin/users/{}", user.id),
        &boss.tokens.access,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["disabled"], true);
    assert_error(
        app.login_raw(&user.username, PASSWORD).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
    assert_error(
        app.refresh_raw(&user.tokens.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_error(
        app.get("/profile", Some(&user.tokens.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let res = call(
        &app,
        Method::PATCH,
        &format!("/admin/users/{}", user.id),
        &boss.tokens.access,
        Some(json!({"disabled": false})),
    )
    .await;
    assert_eq!(body(res).await["disabled"], false);
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn roles_set_by_an_admin_appear_in_the_next_refreshed_token() {
    let app = spawn_app().await;
    let boss = admin(&app).await;
    let user = app.new_user().await;
    let path = format!("/admin/users/{}/roles", user.id);
    let res = call(
        &app,
        Method::PUT,
        &path,
        &boss.tokens.access,
        Some(json!({"roles": ["support", "customer", "support"]})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, json!({"roles": ["customer", "support"]}));
    let next = tokens(&body(app.refresh_raw(&user.tokens.refresh).await).await);
    assert_eq!(
        jwt::part(&next.access, 1)["roles"],
        json!(["customer", "support"])
    );
    let res = call(
        &app,
        Method::PUT,
        &path,
        &boss.tokens.access,
        Some(json!({"roles": ["Not A Role"]})),
    )
    .await;
    let b = assert_error(res, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(b["fields"]["roles"].is_array());
    assert_error(
        call(
            &app,
            Method::PUT,
            &path,
            &boss.tokens.access,
            Some(json!({})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn ending_a_users_sessions_and_deleting_a_user() {
    let app = spawn_app().await;
    let boss = admin(&app).await;
    let user = app.new_user().await;
    let second = app.login(&user.username, PASSWORD).await;
    let res = call(
        &app,
        Method::DELETE,
        &format!("/admin/users/{}/sessions", user.id),
        &boss.tokens.access,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["revoked"], 2);
    assert_error(
        app.refresh_raw(&second.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let fresh = app.login(&user.username, PASSWORD).await;
    let res = call(
        &app,
        Method::DELETE,
        &format!("/admin/users/{}", user.id),
        &boss.tokens.access,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.refresh_raw(&fresh.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    assert_error(
        app.get("/profile", Some(&fresh.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_error(
        app.login_raw(&user.username, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_error(
        call(
            &app,
            Method::DELETE,
            &format!("/admin/users/{}", user.id),
            &boss.tokens.access,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn keys_are_listed_without_private_material_and_rotate() {
    let app = spawn_app().await;
    let boss = admin(&app).await;
    let before =
        body(call(&app, Method::GET, "/admin/keys", &boss.tokens.access, None).await).await;
    let all = before["keys"].as_array().unwrap();
    assert_eq!(all.len(), 4, "two families: {before}");
    let of = |keys: &[Value], purpose: &str| -> Vec<Value> {
        keys.iter()
            .filter(|k| k["purpose"] == purpose)
            .cloned()
            .collect()
    };
    let keys = of(all, "access");
    assert_eq!(keys.len(), 2);
    assert_eq!(of(all, "id_token").len(), 2, "{before}");
    let text = before.to_string();
    assert!(
        !text.contains("private") && !text.contains("\"d\""),
        "{text}"
    );
    let next_kid = keys.iter().find(|k| k["state"] == "next").unwrap()["kid"].clone();
    let id_keys = of(all, "id_token");
    let id_current = id_keys.iter().find(|k| k["state"] == "current").unwrap()["kid"].clone();
    let id_next = id_keys.iter().find(|k| k["state"] == "next").unwrap()["kid"].clone();
    let after = body(
        call(
            &app,
            Method::POST,
            "/admin/keys/rotate",
            &boss.tokens.access,
            None,
        )
        .await,
    )
    .await;
    let all = after["keys"].as_array().unwrap();
    let keys = of(all, "access");
    assert_eq!(keys.len(), 3);
    assert_eq!(
        keys.iter().find(|k| k["state"] == "current").unwrap()["kid"],
        next_kid
    );
    // The ID-token family rotated with it.
    let id_keys = of(all, "id_token");
    assert_eq!(id_keys.len(), 3, "{after}");
    let id_in = |state: &str| id_keys.iter().find(|k| k["state"] == state).unwrap()["kid"].clone();
    assert_eq!(id_in("current"), id_next);
    assert_eq!(id_in("retired"), id_current);
    // One audit entry names both families' promoted and fresh keys.
    let events = body(
        call(
            &app,
            Method::GET,
            "/admin/audit?event=key_rotated",
            &boss.tokens.access,
            None,
        )
        .await,
    )
    .await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let detail = &events[0]["detail"];
    assert_eq!(detail["signing_kid"], next_kid, "{detail}");
    assert_eq!(detail["id_token_signing_kid"], id_next, "{detail}");
    let fresh = |purpose: &str| {
        of(all, purpose)
            .iter()
            .find(|k| k["state"] == "next")
            .unwrap()["kid"]
            .clone()
    };
    assert_eq!(detail["next_kid"], fresh("access"), "{detail}");
    assert_eq!(detail["id_token_next_kid"], fresh("id_token"), "{detail}");
    // The admin's token, signed by the now-retired key, still works.
    assert_eq!(
        call(&app, Method::GET, "/admin/keys", &boss.tokens.access, None)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_audit_trail_records_events_with_ip_and_user_agent() {
    let app = spawn_app().await;
    let boss = admin(&app).await;
    let user = app.new_user().await;
    app.login_raw(&user.username, "wrong password here").await;
    let res = call(
        &app,
        Method::GET,
        &format!("/admin/audit?user_id={}", user.id),
        &boss.tokens.access,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = body(res).await;
    let events: Vec<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        events,
        vec!["login_failed", "login_succeeded", "register"],
        "newest first"
    );
    let e = &page["events"][0];
    assert_eq!(e["user_id"], user.id);
    assert_eq!(e["ip"], "127.0.0.1");
    assert_eq!(e["user_agent"], "sesame-tests/1.0");
    assert!(e["at"].is_string() && e["id"].is_string());
    // Filter by event, and page through with the cursor.
    let page = body(
        call(
            &app,
            Method::GET,
            "/admin/audit?event=register&limit=1",
            &boss.tokens.access,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let page2 = body(
        call(
            &app,
            Method::GET,
            &format!("/admin/audit?event=register&limit=1&cursor={cursor}"),
            &boss.tokens.access,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(page2["events"].as_array().unwrap().len(), 1);
    assert_ne!(page2["events"][0]["id"], page["events"][0]["id"]);
    // Admin actions are recorded with the acting admin.
    call(
        &app,
        Method::PUT,
        &format!("/admin/users/{}/roles", user.id),
        &boss.tokens.access,
        Some(json!({"roles": ["customer", "vip"]})),
    )
    .await;
    call(
        &app,
        Method::POST,
        "/admin/keys/rotate",
        &boss.tokens.access,
        None,
    )
    .await;
    for event in ["role_changed", "key_rotated"] {
        let page = body(
            call(
                &app,
                Method::GET,
                &format!("/admin/audit?event={event}"),
                &boss.tokens.access,
                None,
            )
            .await,
        )
        .await;
        assert_eq!(
            page["events"][0]["detail"]["by"], boss.id,
            "{event}: {page}"
        );
    }
    assert_error(
        call(
            &app,
            Method::GET,
            "/admin/audit?user_id=bad",
            &boss.tokens.access,
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn every_contract_event_is_audited() {
    let app = spawn_app_with(&[
        ("SESAME_REFRESH_REUSE_GRACE", "0s"),
        ("SESAME_LOCKOUT_MAX_FAILURES", "2"),
    ])
    .await;
    let boss = admin(&app).await;
    let user = app.new_user().await;
    assert_eq!(
        app.refresh_raw(&user.tokens.refresh).await.status(),
        StatusCode::OK
    ); // rotate
    app.refresh_raw(&user.tokens.refresh).await; // reuse
    let t = app.login(&user.username, PASSWORD).await;
    app.post_auth(
        "/auth/password",
        &t.access,
        json!({"current_password": PASSWORD, "new_password": "another fine passphrase"}),
    )
    .await;
    app.post("/auth/logout", json!({"refresh_token": t.refresh}))
        .await;
    app.login_raw(&user.username, "wrong password one").await;
    app.login_raw(&user.username, "wrong password two").await;
    call(
        &app,
        Method::PUT,
        &format!("/admin/users/{}/roles", user.id),
        &boss.tokens.access,
        Some(json!({"roles": ["customer"]})),
    )
    .await;
    call(
        &app,
        Method::POST,
        "/admin/keys/rotate",
        &boss.tokens.access,
        None,
    )
    .await;
    call(
        &app,
        Method::DELETE,
        &format!("/admin/users/{}", user.id),
        &boss.tokens.access,
        None,
    )
    .await;
    let page = body(
        call(
            &app,
            Method::GET,
            "/admin/audit?limit=200",
            &boss.tokens.access,
            None,
        )
        .await,
    )
    .await;
    let events: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for expected in [
        "register",
        "login_succeeded",
        "login_failed",
        "account_locked",
        "refresh_reused",
        "logout",
        "password_changed",
        "user_deleted",
        "role_changed",
        "key_rotated",
    ] {
        assert!(
            events.contains(&expected),
            "{expected} missing from {events:?}"
        );
    }
}

#[tokio::test]
async fn login_is_rate_limited_per_ip_with_retry_after() {
    let app = spawn_app_with(&[
        ("SESAME_RATE_LIMIT", "on"),
        ("SESAME_RATE_LIMIT_LOGIN", "3/m"),
    ])
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.login_raw("nobody-here", "whatever password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = app.login_raw("nobody-here", "whatever password").await;
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Other endpoints have their own budget.
    assert_ne!(
        app.register("fresh@example.com", PASSWORD, None)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn register_and_refresh_are_rate_limited() {
    let app = spawn_app_with(&[
        ("SESAME_RATE_LIMIT", "on"),
        ("SESAME_RATE_LIMIT_REGISTER", "1/m"),
        ("SESAME_RATE_LIMIT_REFRESH", "1/m"),
    ])
    .await;
    assert_eq!(
        app.register("one@example.com", PASSWORD, None)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_error(
        app.register("two@example.com", PASSWORD, None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    let t = app.login("one@example.com", PASSWORD).await;
    assert_eq!(app.refresh_raw(&t.refresh).await.status(), StatusCode::OK);
    assert_error(
        app.refresh_raw("x").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    // Untrusted peer: the header is ignored, so it cannot dodge the limit or fake its address.
    let app = spawn_app_with(&[
        ("SESAME_RATE_LIMIT", "on"),
        ("SESAME_RATE_LIMIT_LOGIN", "1/m"),
    ])
    .await;
    let send = |ip: &'static str| {
        app.client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({"username": "x", "password": "y"}))
            .send()
    };
    assert_eq!(
        send("203.0.113.1").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send("203.0.113.2").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    // Trusted peer (loopback): each forwarded client has its own budget, and sessions record it.
    let app = spawn_app_with(&[
        ("SESAME_RATE_LIMIT", "on"),
        ("SESAME_RATE_LIMIT_LOGIN", "1/m"),
        ("SESAME_TRUSTED_PROXIES", "127.0.0.0/8,::1"),
    ])
    .await;
    let user = app.new_user().await; // uses the loopback address's single login
    let login = |ip: &'static str| {
        app.client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", format!("{ip}, 127.0.0.1"))
            .json(&json!({"username": user.username, "password": PASSWORD}))
            .send()
    };
    let res = login("198.51.100.7").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let t = tokens(&body(res).await);
    assert_eq!(
        login("198.51.100.7").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login("198.51.100.8").await.unwrap().status(),
        StatusCode::OK
    );
    let sessions = body(app.get("/auth/sessions", Some(&t.access)).await).await;
    let current = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(current["ip"], "198.51.100.7");
}

#[tokio::test]
async fn metrics_expose_routes_logins_tokens_and_the_pool() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.login_raw(&user.username, "wrong password here").await;
    app.get("/profile", Some(&user.tokens.access)).await;
    app.get(&format!("/no/such/{}", uuid::Uuid::new_v4()), None)
        .await;
    let res = app.get("/metrics", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    for needle in [
        "sesame_http_requests_total{method=\"GET\",route=\"/profile\",status=\"200\"} 1",
        "sesame_http_request_duration_seconds_bucket{",
        "sesame_logins_total{result=\"success\"} 1",
        "sesame_logins_total{result=\"invalid_credentials\"} 1",
        "sesame_tokens_issued_total{kind=\"access\"}",
        "sesame_refresh_reuse_detected_total",
        "sesame_lockouts_total",
        "sesame_db_pool_connections{",
        "route=\"unmatched\"",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert!(!text.contains("/no/such/"), "raw paths never become labels");
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let app = spawn_app_with(&[("SESAME_METRICS_LISTEN", "127.0.0.1:0")]).await;
    let user = app.new_user().await;
    app.get("/profile", Some(&user.tokens.access)).await;
    assert_error(
        app.get("/metrics", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let addr = app.metrics_addr.expect("a metrics listener");
    assert_ne!(addr.port(), app.port);
    let res = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            "sesame_http_requests_total{method=\"GET\",route=\"/profile\",status=\"200\"} 1"
        ),
        "{text}"
    );
    let other = reqwest::get(format!("http://{addr}/profile"))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "only /metrics there");
}
