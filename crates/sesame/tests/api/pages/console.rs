//! The admin console over HTTP: who may open it, the actions it takes (the same use-cases as
//! `/admin`, audited under the acting admin), confirmation of destructive ones, and forged forms.

use reqwest::StatusCode;
use serde_json::Value;

use super::FormClient;
use crate::helpers::*;

/// Locks `user` the way a guesser does: wrong passwords until the account refuses.
async fn lock(app: &TestApp, user: &TestUser) {
    for _ in 0..5 {
        app.login_raw(&user.username, "wrong password here").await;
    }
    let res = app.login_raw(&user.username, PASSWORD).await;
    assert_error(res, StatusCode::FORBIDDEN, "account_locked").await;
}

async fn admin_browser(app: &TestApp) -> (FormClient<'_>, TestUser) {
    let admin = app.new_admin().await;
    let mut b = FormClient::new(app);
    b.sign_in(&admin.username, &admin.password).await;
    (b, admin)
}

#[tokio::test]
async fn only_admins_open_the_console_and_the_rest_get_403() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let paths = [
        "/console".to_string(),
        "/console/users".to_string(),
        format!("/console/users/{}", user.id),
        "/console/clients".to_string(),
        "/console/keys".to_string(),
        "/console/audit".to_string(),
        "/console/webhooks".to_string(),
    ];
    // Not signed in: the sign-in page, coming back here.
    let mut anonymous = FormClient::new(&app);
    for path in &paths {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(page.location().starts_with("/signin"), "{path}");
    }
    let mut customer = FormClient::new(&app);
    customer.sign_in(&user.username, &user.password).await;
    for path in &paths {
        let page = customer.get(path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.body.contains("for administrators"), "{path}");
    }
    customer.get("/account").await;
    let page = customer
        .post(
            &format!("/console/users/{}/disable", user.id),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK
    );

    let (mut admin, _) = admin_browser(&app).await;
    for path in &paths {
        let page = admin.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.header("cache-control"), "no-store", "{path}");
    }
}

#[tokio::test]
async fn an_admin_finds_a_locked_user_and_unlocks_them_audited_under_the_admin() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    lock(&app, &user).await;
    let (mut b, admin) = admin_browser(&app).await;
    let page = b.get(&format!("/console/users?q={}", user.username)).await;
    assert!(page.body.contains(&format!("/console/users/{}", user.id)));
    let page = b.get(&format!("/console/users/{}", user.id)).await;
    assert!(page.body.contains("login_failed"), "recent events");
    assert!(!page.body.contains("$argon2"), "never the hash");
    let page = b
        .post(&format!("/console/users/{}/unlock", user.id), &[])
        .await;
    assert_eq!(
        page.location(),
        format!("/console/users/{}?notice=user-unlocked", user.id)
    );
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK
    );
    let trail = body(
        app.get(
            &format!("/admin/audit?user_id={}&event=account_unlocked", user.id),
            Some(&admin.tokens.access),
        )
        .await,
    )
    .await;
    let by: Vec<&Value> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["detail"]["by"])
        .collect();
    assert_eq!(by, [&Value::from(admin.id.clone())], "{trail}");
}

#[tokio::test]
async fn disabling_asks_first_and_the_last_admin_cannot_be_disabled() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (mut b, admin) = admin_browser(&app).await;
    b.get(&format!("/console/users/{}", user.id)).await;
    let path = format!("/console/users/{}/disable", user.id);
    let page = b.post(&path, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "the confirmation");
    assert!(page.body.contains("name=\"confirm\" value=\"yes\""));
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK,
        "nothing done before confirming"
    );
    let page = b.post(&path, &[("confirm", "yes")]).await;
    assert_eq!(
        page.location(),
        format!("/console/users/{}?notice=user-disabled", user.id)
    );
    assert_error(
        app.login_raw(&user.username, PASSWORD).await,
        StatusCode::FORBIDDEN,
        "account_disabled",
    )
    .await;
    b.get(&format!("/console/users/{}", user.id)).await;
    let page = b
        .post(&format!("/console/users/{}/enable", user.id), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK
    );

    // The only admin disabling themselves: refused by the same rule as /admin.
    b.get(&format!("/console/users/{}", admin.id)).await;
    let page = b
        .post(
            &format!("/console/users/{}/disable", admin.id),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("last active admin"), "{}", page.body);
}

#[tokio::test]
async fn signing_a_person_out_everywhere_ends_their_sessions() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (mut b, _) = admin_browser(&app).await;
    b.get(&format!("/console/users/{}", user.id)).await;
    let path = format!("/console/users/{}/end-sessions", user.id);
    let page = b.post(&path, &[]).await;
    assert_eq!(page.status, StatusCode::OK, "the confirmation");
    let page = b.post(&path, &[("confirm", "yes")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let res = app.get("/profile", Some(&user.tokens.access)).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the token is revoked"
    );
}

