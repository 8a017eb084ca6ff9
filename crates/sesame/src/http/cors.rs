//! CORS for the endpoints a browser app calls itself (issue #18): a single-page app exchanges its
//! code, refreshes, reads userinfo and revokes from its own origin, and reads the discovery
//! document, the key set and the status lists.
//!
//! - Discovery, JWKS and status lists are public documents: any origin (`*`).
//! - `/oauth/token`, `/oauth/userinfo`, `/oauth/revoke`: only origins of registered redirect
//!   URIs (`Oidc::is_web_origin`), echoed back with `Vary: Origin`.
//! - Nothing else: the JSON API and the pages send no CORS headers (docs/security.md).
//!
//! No endpoint here takes cookies, so `Access-Control-Allow-Credentials` is never sent: a page
//! of an allowed origin gets nothing a request without the browser's cookies would not.
//! A request without `Origin` (every server-to-server call) is passed through untouched.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Public documents any page may read.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/.well-known/openid-configuration"
            | "/.well-known/oauth-authorization-server"
            | "/.well-known/jwks.json"
    ) || path.starts_with("/statuslists/")
}

/// Endpoints a browser app of a registered origin calls.
fn is_app_endpoint(path: &str) -> bool {
    matches!(path, "/oauth/token" | "/oauth/userinfo" | "/oauth/revoke")
}

pub async fn cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let (public, app) = (is_public(path), is_app_endpoint(path));
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some(origin) = origin.filter(|_| public || app) else {
        return next.run(req).await;
    };
    let allowed = if public {
        Some(HeaderValue::from_static("*"))
    } else {
        match state.sesame.oidc().is_web_origin(&origin).await {
            Ok(true) => HeaderValue::from_str(&origin).ok(),
            Ok(false) => None,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the registered origins");
                None
            }
        }
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    if !public {
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    if let Some(allow) = allowed {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, accept"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        } else {
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("WWW-Authenticate, Retry-After"),
            );
        }
    }
    res
}
