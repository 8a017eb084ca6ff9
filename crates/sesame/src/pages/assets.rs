//! `/static/sesame.css`: the one stylesheet, compiled in (with the configured accent colour),
//! so no page loads anything from another origin.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::http::AppState;

pub async fn css(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            // Changes only with a new binary or configuration: a day is plenty and still
            // picks up an operator's new colour the next day.
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        state.pages.templates.css().to_string(),
    )
        .into_response()
}

/// `/static/passkeys.js`: the pages' one script (the WebAuthn ceremonies), compiled in.
pub async fn passkeys_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        sesame_templates::PASSKEYS_JS,
    )
        .into_response()
}
