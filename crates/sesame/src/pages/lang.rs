//! The language of a page: `?lang=` (then remembered in a cookie), else the cookie, else the
//! browser's `Accept-Language`, else English.

use axum::http::{HeaderMap, header};
use sesame_templates::Lang;

use super::cookies;

/// The page's language, and whether the response must remember a `?lang=` choice.
#[derive(Debug, Clone, Copy)]
pub struct Chosen {
    pub lang: Lang,
    pub remember: bool,
}

pub fn choose(query_lang: Option<&str>, headers: &HeaderMap) -> Chosen {
    if let Some(lang) = query_lang.and_then(Lang::parse) {
        return Chosen {
            lang,
            remember: true,
        };
    }
    if let Some(lang) = cookies::get(headers, cookies::LANG).and_then(Lang::parse) {
        return Chosen {
            lang,
            remember: false,
        };
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Chosen {
        lang: Lang::negotiate(accept),
        remember: false,
    }
}
