//! `/console`: the admin console's pages (issue #21; this part: finding people and the actions
//! an operator takes at 3 a.m. — unlock, disable and enable, sign out everywhere).
//!
//! Every handler admits the browser session's person through `Admin::authorize_browser` (the
//! same rule as the `/admin` API: a live admin, at `aal2` when their role requires it; anyone
//! else gets the 403 page), then calls the same `sesame_core::admin::Admin` use-case as its
//! `/admin` endpoint, audited under the admin's id. Destructive actions ask first: a POST
//! without `confirm=yes` answers with the user's page showing the confirmation form.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use sesame_core::CoreError;
use sesame_core::admin::Actor;
use sesame_core::store::UserRecord;
use sesame_templates::{ConsoleEvent, ConsoleHome, ConsoleUser, ConsoleUserRow, ConsoleUsers};
use uuid::Uuid;

use super::context::PageCtx;
use super::form::PageForm;

/// The signed-in admin, or the page that refuses (sign-in, 403).
pub(super) fn admin(ctx: &PageCtx) -> Result<Actor, Response> {
    let session = ctx.signed_in()?;
    ctx.state
        .sesame
        .admin()
        .authorize_browser(session, ctx.client.clone())
        .map_err(|e| ctx.core_error(e))
}

/// `GET /console`: counts, the signing keys' ages, and the last hour's and day's sign-ins,
/// failures, lockouts and refresh-token reuse as charts (from the audit trail: the same on every
/// replica and through restarts).
pub async fn home(ctx: PageCtx) -> Result<Response, Response> {
    admin(&ctx)?;
    let overview = ctx
        .state
        .sesame
        .admin()
        .overview()
        .await
        .map_err(|e| ctx.core_error(e))?;
    let title = ctx.message("console-chart-title", &[]);
    let c = overview.counts;
    let page = ConsoleHome {
        users: c.users,
        active_sessions: c.active_sessions,
        email_backlog: c.email_backlog,
        webhook_backlog: c.webhook_backlog,
        keys: super::console_more::key_rows(&ctx),
        charts: vec![
            super::console_chart::chart("hour", &title, &overview.hour),
            super::console_chart::chart("day", &title, &overview.day),
        ],
    };
    Ok(ctx.render(StatusCode::OK, &page))
}

/// `GET /console/users?q=&cursor=`: a page of users (keyset pagination, as `/admin/users`).
pub async fn users(ctx: PageCtx) -> Result<Response, Response> {
    admin(&ctx)?;
    let query = ctx.query("q").unwrap_or("").trim().to_string();
    let page = ctx
        .state
        .sesame
        .admin()
        .list_users(
            Some(query.as_str()).filter(|q| !q.is_empty()),
            None,
            ctx.query("cursor"),
        )
        .await
        .map_err(|e| match e {
            // A cursor that is not one of ours: the first page, not an error page.
            CoreError::Validation(_) => ctx.redirect("/console/users"),
            e => ctx.core_error(e),
        })?;
    let now = ctx.state.sesame.now();
    let next_page = page.next_cursor.map(|c| {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        if !query.is_empty() {
            url.append_pair("q", &query);
        }
        url.append_pair("cursor", &c);
        format!("/console/users?{}", url.finish())
    });
    let users = page.items.iter().map(|u| user_row(u, now)).collect();
    Ok(ctx.render(
        StatusCode::OK,
        &ConsoleUsers {
            query,
            users,
            next_page,
        },
    ))
}

/// `GET /console/users/{id}`.
pub async fn user(ctx: PageCtx, Path(id): Path<String>) -> Result<Response, Response> {
    admin(&ctx)?;
    let id = user_id(&ctx, &id)?;
    let page = user_page(&ctx, id, None, None).await?;
    Ok(ctx.render(StatusCode::OK, &page))
}

/// What an operator may do to a user from the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Unlock,
    Enable,
    Disable,
    EndSessions,
    Roles,
    RemoveFactors,
    Delete,
}

impl Action {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "unlock" => Some(Action::Unlock),
            "enable" => Some(Action::Enable),
            "disable" => Some(Action::Disable),
            "end-sessions" => Some(Action::EndSessions),
            "roles" => Some(Action::Roles),
            "remove-factors" => Some(Action::RemoveFactors),
            "delete" => Some(Action::Delete),
            _ => None,
        }
    }

    /// Its name in the URL, for a confirmation form that posts back to it.
    fn as_str(self) -> &'static str {
        match self {
            Action::Unlock => "unlock",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::EndSessions => "end-sessions",
            Action::Roles => "roles",
            Action::RemoveFactors => "remove-factors",
            Action::Delete => "delete",
        }
    }

    /// Actions that take something away ask first (deletion: by the typed email).
    fn needs_confirmation(self) -> bool {
        matches!(
            self,
            Action::Disable | Action::EndSessions | Action::RemoveFactors
        )
    }
}

