//! Token Status Lists (draft-ietf-oauth-status-list): what offline verifiers fetch to learn of
//! revoked sessions and clients within the list's `ttl`.
//!
//! Routes:
//! - GET /statuslists/{n}

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;

const JWT: &str = "application/statuslist+jwt";
const JSON: &str = "application/statuslist+json";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(status_list))
}

/// A status list: bit `idx` (of a token's `status.status_list`) is 1 once the token's session or
/// client was revoked. Signed (`statuslist+jwt`) unless `Accept` asks for
/// `application/statuslist+json`; `ETag` / `If-None-Match` answer 304 while it is unchanged.
#[utoipa::path(get, path = "/statuslists/{n}", tag = "keys",
    params(("n" = u64, Path, description = "The list number, as in a token's `status.status_list.uri`")),
    responses(
        (status = 200, description = "The list", content_type = "application/statuslist+jwt", body = String),
        (status = 304, description = "Unchanged since the ETag given"),
        (status = 404, description = "No such list", body = super::error::ErrorBody)))]
pub async fn status_list(
    State(state): State<AppState>,
    Path(n): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Only plain decimal numbers name a list ("+1", "1e3" and the like do not).
    let n = (!n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.parse::<u64>().ok())
        .flatten()
        .ok_or_else(ApiError::not_found)?;
    let list = state.sesame.status_lists().get(n).await?;
    let json = wants_json(&headers);
    let (body, etag, content_type) = if json {
        (&list.json, &list.json_etag, JSON)
    } else {
        (&list.jwt, &list.jwt_etag, JWT)
    };
    let cache = format!("public, max-age={}", list.ttl);
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*");
    let mut res = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut res = Response::new(Body::from(body.clone()));
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        res
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    Ok(res)
}

/// The JSON form only when asked for by name and preferred to the JWT (absent or equal `q`:
/// the JWT, the draft's default).
fn wants_json(headers: &HeaderMap) -> bool {
    let mut json_q = None;
    let mut jwt_q = None;
    for item in headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            JSON => json_q = Some(json_q.map_or(q, |x: f32| x.max(q))),
            JWT => jwt_q = Some(jwt_q.map_or(q, |x: f32| x.max(q))),
            _ => {}
        }
    }
    match (json_q, jwt_q) {
        (Some(j), None) => j > 0.0,
        (Some(j), Some(t)) => j > t,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn the_json_form_only_when_asked_for_and_preferred() {
        assert!(!wants_json(&HeaderMap::new()));
        assert!(!wants_json(&accept("*/*")));
        assert!(!wants_json(&accept("application/json")));
        assert!(wants_json(&accept("application/statuslist+json")));
        assert!(wants_json(&accept("Application/StatusList+JSON; q=0.9")));
        assert!(!wants_json(&accept("application/statuslist+json;q=0")));
        assert!(!wants_json(&accept(
            "application/statuslist+jwt, application/statuslist+json"
        )));
        assert!(wants_json(&accept(
            "application/statuslist+jwt;q=0.5, application/statuslist+json"
        )));
    }
}
