//! A page's form post, accepted only when it comes from one of Sesame's own pages.
//!
//! Two independent checks, so that one browser quirk cannot open the door: the anti-forgery
//! token must match the browser's binding cookie (`sesame_core::form_tokens`), and the request
//! must not say it comes from another site — `Sec-Fetch-Site: cross-site`, or an `Origin` that
//! names another host. `Origin: null` alone is not cross-site: with `Referrer-Policy:
//! no-referrer` browsers send it on same-origin posts too (API.md).
//!
//! The fields are reachable only through [`super::context::PageCtx::checked`], which renders the
//! 403 page when a check failed: a handler cannot read an unchecked form by mistake.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use secrecy::SecretString;

use super::cookies;
use crate::http::AppState;

/// Why a post was refused (logged at debug level; the page says only "refused").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    CrossSite,
    BadToken,
    NotAForm,
}

/// The posted fields, or why they must not be used.
pub struct PageForm(pub(super) Result<Fields, Refused>);

/// Form fields by name (the first value of each); `Debug` shows names only, never values
/// (passwords are among them).
pub struct Fields(HashMap<String, String>, Vec<(String, String)>);

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl std::fmt::Debug for PageForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PageForm").field(&self.0).finish()
    }
}

impl Fields {
    /// A text field, trimmed; `""` when absent.
    pub fn text(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.trim())
    }

    /// A text field that may be absent (`None`) or empty (`Some("")`).
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim())
    }

    /// Every field as posted, in order, repeated ones included (a consent form carries an
    /// authorization request back, and `resource` may repeat).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.1.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A password field, untrimmed (spaces are part of a password).
    pub fn secret(&self, name: &str) -> SecretString {
        SecretString::from(self.0.get(name).cloned().unwrap_or_default())
    }
}

impl FromRequest<AppState> for PageForm {
    type Rejection = std::convert::Infallible;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        if is_cross_site(
            &parts.headers,
            parts.uri.authority().map(|a| a.as_str()),
            &state.pages.public_origin,
        ) {
            return Ok(PageForm(Err(Refused::CrossSite)));
        }
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Ok(PageForm(Err(Refused::NotAForm)));
        }
        let binding = cookies::get(&parts.headers, cookies::CSRF)
            .unwrap_or("")
            .to_string();
        let Ok(bytes) = Bytes::from_request(Request::from_parts(parts, body), state).await else {
            return Ok(PageForm(Err(Refused::NotAForm)));
        };
        let mut fields = HashMap::new();
        let mut pairs = Vec::new();
        for (k, v) in url::form_urlencoded::parse(&bytes) {
            pairs.push((k.to_string(), v.to_string()));
            fields
                .entry(k.into_owned())
                .or_insert_with(|| v.into_owned());
        }
        let token = fields.get("csrf_token").map_or("", String::as_str);
        if !state.sesame.form_tokens().check(&binding, token) {
            return Ok(PageForm(Err(Refused::BadToken)));
        }
        Ok(PageForm(Ok(Fields(fields, pairs))))
    }
}

/// Whether the request says it comes from another site.
///
/// `authority`: the request's own host (HTTP/2 `:authority`, else `Host`); `public`: the origin
/// of `SESAME_PUBLIC_URL`, accepted too because a proxy may rewrite `Host`.
pub fn is_cross_site(headers: &HeaderMap, authority: Option<&str>, public: &str) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Old browsers send no Origin on same-origin posts; the token still has to match.
        return false;
    };
    if origin == "null" {
        return false;
    }
    let host = authority.or_else(|| headers.get(header::HOST).and_then(|v| v.to_str().ok()));
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .trim_end_matches('/');
    let same_host = host.is_some_and(|h| h.eq_ignore_ascii_case(origin_host));
    let same_public = origin.trim_end_matches('/').eq_ignore_ascii_case(public);
    !(same_host || same_public)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    const PUBLIC: &str = "https://id.example.com";

    #[test]
    fn same_origin_posts_pass() {
        let h = headers(&[
            ("origin", "https://localhost:8443"),
            ("host", "localhost:8443"),
        ]);
        assert!(!is_cross_site(&h, None, PUBLIC));
        let h = headers(&[
            ("origin", "https://id.example.com"),
            ("host", "10.0.0.5:8443"),
        ]);
        assert!(
            !is_cross_site(&h, None, PUBLIC),
            "the public origin behind a proxy"
        );
        let h = headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]);
        assert!(
            !is_cross_site(&h, Some("localhost:8443"), PUBLIC),
            "Origin: null alone"
        );
        assert!(
            !is_cross_site(&headers(&[]), Some("localhost"), PUBLIC),
            "no Origin at all"
        );
    }

    #[test]
    fn another_site_is_refused() {
        let h = headers(&[
            ("origin", "https://evil.example"),
            ("host", "localhost:8443"),
        ]);
        assert!(is_cross_site(&h, None, PUBLIC));
        let h = headers(&[
            ("origin", "https://localhost:8443.evil.example"),
            ("host", "localhost:8443"),
        ]);
        assert!(is_cross_site(&h, None, PUBLIC));
        let h = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(is_cross_site(&h, Some("localhost:8443"), PUBLIC));
        let h = headers(&[("origin", "null"), ("sec-fetch-site", "cross-site")]);
        assert!(
            is_cross_site(&h, Some("localhost:8443"), PUBLIC),
            "null with cross-site"
        );
    }
}
