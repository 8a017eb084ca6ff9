//! Which webhook events a change makes, derived from what the store writes in its transaction
//! anyway: the change's audit entries, and the sessions it ended. Deriving them there (rather
//! than in each use-case) means an event exists exactly when its change committed — the outbox
//! row and the change share a transaction — and a new use-case that audits a change emits its
//! event without another line.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::store::{AuditEntry, EndedSession};

/// The event types of the contract (API.md, "Webhooks").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    UserCreated,
    UserUpdated,
    UserDeleted,
    UserDisabled,
    UserEnabled,
    UserRolesChanged,
    UserPasswordChanged,
    UserEmailVerified,
    /// The user's second factors changed: an app enrolled or removed (by them or an admin), or
    /// a new set of recovery codes.
    UserMfaChanged,
    SessionRevoked,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserDeleted,
        EventType::UserDisabled,
        EventType::UserEnabled,
        EventType::UserRolesChanged,
        EventType::UserPasswordChanged,
        EventType::UserEmailVerified,
        EventType::UserMfaChanged,
        EventType::SessionRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeleted => "user.deleted",
            EventType::UserDisabled => "user.disabled",
            EventType::UserEnabled => "user.enabled",
            EventType::UserRolesChanged => "user.roles_changed",
            EventType::UserPasswordChanged => "user.password_changed",
            EventType::UserEmailVerified => "user.email_verified",
            EventType::UserMfaChanged => "user.mfa_changed",
            EventType::SessionRevoked => "session.revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        EventType::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// One event, ready to be fanned out to the endpoints subscribed to its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    /// Time-ordered; the `webhook-id` of its deliveries (the same at every retry).
    pub id: Uuid,
    pub kind: EventType,
    pub at: DateTime<Utc>,
    /// `{type, timestamp, data}` as sent: fixed here, so every attempt signs the same bytes.
    pub body: String,
}

impl WebhookEvent {
    fn new(kind: EventType, at: DateTime<Utc>, data: serde_json::Value) -> Self {
        let body = serde_json::json!({
            "type": kind.as_str(),
            "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "data": data,
        });
        WebhookEvent {
            id: Uuid::now_v7(),
            kind,
            at,
            body: body.to_string(),
        }
    }
}

/// The events of one transaction: one per audit entry that records a change to a user (see
/// [`user_events`]), then one `session.revoked` per ended session, its `reason` read from the
/// same entries ([`end_reason`]). `data` holds ids and the reason only — never a secret or a hash.
pub fn events_for(audit: &[AuditEntry], ended: &[EndedSession]) -> Vec<WebhookEvent> {
    let mut events = Vec::new();
    for entry in audit {
        let Some(user_id) = entry.user_id else {
            continue;
        };
        for kind in user_events(entry) {
            events.push(WebhookEvent::new(
                kind,
                entry.at,
                serde_json::json!({"user_id": user_id}),
            ));
        }
    }
    if !ended.is_empty() {
        let reason = end_reason(audit);
        for s in ended {
            events.push(WebhookEvent::new(
                EventType::SessionRevoked,
                s.at,
                serde_json::json!({"user_id": s.user_id, "sid": s.sid, "reason": reason}),
            ));
        }
    }
    events
}

/// The sessions a change ended: those its statements returned, and the app sessions a trigger
/// ended with them and noted (migration 0018) — one returned and noted counts once.
pub fn with_noted(ended: &[EndedSession], noted: Vec<EndedSession>) -> Cow<'_, [EndedSession]> {
    if noted.is_empty() {
        return Cow::Borrowed(ended);
    }
    let mut all = ended.to_vec();
    all.extend(
        noted
            .into_iter()
            .filter(|n| !ended.iter().any(|e| e.sid == n.sid)),
    );
    Cow::Owned(all)
}

/// The user events an audit entry stands for. Entries about an attempt (logins, lockout), a
/// session (those come from the ended sessions) or no user make none.
fn user_events(entry: &AuditEntry) -> Vec<EventType> {
    let is = |e: AuditEvent| entry.event == e.as_str();
    if is(AuditEvent::Register) || is(AuditEvent::UserImported) {
        vec![EventType::UserCreated]
    } else if is(AuditEvent::ProfileUpdated) {
        vec![EventType::UserUpdated]
    } else if is(AuditEvent::UserDeleted) {
        vec![EventType::UserDeleted]
    } else if is(AuditEvent::UserDisabled) {
        vec![EventType::UserDisabled]
    } else if is(AuditEvent::UserEnabled) {
        vec![EventType::UserEnabled]
    } else if is(AuditEvent::RoleChanged) {
        vec![EventType::UserRolesChanged]
    } else if is(AuditEvent::PasswordChanged) || is(AuditEvent::PasswordReset) {
        vec![EventType::UserPasswordChanged]
    } else if is(AuditEvent::MfaEnrolled)
        || is(AuditEvent::MfaRemoved)
        || is(AuditEvent::RecoveryCodesRegenerated)
        || is(AuditEvent::PasskeyAdded)
        || is(AuditEvent::PasskeyRemoved)
    {
        // Sign-ins that use a factor (`mfa_failed`, `recovery_code_used`) are attempts, like
        // logins: the events say what the user's account now is, not how it was used.
        vec![EventType::UserMfaChanged]
    } else if is(AuditEvent::EmailVerified) {
        // A verified change of address is also an update of the user.
        if entry.detail["email_changed"] == serde_json::json!(true) {
            vec![EventType::UserEmailVerified, EventType::UserUpdated]
        } else {
            vec![EventType::UserEmailVerified]
        }
    } else {
        Vec::new()
    }
}

