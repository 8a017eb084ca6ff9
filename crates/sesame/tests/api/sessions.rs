//! The signed-in user's sessions: listing them and ending one.

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

fn sid(access: &str) -> String {
    jwt::part(access, 1)["sid"]
        .as_str()
        .expect("sid claim")
        .to_string()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("an RFC 3339 time, got {v}"))
}

async fn list(app: &TestApp, access: &str) -> Vec<Value> {
    let res = app.get("/auth/sessions", Some(access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    body(res).await["sessions"]
        .as_array()
        .expect("sessions list")
        .clone()
}

fn ids(sessions: &[Value]) -> Vec<String> {
    sessions
        .iter()
        .map(|s| s["id"].as_str().expect("session id").to_string())
        .collect()
}

async fn end(app: &TestApp, access: &str, id: &str) -> reqwest::Response {
    app.request(
        Method::DELETE,
        &format!("/auth/sessions/{id}"),
        Some(access),
        None,
    )
    .await
}

#[tokio::test]
async fn sessions_are_listed_newest_first_with_their_details() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.advance(1);
    let second = app.login(&user.username, PASSWORD).await;
    app.advance(1);
    let third = app.login(&user.username, PASSWORD).await;

    let sessions = list(&app, &second.access).await;
    assert_eq!(
        ids(&sessions),
        vec![
            sid(&third.access),
            sid(&second.access),
            sid(&user.tokens.access)
        ],
        "newest first"
    );
    for s in &sessions {
        let keys: Vec<&str> = s
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "created_at",
            "current",
            "expires_at",
            "id",
            "ip",
            "kind",
            "last_used_at",
            "user_agent",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected, "{s}");
        assert_eq!(s["ip"], "127.0.0.1");
        assert_eq!(s["kind"], "api", "a session of the JSON login");
        assert_eq!(s["user_agent"], "sesame-tests/1.0");
        let created = time(&s["created_at"]);
        assert_eq!(time(&s["last_used_at"]), created, "not used since login");
        assert_eq!(
            time(&s["expires_at"]) - created,
            chrono::Duration::days(7),
            "{s}"
        );
    }
    assert!(time(&sessions[0]["created_at"]) > time(&sessions[1]["created_at"]));
    assert!(time(&sessions[1]["created_at"]) > time(&sessions[2]["created_at"]));
    let current: Vec<bool> = sessions
        .iter()
        .map(|s| s["current"].as_bool().expect("current is a bool"))
        .collect();
    assert_eq!(current, vec![false, true, false]);
}

#[tokio::test]
async fn sessions_list_only_the_users_own_live_sessions() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let ended = app.login(&user.username, PASSWORD).await;
    let other = app.new_user().await;
    let res = app
        .post(
            "/auth/logout",
            serde_json::json!({"refresh_token": ended.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let sessions = list(&app, &user.tokens.access).await;
    assert_eq!(ids(&sessions), vec![sid(&user.tokens.access)]);
    let sessions = list(&app, &other.tokens.access).await;
    assert_eq!(ids(&sessions), vec![sid(&other.tokens.access)]);
}

#[tokio::test]
async fn last_used_at_moves_on_refresh() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let before = list(&app, &user.tokens.access).await;
    let before_used = time(&before[0]["last_used_at"]);

    app.advance(60);
    let res = app.refresh_raw(&user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let next = tokens(&body(res).await);

    let after = list(&app, &next.access).await;
    assert_eq!(ids(&after), ids(&before), "the same session");
    let after_used = time(&after[0]["last_used_at"]);
    assert!(
        after_used >= before_used + chrono::Duration::seconds(60),
        "{before_used} -> {after_used}"
    );
    assert_eq!(
        time(&after[0]["created_at"]),
        time(&before[0]["created_at"])
    );
    assert!(time(&after[0]["expires_at"]) > time(&before[0]["expires_at"]));
}

#[tokio::test]
async fn ending_another_own_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.login(&user.username, PASSWORD).await;
    let other_id = sid(&other.access);

    let res = end(&app, &user.tokens.access, &other_id).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    assert_error(
        app.refresh_raw(&other.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_error(
        app.get("/profile", Some(&other.access)).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let sessions = list(&app, &user.tokens.access).await;
    assert_eq!(ids(&sessions), vec![sid(&user.tokens.access)]);
    // The requesting session is unaffected.
    let res = app.refresh_raw(&user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn ending_another_users_session_is_not_found() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let victim = app.new_user().await;

    assert_error(
        end(&app, &user.tokens.access, &sid(&victim.tokens.access)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let res = app.get("/profile", Some(&victim.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.refresh_raw(&victim.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn ending_an_unknown_or_garbage_session_id_is_not_found() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in ["garbage", "123", unknown.as_str()] {
        assert_error(
            end(&app, &user.tokens.access, id).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn ending_an_already_ended_session_is_not_found() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.login(&user.username, PASSWORD).await;
    let other_id = sid(&other.access);

    let res = end(&app, &user.tokens.access, &other_id).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        end(&app, &user.tokens.access, &other_id).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn ending_a_logged_out_session_is_not_found() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.login(&user.username, PASSWORD).await;
    let res = app
        .post(
            "/auth/logout",
            serde_json::json!({"refresh_token": other.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    assert_error(
        end(&app, &user.tokens.access, &sid(&other.access)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn session_routes_need_a_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_error(
        app.get("/auth/sessions", None).await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;
    let path = format!("/auth/sessions/{}", sid(&user.tokens.access));
    assert_error(
        app.request(Method::DELETE, &path, None, None).await,
        StatusCode::UNAUTHORIZED,
        "not_authenticated",
    )
    .await;
    assert_error(
        app.get("/auth/sessions", Some("garbage")).await,
        StatusCode::UNAUTHORIZED,
        "token_invalid",
    )
    .await;
    // The session was not ended by the anonymous attempt.
    let res = app.refresh_raw(&user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
}