/// `POST /console/users/{id}/{action}`.
pub async fn act(
    ctx: PageCtx,
    Path((id, action)): Path<(String, String)>,
    form: PageForm,
) -> Result<Response, Response> {
    let actor = admin(&ctx)?;
    let form = ctx.checked(form)?;
    let id = user_id(&ctx, &id)?;
    let Some(action) = Action::parse(&action) else {
        return Err(ctx.core_error(CoreError::NotFound));
    };
    if action.needs_confirmation() && form.text("confirm") != "yes" {
        let page = user_page(&ctx, id, Some(action), None).await?;
        return Ok(ctx.render(StatusCode::OK, &page));
    }
    let admin = ctx.state.sesame.admin();
    let done = match action {
        Action::Unlock => admin.unlock(id, &actor).await.map(|_| "user-unlocked"),
        Action::Enable => admin
            .set_disabled(id, false, &actor)
            .await
            .map(|_| "user-enabled"),
        Action::Disable => admin
            .set_disabled(id, true, &actor)
            .await
            .map(|_| "user-disabled"),
        Action::EndSessions => admin
            .revoke_sessions(id, &actor)
            .await
            .map(|_| "user-signed-out"),
        Action::Roles => {
            let roles: Vec<String> = form
                .text("roles")
                .split([',', ' '])
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect();
            admin
                .set_roles(id, &roles, &actor)
                .await
                .map(|_| "roles-saved")
        }
        Action::RemoveFactors => ctx
            .state
            .sesame
            .mfa()
            .remove_all(id, &actor)
            .await
            .map(|_| "factors-removed"),
        // It answers differently (it asks for the typed email): its own function.
        Action::Delete => return delete(&ctx, id, form.optional("confirm_email"), &actor).await,
    };
    match done {
        Ok(notice) => Ok(ctx.redirect(&format!("/console/users/{id}?notice={notice}"))),
        Err(CoreError::LastAdmin) => {
            let message = ctx.message("console-last-admin", &[]);
            let page = user_page(&ctx, id, None, Some(message)).await?;
            Ok(ctx.render(StatusCode::CONFLICT, &page))
        }
        Err(CoreError::Validation(fields)) => {
            let mut page = user_page(&ctx, id, None, None).await?;
            page.errors = ctx.field_errors(&fields);
            Ok(ctx.render(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => Err(ctx.core_error(e)),
    }
}

/// `POST /console/users/{id}/delete`: only with the account's email typed in `confirm_email`
/// (case aside); without it the page asks for it, with a wrong one it says so (400).
async fn delete(
    ctx: &PageCtx,
    id: Uuid,
    typed: Option<&str>,
    actor: &Actor,
) -> Result<Response, Response> {
    let admin = ctx.state.sesame.admin();
    let user = admin.get_user(id).await.map_err(|e| ctx.core_error(e))?;
    let Some(typed) = typed else {
        let page = user_page(ctx, id, Some(Action::Delete), None).await?;
        return Ok(ctx.render(StatusCode::OK, &page));
    };
    if !typed.trim().eq_ignore_ascii_case(&user.email) {
        let mut page = user_page(ctx, id, Some(Action::Delete), None).await?;
        page.errors.insert(
            "confirm_email".into(),
            ctx.message("console-email-mismatch", &[]),
        );
        return Ok(ctx.render(StatusCode::BAD_REQUEST, &page));
    }
    match admin.delete_user(id, actor).await {
        Ok(()) => Ok(ctx.redirect("/console/users?notice=user-deleted")),
        Err(CoreError::LastAdmin) => {
            let message = ctx.message("console-last-admin", &[]);
            let page = user_page(ctx, id, None, Some(message)).await?;
            Ok(ctx.render(StatusCode::CONFLICT, &page))
        }
        Err(e) => Err(ctx.core_error(e)),
    }
}

fn user_id(ctx: &PageCtx, raw: &str) -> Result<Uuid, Response> {
    Uuid::parse_str(raw).map_err(|_| ctx.core_error(CoreError::NotFound))
}

/// The user's page: the account, its sessions, second factor and newest audit events.
async fn user_page(
    ctx: &PageCtx,
    id: Uuid,
    confirm: Option<Action>,
    form_error: Option<String>,
) -> Result<ConsoleUser, Response> {
    let sesame = &ctx.state.sesame;
    let fail = |e| ctx.core_error(e);
    let user = sesame.admin().get_user(id).await.map_err(fail)?;
    let sessions = sesame.sessions().list(id).await.map_err(fail)?;
    let mfa = sesame.mfa().status(id).await.map_err(fail)?;
    let upstream = sesame.upstream();
    let identities = upstream
        .identities(id)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|i| {
            let name = upstream
                .provider_name(&i.provider)
                .unwrap_or_else(|| i.provider.clone());
            match i.email {
                Some(email) => format!("{name} ({email})"),
                None => name,
            }
        })
        .collect();
    let events = sesame
        .admin()
        .audit_trail(Some(id), None, Some(20), None)
        .await
        .map_err(fail)?;
    let unknown = ctx.message("sessions-device-unknown", &[]);
    Ok(ConsoleUser {
        user: user_row(&user, sesame.now()),
        sessions: sessions
            .into_iter()
            .map(|s| super::account::row(s, Uuid::nil(), &unknown))
            .collect(),
        events: events
            .items
            .into_iter()
            .map(|e| ConsoleEvent {
                at: e.at.to_rfc3339(),
                event: e.event,
                ip: e.ip,
            })
            .collect(),
        totp: mfa.totp,
        recovery_codes_left: mfa.recovery_codes_left,
        passkeys: mfa.passkeys,
        identities,
        confirm: confirm.map(|a| a.as_str().to_string()),
        form_error,
        errors: Default::default(),
    })
}

/// A user as the console shows them: never the password hash.
fn user_row(u: &UserRecord, now: chrono::DateTime<chrono::Utc>) -> ConsoleUserRow {
    let locked_until = u.locked_until.filter(|t| *t > now);
    ConsoleUserRow {
        id: u.id.to_string(),
        email: u.email.clone(),
        username: u.username.clone(),
        display_name: u.display_name.clone(),
        roles: u.roles.clone(),
        email_verified: u.email_verified,
        disabled: u.disabled,
        locked: locked_until.is_some(),
        locked_until: locked_until.map(|t| t.to_rfc3339()),
        failed_logins: u.failed_logins,
        created_at: u.created_at.to_rfc3339(),
        last_login_at: u.last_login_at.map(|t| t.to_rfc3339()),
    }
}
