//! Token Status Lists (issue #20): every access token names a bit in a signed list that is set
//! when its session (or client) is revoked, served at `/statuslists/{n}`.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::oauth::{EXCHANGE, admin_token, create_client, form, service_token};

/// The `status.status_list` of a token: (idx, uri).
fn status_of(token: &str) -> (u64, String) {
    let claims = sesame_testkit::jwt::part(token, 1);
    let s = &claims["status"]["status_list"];
    (
        s["idx"].as_u64().expect("an idx"),
        s["uri"].as_str().expect("a uri").to_string(),
    )
}

/// The path of a list URI of this app.
fn path_of(app: &TestApp, uri: &str) -> String {
    let issuer = app.sesame.settings().issuer.clone();
    uri.strip_prefix(&issuer)
        .unwrap_or_else(|| panic!("{uri} is under the issuer {issuer}"))
        .to_string()
}

/// The list's JWT, checked against the published keys; returns its claims.
async fn fetch_verified(app: &TestApp, uri: &str) -> Value {
    let res = app.get(&path_of(app, uri), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()[CONTENT_TYPE],
        "application/statuslist+jwt",
        "the JWT form by default"
    );
    let jwt = res.text().await.unwrap();
    let header = sesame_testkit::jwt::part(&jwt, 0);
    assert_eq!(header["typ"], "statuslist+jwt");
    let jwks = app.jwks().await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("signed with a published key");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let alg: jsonwebtoken::Algorithm = header["alg"].as_str().unwrap().parse().unwrap();
    let mut v = jsonwebtoken::Validation::new(alg);
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "sub", "iat"]);
    v.sub = Some(uri.to_string());
    let claims = jsonwebtoken::decode::<Value>(&jwt, &key, &v)
        .expect("a valid signature, sub = its uri, unexpired")
        .claims;
    assert_eq!(claims["sub"], uri);
    claims
}

/// Bit `idx` of a list's `lst` (base64url of zlib; bit `idx % 8` of byte `idx / 8`). The peers
/// tests read lists with Python's and Node's zlib instead.
fn bit(lst: &str, idx: u64) -> bool {
    sesame_core::status_list::bit_of(lst, idx).expect("base64url of zlib")
}

async fn revoked(app: &TestApp, token: &str) -> bool {
    let (idx, uri) = status_of(token);
    let claims = fetch_verified(app, &uri).await;
    assert_eq!(claims["status_list"]["bits"], 1);
    bit(claims["status_list"]["lst"].as_str().unwrap(), idx)
}

#[tokio::test]
async fn a_login_token_names_its_bit_in_a_signed_list_and_logout_sets_it() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let (idx, uri) = status_of(&user.tokens.access);
    let (other_idx, other_uri) = status_of(&other.tokens.access);
    assert_eq!(
        uri,
        format!("{}/statuslists/0", app.sesame.settings().issuer)
    );
    assert_eq!(other_uri, uri);
    assert_ne!(idx, other_idx, "one index per session");

    let claims = fetch_verified(&app, &uri).await;
    assert_eq!(
        claims["ttl"], 5,
        "SESAME_STATUS_LIST_TTL's default, in seconds"
    );
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    assert!(!revoked(&app, &user.tokens.access).await);

    let res = app
        .post(
            "/auth/logout",
            json!({"refresh_token": user.tokens.refresh}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        revoked(&app, &user.tokens.access).await,
        "set at once on the replica that ended the session"
    );
    assert!(
        !revoked(&app, &other.tokens.access).await,
        "others untouched"
    );
}

#[tokio::test]
async fn refreshed_tokens_keep_the_sessions_index() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let next = body(app.refresh_raw(&user.tokens.refresh).await).await;
    let access = next["access"].as_str().unwrap();
    assert_eq!(status_of(access), status_of(&user.tokens.access));
    app.post(
        "/auth/logout",
        json!({"refresh_token": next["refresh"].as_str().unwrap()}),
    )
    .await;
    assert!(revoked(&app, access).await);
    assert!(revoked(&app, &user.tokens.access).await);
}

