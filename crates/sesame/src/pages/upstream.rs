//! Sign in with another provider on the pages (issue #22): `GET /signin/{id}` sends the browser
//! to the provider; `GET /signin/{id}/callback` comes back, and the person is signed in (or
//! asked for their second factor, or told why not). Linking from `/account/security` starts
//! the same way, by a form (anti-forgery token), and ends on the security page.
//!
//! The `state` travels in the URL and in an HttpOnly cookie of this browser; the callback needs
//! both to match, so a callback URL planted in another browser signs nobody in there.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::ExposeSecret;
use sesame_core::CoreError;
use sesame_core::upstream::Callback;
use sesame_templates::SignIn;
use uuid::Uuid;

use super::context::PageCtx;
use super::form::PageForm;
use super::return_to::ReturnTo;
use crate::http::ratelimit::Class;

/// The providers' buttons of the sign-in page.
pub(super) fn buttons(ctx: &PageCtx) -> Vec<sesame_templates::Provider> {
    ctx.state
        .sesame
        .upstream()
        .providers()
        .into_iter()
        .map(|(id, name)| sesame_templates::Provider { id, name })
        .collect()
}

/// `GET /signin/{id}`: to the provider (`return_to` kept for afterwards).
pub async fn start(ctx: PageCtx, Path(id): Path<String>) -> Result<Response, Response> {
    ctx.limit(Class::Login)?;
    let return_to = ctx.return_to().map(|r| r.as_str().to_string());
    go(&ctx, &id, return_to, None).await
}

/// `POST /account/security/identities/link`: `provider` — link it to the signed-in account.
pub async fn link(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let form = ctx.checked(form)?;
    let user_id = session.user.id;
    go(&ctx, form.text("provider"), None, Some(user_id)).await
}

async fn go(
    ctx: &PageCtx,
    id: &str,
    return_to: Option<String>,
    link_user: Option<Uuid>,
) -> Result<Response, Response> {
    match ctx
        .state
        .sesame
        .upstream()
        .begin(id, return_to, link_user)
        .await
    {
        Ok((url, state)) => {
            let mut res = ctx.redirect(&url);
            PageCtx::set_upstream(&mut res, &state);
            Ok(res)
        }
        Err(e) => Ok(refused(ctx, e)),
    }
}

/// `GET /signin/{id}/callback`: the provider's answer.
pub async fn callback(ctx: PageCtx, Path(id): Path<String>) -> Result<Response, Response> {
    ctx.limit(Class::Login)?;
    let state = ctx.query("state").map(str::to_string);
    // The state must be this browser's own.
    let bound = matches!((&state, &ctx.upstream_state), (Some(s), Some(c)) if s == c);
    if !bound {
        let mut res = refused(&ctx, CoreError::UpstreamStateInvalid);
        PageCtx::clear_upstream(&mut res);
        return Ok(res);
    }
    let callback = Callback {
        state,
        code: ctx.query("code").map(str::to_string),
        error: ctx.query("error").map(str::to_string),
        iss: ctx.query("iss").map(str::to_string),
    };
    let upstream = ctx.state.sesame.upstream();
    let signed = match upstream.finish(&id, callback, &ctx.client).await {
        Ok(s) => s,
        Err(e) => {
            let mut res = refused(&ctx, e);
            PageCtx::clear_upstream(&mut res);
            return Ok(res);
        }
    };
    if signed.linked {
        let mut res = ctx.redirect("/account/security?notice=identity-linked");
        PageCtx::clear_upstream(&mut res);
        return Ok(res);
    }
    let return_to = signed.return_to.as_deref().and_then(ReturnTo::parse);
    let replacing = ctx.session.as_ref().map(|s| s.session_id);
    let mut res = match ctx
        .state
        .sesame
        .sessions()
        .upstream_sign_in(&signed.user, &signed.provider, &ctx.client, replacing)
        .await
    {
        Ok(signed_in) => {
            let to = return_to.unwrap_or_else(ReturnTo::account);
            let mut res = ctx.redirect(to.as_str());
            PageCtx::set_session(&mut res, signed_in.cookie.expose_secret());
            res
        }
        // A second factor set up here is asked for, as after a password.
        Err(CoreError::MfaRequired(challenge)) => {
            let to = match &return_to {
                Some(r) => {
                    let back: String =
                        url::form_urlencoded::byte_serialize(r.as_str().as_bytes()).collect();
                    format!("/signin/mfa?return_to={back}")
                }
                None => "/signin/mfa".to_string(),
            };
            let mut res = ctx.redirect(&to);
            PageCtx::set_mfa(&mut res, challenge.token.as_str());
            res
        }
        Err(e) => refused(&ctx, e),
    };
    PageCtx::clear_upstream(&mut res);
    Ok(res)
}

