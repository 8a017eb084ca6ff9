//! `/signup`: a new account, signed in at once — or, when verified email is required, a page
//! that says to check the mail. `SESAME_SIGNUP=off` hides the page (404) and core refuses the
//! registration itself, for the JSON API as well.

use axum::http::StatusCode;
use axum::response::Response;
use secrecy::ExposeSecret;
use sesame_core::CoreError;
use sesame_core::accounts::Registration;
use sesame_templates::{CheckEmail, SignUp};
use std::collections::BTreeMap;

use super::context::PageCtx;
use super::form::PageForm;
use crate::http::ratelimit::Class;

fn enabled(ctx: &PageCtx) -> Result<(), Response> {
    if ctx.state.sesame.settings().signup_enabled {
        Ok(())
    } else {
        Err(ctx.error_page(
            StatusCode::NOT_FOUND,
            "error-not-found-title",
            "error-not-found",
        ))
    }
}

pub async fn show(ctx: PageCtx) -> Result<Response, Response> {
    enabled(&ctx)?;
    if ctx.session.is_some() {
        return Ok(ctx.redirect("/account"));
    }
    Ok(ctx.render(StatusCode::OK, &SignUp::default()))
}

pub async fn submit(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    enabled(&ctx)?;
    let form = ctx.checked(form)?;
    ctx.limit(Class::Register)?;
    let mut values = BTreeMap::new();
    values.insert("email".to_string(), form.text("email").to_string());
    values.insert("username".to_string(), form.text("username").to_string());
    let username = Some(form.text("username")).filter(|u| !u.is_empty());
    let registration = Registration {
        email: form.text("email").to_string(),
        password: form.secret("password"),
        username: username.map(str::to_string),
        client: ctx.client.clone(),
    };
    let failed = |status: StatusCode, errors: BTreeMap<String, String>| {
        ctx.render(
            status,
            &SignUp {
                values: values.clone(),
                errors,
                form_error: None,
            },
        )
    };
    let user = match ctx.state.sesame.accounts().register(registration).await {
        Ok(user) => user,
        Err(CoreError::Validation(f) | CoreError::WeakPassword(f)) => {
            return Ok(failed(StatusCode::BAD_REQUEST, ctx.field_errors(&f)));
        }
        Err(CoreError::EmailTaken) => {
            let e = BTreeMap::from([("email".to_string(), ctx.message("signup-email-taken", &[]))]);
            return Ok(failed(StatusCode::CONFLICT, e));
        }
        Err(CoreError::UsernameTaken) => {
            let e = BTreeMap::from([(
                "username".to_string(),
                ctx.message("signup-username-taken", &[]),
            )]);
            return Ok(failed(StatusCode::CONFLICT, e));
        }
        Err(CoreError::SignupDisabled) => {
            return Err(ctx.error_page(
                StatusCode::NOT_FOUND,
                "error-not-found-title",
                "error-not-found",
            ));
        }
        Err(e) => return Err(ctx.core_error(e)),
    };
    let replacing = ctx.session.as_ref().map(|s| s.session_id);
    match ctx
        .state
        .sesame
        .sessions()
        .start_browser_session(&user, &ctx.client, replacing)
        .await
    {
        Ok(signed_in) => {
            let mut res = ctx.redirect("/account");
            PageCtx::set_session(&mut res, signed_in.cookie.expose_secret());
            Ok(res)
        }
        Err(CoreError::EmailNotVerified) => Ok(ctx.redirect("/signup/check-email")),
        Err(e) => Err(ctx.core_error(e)),
    }
}

/// Where sign-up lands when the address must be verified before signing in.
pub async fn check_email(ctx: PageCtx) -> Response {
    ctx.render(
        StatusCode::OK,
        &CheckEmail {
            reason: "verify".to_string(),
        },
    )
}
