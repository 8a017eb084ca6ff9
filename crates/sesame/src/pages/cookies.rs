//! The cookies of Sesame's pages, read and written in one place so their attributes cannot
//! drift apart.
//!
//! All carry the `__Host-` prefix: the browser then accepts them only with `Secure`, `Path=/` and
//! no `Domain`, so neither plain HTTP nor a sibling subdomain can plant or overwrite them. They
//! are session cookies (no `Max-Age`), except the language, which is a preference and is kept.

use axum::http::{HeaderMap, HeaderValue, header};

/// The browser session (API.md: `Secure; HttpOnly; SameSite=Lax; Path=/`).
pub const SESSION: &str = "__Host-sesame";
/// The anti-forgery binding (see `sesame_core::form_tokens`).
pub const CSRF: &str = "__Host-sesame-csrf";
/// The second step of a sign-in: the `mfa_token` of a right password, until a code finishes
/// it (kept out of the URL: it is a credential for five minutes).
pub const MFA: &str = "__Host-sesame-mfa";
/// A sign-in sent to an upstream provider: its `state`, which the callback must match (binds
/// the callback to the browser that started it: no login CSRF with a planted callback URL).
pub const UPSTREAM: &str = "__Host-sesame-upstream";
/// The language chosen with `?lang=`.
pub const LANG: &str = "__Host-sesame-lang";

/// A year: how long a chosen language is remembered.
const LANG_MAX_AGE: u64 = 365 * 24 * 3600;

/// The value of cookie `name` in the request (the first, if sent twice).
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// `Set-Cookie` for an HttpOnly cookie (session, CSRF binding).
pub fn set_private(name: &str, value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}={value}; Secure; HttpOnly; SameSite=Lax; Path=/"
    ))
    .ok()
}

/// `Set-Cookie` that deletes an HttpOnly cookie.
pub fn clear(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}=; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` for the chosen language (not HttpOnly: it is no secret).
pub fn set_lang(code: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{LANG}={code}; Secure; SameSite=Lax; Path=/; Max-Age={LANG_MAX_AGE}"
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_named_cookie_among_several_headers() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-sesame=xyz"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-sesame-csrf=abc"),
        );
        assert_eq!(get(&h, SESSION), Some("xyz"));
        assert_eq!(get(&h, CSRF), Some("abc"));
        assert_eq!(get(&h, LANG), None);
        assert_eq!(get(&h, "__Host-sesam"), None, "no prefix match");
    }

    #[test]
    fn private_cookies_carry_every_attribute_of_the_contract() {
        let v = set_private(SESSION, "v").unwrap();
        let v = v.to_str().unwrap();
        for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(v.contains(attr), "{v} lacks {attr}");
        }
        assert!(!v.contains("Domain"), "__Host- forbids Domain");
        assert!(clear(SESSION).to_str().unwrap().contains("Max-Age=0"));
    }
}
