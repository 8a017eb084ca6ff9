//! Passkeys on the pages: signing in with one (`/signin`, and as the second step on
//! `/signin/mfa`) and the person's own on `/account/security` (add, rename, remove).
//!
//! A ceremony needs the browser's WebAuthn API, so `/static/passkeys.js` runs it: it posts the
//! form (with its anti-forgery token, checked like every form) to a `…/start` route, which
//! answers the options as JSON, then posts the browser's answer back as an ordinary form to the
//! finishing route, which answers like any page (a redirect, or the page with a message). The
//! use-cases are the JSON API's (`sesame_core::mfa::Mfa`, `sesame_core::sessions::Sessions`).

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use sesame_core::CoreError;
use sesame_core::mfa::passkeys::PasskeyChallenge;
use sesame_core::sessions::PasskeySignIn;
use sesame_templates::{AccountSecurity, PasskeyRow, SignIn, SignInMfa};
use uuid::Uuid;

use super::context::{PageCtx, retry_after};
use super::form::{Fields, PageForm};
use super::return_to::ReturnTo;
use super::signin::{allow_app_redirect, mfa_methods};
use crate::http::error::ApiError;
use crate::http::ratelimit::Class;

/// A time as the security page shows it.
pub(super) fn shown_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The passkeys of `user_id` as the security page lists them.
pub(super) async fn rows(ctx: &PageCtx, user_id: Uuid) -> Result<Vec<PasskeyRow>, Response> {
    let list = ctx
        .state
        .sesame
        .mfa()
        .passkeys(user_id)
        .await
        .map_err(|e| ctx.core_error(e))?;
    Ok(list
        .into_iter()
        .map(|p| PasskeyRow {
            id: p.id.to_string(),
            name: p.name,
            created_at: shown_time(p.created_at),
            last_used_at: p.last_used_at.map(shown_time),
        })
        .collect())
}

