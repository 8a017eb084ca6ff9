//! Sesame's own pages for people in a browser (API.md "Pages (people in a browser)"):
//! sign-in, sign-up, recovery, the account, sign-out.
//!
//! The layer is split like the JSON one: this module tree holds the routes and the browser's
//! extractors — [`context::PageCtx`] (language, session, anti-forgery binding) and
//! [`form::PageForm`] (a checked form post) — and each page module extracts, calls a
//! `sesame-core` use-case and renders. Templates, messages and the stylesheet live in the
//! `sesame-templates` crate; the browser session's rules in `sesame_core::sessions::browser`.
//! docs/pages.md is the operator's and template author's guide.

// Page helpers answer early with the page itself (`Result<_, Response>`, used with `?`): the
// response is built once per request and returned whole either way, so boxing it would only
// add an allocation.
#![allow(clippy::result_large_err)]

mod account;
mod assets;
mod authorize;
mod console;
mod console_chart;
mod console_more;
mod console_webhooks;
mod context;
mod cookies;
mod form;
mod headers;
mod lang;
mod passkeys;
mod recovery;
pub mod return_to;
mod second_factor;
mod signin;
mod signup;
mod upstream;

use std::path::Path;

use axum::routing::{get, post};
use axum::{Router, middleware};
use sesame_templates::{Branding, TemplateError, Templates};

use crate::http::AppState;

pub use headers::CSP;

/// What the pages share: the loaded templates, and the origin forms may come from.
#[derive(Debug)]
pub struct Pages {
    pub templates: Templates,
    /// The origin of `SESAME_PUBLIC_URL` (`https://id.example.com`), accepted as a form post's
    /// `Origin` besides the request's own host.
    pub public_origin: String,
}

impl Pages {
    /// The pages as the configuration sets them up (templates dir, product name, colour).
    pub fn from_config(config: &crate::Config) -> Result<Self, TemplateError> {
        Pages::load(
            config.pages.templates_dir.as_deref(),
            Branding {
                product_name: config.settings.product_name.clone(),
                accent_color: config.pages.brand_color.clone(),
            },
            &config.settings.public_url,
        )
    }

    /// Loads the built-in templates and the operator's overrides, checking every override
    /// against the documented variables (a broken one stops the start, naming the file).
    pub fn load(
        overrides: Option<&Path>,
        branding: Branding,
        public_url: &str,
    ) -> Result<Self, TemplateError> {
        let templates = Templates::load(overrides, branding)?;
        let public_origin = url::Url::parse(public_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        Ok(Pages {
            templates,
            public_origin,
        })
    }
}

/// Every page route; each also answers with a trailing slash (the service's normalising layer).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin", get(signin::show).post(signin::submit))
        .route(
            "/signin/mfa",
            get(signin::mfa_show).post(signin::mfa_submit),
        )
        .route("/signin/{id}", get(upstream::start))
        .route("/signin/{id}/callback", get(upstream::callback))
        .route("/account/security/identities/link", post(upstream::link))
        .route(
            "/account/security/identities/{id}/unlink",
            post(upstream::unlink),
        )
        .route("/signin/passkey", post(passkeys::sign_in))
        .route("/signin/passkey/start", post(passkeys::sign_in_start))
        .route("/account/security/passkeys", post(passkeys::add))
        .route(
            "/account/security/passkeys/start",
            post(passkeys::add_start),
        )
        .route(
            "/account/security/passkeys/{id}/rename",
            post(passkeys::rename),
        )
        .route(
            "/account/security/passkeys/{id}/remove",
            post(passkeys::remove),
        )
        .route(
            "/signout",
            get(signin::signout_show).post(signin::signout_submit),
        )
        .route("/signup", get(signup::show).post(signup::submit))
        .route("/signup/check-email", get(signup::check_email))
        .route(
            "/forgot-password",
            get(recovery::forgot_show).post(recovery::forgot_submit),
        )
        .route(
            "/reset-password",
            get(recovery::reset_show).post(recovery::reset_submit),
        )
        .route(
            "/verify-email",
            get(recovery::verify_show).post(recovery::verify_submit),
        )
        .route(
            "/account",
            get(account::profile_show).post(account::profile_submit),
        )
        .route("/account/security", get(account::security_show))
        .route("/account/security/password", post(account::password_submit))
        .route("/account/security/totp", post(second_factor::totp_begin))
        .route(
            "/account/security/totp/confirm",
            post(second_factor::totp_confirm),
        )
        .route(
            "/account/security/totp/remove",
            post(second_factor::totp_remove),
        )
        .route(
            "/account/security/recovery-codes",
            post(second_factor::recovery_codes),
        )
        .route("/account/sessions", get(account::sessions_show))
        .route(
            "/account/sessions/end-others",
            post(account::sessions_end_others),
        )
        .route("/account/sessions/{id}/end", post(account::session_end))
        .route("/console", get(console::home))
        .route("/console/users", get(console::users))
        .route("/console/users/{id}", get(console::user))
        .route("/console/users/{id}/{action}", post(console::act))
        .route(
            "/console/clients",
            get(console_more::clients).post(console_more::client_create),
        )
        .route(
            "/console/clients/{id}/delete",
            post(console_more::client_delete),
        )
        .route("/console/keys", get(console_more::keys))
        .route("/console/keys/rotate", post(console_more::keys_rotate))
        .route("/console/audit", get(console_more::audit))
        .route(
            "/console/webhooks",
            get(console_webhooks::list).post(console_webhooks::create),
        )
        .route("/console/webhooks/{id}", get(console_webhooks::deliveries))
        .route(
            "/console/webhooks/{id}/delete",
            post(console_webhooks::delete),
        )
        .route("/account/apps", get(account::apps_show))
        .route("/account/apps/revoke", post(account::apps_revoke))
        .route(
            "/oauth/authorize",
            get(authorize::authorize).post(authorize::decide),
        )
        .route("/oauth/logout", get(authorize::logout))
        .route("/static/sesame.css", get(assets::css))
        .route("/static/passkeys.js", get(assets::passkeys_js))
        .layer(middleware::from_fn(headers::page_headers))
}
