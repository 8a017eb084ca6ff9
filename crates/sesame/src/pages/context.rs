//! [`PageCtx`]: what every page handler starts from — the language, the browser's anti-forgery
//! binding, its session (if signed in), the caller, the query — and the ways a page answers:
//! a rendered template with the status of what happened, a 303, or an error page.
//!
//! Cookies the response must set (a new binding, a chosen language, a session) are added here,
//! so a handler cannot forget them.

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sesame_core::CoreError;
use sesame_core::error::FieldErrors;
use sesame_core::form_tokens::FormTokens;
use sesame_core::sessions::{BrowserSession, ClientInfo};
use sesame_templates::{ErrorPage, Lang, Layout, MessageArg, Page, SignedIn};

use super::cookies;
use super::form::{Fields, PageForm};
use super::lang;
use super::return_to::ReturnTo;
use crate::http::AppState;
use crate::http::error::attach_cause;
use crate::http::extract::client_ip;
use crate::http::ratelimit::Class;

/// Notices a page may show after a redirect (`?notice=`), by catalogue id `notice-<name>`. Only
/// these: a notice is never text from the URL.
const NOTICES: &[&str] = &[
    "profile-saved",
    "email-change-sent",
    "password-changed",
    "password-reset",
    "session-ended",
    "sessions-ended",
    "signed-out",
    "app-removed",
    "mfa-removed",
    "mfa-enroll-required",
    "user-unlocked",
    "user-enabled",
    "user-disabled",
    "user-signed-out",
    "client-deleted",
    "webhook-deleted",
    "user-deleted",
    "roles-saved",
    "factors-removed",
    "passkey-added",
    "passkey-removed",
    "passkey-renamed",
    "identity-linked",
    "identity-unlinked",
    "keys-rotated",
];

pub struct PageCtx {
    pub state: AppState,
    pub lang: Lang,
    remember_lang: bool,
    binding: String,
    fresh_binding: bool,
    /// The browser's live session, when signed in.
    pub session: Option<BrowserSession>,
    pub client: ClientInfo,
    /// The caller's address (rate limits are keyed by it).
    pub ip: Option<std::net::IpAddr>,
    query: Vec<(String, String)>,
    /// The path and query of this request (where to come back to after signing in).
    pub here: String,
    /// The `mfa_token` of a sign-in waiting for its second factor (its cookie).
    pub mfa_token: Option<secrecy::SecretString>,
    /// The `state` of a sign-in sent to an upstream provider (its cookie).
    pub upstream_state: Option<String>,
}

/// Never the binding, the query or the path: the query carries the tokens of reset and
/// verification links.
impl std::fmt::Debug for PageCtx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCtx")
            .field("lang", &self.lang)
            .field("session", &self.session.as_ref().map(|s| s.session_id))
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

impl FromRequestParts<AppState> for PageCtx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let q_lang = query
            .iter()
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.as_str());
        let chosen = lang::choose(q_lang, &parts.headers);
        let (binding, fresh_binding) = match cookies::get(&parts.headers, cookies::CSRF) {
            Some(b) if FormTokens::is_binding(b) => (b.to_string(), false),
            _ => (FormTokens::new_binding(), true),
        };
        let addr = client_ip(parts, &state.http.trusted_proxies);
        let ip = addr.map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut ctx = PageCtx {
            state: state.clone(),
            lang: chosen.lang,
            remember_lang: chosen.remember,
            binding,
            fresh_binding,
            session: None,
            client: ClientInfo { ip, user_agent },
            ip: addr,
            query,
            here: parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
            mfa_token: cookies::get(&parts.headers, cookies::MFA)
                .map(|t| secrecy::SecretString::from(t.to_string())),
            upstream_state: cookies::get(&parts.headers, cookies::UPSTREAM).map(str::to_string),
        };
        if let Some(cookie) = cookies::get(&parts.headers, cookies::SESSION) {
            match state.sesame.sessions().browser_session(cookie).await {
                Ok(s) => ctx.session = s,
                Err(e) => return Err(ctx.core_error(e)),
            }
        }
        Ok(ctx)
    }
}

impl PageCtx {
    /// A query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every query parameter, in order, repeated ones included.
    pub fn query_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.query.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The `return_to` of the query, if it is a same-origin path.
    pub fn return_to(&self) -> Option<ReturnTo> {
        self.query("return_to").and_then(ReturnTo::parse)
    }

