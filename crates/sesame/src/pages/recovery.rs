//! Links from Sesame's mail: `/forgot-password` sends one, `/reset-password?token=` and
//! `/verify-email?token=` spend one.
//!
//! A GET never spends a token: mail scanners and link previews fetch every link in a message,
//! and a verification spent by a scanner would be a verification the person never made. The
//! GET shows a form (or one button); only its POST acts.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use sesame_core::CoreError;
use sesame_core::domain::Email;
use sesame_templates::{CheckEmail, ForgotPassword, ResetPassword, VerifyEmail};

use super::context::PageCtx;
use super::form::PageForm;
use crate::http::ratelimit::Class;

pub async fn forgot_show(ctx: PageCtx) -> Response {
    ctx.render(StatusCode::OK, &ForgotPassword::default())
}

pub async fn forgot_submit(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let form = ctx.checked(form)?;
    ctx.limit(Class::Forgot)?;
    let email = form.text("email");
    if let Err(problem) = Email::parse(email) {
        let fields = BTreeMap::from([("email".to_string(), vec![problem.to_string()])]);
        return Ok(ctx.render(
            StatusCode::BAD_REQUEST,
            &ForgotPassword {
                values: BTreeMap::from([("email".to_string(), email.to_string())]),
                errors: ctx.field_errors(&fields),
            },
        ));
    }
    match ctx
        .state
        .sesame
        .recovery()
        .forgot_password(email, &ctx.client)
        .await
    {
        // The same page whether or not the account exists.
        Ok(()) => Ok(ctx.render(
            StatusCode::OK,
            &CheckEmail {
                reason: "reset".to_string(),
            },
        )),
        Err(e) => Err(ctx.core_error(e)),
    }
}

fn token_of(ctx: &PageCtx) -> String {
    ctx.query("token").unwrap_or("").trim().to_string()
}

fn invalid_reset(ctx: &PageCtx, token: String) -> Response {
    ctx.render(
        StatusCode::BAD_REQUEST,
        &ResetPassword {
            token,
            token_invalid: true,
            errors: BTreeMap::new(),
        },
    )
}

pub async fn reset_show(ctx: PageCtx) -> Response {
    let token = token_of(&ctx);
    if token.is_empty() {
        return invalid_reset(&ctx, token);
    }
    ctx.render(
        StatusCode::OK,
        &ResetPassword {
            token,
            token_invalid: false,
            errors: BTreeMap::new(),
        },
    )
}

pub async fn reset_submit(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let form = ctx.checked(form)?;
    // A hash per request: the same per-address rate as `POST /auth/password/reset`.
    ctx.limit(Class::Login)?;
    let token = form.text("token").to_string();
    match ctx
        .state
        .sesame
        .recovery()
        .reset_password(&token, &form.secret("new_password"), &ctx.client)
        .await
    {
        Ok(_) => {
            // Every session ended, this browser's too.
            let mut res = ctx.redirect("/signin?notice=password-reset");
            PageCtx::clear_session(&mut res);
            Ok(res)
        }
        Err(CoreError::EmailTokenInvalid) => Ok(invalid_reset(&ctx, String::new())),
        Err(CoreError::Validation(f) | CoreError::WeakPassword(f)) => Ok(ctx.render(
            StatusCode::BAD_REQUEST,
            &ResetPassword {
                token,
                token_invalid: false,
                errors: ctx.field_errors(&f),
            },
        )),
        Err(e) => Err(ctx.core_error(e)),
    }
}

fn verify_page(ctx: &PageCtx, status: StatusCode, token: String, state: &str) -> Response {
    ctx.render(
        status,
        &VerifyEmail {
            token,
            state: state.to_string(),
        },
    )
}

pub async fn verify_show(ctx: PageCtx) -> Response {
    let token = token_of(&ctx);
    if token.is_empty() {
        return verify_page(&ctx, StatusCode::BAD_REQUEST, token, "invalid");
    }
    verify_page(&ctx, StatusCode::OK, token, "confirm")
}

pub async fn verify_submit(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let form = ctx.checked(form)?;
    match ctx
        .state
        .sesame
        .recovery()
        .verify_email(form.text("token"), &ctx.client)
        .await
    {
        Ok(_) => Ok(verify_page(&ctx, StatusCode::OK, String::new(), "verified")),
        Err(CoreError::EmailTokenInvalid | CoreError::EmailTaken) => Ok(verify_page(
            &ctx,
            StatusCode::BAD_REQUEST,
            String::new(),
            "invalid",
        )),
        Err(e) => Err(ctx.core_error(e)),
    }
}