/// The sign-in page, saying why the provider's sign-in did not go through.
fn refused(ctx: &PageCtx, e: CoreError) -> Response {
    let name = |id: &str| id.to_string();
    let (status, message) = match e {
        CoreError::NotFound => {
            return ctx.error_page(
                StatusCode::NOT_FOUND,
                "error-not-found-title",
                "error-not-found",
            );
        }
        CoreError::UpstreamStateInvalid => (
            StatusCode::BAD_REQUEST,
            ctx.message("upstream-state-invalid", &[]),
        ),
        CoreError::UpstreamUnavailable(provider) => (
            StatusCode::BAD_GATEWAY,
            ctx.message(
                "upstream-unavailable",
                &[(
                    "provider",
                    sesame_templates::MessageArg::Str(name(&provider)),
                )],
            ),
        ),
        CoreError::UpstreamRefused(why) => {
            tracing::info!(why = %why, "an upstream sign-in was refused");
            (
                StatusCode::UNAUTHORIZED,
                ctx.message("upstream-refused", &[]),
            )
        }
        CoreError::UpstreamLinkRequired => (
            StatusCode::CONFLICT,
            ctx.message("upstream-link-required", &[]),
        ),
        CoreError::UpstreamEmailUnverified => (
            StatusCode::FORBIDDEN,
            ctx.message("upstream-email-unverified", &[]),
        ),
        CoreError::IdentityTaken => (
            StatusCode::CONFLICT,
            ctx.message("upstream-identity-taken", &[]),
        ),
        CoreError::SignupDisabled => (
            StatusCode::FORBIDDEN,
            ctx.message("upstream-signup-closed", &[]),
        ),
        CoreError::AccountDisabled => (StatusCode::FORBIDDEN, ctx.message("signin-disabled", &[])),
        CoreError::EmailNotVerified => (
            StatusCode::FORBIDDEN,
            ctx.message("signin-email-not-verified", &[]),
        ),
        e => return ctx.core_error(e),
    };
    ctx.render(
        status,
        &SignIn {
            identifier: String::new(),
            return_to: None,
            form_error: Some(message),
            locked_seconds: None,
            providers: buttons(ctx),
            passkeys: ctx.state.sesame.sessions().passkeys_available(),
        },
    )
}

/// `POST /account/security/identities/{id}/unlink`.
pub async fn unlink(
    ctx: PageCtx,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    ctx.checked(form)?;
    let Ok(id) = Uuid::parse_str(&id) else {
        return Err(ctx.core_error(CoreError::NotFound));
    };
    match ctx
        .state
        .sesame
        .upstream()
        .unlink(session.user.id, id, &ctx.client)
        .await
    {
        Ok(()) => Ok(ctx.redirect("/account/security?notice=identity-unlinked")),
        Err(CoreError::LastSignInMethod) => {
            let mut mfa = super::second_factor::section(&ctx, session.user.id).await?;
            mfa.identity_error = Some(ctx.message("security-identity-last", &[]));
            Ok(ctx.render(
                StatusCode::CONFLICT,
                &sesame_templates::AccountSecurity {
                    mfa,
                    ..Default::default()
                },
            ))
        }
        Err(e) => Err(ctx.core_error(e)),
    }
}
