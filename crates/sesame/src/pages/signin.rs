//! `/signin`, `/signin/mfa` and `/signout`: the browser session begins and ends here.
//!
//! The sign-in goes through the same use-case as `POST /auth/login` (lockout per source, the
//! dummy hash for unknown accounts, audit, metrics) and the same per-address rate limit; it
//! differs only in what it hands out: a browser session cookie instead of tokens. A user with a
//! second factor gets no session from the password: the challenge's token goes into a cookie of
//! its own (never the URL) and `/signin/mfa` finishes it like `POST /auth/mfa/verify` does.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use secrecy::ExposeSecret;
use sesame_core::CoreError;
use sesame_core::mfa::{MfaMethod, SecondFactorCode};
use sesame_core::sessions::BrowserLogin;
use sesame_templates::{SignIn, SignInMfa, SignOut};

use super::context::{PageCtx, retry_after};
use super::form::PageForm;
use super::return_to::ReturnTo;
use crate::http::ratelimit::Class;

pub async fn show(ctx: PageCtx) -> Response {
    // `reauth=1`: an app asked for a fresh sign-in (`prompt=login`, `max_age`): the form even
    // for a signed-in browser.
    let reauth = ctx.query("reauth") == Some("1");
    if ctx.session.is_some() && !reauth {
        let to = ctx.return_to().unwrap_or_else(ReturnTo::account);
        return ctx.redirect(to.as_str());
    }
    let identifier = match (&ctx.session, ctx.query("login_hint")) {
        (Some(s), _) => s
            .user
            .username
            .clone()
            .unwrap_or_else(|| s.user.email.clone()),
        (None, Some(hint)) => hint.chars().take(254).collect(),
        (None, None) => String::new(),
    };
    let return_to = ctx.return_to();
    let mut res = ctx.render(
        StatusCode::OK,
        &SignIn {
            identifier,
            return_to: return_to.as_ref().map(|r| r.as_str().to_string()),
            form_error: None,
            locked_seconds: None,
            providers: super::upstream::buttons(&ctx),
            passkeys: ctx.state.sesame.sessions().passkeys_available(),
        },
    );
    allow_app_redirect(&ctx, return_to.as_ref(), &mut res).await;
    res
}

/// On the way back to an app (`return_to` is an authorization request), the sign-in form's
/// answer (and the second step's) ends in a redirect to the app's registered redirect URI: let
/// `form-action` allow it.
pub(super) async fn allow_app_redirect(
    ctx: &PageCtx,
    return_to: Option<&ReturnTo>,
    res: &mut Response,
) {
    let Some(query) = return_to.and_then(|r| r.as_str().strip_prefix("/oauth/authorize?")) else {
        return;
    };
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let params = sesame_core::oidc::AuthorizeParams::from_pairs(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    if let Ok(req) = ctx.state.sesame.oidc().check(params).await
        && let Some(csp) = super::headers::csp_allowing_form_action(&req.redirect_uri)
    {
        res.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
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
        providers: super::upstream::buttons(&ctx),
        passkeys: ctx.state.sesame.sessions().passkeys_available(),
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
            let to = after_password(&ctx, signed_in.user_id, return_to).await?;
            let mut res = ctx.redirect(&to);
            PageCtx::set_session(&mut res, signed_in.cookie.expose_secret());
            Ok(res)
        }
        Err(CoreError::InvalidCredentials) => {
            let mut res = ctx.render(
                StatusCode::UNAUTHORIZED,
                &page(Some(ctx.message("signin-invalid", &[])), None),
            );
            allow_app_redirect(&ctx, return_to.as_ref(), &mut res).await;
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
        // The password alone opens no browser session of a user with a second factor.
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
            Ok(res)
        }
        Err(e) => Err(ctx.core_error(e)),
    }
}

