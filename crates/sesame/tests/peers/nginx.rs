//! nginx `auth_request` in front of an upstream: requests without a token, with a revoked token
//! or without the required role never reach the upstream; allowed ones arrive with X-Auth-*.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::any;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use sesame_testkit::tools;

type Seen = Arc<Mutex<Vec<(String, HeaderMap)>>>;

async fn upstream() -> (u16, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = Router::new().fallback(any(move |uri: axum::http::Uri, headers: HeaderMap| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push((uri.path().to_string(), headers));
            "upstream ok"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, seen)
}

struct Nginx {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

/// SIGTERM, not SIGKILL: the master then stops its workers. A killed master would orphan them
/// (and they would keep the test's output pipes open).
fn stop(child: &mut std::process::Child) {
    let _ = sesame_testkit::process::terminate(child, std::time::Duration::from_secs(15));
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// The configuration docs/gateways.md shows, with this test's ports and paths.
fn config(
    dir: &std::path::Path,
    port: u16,
    sesame_port: u16,
    cert: &std::path::Path,
    upstream: u16,
) -> String {
    let d = dir.display();
    format!(
        r#"
worker_processes 1;
daemon off;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    upstream sesame {{ server 127.0.0.1:{sesame_port}; }}
    server {{
        listen 127.0.0.1:{port};

        # Sesame decides. Only the status matters to auth_request; the X-Auth-* answer headers
        # are copied to the upstream request below.
        location = /_sesame_verify {{
            internal;
            proxy_pass https://sesame/auth/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Sesame-Role $sesame_role;
            proxy_set_header X-Sesame-Audience $sesame_audience;
            proxy_ssl_server_name on;
            proxy_ssl_name localhost;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {cert};
        }}

        location /admin/ {{
            set $sesame_role admin;
            set $sesame_audience "";
            auth_request /_sesame_verify;
            auth_request_set $auth_subject $upstream_http_x_auth_subject;
            auth_request_set $auth_roles $upstream_http_x_auth_roles;
            auth_request_set $auth_session $upstream_http_x_auth_session;
            auth_request_set $auth_scope $upstream_http_x_auth_scope;
            auth_request_set $auth_client $upstream_http_x_auth_client;
            proxy_set_header X-Auth-Subject $auth_subject;
            proxy_set_header X-Auth-Roles $auth_roles;
            proxy_set_header X-Auth-Session $auth_session;
            proxy_set_header X-Auth-Scope $auth_scope;
            proxy_set_header X-Auth-Client $auth_client;
            proxy_pass http://127.0.0.1:{upstream};
        }}

        location / {{
            set $sesame_role "";
            set $sesame_audience api;
            auth_request /_sesame_verify;
            auth_request_set $auth_subject $upstream_http_x_auth_subject;
            auth_request_set $auth_roles $upstream_http_x_auth_roles;
            auth_request_set $auth_session $upstream_http_x_auth_session;
            auth_request_set $auth_scope $upstream_http_x_auth_scope;
            auth_request_set $auth_client $upstream_http_x_auth_client;
            # Set (or clear) every identity header, so a client cannot forge them.
            proxy_set_header X-Auth-Subject $auth_subject;
            proxy_set_header X-Auth-Roles $auth_roles;
            proxy_set_header X-Auth-Session $auth_session;
            proxy_set_header X-Auth-Scope $auth_scope;
            proxy_set_header X-Auth-Client $auth_client;
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
}}
"#,
        cert = cert.display()
    )
}

async fn start_nginx(sesame_port: u16, cert_pem: &[u8], upstream: u16) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    // nginx workers run as an unprivileged user when started by root: let them in.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let cert = dir.path().join("sesame.pem");
    std::fs::write(&cert, cert_pem).unwrap();
    let port = free_port().expect("a free port");
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        config(dir.path(), port, sesame_port, &cert, upstream),
    )
    .unwrap();
    let child = std::process::Command::new(tools::nginx().unwrap())
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Nginx {
                child,
                port,
                _dir: dir,
            };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut child = child;
    stop(&mut child);
    let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

#[tokio::test]
async fn nginx_lets_through_only_valid_unrevoked_tokens_with_the_right_role() {
    let app = spawn_app().await;
    let (up_port, seen) = upstream().await;
    let nginx = start_nginx(app.port, &app.cert_pem, up_port).await;
    let gw = |path: &str| format!("http://127.0.0.1:{}{path}", nginx.port);
    let client = reqwest::Client::new();

    // No token: refused, upstream untouched.
    let res = client.get(gw("/orders")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = client
        .get(gw("/orders"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(seen.lock().unwrap().is_empty());

    // A valid token: through, with identity headers; a forged X-Auth-Subject is overwritten.
    let user = app.new_user().await;
    let res = client
        .get(gw("/orders"))
        .bearer_auth(&user.tokens.access)
        .header("x-auth-subject", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "upstream ok");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (path, h) = &seen[0];
        assert_eq!(path, "/orders");
        assert_eq!(h.get("x-auth-subject").unwrap(), user.id.as_str());
        assert_eq!(h.get("x-auth-roles").unwrap(), "customer");
        assert_eq!(
            h.get("x-auth-session").unwrap(),
            jwt::part(&user.tokens.access, 1)["sid"].as_str().unwrap()
        );
        assert_eq!(h.get("x-auth-client").unwrap(), "sesame");
    }

    // Wrong role: 403, upstream untouched.
    let res = client
        .get(gw("/admin/panel"))
        .bearer_auth(&user.tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(seen.lock().unwrap().len(), 1);

    // An admin gets in.
    let admin = app.new_admin().await.tokens;
    let res = client
        .get(gw("/admin/panel"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(seen.lock().unwrap().len(), 2);

    // Revoked (logout): refused at once, upstream untouched.
    app.post(
        "/auth/logout",
        json!({"refresh_token": user.tokens.refresh}),
    )
    .await;
    let res = client
        .get(gw("/orders"))
        .bearer_auth(&user.tokens.access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(seen.lock().unwrap().len(), 2);
}
