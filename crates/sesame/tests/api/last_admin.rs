//! The last active admin stays one: no demotion, disabling or deletion that would leave Sesame
//! without an admin (409 `last_admin`), whoever asks — the admin themselves included.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

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
async fn the_last_admin_cannot_be_demoted_disabled_or_deleted() {
    let app = spawn_app().await;
    let boss = app.new_admin().await;
    let me = boss.tokens.access.clone();
    let user_path = format!("/admin/users/{}", boss.id);

    let refused = [
        call(
            &app,
            Method::PUT,
            &format!("{user_path}/roles"),
            &me,
            Some(json!({"roles": ["customer"]})),
        )
        .await,
        call(
            &app,
            Method::PUT,
            &format!("{user_path}/roles"),
            &me,
            Some(json!({"roles": []})),
        )
        .await,
        call(
            &app,
            Method::PATCH,
            &user_path,
            &me,
            Some(json!({"disabled": true})),
        )
        .await,
        call(&app, Method::DELETE, &user_path, &me, None).await,
        app.request(
            Method::DELETE,
            "/profile",
            Some(&me),
            Some(&json!({"password": PASSWORD})),
        )
        .await,
    ];
    for res in refused {
        let b = assert_error(res, StatusCode::CONFLICT, "last_admin").await;
        assert!(b["detail"].as_str().unwrap().contains("admin"), "{b}");
    }
    // Nothing changed, and no change was audited.
    let d = body(call(&app, Method::GET, &user_path, &me, None).await).await;
    assert_eq!(d["roles"], json!(["admin", "customer"]), "{d}");
    assert_eq!(d["disabled"], false);
    let audit = body(
        call(
            &app,
            Method::GET,
            "/admin/audit?event=role_changed",
            &me,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(audit["events"], json!([]), "{audit}");

    // With a second admin the first may step down; then the second is the last one.
    let second = app.new_admin().await;
    let res = call(
        &app,
        Method::PUT,
        &format!("{user_path}/roles"),
        &second.tokens.access,
        Some(json!({"roles": ["customer"]})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_error(
        call(&app, Method::GET, "/admin/users", &me, None).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let second_path = format!("/admin/users/{}", second.id);
    assert_error(
        call(
            &app,
            Method::PATCH,
            &second_path,
            &second.tokens.access,
            Some(json!({"disabled": true})),
        )
        .await,
        StatusCode::CONFLICT,
        "last_admin",
    )
    .await;
    // Other users are not concerned: an admin deletes a customer as before.
    let res = call(
        &app,
        Method::DELETE,
        &user_path,
        &second.tokens.access,
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_openapi_document_lists_last_admin_and_account_locked_answers() {
    let app = spawn_app().await;
    let doc = body(app.get("/openapi.json", None).await).await;
    let paths = &doc["paths"];
    for (path, method) in [
        ("/admin/users/{id}/roles", "put"),
        ("/admin/users/{id}", "patch"),
        ("/admin/users/{id}", "delete"),
        ("/profile", "delete"),
    ] {
        let op = &paths[path][method]["responses"]["409"]["description"];
        assert!(
            op.as_str().is_some_and(|d| d.contains("last_admin")),
            "{path} {method}: {op}"
        );
    }
    for (path, method) in [
        ("/auth/password", "post"),
        ("/profile", "put"),
        ("/profile", "delete"),
    ] {
        let op = &paths[path][method]["responses"]["403"]["description"];
        assert!(
            op.as_str().is_some_and(|d| d.contains("account_locked")),
            "{path} {method}: {op}"
        );
    }
}
