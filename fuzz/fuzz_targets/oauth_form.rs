//! The form-encoded OAuth endpoints through the real router: `/oauth/token` (client
//! credentials, token exchange), `/oauth/introspect`, `/oauth/revoke`. First byte: endpoint
//! and client authentication (HTTP Basic from the placeholders, Basic made of fuzzed bytes, or
//! none — then the form's own `client_id`/`client_secret`); the rest is the body, with
//! placeholders (`$CLIENT_ID`, `$CLIENT_SECRET`, `$ACCESS`, `$REFRESH`, `$SERVICE`) replaced by
//! live values. The invariant: never a 5xx, and every error a JSON body.
#![no_main]

use axum::body::Body;
use axum::http::Request;
use libfuzzer_sys::fuzz_target;
use sesame_fuzz::{App, assert_well_answered};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let app = App::get();
    let path = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"][pick as usize % 3];
    let body = app.expand(&String::from_utf8_lossy(body));
    let mut req = Request::builder().method("POST").uri(path).header(
        "content-type",
        if pick & 0x40 == 0 {
            "application/x-www-form-urlencoded"
        } else {
            "application/x-www-form-urlencoded; charset=UTF-8"
        },
    );
    let mut form = body.as_str();
    match (pick / 3) % 4 {
        0 => {}
        1 => req = req.header("authorization", app.expand("Basic $BASIC")),
        2 => {
            // The body's first line is the Basic credential, the rest the form.
            let (cred, rest) = body.split_once('\n').unwrap_or((&body, ""));
            req = req.header("authorization", format!("Basic {cred}"));
            form = rest;
        }
        _ => req = req.header("authorization", app.expand("Bearer $SERVICE")),
    }
    let Ok(req) = req.body(Body::from(form.to_string())) else {
        return;
    };
    let (status, answer) = app.send(req);
    assert_well_answered(status, &answer, &body);
    app.keep_tokens_alive();
});
