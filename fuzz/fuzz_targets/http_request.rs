//! Whole requests through Sesame's real router (every route, extractor, handler and use-case,
//! on a real SQLite store): method, path and query, headers and body all fuzzed. The input is
//! text shaped like HTTP/1.1 — `METHOD PATH`, header lines, a blank line, the body — with
//! placeholders (`$ACCESS`, `$ADMIN`, `$REFRESH`, `$VICTIM`, ...) replaced by live values, so
//! the fuzzer reaches what sits behind authentication. The invariant: never a 5xx, and every
//! error a JSON body.
#![no_main]

use axum::body::Body;
use axum::http::{Method, Request};
use libfuzzer_sys::fuzz_target;
use sesame_fuzz::{App, assert_well_answered};

fn build(app: &App, input: &str) -> Option<Request<Body>> {
    let input = app.expand(input);
    let (head, body) = match input.split_once("\n\n") {
        Some((h, b)) => (h, b),
        None => (input.as_str(), ""),
    };
    let mut lines = head.lines();
    let (method, path) = lines.next()?.split_once(' ')?;
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).ok()?)
        .uri(path.trim());
    for line in lines {
        let (k, v) = line.split_once(':')?;
        req = req.header(k.trim(), v.trim());
    }
    req.body(Body::from(body.to_string())).ok()
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let app = App::get();
    // Requests hyper itself would refuse (bad method, URI or header bytes) never reach Sesame.
    let Some(req) = build(app, input) else {
        return;
    };
    let (status, body) = app.send(req);
    assert_well_answered(status, &body, input);
    app.keep_tokens_alive();
});