/// Why the sessions of a transaction ended, from its audit entries: a `reason` an entry states
/// (`idle`, `replaced_by_sign_in`, `user_disabled`), else what the entry records.
pub fn end_reason(audit: &[AuditEntry]) -> &'static str {
    for entry in audit {
        let is = |e: AuditEvent| entry.event == e.as_str();
        let detail = &entry.detail;
        let reason = if let Some(stated) = detail["reason"].as_str() {
            match stated {
                "idle" => "idle",
                "replaced_by_sign_in" => "replaced_by_sign_in",
                // A refresh found the user disabled (or gone): their sessions end as a disable's.
                "user_disabled" | "user_disabled_or_deleted" => "user_disabled",
                _ => "revoked",
            }
        } else if is(AuditEvent::RefreshReused) {
            "refresh_token_reused"
        } else if is(AuditEvent::PasswordChanged) {
            "password_changed"
        } else if is(AuditEvent::PasswordReset) {
            "password_reset"
        } else if is(AuditEvent::UserDeleted) {
            "user_deleted"
        } else if is(AuditEvent::Logout) {
            if detail.get("revoked_by_client").is_some() {
                "revoked_by_client"
            } else if detail.get("by").is_some() {
                // An admin (or the operator at the command line) ended them.
                "admin"
            } else if detail.get("all_sessions").is_some() {
                "logout_all"
            } else if detail.get("all_sessions_but").is_some() {
                "logout_others"
            } else {
                "logout"
            }
        } else {
            continue;
        };
        return reason;
    }
    "revoked"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Auditor;
    use crate::clock::ManualClock;
    use crate::sessions::ClientInfo;
    use std::sync::Arc;

    fn entry(event: AuditEvent, detail: serde_json::Value) -> AuditEntry {
        let clock = ManualClock::new(chrono::DateTime::UNIX_EPOCH);
        Auditor::new(Arc::new(clock)).entry(
            event,
            Some(Uuid::nil()),
            &ClientInfo::default(),
            detail,
        )
    }

    fn ended() -> EndedSession {
        EndedSession {
            sid: Uuid::now_v7(),
            user_id: Uuid::nil(),
            at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn names_round_trip_and_are_the_contracts() {
        let names: Vec<_> = EventType::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "user.created",
                "user.updated",
                "user.deleted",
                "user.disabled",
                "user.enabled",
                "user.roles_changed",
                "user.password_changed",
                "user.email_verified",
                "user.mfa_changed",
                "session.revoked",
            ]
        );
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(e));
        }
        assert_eq!(EventType::parse("user.created "), None);
        assert_eq!(EventType::parse("login_succeeded"), None);
    }

    #[test]
    fn audit_entries_map_to_user_events() {
        let cases = [
            (AuditEvent::Register, vec!["user.created"]),
            (AuditEvent::UserImported, vec!["user.created"]),
            (AuditEvent::ProfileUpdated, vec!["user.updated"]),
            (AuditEvent::UserDeleted, vec!["user.deleted"]),
            (AuditEvent::UserDisabled, vec!["user.disabled"]),
            (AuditEvent::UserEnabled, vec!["user.enabled"]),
            (AuditEvent::RoleChanged, vec!["user.roles_changed"]),
            (AuditEvent::PasswordChanged, vec!["user.password_changed"]),
            (AuditEvent::PasswordReset, vec!["user.password_changed"]),
            (AuditEvent::EmailVerified, vec!["user.email_verified"]),
            (AuditEvent::MfaEnrolled, vec!["user.mfa_changed"]),
            (AuditEvent::MfaRemoved, vec!["user.mfa_changed"]),
            (
                AuditEvent::RecoveryCodesRegenerated,
                vec!["user.mfa_changed"],
            ),
            (AuditEvent::PasskeyAdded, vec!["user.mfa_changed"]),
            (AuditEvent::PasskeyRemoved, vec!["user.mfa_changed"]),
            (AuditEvent::MfaFailed, vec![]),
            (AuditEvent::RecoveryCodeUsed, vec![]),
            (AuditEvent::LoginSucceeded, vec![]),
            (AuditEvent::LoginFailed, vec![]),
            (AuditEvent::PasswordRehashed, vec![]),
            (AuditEvent::Logout, vec![]),
        ];
        for (event, want) in cases {
            let got: Vec<_> = events_for(&[entry(event, serde_json::json!({}))], &[])
                .into_iter()
                .map(|e| e.kind.as_str())
                .collect();
            assert_eq!(got, want, "{event}");
        }
        let changed = entry(
            AuditEvent::EmailVerified,
            serde_json::json!({"email": "new@example.com", "email_changed": true}),
        );
        let got: Vec<_> = events_for(&[changed], &[])
            .into_iter()
            .map(|e| e.kind.as_str())
            .collect();
        assert_eq!(got, ["user.email_verified", "user.updated"]);
    }

    #[test]
    fn bodies_carry_type_timestamp_and_ids_only() {
        let mut e = entry(AuditEvent::PasswordChanged, serde_json::json!({}));
        e.user_id = Some(Uuid::from_u128(7));
        let s = ended();
        let events = events_for(&[e], &[s]);
        assert_eq!(events.len(), 2);
        let user: serde_json::Value = serde_json::from_str(&events[0].body).unwrap();
        assert_eq!(
            user,
            serde_json::json!({
                "type": "user.password_changed",
                "timestamp": "1970-01-01T00:00:00.000Z",
                "data": {"user_id": Uuid::from_u128(7)},
            })
        );
        let session: serde_json::Value = serde_json::from_str(&events[1].body).unwrap();
        assert_eq!(
            session["data"],
            serde_json::json!({"user_id": Uuid::nil(), "sid": s.sid, "reason": "password_changed"})
        );
        assert_eq!(session["type"], "session.revoked");
        assert_ne!(events[0].id, events[1].id);
    }

    #[test]
    fn entries_without_a_user_make_no_event() {
        let mut e = entry(AuditEvent::Register, serde_json::json!({}));
        e.user_id = None;
        assert!(events_for(&[e], &[]).is_empty());
    }

    #[test]
    fn every_way_a_session_ends_has_its_reason() {
        use serde_json::json;
        let cases = [
            (AuditEvent::Logout, json!({"session_id": 1}), "logout"),
            (
                AuditEvent::Logout,
                json!({"session_id": 1, "via": "browser"}),
                "logout",
            ),
            (
                AuditEvent::Logout,
                json!({"all_sessions": true}),
                "logout_all",
            ),
            (
                AuditEvent::Logout,
                json!({"all_sessions_but": 1}),
                "logout_others",
            ),
            (
                AuditEvent::Logout,
                json!({"all_sessions": true, "by": "command_line"}),
                "admin",
            ),
            (
                AuditEvent::Logout,
                json!({"all_sessions": true, "reason": "user_disabled", "by": 1}),
                "user_disabled",
            ),
            (
                AuditEvent::Logout,
                json!({"session_id": 1, "revoked_by_client": "svc_x"}),
                "revoked_by_client",
            ),
            (
                AuditEvent::RefreshReused,
                json!({"session_id": 1}),
                "refresh_token_reused",
            ),
            (
                AuditEvent::SessionRevoked,
                json!({"reason": "user_disabled_or_deleted"}),
                "user_disabled",
            ),
            (
                AuditEvent::SessionRevoked,
                json!({"reason": "idle"}),
                "idle",
            ),
            (AuditEvent::PasswordChanged, json!({}), "password_changed"),
            (AuditEvent::PasswordReset, json!({}), "password_reset"),
            (
                AuditEvent::UserDeleted,
                json!({"by": "self"}),
                "user_deleted",
            ),
        ];
        for (event, detail, want) in cases {
            assert_eq!(
                end_reason(&[entry(event, detail.clone())]),
                want,
                "{detail}"
            );
        }
        // A browser sign-in replacing the browser's old session: the login entry comes first.
        let sign_in = [
            entry(AuditEvent::LoginSucceeded, json!({})),
            entry(
                AuditEvent::SessionRevoked,
                json!({"reason": "replaced_by_sign_in"}),
            ),
        ];
        assert_eq!(end_reason(&sign_in), "replaced_by_sign_in");
        assert_eq!(end_reason(&[]), "revoked");
    }

    #[test]
    fn a_session_returned_and_noted_counts_once() {
        let returned = ended();
        let other = EndedSession {
            sid: Uuid::now_v7(),
            ..returned
        };
        assert!(matches!(
            with_noted(&[returned], Vec::new()),
            Cow::Borrowed(_)
        ));
        let statements = [returned];
        let all = with_noted(&statements, vec![returned, other]);
        assert_eq!(all.as_ref(), [returned, other]);
    }
}