/// Where a sign-in with the password alone goes: where it was going, unless a role of the
/// person's requires a second factor and they have none — then setting one up comes first
/// (`SESAME_MFA_REQUIRED_ROLES`; the way back to an app starts again afterwards).
async fn after_password(
    ctx: &PageCtx,
    user_id: uuid::Uuid,
    return_to: Option<ReturnTo>,
) -> Result<String, Response> {
    let must_enroll = ctx
        .state
        .sesame
        .mfa()
        .must_enroll(user_id)
        .await
        .map_err(|e| ctx.core_error(e))?;
    Ok(match return_to {
        _ if must_enroll => "/account/security?notice=mfa-enroll-required".to_string(),
        Some(to) => to.as_str().to_string(),
        None => ReturnTo::account().as_str().to_string(),
    })
}

/// The second step's page: a code of the app, or a recovery code. Without a pending sign-in,
/// back to `/signin`.
pub async fn mfa_show(ctx: PageCtx) -> Result<Response, Response> {
    let Some((totp, passkey)) = mfa_methods(&ctx).await? else {
        let mut res = ctx.redirect("/signin");
        PageCtx::clear_mfa(&mut res);
        return Ok(res);
    };
    let return_to = ctx.return_to();
    let mut res = ctx.render(
        StatusCode::OK,
        &SignInMfa {
            return_to: return_to.as_ref().map(|r| r.as_str().to_string()),
            form_error: None,
            locked_seconds: None,
            totp,
            passkey,
        },
    );
    allow_app_redirect(&ctx, return_to.as_ref(), &mut res).await;
    Ok(res)
}

/// Which ways the pending sign-in may be finished — (an app's code, a passkey) — or `None`
/// when there is no open challenge behind the cookie.
pub(super) async fn mfa_methods(ctx: &PageCtx) -> Result<Option<(bool, bool)>, Response> {
    let Some(token) = &ctx.mfa_token else {
        return Ok(None);
    };
    let methods = ctx
        .state
        .sesame
        .sessions()
        .challenge_methods(token.expose_secret())
        .await
        .map_err(|e| ctx.core_error(e))?;
    Ok(methods.map(|m| {
        (
            m.contains(&MfaMethod::Totp),
            m.contains(&MfaMethod::Passkey) && ctx.state.sesame.sessions().passkeys_available(),
        )
    }))
}

pub async fn mfa_submit(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let form = ctx.checked(form)?;
    let return_to = ReturnTo::parse(form.text("return_to"));
    let Some(token) = ctx.mfa_token.clone() else {
        return Ok(ctx.redirect("/signin"));
    };
    let (totp, passkey) = mfa_methods(&ctx).await?.unwrap_or((true, false));
    let page = |form_error: Option<String>, locked_seconds: Option<u64>| SignInMfa {
        return_to: return_to.as_ref().map(|r| r.as_str().to_string()),
        form_error,
        locked_seconds,
        totp,
        passkey,
    };
    ctx.limit(Class::Login)?;
    let recovery = form.text("recovery_code").trim();
    let code = if recovery.is_empty() {
        SecondFactorCode::Totp(form.text("code").to_string())
    } else {
        SecondFactorCode::Recovery(recovery.to_string())
    };
    let replacing = ctx.session.as_ref().map(|s| s.session_id);
    match ctx
        .state
        .sesame
        .sessions()
        .finish_browser_sign_in(token.expose_secret(), &code, &ctx.client, replacing)
        .await
    {
        Ok(signed_in) => {
            // Signed in with a second factor: nothing to set up.
            let to = return_to.unwrap_or_else(ReturnTo::account);
            let mut res = ctx.redirect(to.as_str());
            PageCtx::set_session(&mut res, signed_in.cookie.expose_secret());
            PageCtx::clear_mfa(&mut res);
            Ok(res)
        }
        Err(CoreError::MfaCodeInvalid) => {
            let mut res = ctx.render(
                StatusCode::UNAUTHORIZED,
                &page(Some(ctx.message("signin-mfa-invalid", &[])), None),
            );
            allow_app_redirect(&ctx, return_to.as_ref(), &mut res).await;
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
        // Used, expired (five minutes) or unknown: the sign-in starts again.
        Err(CoreError::TokenInvalid) => {
            let mut res = ctx.redirect("/signin");
            PageCtx::clear_mfa(&mut res);
            Ok(res)
        }
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
