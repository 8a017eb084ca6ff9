//! `/signin` and `/signout`: the browser session begins and ends here.
//!
//! The sign-in goes through the same use-case as `POST /auth/login` (lockout per source, the
//! dummy hash for unknown accounts, audit, metrics) and the same per-address rate limit; it
//! differs only in what it hands out: a browser session cookie instead of tokens.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use sesame_core::CoreError;
use sesame_core::sessions::BrowserLogin;
use sesame_templates::{SignIn, SignOut};

use super::context::{PageCtx, retry_after};
use super::form::PageForm;
use super::return_to::ReturnTo;
use crate::http::ratelimit::Class;

pub async fn show(ctx: PageCtx) -> Response {
    if ctx.session.is_some() {
        let to = ctx.return_to().unwrap_or_else(ReturnTo::account);
        return ctx.redirect(to.as_str());
    }
    ctx.render(
        StatusCode::OK,
        &SignIn {
            identifier: String::new(),
            return_to: ctx.return_to().map(|r| r.as_str().to_string()),
            form_error: None,
            locked_seconds: None,
            providers: Vec::new(),
        },
    )
}

pub async fn submit(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let form = ctx.checked(form)?;
    let identifier = form.text("identifier").to_string();
    let return_to = ReturnTo::parse(form.text("return_to"));
    let page = |form_error: Option<String>, locked_seconds: Option<u64>| SignIn {
        identifier: identifier.clone(),
        return_to: return_to.as_ref().map(|r| r.as_str().to_string()),
        form_error,
        locked_seconds,
        providers: Vec::new(),
    };
    ctx.limit(Class::Login)?;
    let input = BrowserLogin {
        login: identifier.clone(),
        password: form.secret("password"),
        client: ctx.client.clone(),
        replacing: ctx.session.as_ref().map(|s| s.session_id),
    };
    match ctx.state.sesame.sessions().sign_in_browser(input).await {
        Ok(signed_in) => {
            use secrecy::ExposeSecret;
            let to = return_to.unwrap_or_else(ReturnTo::account);
            let mut res = ctx.redirect(to.as_str());
            PageCtx::set_session(&mut res, signed_in.cookie.expose_secret());
            Ok(res)
        }
        Err(CoreError::InvalidCredentials) => {
            let mut res = ctx.render(
                StatusCode::UNAUTHORIZED,
                &page(Some(ctx.message("signin-invalid", &[])), None),
            );
            // HTTP requires a challenge on every 401; a page's is the form itself.
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Form"));
            Ok(res)
        }
        Err(CoreError::AccountLocked { retry_after_secs }) => {
            let message = ctx.locked_message(retry_after_secs);
            let mut res = ctx.render(
                StatusCode::FORBIDDEN,
                &page(Some(message), Some(retry_after_secs)),
            );
            retry_after(&mut res, retry_after_secs);
            Ok(res)
        }
        Err(CoreError::AccountDisabled) => Ok(ctx.render(
            StatusCode::FORBIDDEN,
            &page(Some(ctx.message("signin-disabled", &[])), None),
        )),
        Err(CoreError::EmailNotVerified) => Ok(ctx.render(
            StatusCode::FORBIDDEN,
            &page(Some(ctx.message("signin-email-not-verified", &[])), None),
        )),
        // The password alone must not open a browser session of a user with a second factor.
        Err(CoreError::MfaRequired(_)) => Ok(ctx.render(
            StatusCode::FORBIDDEN,
            &page(Some(ctx.message("signin-mfa-unsupported", &[])), None),
        )),
        Err(e) => Err(ctx.core_error(e)),
    }
}

pub async fn signout_show(ctx: PageCtx) -> Response {
    if ctx.session.is_none() {
        return ctx.redirect("/signin");
    }
    ctx.render(StatusCode::OK, &SignOut {})
}

pub async fn signout_submit(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    ctx.checked(form)?;
    if let Some(session) = &ctx.session
        && let Err(e) = ctx
            .state
            .sesame
            .sessions()
            .sign_out_browser(session.session_id, &ctx.client)
            .await
    {
        return Err(ctx.core_error(e));
    }
    let mut res = ctx.redirect("/signin?notice=signed-out");
    PageCtx::clear_session(&mut res);
    Ok(res)
}
