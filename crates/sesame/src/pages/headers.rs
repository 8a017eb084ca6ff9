//! The headers every page answers with (API.md "Headers on every page").
//!
//! The CSP allows no inline script and no inline style: templates (an operator's overrides too)
//! load one stylesheet from `/static/`, and the one script (passkeys) comes from there as a file;
//! `connect-src 'self'` lets it start a ceremony on this origin and nowhere else.
//! `form-action 'self'` keeps a planted form from posting credentials away;
//! `frame-ancestors 'none'` and `X-Frame-Options` stop click-jacking; `no-referrer` keeps the
//! tokens of `/reset-password?token=` and `/verify-email?token=` out of other sites' logs.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The CSP of a page whose form's answer is a redirect to an app (consent, and sign-in on the
/// way back to one): browsers check every redirect of a form submission against `form-action`,
/// so the app's redirect URI — its origin, or its scheme for a native app's private-use URI —
/// is allowed besides `'self'`. `None` when the URI cannot be written as a CSP source.
pub fn csp_allowing_form_action(redirect_uri: &str) -> Option<HeaderValue> {
    let url = url::Url::parse(redirect_uri).ok()?;
    let source = match url.scheme() {
        "https" | "http" => url.origin().ascii_serialization(),
        scheme => format!("{scheme}:"),
    };
    // A source is a single token of URL characters; anything else could add directives.
    if source.is_empty() || source.contains([';', ',', ' ', '\'', '"']) {
        return None;
    }
    let csp = CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {source}"),
    );
    HeaderValue::from_str(&csp).ok()
}

pub async fn page_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A page that needs a wider form-action sets its own (see `csp_allowing_form_action`).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The stylesheet is the same for everyone and may be cached; pages never.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_action_widens_to_the_apps_origin_or_scheme_only() {
        let csp = |u: &str| {
            csp_allowing_form_action(u)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert!(
            csp("https://app.example/cb?x=1").contains("form-action 'self' https://app.example;")
        );
        assert!(
            csp("http://127.0.0.1:5123/cb").contains("form-action 'self' http://127.0.0.1:5123;")
        );
        assert!(csp("com.example.app:/cb").contains("form-action 'self' com.example.app:;"));
        assert!(csp("https://app.example/cb").contains("frame-ancestors 'none'"));
        assert_eq!(csp("not a url"), "");
    }
}