    /// This page's address without `lang` (the language links add their own).
    fn here_without_lang(&self) -> String {
        let path = self.here.split('?').next().unwrap_or("/");
        let rest: Vec<&(String, String)> = self.query.iter().filter(|(k, _)| k != "lang").collect();
        if rest.is_empty() {
            return path.to_string();
        }
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in rest {
            q.append_pair(k, v);
        }
        format!("{path}?{}", q.finish())
    }

    /// The signed-in session, or a 303 to the sign-in page that comes back here.
    pub fn signed_in(&self) -> Result<&BrowserSession, Response> {
        self.session.as_ref().ok_or_else(|| {
            let back: String = url::form_urlencoded::byte_serialize(self.here.as_bytes()).collect();
            self.redirect(&format!("/signin?return_to={back}"))
        })
    }

    /// The fields of a posted form, or the 403 page when it failed the anti-forgery checks.
    pub fn checked(&self, form: PageForm) -> Result<Fields, Response> {
        form.0.map_err(|why| {
            tracing::info!(?why, "page form refused");
            self.error_page(StatusCode::FORBIDDEN, "error-csrf-title", "error-csrf")
        })
    }

    /// "Try again in N minutes" for a lockout with `retry_after_secs` left (minutes rounded up).
    pub fn locked_message(&self, retry_after_secs: u64) -> String {
        let minutes = retry_after_secs.div_ceil(60).max(1);
        self.message(
            "signin-locked",
            &[("minutes", MessageArg::Num(minutes as f64))],
        )
    }

    /// A message of the catalogue in the page's language.
    pub fn message(&self, id: &str, args: &[(&str, MessageArg)]) -> String {
        self.state.pages.templates.message(self.lang, id, args)
    }

