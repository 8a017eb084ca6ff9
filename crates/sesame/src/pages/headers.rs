//! The headers every page answers with (API.md "Headers on every page").
//!
//! The CSP allows no inline script and no inline style: templates (an operator's overrides too)
//! load one stylesheet from `/static/`, and any script a later page needs (passkeys) comes from
//! there as a file. `form-action 'self'` keeps a planted form from posting credentials away;
//! `frame-ancestors 'none'` and `X-Frame-Options` stop click-jacking; `no-referrer` keeps the
//! tokens of `/reset-password?token=` and `/verify-email?token=` out of other sites' logs.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub async fn page_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
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
