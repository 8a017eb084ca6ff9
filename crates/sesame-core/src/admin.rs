//! What an operator does: find users, disable, unlock, change roles, end sessions, delete,
//! read the audit trail. Every change is audited with the acting admin. (Key rotation is
//! `keys::Keys`; service clients are `clients::Clients`.)

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::{AuditEvent, Auditor};
use crate::clock::Clock;
use crate::domain::{Email, Role};
use crate::error::{CoreError, FieldErrors};
use crate::revocation::Revoker;
use crate::sessions::{ClientInfo, user_id_of};
use crate::settings::Settings;
use crate::store::{AuditEntry, AuditFilter, OverviewCounts, Store, UserRecord};

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

/// Who is acting, for the audit trail.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The acting admin; the nil UUID for the operator at the command line ([`Actor::command_line`]).
    pub admin_id: Uuid,
    pub client: ClientInfo,
}

impl Actor {
    /// The operator running `sesame user ...`: audited as `"by": "command_line"`.
    pub fn command_line() -> Self {
        Actor {
            admin_id: Uuid::nil(),
            client: ClientInfo::default(),
        }
    }
}

#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass back to get the next page; `None` on the last one.
    pub next_cursor: Option<String>,
}

/// Cursors are the id of the last item of a page (ids are time-ordered UUIDv7).
pub(crate) fn parse_cursor(cursor: Option<&str>) -> Result<Option<Uuid>, CoreError> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            Uuid::parse_str(c)
                .map_err(|_| CoreError::field("cursor", "not a cursor from a previous page"))
        })
        .transpose()
}

pub fn page_size(limit: Option<u32>) -> Result<u32, CoreError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(CoreError::field("limit", "must be 1 to 200")),
    }
}

/// The audit events the console charts: sign-ins, failed sign-ins, lockouts and refresh-token
/// reuse — what a credential-stuffing wave or a token theft looks like.
pub const CHARTED_EVENTS: [&str; 4] = [
    "login_succeeded",
    "login_failed",
    "account_locked",
    "refresh_reused",
];

/// Counts of [`CHARTED_EVENTS`] per bucket over a window ending now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub since: DateTime<Utc>,
    pub bucket_secs: i64,
    /// One per charted event, in [`CHARTED_EVENTS`] order; `counts[i]` is bucket `i`.
    pub series: Vec<(&'static str, Vec<u64>)>,
}

/// The console's overview: counts now, and the last hour (5-minute buckets) and day (hours).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    pub counts: OverviewCounts,
    pub hour: Activity,
    pub day: Activity,
}

/// The operator's capability: the HTTP admin API and the command line both act through it.
#[derive(Debug, Clone)]
pub struct Admin {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    revoker: Revoker,
    /// Holders of these roles act as admins only after a sign-in with a second factor.
    mfa_required_roles: Vec<String>,
}