    /// Field errors from core, in the page's language: core's messages are English sentences;
    /// the catalogue holds each under `core-<the sentence, slugged>`, and a sentence it does not
    /// know is shown as it is rather than lost.
    pub fn field_errors(&self, fields: &FieldErrors) -> BTreeMap<String, String> {
        fields
            .iter()
            .map(|(field, messages)| {
                let text = messages
                    .iter()
                    .map(|m| {
                        let id = core_message_id(m);
                        let t = self.message(&id, &[]);
                        if t == id { m.clone() } else { t }
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                (field.clone(), text)
            })
            .collect()
    }

    fn layout(&self) -> Layout {
        let notice = self
            .query("notice")
            .filter(|n| NOTICES.contains(n))
            .map(|n| self.message(&format!("notice-{n}"), &[]));
        Layout {
            csrf_token: self.state.sesame.form_tokens().token(&self.binding),
            signed_in: self.session.as_ref().map(|s| SignedIn {
                display_name: s.user.display_name.clone(),
                email: s.user.email.clone(),
            }),
            notice,
            signup_enabled: self.state.sesame.settings().signup_enabled,
            here: self.here_without_lang(),
        }
    }

    /// Renders `page` with `status`.
    pub fn render<P: Page>(&self, status: StatusCode, page: &P) -> Response {
        match self
            .state
            .pages
            .templates
            .render(self.lang, &self.layout(), page)
        {
            Ok(html) => {
                let mut res = (
                    status,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    html,
                )
                    .into_response();
                self.add_cookies(&mut res);
                res
            }
            Err(e) => {
                let mut res = (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "Internal server error.",
                )
                    .into_response();
                attach_cause(&mut res, Box::new(e));
                res
            }
        }
    }

    /// A 303 to `location`: a same-origin path, or an app's registered redirect URI as the
    /// authorization endpoint and RP logout checked it.
    pub fn redirect(&self, location: &str) -> Response {
        let mut res = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(location) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        self.add_cookies(&mut res);
        res
    }

    /// An error page: `title_id` and `message_id` are catalogue ids.
    pub fn error_page(&self, status: StatusCode, title_id: &str, message_id: &str) -> Response {
        self.render(
            status,
            &ErrorPage {
                status: status.as_u16(),
                title_id: title_id.to_string(),
                message_id: message_id.to_string(),
            },
        )
    }

    /// The page for an error no form can show: the store or the service failing, a session
    /// that ended meanwhile. 5xx causes go to the log (via the error middleware), never to the page.
    pub fn core_error(&self, e: CoreError) -> Response {
        match e {
            CoreError::TokenRevoked | CoreError::TokenInvalid | CoreError::TokenExpired => {
                self.redirect("/signin")
            }
            CoreError::Forbidden => self.error_page(
                StatusCode::FORBIDDEN,
                "error-forbidden-title",
                "error-forbidden",
            ),
            CoreError::StepUpRequired => self.error_page(
                StatusCode::FORBIDDEN,
                "error-step-up-title",
                "error-step-up",
            ),
            CoreError::NotFound => self.error_page(
                StatusCode::NOT_FOUND,
                "error-not-found-title",
                "error-not-found",
            ),
            CoreError::Busy { retry_after_secs } => {
                let mut res = self.error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "error-unavailable-title",
                    "error-unavailable",
                );
                retry_after(&mut res, retry_after_secs);
                res
            }
            CoreError::Unavailable(cause) => {
                let mut res = self.error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "error-unavailable-title",
                    "error-unavailable",
                );
                retry_after(&mut res, 1);
                attach_cause(&mut res, Box::new(cause));
                res
            }
            CoreError::Internal(cause) => {
                let mut res = self.error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error-internal-title",
                    "error-internal",
                );
                attach_cause(&mut res, cause);
                res
            }
            other => {
                // Every expected outcome is handled by the page that can cause it; reaching
                // here is a bug, shown as a 500 whose cause is logged.
                let mut res = self.error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error-internal-title",
                    "error-internal",
                );
                attach_cause(
                    &mut res,
                    format!("unexpected outcome on a page: {other}").into(),
                );
                res
            }
        }
    }

    /// The per-address rate limit of `class`, shared with the JSON API: over it, the 429 page.
    pub fn limit(&self, class: Class) -> Result<(), Response> {
        match self.ip {
            Some(ip) => self
                .state
                .limits
                .check(class, ip)
                .map_err(|wait| self.rate_limited(wait)),
            None => Ok(()),
        }
    }

    /// 429 with `Retry-After`, for the rate limits the JSON API shares.
    pub fn rate_limited(&self, retry_after_secs: u64) -> Response {
        let mut res = self.error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "error-rate-limited-title",
            "error-rate-limited",
        );
        retry_after(&mut res, retry_after_secs);
        res
    }

    /// Sets the session cookie of a fresh sign-in on `res`.
    pub fn set_session(res: &mut Response, cookie: &str) {
        if let Some(v) = cookies::set_private(cookies::SESSION, cookie) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }

    /// Sets the cookie of a sign-in waiting for its second factor.
    /// Binds an upstream sign-in to this browser (see [`cookies::UPSTREAM`]).
    pub fn set_upstream(res: &mut Response, state: &str) {
        if let Some(v) = cookies::set_private(cookies::UPSTREAM, state) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }

    pub fn clear_upstream(res: &mut Response) {
        res.headers_mut()
            .append(header::SET_COOKIE, cookies::clear(cookies::UPSTREAM));
    }

    pub fn set_mfa(res: &mut Response, token: &str) {
        if let Some(v) = cookies::set_private(cookies::MFA, token) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }

    /// Deletes the cookie of a second step (finished, or expired).
    pub fn clear_mfa(res: &mut Response) {
        res.headers_mut()
            .append(header::SET_COOKIE, cookies::clear(cookies::MFA));
    }

    /// Deletes the session cookie.
    pub fn clear_session(res: &mut Response) {
        res.headers_mut()
            .append(header::SET_COOKIE, cookies::clear(cookies::SESSION));
    }

    fn add_cookies(&self, res: &mut Response) {
        if self.fresh_binding
            && let Some(v) = cookies::set_private(cookies::CSRF, &self.binding)
        {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        if self.remember_lang
            && let Some(v) = cookies::set_lang(self.lang.code())
        {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

pub fn retry_after(res: &mut Response, secs: u64) {
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
}

/// The catalogue id of one of core's English field messages: `core-` and the sentence in
/// lower-case words joined by `-` (`must be at least 8 characters` → `core-must-be-at-least-8-characters`).
pub fn core_message_id(message: &str) -> String {
    let mut id = String::from("core");
    let mut dash = true;
    for c in message.chars() {
        if c.is_ascii_alphanumeric() {
            if dash {
                id.push('-');
            }
            id.push(c.to_ascii_lowercase());
            dash = false;
        } else {
            dash = true;
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_messages_map_to_stable_catalogue_ids() {
        assert_eq!(
            core_message_id("must be at least 8 characters"),
            "core-must-be-at-least-8-characters"
        );
        assert_eq!(
            core_message_id("may contain only letters, digits, '_', '.' and '-'"),
            "core-may-contain-only-letters-digits-and"
        );
    }
}
