use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn register_login_profile_refresh_logout_walkthrough() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["email"], user.email);
    let res = app.refresh_raw(&user.tokens.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let next = tokens(&body(res).await);
    assert_ne!(next.refresh, user.tokens.refresh);
    let res = app
        .post(
            "/auth/logout",
            serde_json::json!({"refresh_token": next.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["message"], "Logged out successfully");
    assert_error(
        app.refresh_raw(&next.refresh).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}
