//! Token status lists against a real Sesame (its lists refreshed every second here): a logged
//! out user's token is refused offline within the list's `ttl`, a list that cannot be refreshed
//! fails closed, and forged or misdirected lists are refused.

use std::time::{Duration, Instant};

use serde_json::json;
use sesame_verify::{AuthError, RemoteVerifier, StatusList, StatusListError, VerifyError};

use crate::helpers::*;

fn verifier(s: &RealSesame) -> RemoteVerifier {
    RemoteVerifier::builder(&s.issuer)
        .audience("gallery")
        .trust_ca_pem(s.cert_pem.clone())
        .build()
        .unwrap()
}

/// The `status.status_list.uri` of a token.
fn list_uri(token: &str) -> String {
    jwt::part(token, 1)["status"]["status_list"]["uri"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn fetch_list(s: &RealSesame, uri: &str) -> String {
    s.client
        .get(uri)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_logged_out_users_token_is_refused_offline_within_the_ttl() {
    let s = RealSesame::start().await;
    let v = verifier(&s);
    let (_, username) = s.register().await;
    let login = s.login(&username, Some("gallery")).await;
    let other = s.login(&username, Some("gallery")).await;
    v.verify(&login.access).await.unwrap();

    let res = s
        .post(
            "/auth/logout",
            None,
            json!({"refresh_token": login.refresh}),
        )
        .await;
    assert!(res.status().is_success());
    let ended = Instant::now();
    loop {
        match v.verify(&login.access).await {
            Err(AuthError::Inactive) => break,
            Ok(_) => {}
            other => panic!("{other:?}"),
        }
        assert!(
            ended.elapsed() <= Duration::from_secs(2),
            "still accepted {:?} after the logout (ttl 1 s)",
            ended.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Only that session: the other one's token still passes.
    v.verify(&other.access).await.unwrap();
    let lists = v.status_lists();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].uri, list_uri(&login.access));
    assert_eq!(lists[0].ttl, Duration::from_secs(1));
    assert!(!lists[0].stale);
}

#[tokio::test]
async fn a_list_that_cannot_be_refreshed_fails_closed() {
    let mut s = RealSesame::start().await;
    let v = RemoteVerifier::builder(&s.issuer)
        .audience("gallery")
        .trust_ca_pem(s.cert_pem.clone())
        .status_list_max_stale(Duration::from_millis(2500))
        .build()
        .unwrap();
    let (_, username) = s.register().await;
    let login = s.login(&username, Some("gallery")).await;
    v.verify(&login.access).await.unwrap();
    s.stop();
    // Keys stay; the list held is used while it is not too old...
    tokio::time::sleep(Duration::from_millis(1500)).await;
    v.verify(&login.access).await.unwrap();
    // ...and past the bound every token naming it is refused, not accepted blind.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        v.verify(&login.access).await,
        Err(AuthError::StatusUnavailable)
    );
    assert!(v.status_lists()[0].stale);
}

#[tokio::test]
async fn a_token_naming_a_list_elsewhere_is_refused_without_fetching_it() {
    let s = RealSesame::start().await;
    let v = verifier(&s);
    let (_, username) = s.register().await;
    let login = s.login(&username, Some("gallery")).await;
    let mut claims = jwt::part(&login.access, 1);
    for uri in [
        "https://evil.example/statuslists/0".to_string(),
        format!("{}.evil.example/statuslists/0", s.issuer),
        format!("{}/statuslists/../admin", s.issuer),
        format!("{}/other/0", s.issuer),
    ] {
        claims["status"]["status_list"]["uri"] = json!(uri);
        let signed = s
            .sesame
            .key_ring()
            .current()
            .active
            .sign_jwt(&claims)
            .unwrap();
        assert_eq!(
            v.verify(&signed).await,
            Err(AuthError::Invalid(VerifyError::Malformed)),
            "{uri}"
        );
    }
    assert!(v.status_lists().is_empty(), "nothing was fetched");
}

#[tokio::test]
async fn forged_and_misdirected_lists_are_refused() {
    let s = RealSesame::start().await;
    let (_, username) = s.register().await;
    let login = s.login(&username, Some("gallery")).await;
    let uri = list_uri(&login.access);
    let list = fetch_list(&s, &uri).await;
    let jwks = s
        .client
        .get(format!("{}/.well-known/jwks.json", s.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let keys = sesame_verify::KeySet::from_jwks_json(&jwks).unwrap();
    let list_ok = StatusList::from_jwt(&list, &keys, &uri, now()).unwrap();
    assert_eq!(list_ok.len(), 131_072);
    assert_eq!(list_ok.ttl, Some(1));

    // Another list's token presented as this one.
    assert!(matches!(
        StatusList::from_jwt(&list, &keys, &format!("{}/statuslists/1", s.issuer), now()),
        Err(StatusListError::WrongSubject { .. })
    ));
    // A payload changed under the same signature.
    let mut parts: Vec<String> = list.split('.').map(str::to_string).collect();
    let mut payload = jwt::part(&list, 1);
    payload["status_list"]["lst"] = json!("eNoDAAAAAAE");
    parts[1] = b64url(payload.to_string());
    assert_eq!(
        StatusList::from_jwt(&parts.join("."), &keys, &uri, now()).unwrap_err(),
        StatusListError::BadSignature
    );
    // An access token is not a status list, though signed by the same key.
    assert!(matches!(
        StatusList::from_jwt(&login.access, &keys, &uri, now()),
        Err(StatusListError::Malformed(_))
    ));
    // Unsigned.
    let none = format!(
        "{}.{}.",
        b64url(json!({"alg": "none", "typ": "statuslist+jwt"}).to_string()),
        parts[1]
    );
    assert!(StatusList::from_jwt(&none, &keys, &uri, now()).is_err());
    // Expired: the list's own exp (ten ttls) is past.
    assert_eq!(
        StatusList::from_jwt(&list, &keys, &uri, now() + 60).unwrap_err(),
        StatusListError::Expired
    );
}

/// A plain-HTTP stand-in in front of a real Sesame: forwards GETs, except that status lists
/// hang while `hang` is set (an issuer that accepts connections and never answers).
async fn hanging_proxy(
    s: &RealSesame,
    hang: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> String {
    use axum::extract::Request;
    use axum::response::IntoResponse;
    use std::sync::atomic::Ordering;
    let upstream = s.issuer.clone();
    let client = s.client.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let (upstream, client, hang) = (upstream.clone(), client.clone(), hang.clone());
        async move {
            let path = req.uri().path().to_string();
            if path.starts_with("/statuslists/") && hang.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            let mut fwd = client.get(format!("{upstream}{path}"));
            for name in ["accept", "if-none-match"] {
                if let Some(v) = req.headers().get(name) {
                    fwd = fwd.header(name, v.clone());
                }
            }
            let res = fwd.send().await.unwrap();
            let status = res.status();
            let mut headers = axum::http::HeaderMap::new();
            for name in ["content-type", "etag"] {
                if let Some(v) = res.headers().get(name) {
                    headers.insert(name, v.clone());
                }
            }
            (status, headers, res.bytes().await.unwrap()).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_issuer_that_hangs_does_not_hang_the_service() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let s = RealSesame::start().await;
    let hang = std::sync::Arc::new(AtomicBool::new(false));
    let proxy = hanging_proxy(&s, hang.clone()).await;
    let v = RemoteVerifier::builder(&s.issuer)
        .audience("gallery")
        .backchannel(&proxy)
        .status_list_max_stale(Duration::from_secs(4))
        .build()
        .unwrap();
    let (_, username) = s.register().await;
    let login = s.login(&username, Some("gallery")).await;
    v.verify(&login.access).await.unwrap();

    hang.store(true, Ordering::SeqCst);
    // Past the ttl the list is fetched before the check; the fetch hangs, the request does not:
    // the list held decides.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let started = Instant::now();
    v.verify(&login.access).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "waited {:?}",
        started.elapsed()
    );
    // Past max_stale: refused (fail closed), and still without hanging.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = Instant::now();
    assert_eq!(
        v.verify(&login.access).await,
        Err(AuthError::StatusUnavailable)
    );
    assert!(started.elapsed() < Duration::from_millis(1800));
}