impl Admin {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Auditor,
        revoker: Revoker,
        settings: &Settings,
    ) -> Self {
        Admin {
            store,
            clock,
            audit,
            revoker,
            mfa_required_roles: settings.mfa_required_roles.clone(),
        }
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The admin a bearer token speaks for: `Forbidden` unless the user currently holds
    /// `admin` (read from the store, not from a token that may predate a role change) and is
    /// not disabled; `StepUpRequired` when the user holds a role of `SESAME_MFA_REQUIRED_ROLES`
    /// and the token's sign-in was not `aal2`.
    pub async fn authorize(
        &self,
        claims: &sesame_verify::Claims,
        client: ClientInfo,
    ) -> Result<Actor, CoreError> {
        let admin_id = user_id_of(claims)?;
        let user = self.store.get_user(admin_id).await?;
        self.admit(
            user,
            claims.meets_acr(crate::store::Assurance::AAL2),
            client,
        )
    }

    /// The admin a browser session speaks for (the console): the same rule as [`Admin::authorize`],
    /// with the user as the session read them on this request and the session's own sign-in level.
    pub fn authorize_browser(
        &self,
        session: &crate::sessions::BrowserSession,
        client: ClientInfo,
    ) -> Result<Actor, CoreError> {
        let aal2 = session.assurance.acr == crate::store::Assurance::AAL2;
        self.admit(Some(session.user.clone()), aal2, client)
    }

    /// One rule for every way in: a live admin, at `aal2` when a role of theirs requires it.
    fn admit(
        &self,
        user: Option<UserRecord>,
        aal2: bool,
        client: ClientInfo,
    ) -> Result<Actor, CoreError> {
        let Some(user) = user.filter(|u| !u.disabled && u.roles.iter().any(|r| r == Role::ADMIN))
        else {
            return Err(CoreError::Forbidden);
        };
        if !aal2
            && user
                .roles
                .iter()
                .any(|r| self.mfa_required_roles.contains(r))
        {
            return Err(CoreError::StepUpRequired);
        }
        Ok(Actor {
            admin_id: user.id,
            client,
        })
    }

    /// Users in creation order; stable while users are added and removed because the cursor is
    /// a key, not an offset.
    pub async fn list_users(
        &self,
        query: Option<&str>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<UserRecord>, CoreError> {
        let limit = page_size(limit)?;
        let after = parse_cursor(cursor)?;
        let mut users = self.store.list_users(query, limit + 1, after).await?;
        let more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let next_cursor = if more {
            users.last().map(|u| u.id.to_string())
        } else {
            None
        };
        Ok(Page {
            items: users,
            next_cursor,
        })
    }

    pub async fn get_user(&self, id: Uuid) -> Result<UserRecord, CoreError> {
        self.store.get_user(id).await?.ok_or(CoreError::NotFound)
    }

    fn actor_audit(
        &self,
        event: AuditEvent,
        target: Uuid,
        actor: &Actor,
        mut detail: serde_json::Value,
    ) -> AuditEntry {
        detail["by"] = if actor.admin_id.is_nil() {
            serde_json::json!("command_line")
        } else {
            serde_json::json!(actor.admin_id)
        };
        self.audit.entry(event, Some(target), &actor.client, detail)
    }

    /// Disabling also ends the user's sessions, so Sesame refuses their tokens at once.
    /// Disabling the last active admin is refused (`LastAdmin`).
    pub async fn set_disabled(
        &self,
        id: Uuid,
        disabled: bool,
        actor: &Actor,
    ) -> Result<UserRecord, CoreError> {
        let event = if disabled {
            AuditEvent::UserDisabled
        } else {
            AuditEvent::UserEnabled
        };
        let entry = self.actor_audit(event, id, actor, serde_json::json!({}));
        if !self
            .store
            .set_disabled(id, disabled, self.now(), &[entry])
            .await?
        {
            return Err(CoreError::NotFound);
        }
        self.revoker.profile_changed(id);
        if disabled {
            let entry = self.actor_audit(
                AuditEvent::Logout,
                id,
                actor,
                serde_json::json!({"all_sessions": true, "reason": "user_disabled"}),
            );
            self.store
                .revoke_user_sessions(id, self.now(), &[entry])
                .await?;
            self.revoker.revoked().await;
        }
        self.get_user(id).await
    }

    /// The user with this email (the command line names users by email; an `@` never occurs in
    /// a username, so the look-up cannot match one).
    pub async fn find_by_email(&self, email: &str) -> Result<UserRecord, CoreError> {
        let email = Email::parse(email).map_err(|m| CoreError::field("email", m))?;
        self.store
            .find_user_by_login(&email.canonical())
            .await?
            .ok_or(CoreError::NotFound)
    }

    /// Ends every lock of the user: each source's and the account-wide one (see `lockout`).
    pub async fn unlock(&self, id: Uuid, actor: &Actor) -> Result<UserRecord, CoreError> {
        let entry = self.actor_audit(
            AuditEvent::AccountUnlocked,
            id,
            actor,
            serde_json::json!({}),
        );
        if !self.store.unlock(id, self.now(), &[entry]).await? {
            return Err(CoreError::NotFound);
        }
        // Unlocking stamps `updated_at`, which the profile shows.
        self.revoker.profile_changed(id);
        self.get_user(id).await
    }

    /// Replaces the roles; they appear in the user's next refreshed access token. Taking `admin`
    /// from the last active admin is refused (`LastAdmin`, decided by the store). When a role is
    /// removed, the user's tokens issued until now are recorded as stale in the revocation feed
    /// (forward-auth, introspection and token exchange refuse them; see `revocation`), with the
    /// instant taken after the change committed: a token issued later read the new roles.
    pub async fn set_roles(
        &self,
        id: Uuid,
        roles: &[String],
        actor: &Actor,
    ) -> Result<Vec<String>, CoreError> {
        let mut fields = FieldErrors::new();
        let mut parsed = Vec::new();
        for r in roles {
            match Role::parse(r) {
                Ok(role) => parsed.push(role.as_str().to_string()),
                Err(m) => fields
                    .entry("roles".to_string())
                    .or_default()
                    .push(format!("'{r}': {m}")),
            }
        }
        if !fields.is_empty() {
            return Err(CoreError::Validation(fields));
        }
        let previous = self.get_user(id).await?.roles;
        parsed.sort();
        parsed.dedup();
        let entry = self.actor_audit(
            AuditEvent::RoleChanged,
            id,
            actor,
            serde_json::json!({"roles": parsed, "previous": previous}),
        );
        let roles = self
            .store
            .set_roles(id, &parsed, self.now(), &[entry])
            .await?
            .ok_or(CoreError::NotFound)?;
        self.revoker.profile_changed(id);
        if previous.iter().any(|r| !roles.contains(r)) {
            self.store.feed_user_change(id, self.now()).await?;
            self.revoker.revoked().await;
        }
        Ok(roles)
    }

    /// Grants one role (`sesame user role add`), audited as `role_changed` like a replacement.
    pub async fn add_role(
        &self,
        id: Uuid,
        role: &str,
        actor: &Actor,
    ) -> Result<Vec<String>, CoreError> {
        let mut roles = self.get_user(id).await?.roles;
        roles.push(role.to_string());
        self.set_roles(id, &roles, actor).await
    }

    /// Takes one role away (`sesame user role remove`); refused with `LastAdmin` when it is
    /// `admin` and the user is the last active admin.
    pub async fn remove_role(
        &self,
        id: Uuid,
        role: &str,
        actor: &Actor,
    ) -> Result<Vec<String>, CoreError> {
        let role = Role::parse(role).map_err(|m| CoreError::field("role", m))?;
        let mut roles = self.get_user(id).await?.roles;
        roles.retain(|r| r != role.as_str());
        self.set_roles(id, &roles, actor).await
    }

    pub async fn revoke_sessions(&self, id: Uuid, actor: &Actor) -> Result<u64, CoreError> {
        self.get_user(id).await?;
        let entry = self.actor_audit(
            AuditEvent::Logout,
            id,
            actor,
            serde_json::json!({"all_sessions": true}),
        );
        let n = self
            .store
            .revoke_user_sessions(id, self.now(), &[entry])
            .await?;
        self.revoker.revoked().await;
        Ok(n)
    }

    pub async fn delete_user(&self, id: Uuid, actor: &Actor) -> Result<(), CoreError> {
        let entry = self.actor_audit(AuditEvent::UserDeleted, id, actor, serde_json::json!({}));
        if self.store.delete_user(id, self.now(), &[entry]).await? {
            self.revoker.profile_changed(id);
            self.revoker.revoked().await;
            Ok(())
        } else {
            Err(CoreError::NotFound)
        }
    }

    /// What the console's overview shows, from the database (the same on every replica, and
    /// through restarts): the counts, and the charted events per bucket.
    pub async fn overview(&self) -> Result<Overview, CoreError> {
        let now = self.now();
        let counts = self.store.overview_counts(now).await?;
        let hour = self.activity(now, 12, 300).await?;
        let day = self.activity(now, 24, 3600).await?;
        Ok(Overview { counts, hour, day })
    }

    async fn activity(
        &self,
        now: DateTime<Utc>,
        buckets: usize,
        bucket_secs: i64,
    ) -> Result<Activity, CoreError> {
        let since = now - chrono::Duration::seconds(bucket_secs * buckets as i64);
        let found = self
            .store
            .audit_counts(&CHARTED_EVENTS, since, bucket_secs)
            .await?;
        let series = CHARTED_EVENTS
            .iter()
            .map(|&event| {
                let mut counts = vec![0u64; buckets];
                for (e, b, n) in &found {
                    // An entry stamped at this very instant (or by a replica whose clock runs a
                    // little ahead) belongs to the newest bucket.
                    let b = usize::try_from(*b).unwrap_or(0).min(buckets - 1);
                    if e == event {
                        counts[b] += n;
                    }
                }
                (event, counts)
            })
            .collect();
        Ok(Activity {
            since,
            bucket_secs,
            series,
        })
    }

    pub async fn audit_trail(
        &self,
        user_id: Option<Uuid>,
        event: Option<String>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<AuditEntry>, CoreError> {
        let limit = page_size(limit)?;
        let filter = AuditFilter {
            user_id,
            event,
            limit: limit + 1,
            before: parse_cursor(cursor)?,
        };
        let mut events = self.store.list_audit(&filter).await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next_cursor = if more {
            events.last().map(|e| e.id.to_string())
        } else {
            None
        };
        Ok(Page {
            items: events,
            next_cursor,
        })
    }
}