#[tokio::test]
async fn every_way_a_session_ends_sets_its_bit() {
    let app = spawn_app().await;
    let admin = app.new_admin().await;

    // Logout of every session.
    let a = app.new_user().await;
    let a2 = app.login(&a.username, PASSWORD).await;
    let res = app
        .post_auth("/auth/logout/all", &a.tokens.access, json!({}))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    assert!(revoked(&app, &a.tokens.access).await);
    assert!(revoked(&app, &a2.access).await);

    // A password change ends the other sessions.
    let b = app.new_user().await;
    let b2 = app.login(&b.username, PASSWORD).await;
    let res = app
        .post_auth(
            "/auth/password",
            &b.tokens.access,
            json!({"current_password": PASSWORD, "new_password": "a whole new passphrase 42"}),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    assert!(revoked(&app, &b2.access).await);

    // An admin disables a user.
    let c = app.new_user().await;
    let res = app
        .request(
            reqwest::Method::PATCH,
            &format!("/admin/users/{}", c.id),
            Some(&admin.tokens.access),
            Some(&json!({"disabled": true})),
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    assert!(revoked(&app, &c.tokens.access).await);

    // A reused refresh token ends its session.
    let d = app.new_user().await;
    app.refresh_raw(&d.tokens.refresh).await;
    app.advance(11); // past the 10 s grace, well inside the access token's life
    assert_eq!(
        app.refresh_raw(&d.tokens.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(revoked(&app, &d.tokens.access).await);

    // An admin deletes a user: their live session's bit is set, not dropped with the row.
    let e = app.new_user().await;
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/admin/users/{}", e.id),
            Some(&admin.tokens.access),
            None,
        )
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    assert!(revoked(&app, &e.tokens.access).await);
}

#[tokio::test]
async fn client_tokens_die_with_the_client_and_exchanged_ones_with_the_session() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let c = create_client(&app, &admin, &["cart_service", "api"], &[]).await;
    let d = create_client(&app, &admin, &["cart_service"], &[]).await;
    let token = service_token(&app, &c).await;
    let other = service_token(&app, &d).await;
    assert_ne!(
        status_of(&token).0,
        status_of(&other).0,
        "one index per client"
    );

    let user = app.new_user().await;
    let res = form(
        &app,
        "/oauth/token",
        Some((&c.id, &c.secret)),
        &[
            ("grant_type", EXCHANGE),
            ("subject_token", &user.tokens.access),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("audience", "cart_service"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let exchanged = body(res).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(status_of(&exchanged), status_of(&user.tokens.access));

    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/admin/clients/{}", c.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(revoked(&app, &token).await);
    assert!(!revoked(&app, &other).await);
    assert!(!revoked(&app, &exchanged).await);

    app.post(
        "/auth/logout",
        json!({"refresh_token": user.tokens.refresh}),
    )
    .await;
    assert!(revoked(&app, &exchanged).await);
}

#[tokio::test]
async fn etags_answer_304_until_a_bit_changes() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (_, uri) = status_of(&user.tokens.access);
    let path = path_of(&app, &uri);
    let res = app.get(&path, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CACHE_CONTROL], "public, max-age=5");
    let etag = res.headers()[ETAG].to_str().unwrap().to_string();
    assert!(etag.starts_with('"'), "a strong validator: {etag}");

    let again = |tag: String| {
        let req = app.client.get(app.url(&path)).header(IF_NONE_MATCH, tag);
        async move { req.send().await.unwrap() }
    };
    let res = again(etag.clone()).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()[ETAG].to_str().unwrap(), etag);
    assert!(res.bytes().await.unwrap().is_empty());
    assert_eq!(again("\"other\"".into()).await.status(), StatusCode::OK);

    app.post(
        "/auth/logout",
        json!({"refresh_token": user.tokens.refresh}),
    )
    .await;
    let res = again(etag.clone()).await;
    assert_eq!(res.status(), StatusCode::OK, "the bits changed");
    assert_ne!(res.headers()[ETAG].to_str().unwrap(), etag);
}

#[tokio::test]
async fn the_json_form_on_request() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (idx, uri) = status_of(&user.tokens.access);
    app.post(
        "/auth/logout",
        json!({"refresh_token": user.tokens.refresh}),
    )
    .await;
    let res = app
        .client
        .get(uri.replace(&app.sesame.settings().issuer, &app.base))
        .header(ACCEPT, "application/statuslist+json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CONTENT_TYPE], "application/statuslist+json");
    let b = body(res).await;
    assert_eq!(b["sub"], uri);
    assert_eq!(b["bits"], 1);
    assert_eq!(b["status_list"]["lst"], b["lst"]);
    assert!(bit(b["lst"].as_str().unwrap(), idx));
}

#[tokio::test]
async fn unknown_lists_are_404() {
    let app = spawn_app().await;
    app.new_user().await;
    for path in [
        "/statuslists/1",
        "/statuslists/99999999999",
        "/statuslists/x",
        "/statuslists/-1",
        "/statuslists/+0",
        "/statuslists/184467440737095516150",
    ] {
        assert_error(
            app.get(path, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn a_bit_clears_once_every_token_that_carried_it_has_expired() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    app.post(
        "/auth/logout",
        json!({"refresh_token": user.tokens.refresh}),
    )
    .await;
    assert!(revoked(&app, &user.tokens.access).await);
    // 15 minutes of access lifetime plus the verifiers' leeway: still set just before.
    app.advance(15 * 60);
    app.sesame.sync_revocations().await.unwrap();
    assert!(revoked(&app, &user.tokens.access).await);
    app.advance(5);
    app.sesame.sync_revocations().await.unwrap();
    assert!(!revoked(&app, &user.tokens.access).await);
}

#[tokio::test]
async fn metrics_count_the_entries_set() {
    let app = spawn_app().await;
    let gauge = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("sesame_status_list_revoked "))
            .and_then(|l| l.split(' ').nth(1))
            .map(str::to_string)
    };
    let user = app.new_user().await;
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert_eq!(gauge(&text).as_deref(), Some("0"), "{text}");
    app.post(
        "/auth/logout",
        json!({"refresh_token": user.tokens.refresh}),
    )
    .await;
    let text = app.get("/metrics", None).await.text().await.unwrap();
    assert_eq!(gauge(&text).as_deref(), Some("1"));
}