#[tokio::test]
async fn a_forged_console_form_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (mut b, _) = admin_browser(&app).await;
    let path = format!("/console/users/{}/disable", user.id);
    for token in ["", "forged"] {
        let page = b
            .post(&path, &[("confirm", "yes"), ("csrf_token", token)])
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{token:?}");
    }
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_admin_whose_role_requires_a_second_factor_needs_it_for_the_console() {
    let app = spawn_app_with(&[("SESAME_MFA_REQUIRED_ROLES", "admin")]).await;
    let admin = app.new_admin().await;
    let mut b = FormClient::new(&app);
    b.sign_in(&admin.username, &admin.password).await;
    let page = b.get("/console").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("second factor"), "{}", page.body);
}

/// The text of `<code class="secret">` on a page.
fn shown_secret(body: &str) -> Option<String> {
    let open = "<code class=\"secret\">";
    let start = body.find(open)? + open.len();
    let end = start + body[start..].find("</code>")?;
    Some(body[start..end].to_string())
}

#[tokio::test]
async fn a_client_created_in_the_console_shows_its_secret_once_and_works() {
    let app = spawn_app().await;
    let (mut b, _) = admin_browser(&app).await;
    b.get("/console/clients").await;
    let page = b
        .post(
            "/console/clients",
            &[
                ("name", "Reports"),
                ("audiences", "api"),
                ("redirect_uris", "javascript:alert(1)"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "a bad redirect URI");
    assert!(
        page.body.contains("id=\"redirect_uris-error\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("value=\"Reports\""),
        "what was typed comes back"
    );

    let page = b
        .post(
            "/console/clients",
            &[
                ("name", "Reports"),
                ("audiences", "api"),
                ("grant_types", "client_credentials"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED);
    let secret = shown_secret(&page.body).expect("the secret, this once");
    let client_id = page
        .body
        .split("<dt>client_id</dt><dd><code>")
        .nth(1)
        .and_then(|r| r.split("</code>").next())
        .expect("the client id")
        .to_string();
    let res = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .post(app.url("/oauth/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the new client gets tokens");
    let page = b.get("/console/clients").await;
    assert!(page.body.contains(&client_id));
    assert!(!page.body.contains(&secret), "never again");

    // Deleting asks first.
    let path = format!("/console/clients/{client_id}/delete");
    let page = b.post(&path, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"confirm\" value=\"yes\""));
    let page = b.post(&path, &[("confirm", "yes")]).await;
    assert_eq!(page.location(), "/console/clients?notice=client-deleted");
    let page = b.get("/console/clients").await;
    assert!(!page.body.contains(&client_id));
    let page = b.post(&path, &[]).await;
    assert_eq!(
        page.status,
        StatusCode::NOT_FOUND,
        "no such client any more"
    );
}

#[tokio::test]
async fn rotating_keys_from_the_console_asks_first_and_publishes_a_new_key() {
    let app = spawn_app().await;
    let (mut b, _) = admin_browser(&app).await;
    let before = app.jwks_kids().await;
    let page = b.get("/console/keys").await;
    assert!(page.body.contains(&before[0]));
    assert!(!page.body.contains("PRIVATE"), "never private material");
    let page = b.post("/console/keys/rotate", &[]).await;
    assert_eq!(page.status, StatusCode::OK, "the confirmation");
    assert_eq!(app.jwks_kids().await, before, "nothing yet");
    let page = b.post("/console/keys/rotate", &[("confirm", "yes")]).await;
    assert_eq!(page.location(), "/console/keys?notice=keys-rotated");
    let after = app.jwks_kids().await;
    assert!(
        after.iter().any(|k| !before.contains(k)),
        "{before:?} → {after:?}"
    );
}

#[tokio::test]
async fn the_audit_trail_filters_by_person_and_event() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.login_raw(&user.username, "wrong password here").await;
    let (mut b, _) = admin_browser(&app).await;
    let page = b
        .get(&format!(
            "/console/audit?user_id={}&event=login_failed",
            user.id
        ))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("<code>login_failed</code>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("<code>register</code>"),
        "only that event"
    );
    let page = b.get("/console/audit?user_id=not-a-uuid").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("id=\"user_id-error\""));
}

#[tokio::test]
async fn roles_second_factors_and_deletion_from_a_users_page() {
    let app = spawn_app().await;
    let enrolled = crate::mfa::enroll(&app, app.new_user().await).await;
    let user = &enrolled.user;
    let (mut b, admin) = admin_browser(&app).await;
    let page_path = format!("/console/users/{}", user.id);
    let page = b.get(&page_path).await;
    assert!(page.body.contains("remove-factors"), "a factor to remove");

    // Roles: a bad one is refused on the form; a good set is saved.
    let roles = format!("{page_path}/roles");
    let page = b.post(&roles, &[("roles", "customer Bad!Role")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("id=\"roles-error\""));
    let page = b.post(&roles, &[("roles", "customer, support")]).await;
    assert_eq!(page.location(), format!("{page_path}?notice=roles-saved"));
    let shown = body(
        app.get(
            &format!("/admin/users/{}", user.id),
            Some(&admin.tokens.access),
        )
        .await,
    )
    .await;
    assert_eq!(shown["roles"], serde_json::json!(["customer", "support"]));
    // The last admin cannot drop their own admin role here either.
    b.get(&format!("/console/users/{}", admin.id)).await;
    let page = b
        .post(
            &format!("/console/users/{}/roles", admin.id),
            &[("roles", "customer")],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);

    // Second factors: asked first, then removed (the password alone signs in again).
    b.get(&page_path).await;
    let remove = format!("{page_path}/remove-factors");
    assert_eq!(b.post(&remove, &[]).await.status, StatusCode::OK);
    let page = b.post(&remove, &[("confirm", "yes")]).await;
    assert_eq!(
        page.location(),
        format!("{page_path}?notice=factors-removed")
    );
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK
    );

    // Deletion: only with the email typed.
    b.get(&page_path).await;
    let delete = format!("{page_path}/delete");
    let page = b.post(&delete, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"confirm_email\""));
    let page = b
        .post(&delete, &[("confirm_email", "someone@else.example")])
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("id=\"confirm_email-error\""));
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK
    );
    let page = b
        .post(&delete, &[("confirm_email", &user.email.to_uppercase())])
        .await;
    assert_eq!(page.location(), "/console/users?notice=user-deleted");
    assert_eq!(b.get(&page_path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn webhooks_are_added_with_the_secret_shown_once_and_removed_after_asking() {
    let app = spawn_app_with(&[("SESAME_WEBHOOK_ALLOW_PRIVATE", "on")]).await;
    let receiver = crate::receiver::Receiver::start().await;
    let (mut b, _) = admin_browser(&app).await;
    b.get("/console/webhooks").await;
    let page = b
        .post(
            "/console/webhooks",
            &[("url", "ftp://nowhere"), ("events", "user.created")],
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("id=\"url-error\""), "{}", page.body);
    let page = b
        .post(
            "/console/webhooks",
            &[("url", &receiver.url), ("events", "user.created")],
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED);
    let secret = shown_secret(&page.body).expect("the secret, this once");
    assert!(secret.starts_with("whsec_"));
    let page = b.get("/console/webhooks").await;
    assert!(!page.body.contains(&secret), "never again");
    let id = page
        .body
        .split("href=\"/console/webhooks/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a link to its deliveries")
        .to_string();

    // An event is delivered and listed.
    app.new_user().await;
    app.flush_webhooks().await;
    let page = b.get(&format!("/console/webhooks/{id}")).await;
    assert!(
        page.body.contains("<code>user.created</code>"),
        "{}",
        page.body
    );

    let path = format!("/console/webhooks/{id}/delete");
    assert_eq!(
        b.post(&path, &[]).await.status,
        StatusCode::OK,
        "asks first"
    );
    let page = b.post(&path, &[("confirm", "yes")]).await;
    assert_eq!(page.location(), "/console/webhooks?notice=webhook-deleted");
    assert_eq!(
        b.get(&format!("/console/webhooks/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_overview_counts_and_charts_sign_ins_failures_and_lockouts() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    lock(&app, &user).await;
    let (mut b, _) = admin_browser(&app).await;
    let page = b.get("/console").await;
    assert_eq!(page.status, StatusCode::OK);
    for chart in ["chart-title-hour", "chart-title-day"] {
        assert!(page.body.contains(chart), "{chart}");
    }
    // Five wrong passwords and the lock they caused, in both windows; the sign-ins (the user's
    // and the admin's logins, the admin's page sign-in) too.
    assert_eq!(
        page.body.matches("failed sign-ins: 5").count(),
        2,
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("lockouts: 1").count(), 2);
    assert!(!page.body.contains("> sign-ins: 0"), "{}", page.body);
    assert!(page.body.contains("<polyline"), "drawn");
    assert!(!page.body.contains("<script"), "no script");
    let users = page
        .body
        .split("Users</a></dt><dd>")
        .nth(1)
        .and_then(|r| r.split("</dd>").next())
        .expect("the user count");
    assert_eq!(users, "2");
}

#[tokio::test]
async fn an_app_registered_in_the_console_signs_a_person_in() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let app = spawn_app().await;
    let (mut b, _) = admin_browser(&app).await;
    b.get("/console/clients").await;
    let page = b
        .post(
            "/console/clients",
            &[
                ("name", "Notes"),
                ("audiences", "api"),
                ("scopes", "openid profile"),
                ("redirect_uris", "https://notes.example/cb"),
                ("public", "on"),
                ("first_party", "on"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    assert!(
        shown_secret(&page.body).is_none(),
        "a public client has no secret"
    );
    let client_id = page
        .body
        .split("<dt>client_id</dt><dd><code>")
        .nth(1)
        .and_then(|r| r.split("</code>").next())
        .expect("the client id")
        .to_string();
    // The admin's own browser session signs in to it: code, then tokens.
    let verifier = "v".repeat(43);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let page = b
        .get(&format!(
            "/oauth/authorize?response_type=code&client_id={client_id}&scope=openid\
             &redirect_uri=https%3A%2F%2Fnotes.example%2Fcb&code_challenge={challenge}\
             &code_challenge_method=S256&state=s"
        ))
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let location = url::Url::parse(page.location()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let res = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://notes.example/cb"),
            ("code_verifier", verifier.as_str()),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(body(res).await["id_token"].is_string());
}
