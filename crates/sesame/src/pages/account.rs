//! `/account`: the signed-in person's profile, security (password) and sessions.
//!
//! Every handler starts with `ctx.signed_in()?` (a 303 to `/signin` that comes back here
//! otherwise), then calls the same use-cases as `/profile`, `/auth/password` and
//! `/auth/sessions` do, and answers a form with a 303 and a notice, or the form again with the
//! field's message and the status of what went wrong.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use sesame_core::CoreError;
use sesame_core::accounts::ProfileUpdate;
use sesame_core::store::{SessionKind, SessionRecord};
use sesame_templates::{AccountProfile, AccountSecurity, AccountSessions, SessionRow};
use uuid::Uuid;

use super::context::{PageCtx, retry_after};
use super::form::PageForm;
use crate::http::ratelimit::Class;

pub async fn profile_show(ctx: PageCtx) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let user_id = session.user.id;
    let page = profile_page(&ctx, user_id, BTreeMap::new(), BTreeMap::new(), None).await?;
    Ok(ctx.render(StatusCode::OK, &page))
}

async fn profile_page(
    ctx: &PageCtx,
    user_id: Uuid,
    values: BTreeMap<String, String>,
    errors: BTreeMap<String, String>,
    form_error: Option<String>,
) -> Result<AccountProfile, Response> {
    let user = ctx
        .state
        .sesame
        .accounts()
        .profile_view(user_id)
        .await
        .map_err(|e| ctx.core_error(e))?;
    // After a password-only sign-in (API.md: "the page offers to add a passkey"): such a
    // person has no second factor, so no passkey either.
    let offer_passkey = ctx.state.sesame.sessions().passkeys_available()
        && ctx
            .session
            .as_ref()
            .is_some_and(|s| s.assurance.amr == ["pwd"])
        && ctx
            .state
            .sesame
            .mfa()
            .status(user_id)
            .await
            .map_err(|e| ctx.core_error(e))?
            .passkeys
            == 0;
    Ok(AccountProfile {
        offer_passkey,
        email: user.email.clone(),
        username: user.username.clone(),
        display_name: user.display_name.clone(),
        email_verified: user.email_verified,
        pending_email: user.pending_email.clone(),
        values,
        errors,
        form_error,
    })
}

pub async fn profile_submit(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let form = ctx.checked(form)?;
    // An email change checks the password: the same per-address rate as `PATCH /profile`.
    ctx.limit(Class::Login)?;
    let user = &session.user;
    let email = form.text("email");
    let email_changes = !email.is_empty() && !email.eq_ignore_ascii_case(&user.email);
    let password = form.secret("current_password");
    let update = ProfileUpdate {
        username: form
            .optional("username")
            .map(|u| Some(u.to_string()).filter(|u| !u.is_empty())),
        display_name: form
            .optional("display_name")
            .map(|d| Some(d.to_string()).filter(|d| !d.is_empty())),
        email: email_changes.then(|| email.to_string()),
        current_password: (!form.text("current_password").is_empty()).then_some(password),
    };
    let values: BTreeMap<String, String> = ["display_name", "username", "email"]
        .into_iter()
        .map(|k| (k.to_string(), form.text(k).to_string()))
        .collect();
    let result = ctx
        .state
        .sesame
        .accounts()
        .update_profile(user.id, update, &ctx.client)
        .await;
    let refused = match result {
        Ok(_) if email_changes => return Ok(ctx.redirect("/account?notice=email-change-sent")),
        Ok(_) => return Ok(ctx.redirect("/account?notice=profile-saved")),
        Err(e) => refusal(&ctx, e)?,
    };
    let (status, wait) = (refused.status, refused.wait);
    let page = profile_page(&ctx, user.id, values, refused.errors, refused.form_error).await?;
    let mut res = ctx.render(status, &page);
    if let Some(wait) = wait {
        retry_after(&mut res, wait);
    }
    Ok(res)
}

/// Why an account form was refused, as the form shows it.
pub(super) struct Refusal {
    pub status: StatusCode,
    pub errors: BTreeMap<String, String>,
    pub form_error: Option<String>,
    /// Seconds until a lockout ends (`Retry-After`).
    pub wait: Option<u64>,
}

impl Refusal {
    pub(super) fn field(status: StatusCode, field: &str, message: String) -> Self {
        Refusal {
            status,
            errors: BTreeMap::from([(field.to_string(), message)]),
            form_error: None,
            wait: None,
        }
    }
}

/// The outcomes an account form shows on itself; anything else is the error page.
pub(super) fn refusal(ctx: &PageCtx, e: CoreError) -> Result<Refusal, Response> {
    Ok(match e {
        CoreError::Validation(f) | CoreError::WeakPassword(f) => Refusal {
            status: StatusCode::BAD_REQUEST,
            errors: ctx.field_errors(&f),
            form_error: None,
            wait: None,
        },
        CoreError::InvalidCurrentPassword => Refusal::field(
            StatusCode::BAD_REQUEST,
            "current_password",
            ctx.message("account-wrong-password", &[]),
        ),
        CoreError::EmailTaken => Refusal::field(
            StatusCode::CONFLICT,
            "email",
            ctx.message("signup-email-taken", &[]),
        ),
        CoreError::UsernameTaken => Refusal::field(
            StatusCode::CONFLICT,
            "username",
            ctx.message("signup-username-taken", &[]),
        ),
        CoreError::AccountLocked { retry_after_secs } => Refusal {
            status: StatusCode::FORBIDDEN,
            errors: BTreeMap::new(),
            form_error: Some(ctx.locked_message(retry_after_secs)),
            wait: Some(retry_after_secs),
        },
        other => return Err(ctx.core_error(other)),
    })
}

