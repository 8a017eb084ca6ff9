//! Responses that carry a token must not be kept by a browser, a proxy or a CDN (RFC 6749
//! §5.1: `Cache-Control: no-store`, and `Pragma: no-cache` for HTTP/1.0 caches): login,
//! refresh and `/oauth/token`, and the OAuth error bodies beside them.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Marks a response as not to be stored by any cache.
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A JSON body that carries a token.
#[derive(Debug)]
pub struct NoStore<T>(pub T);

impl<T: Serialize> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        let mut res = Json(self.0).into_response();
        no_store(res.headers_mut());
        res
    }
}