/// A started ceremony as the script reads it; never stored by a cache.
fn challenge_json(c: PasskeyChallenge) -> Response {
    let mut res = Json(serde_json::json!({
        "challenge_id": c.challenge_id,
        "options": c.options,
        "conditional": c.conditional,
    }))
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A refusal of a `…/start` route, as JSON the script can read (it shows its own message).
fn start_refused(e: CoreError) -> Response {
    ApiError::from(e).into_response()
}

/// `POST /signin/passkey/start`: `mode=signin` (username-less, or for `identifier` when typed)
/// or `mode=mfa` (the second step of the sign-in behind the cookie).
pub async fn sign_in_start(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let form = ctx.checked(form)?;
    ctx.limit(Class::Login)?;
    let how = match form.text("mode") {
        "mfa" => match &ctx.mfa_token {
            Some(token) => PasskeySignIn::SecondFactor(token.expose_secret().to_string()),
            None => return Err(start_refused(CoreError::TokenInvalid)),
        },
        _ => match form.text("identifier").trim() {
            "" => PasskeySignIn::Discoverable,
            name => PasskeySignIn::Named(name.to_string()),
        },
    };
    match ctx.state.sesame.sessions().begin_passkey_sign_in(how).await {
        Ok(c) => Ok(challenge_json(c)),
        Err(e) => Err(start_refused(e)),
    }
}

/// `POST /signin/passkey`: the browser's answer. Signed in → where the sign-in was going; a
/// refused passkey → the page it came from (sign-in or second step) with a message, 401.
pub async fn sign_in(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let form = ctx.checked(form)?;
    ctx.limit(Class::Login)?;
    let return_to = ReturnTo::parse(form.text("return_to"));
    let second_step = form.text("mode") == "mfa";
    let Some(credential) = credential(&form) else {
        return refused(&ctx, &return_to, second_step, CoreError::PasskeyInvalid).await;
    };
    let replacing = ctx.session.as_ref().map(|s| s.session_id);
    match ctx
        .state
        .sesame
        .sessions()
        .finish_browser_passkey(
            form.text("challenge_id"),
            &credential,
            &ctx.client,
            replacing,
        )
        .await
    {
        Ok(signed_in) => {
            let to = return_to.unwrap_or_else(ReturnTo::account);
            let mut res = ctx.redirect(to.as_str());
            PageCtx::set_session(&mut res, signed_in.cookie.expose_secret());
            PageCtx::clear_mfa(&mut res);
            Ok(res)
        }
        // The second step's challenge was spent or ran out meanwhile: start again.
        Err(CoreError::TokenInvalid) => {
            let mut res = ctx.redirect("/signin");
            PageCtx::clear_mfa(&mut res);
            Ok(res)
        }
        Err(e) => refused(&ctx, &return_to, second_step, e).await,
    }
}

/// The answer field as JSON; `None` when it is missing or no JSON.
fn credential(form: &Fields) -> Option<serde_json::Value> {
    serde_json::from_str(form.optional("credential")?).ok()
}

/// The sign-in page (or the second step's) again, saying why.
async fn refused(
    ctx: &PageCtx,
    return_to: &Option<ReturnTo>,
    second_step: bool,
    e: CoreError,
) -> Result<Response, Response> {
    let (status, message, locked) = match e {
        CoreError::PasskeyInvalid => (
            StatusCode::UNAUTHORIZED,
            ctx.message("signin-passkey-invalid", &[]),
            None,
        ),
        CoreError::AccountLocked { retry_after_secs } => (
            StatusCode::FORBIDDEN,
            ctx.locked_message(retry_after_secs),
            Some(retry_after_secs),
        ),
        CoreError::AccountDisabled => (
            StatusCode::FORBIDDEN,
            ctx.message("signin-disabled", &[]),
            None,
        ),
        CoreError::EmailNotVerified => (
            StatusCode::FORBIDDEN,
            ctx.message("signin-email-not-verified", &[]),
            None,
        ),
        e => return Err(ctx.core_error(e)),
    };
    let back = return_to.as_ref().map(|r| r.as_str().to_string());
    let mut res = match (second_step, mfa_methods(ctx).await?) {
        (true, Some((totp, passkey))) => ctx.render(
            status,
            &SignInMfa {
                return_to: back,
                form_error: Some(message),
                locked_seconds: locked,
                totp,
                passkey,
            },
        ),
        _ => ctx.render(
            status,
            &SignIn {
                identifier: String::new(),
                return_to: back,
                form_error: Some(message),
                locked_seconds: locked,
                providers: super::upstream::buttons(ctx),
                passkeys: ctx.state.sesame.sessions().passkeys_available(),
            },
        ),
    };
    allow_app_redirect(ctx, return_to.as_ref(), &mut res).await;
    if status == StatusCode::UNAUTHORIZED {
        // HTTP requires a challenge on every 401; a page's is the form itself.
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Form"));
    }
    if let Some(wait) = locked {
        retry_after(&mut res, wait);
    }
    Ok(res)
}

/// `POST /account/security/passkeys/start`: the creation options for the signed-in person,
/// named by the optional `passkey_name`.
pub async fn add_start(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let form = ctx.checked(form)?;
    let name = form.optional("passkey_name");
    match ctx
        .state
        .sesame
        .mfa()
        .begin_passkey(session.user.id, name)
        .await
    {
        Ok(c) => Ok(challenge_json(c)),
        Err(e) => Err(start_refused(e)),
    }
}

/// `POST /account/security/passkeys`: the browser's answer adds the passkey.
pub async fn add(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let form = ctx.checked(form)?;
    let user_id = session.user.id;
    let result = match credential(&form) {
        Some(credential) => {
            ctx.state
                .sesame
                .mfa()
                .finish_passkey(user_id, form.text("challenge_id"), &credential, &ctx.client)
                .await
        }
        None => Err(CoreError::PasskeyRejected),
    };
    match result {
        Ok(_) => Ok(ctx.redirect("/account/security?notice=passkey-added")),
        Err(CoreError::PasskeyRejected) => {
            let message = ctx.message("security-passkey-rejected", &[]);
            security_page(&ctx, user_id, StatusCode::BAD_REQUEST, message).await
        }
        Err(e) => Err(ctx.core_error(e)),
    }
}

/// `POST /account/security/passkeys/{id}/rename`: `name`.
pub async fn rename(
    ctx: PageCtx,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let form = ctx.checked(form)?;
    let user_id = session.user.id;
    let Ok(id) = Uuid::parse_str(&id) else {
        return Err(ctx.core_error(CoreError::NotFound));
    };
    match ctx
        .state
        .sesame
        .mfa()
        .rename_passkey(user_id, id, form.text("name"))
        .await
    {
        Ok(_) => Ok(ctx.redirect("/account/security?notice=passkey-renamed")),
        Err(CoreError::Validation(_)) => {
            let message = ctx.message("security-passkey-name-invalid", &[]);
            security_page(&ctx, user_id, StatusCode::BAD_REQUEST, message).await
        }
        Err(e) => Err(ctx.core_error(e)),
    }
}

/// `POST /account/security/passkeys/{id}/remove`.
pub async fn remove(
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
        .mfa()
        .remove_passkey(session.user.id, id, &ctx.client)
        .await
    {
        Ok(()) => Ok(ctx.redirect("/account/security?notice=passkey-removed")),
        Err(e) => Err(ctx.core_error(e)),
    }
}

async fn security_page(
    ctx: &PageCtx,
    user_id: Uuid,
    status: StatusCode,
    message: String,
) -> Result<Response, Response> {
    let mut mfa = super::second_factor::section(ctx, user_id).await?;
    mfa.passkey_error = Some(message);
    let page = AccountSecurity {
        mfa,
        ..AccountSecurity::default()
    };
    Ok(ctx.render(status, &page))
}
