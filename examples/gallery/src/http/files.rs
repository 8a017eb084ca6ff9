//! The public image files: no token needed, only the URL a resource gave out.
//!
//! Routes:
//! - GET /images/files/{sha256}.{ext} → the bytes, with the type sniffed at upload
//!
//! The URL names the content (its SHA-256), so it changes when an image's bytes change and is
//! shared by resources with equal bytes; it answers 404 once no resource references the bytes.
//! Hence `no-cache` with an `ETag` (revalidation is cheap) rather than a long max-age that would
//! keep deleted images in caches. `nosniff` and a sandboxing CSP make sure a browser treats the
//! bytes as nothing but an image.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;
use crate::image::{ContentHash, ImageKind};

pub fn router() -> Router<AppState> {
    Router::new().route("/images/files/{name}", get(file))
}

/// The public URL of the file with `hash`, stored as `kind`.
pub fn url(public_url: &str, hash: &ContentHash, kind: ImageKind) -> String {
    format!("{public_url}/images/files/{hash}.{}", kind.extension())
}

fn parse_name(name: &str) -> Option<(ContentHash, ImageKind)> {
    let (hash, ext) = name.split_once('.')?;
    Some((ContentHash::parse(hash)?, ImageKind::from_extension(ext)?))
}

async fn file(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (hash, kind) = parse_name(&name).ok_or_else(ApiError::not_found)?;
    let bytes = state.gallery.open_file(&hash, kind).await?;
    let etag = format!("\"{hash}\"");
    let common = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, "public, no-cache".to_string()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox".to_string(),
        ),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    let mut res = (common, bytes).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(kind.content_type()),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hash_dot_known_extension_names_a_file() {
        let h = "a".repeat(64);
        assert!(parse_name(&format!("{h}.png")).is_some());
        assert!(parse_name(&format!("{h}.jpg")).is_some());
        assert!(parse_name(&format!("{h}.svg")).is_none());
        assert!(parse_name(&format!("{h}.png.html")).is_none());
        assert!(parse_name(&h).is_none());
        assert!(parse_name("..%2f..%2fetc%2fpasswd.png").is_none());
    }
}
