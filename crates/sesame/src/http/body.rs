//! Request bodies are read whole before any handler runs.
//!
//! Why: a handler that answers before reading the body (401 from the bearer check, 403 from the
//! role check, 415, 429) leaves it unread, and hyper then closes the HTTP/1.1 connection after
//! the response without announcing it. A client that pools keep-alive connections (Python's
//! `requests`, for one) sends its next request down the dead connection and fails — found by the
//! generated API tests (`tests/schemathesis`), where an unauthenticated POST followed by any
//! request broke intermittently. Reading the body first costs nothing extra: bodies are at most
//! [`BODY_LIMIT`] and the JSON and form extractors buffer them anyway.
//!
//! A body over the limit is not read further: the handler gets the first `BODY_LIMIT + 1` bytes,
//! so its own extractor answers 413 in its endpoint's shape, and the response says
//! `Connection: close`, since the rest of the body is never read.

use std::pin::Pin;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::BODY_LIMIT;
use super::error::ApiError;

pub async fn read_body_first(req: Request, next: Next) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let version = req.version();
    let (parts, mut body) = req.into_parts();
    let mut buf: Vec<u8> = Vec::new();
    let mut over_limit = false;
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(frame) = frame else {
            // The client broke the framing or went away: nobody to give a body to.
            let res = ApiError::invalid_json("The request body could not be read.").into_response();
            return closing(res, version);
        };
        if let Ok(data) = frame.into_data() {
            let room = BODY_LIMIT + 1 - buf.len();
            buf.extend_from_slice(&data[..data.len().min(room)]);
            if buf.len() > BODY_LIMIT {
                over_limit = true;
                break;
            }
        }
    }
    let res = next.run(Request::from_parts(parts, Body::from(buf))).await;
    if over_limit {
        closing(res, version)
    } else {
        res
    }
}

/// Marks an HTTP/1 response as the last on its connection (HTTP/2 has no such header: a stream
/// ends on its own).
fn closing(mut res: Response, version: Version) -> Response {
    if version <= Version::HTTP_11 {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}