pub async fn security_show(ctx: PageCtx) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let page = AccountSecurity {
        mfa: super::second_factor::section(&ctx, session.user.id).await?,
        ..AccountSecurity::default()
    };
    Ok(ctx.render(StatusCode::OK, &page))
}

pub async fn password_submit(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let form = ctx.checked(form)?;
    // Two password hashes per request: the same per-address rate as `POST /auth/password`.
    ctx.limit(Class::Login)?;
    let result = ctx
        .state
        .sesame
        .accounts()
        .change_password(
            session.user.id,
            Some(session.session_id),
            &form.secret("current_password"),
            &form.secret("new_password"),
            &ctx.client,
        )
        .await;
    let refused = match result {
        Ok(_) => return Ok(ctx.redirect("/account/security?notice=password-changed")),
        Err(e) => refusal(&ctx, e)?,
    };
    let page = AccountSecurity {
        errors: refused.errors,
        form_error: refused.form_error,
        mfa: super::second_factor::section(&ctx, session.user.id).await?,
    };
    let mut res = ctx.render(refused.status, &page);
    if let Some(wait) = refused.wait {
        retry_after(&mut res, wait);
    }
    Ok(res)
}

pub async fn sessions_show(ctx: PageCtx) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let list = ctx
        .state
        .sesame
        .sessions()
        .list(session.user.id)
        .await
        .map_err(|e| ctx.core_error(e))?;
    let unknown = ctx.message("sessions-device-unknown", &[]);
    let sessions = list
        .into_iter()
        .map(|s| row(s, session.session_id, &unknown))
        .collect();
    Ok(ctx.render(StatusCode::OK, &AccountSessions { sessions }))
}

pub(super) fn row(s: SessionRecord, current: Uuid, unknown: &str) -> SessionRow {
    SessionRow {
        id: s.id.to_string(),
        kind: match s.kind {
            SessionKind::Browser => "browser",
            SessionKind::Api => "api",
        }
        .to_string(),
        device: s
            .user_agent
            .as_deref()
            .map(device)
            .unwrap_or_else(|| unknown.to_string()),
        ip: s.ip,
        created_at: s.created_at.to_rfc3339(),
        last_used_at: s.last_used_at.to_rfc3339(),
        current: s.id == current,
    }
}

/// A short name for a user agent ("Firefox on Linux"); an agent it does not know is shown as
/// sent, cut to 60 characters (it is the user's own data, escaped by the template).
fn device(ua: &str) -> String {
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-requests", "Python requests"),
        ("reqwest", "reqwest"),
    ];
    const SYSTEMS: &[(&str, &str)] = &[
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS
        .iter()
        .find(|(k, _)| ua.contains(k))
        .map(|(_, v)| *v);
    let system = SYSTEMS
        .iter()
        .find(|(k, _)| ua.contains(k))
        .map(|(_, v)| *v);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} · {s}"),
        (Some(b), None) => b.to_string(),
        // Controls and bidirectional overrides out: the agent string is the client's to choose.
        _ => sesame_templates::strip_bidi(ua)
            .chars()
            .filter(|c| !c.is_control())
            .take(60)
            .collect(),
    }
}

pub async fn session_end(
    ctx: PageCtx,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    ctx.checked(form)?;
    let Ok(id) = Uuid::parse_str(&id) else {
        return Err(ctx.core_error(CoreError::NotFound));
    };
    ctx.state
        .sesame
        .sessions()
        .end_session(session.user.id, id, &ctx.client)
        .await
        .map_err(|e| ctx.core_error(e))?;
    if id == session.session_id {
        let mut res = ctx.redirect("/signin?notice=signed-out");
        PageCtx::clear_session(&mut res);
        return Ok(res);
    }
    Ok(ctx.redirect("/account/sessions?notice=session-ended"))
}

pub async fn sessions_end_others(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    ctx.checked(form)?;
    ctx.state
        .sesame
        .sessions()
        .end_other_sessions(session.user.id, session.session_id, &ctx.client)
        .await
        .map_err(|e| ctx.core_error(e))?;
    Ok(ctx.redirect("/account/sessions?notice=sessions-ended"))
}

/// `GET /account/apps`: the apps the person allowed (API.md "Consent").
pub async fn apps_show(ctx: PageCtx) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let grants = ctx
        .state
        .sesame
        .oidc()
        .grants(session.user.id)
        .await
        .map_err(|e| ctx.core_error(e))?;
    let apps = grants
        .into_iter()
        .map(|g| sesame_templates::AppGrant {
            client_id: g.client_id,
            client_name: g.client_name,
            scopes: g.scopes,
        })
        .collect();
    Ok(ctx.render(StatusCode::OK, &sesame_templates::AccountApps { apps }))
}

/// `POST /account/apps/revoke`: withdraws an app's access and revokes its tokens.
pub async fn apps_revoke(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let form = ctx.checked(form)?;
    match ctx
        .state
        .sesame
        .oidc()
        .revoke_grant(session.user.id, form.text("client_id"), &ctx.client)
        .await
    {
        Ok(()) | Err(CoreError::NotFound) => Ok(ctx.redirect("/account/apps?notice=app-removed")),
        Err(e) => Err(ctx.core_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::device;

    #[test]
    fn user_agents_get_short_names() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert_eq!(device(chrome), "Chrome · Linux");
        let firefox =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
        assert_eq!(device(firefox), "Firefox · Windows");
        assert_eq!(device("curl/8.5.0"), "curl");
        assert_eq!(device(&"x".repeat(100)).len(), 60);
    }
}
