//! The audit trail's entries, stamped by the injected clock. Every use-case that changes
//! something writes one in the same transaction as the change (the store takes them along).
//! The webhook events of a change are derived from these entries (`webhooks::events`), so an
//! entry's `event` and `detail` are read by more than people.

use std::sync::Arc;

use crate::clock::Clock;
use crate::sessions::ClientInfo;
use crate::store::AuditEntry;

/// What an audit entry records. The names are the contract's (`GET /admin/audit`'s `event`,
/// its `?event=` filter), and stores keep them as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditEvent {
    /// An account was created (registration, the CLI, the bootstrap admin).
    Register,
    /// A login with the right password.
    LoginSucceeded,
    /// A login refused, or a wrong current password (detail `reason`, `via`).
    LoginFailed,
    /// A source, or the whole account, was locked after wrong passwords.
    AccountLocked,
    /// An admin or the CLI ended every lock of the account.
    AccountUnlocked,
    /// A spent refresh token came back after the grace window: its session ended.
    RefreshReused,
    /// One or all sessions ended (by the user, an admin, a client's revocation).
    Logout,
    /// A session ended because its user was disabled or deleted.
    SessionRevoked,
    /// The user changed their password.
    PasswordChanged,
    /// A password hash was upgraded to argon2id at login.
    PasswordRehashed,
    /// A password was set through a reset link.
    PasswordReset,
    /// A reset link was queued.
    PasswordResetRequested,
    /// An address was proven by its link.
    EmailVerified,
    /// An account was deleted (by its user or an admin).
    UserDeleted,
    /// An admin disabled the account.
    UserDisabled,
    /// An admin enabled the account again.
    UserEnabled,
    /// A user was imported with their existing hash.
    UserImported,
    /// The roles of a user were replaced.
    RoleChanged,
    /// The signing keys were rotated.
    KeyRotated,
    /// A service client was created.
    ClientCreated,
    /// A service client was deleted.
    ClientDeleted,
    /// A second factor was enrolled (confirmed by its first code).
    MfaEnrolled,
    /// Second factors were removed (by the user, or every one by an admin: detail `by`).
    MfaRemoved,
    /// A wrong or replayed second-factor code at sign-in (counted toward the lockout).
    MfaFailed,
    /// A recovery code finished a sign-in.
    RecoveryCodeUsed,
    /// The user replaced their recovery codes by a new set.
    RecoveryCodesRegenerated,
    /// The user registered a passkey (detail `passkey_id`, `name`).
    PasskeyAdded,
    /// The user removed a passkey (detail `passkey_id`).
    PasskeyRemoved,
    /// An upstream identity was linked to the account (detail `provider`, `via`).
    IdentityLinked,
    /// An upstream identity was unlinked from the account (detail `provider`).
    IdentityUnlinked,
    /// An app exchanged an authorization code for the person's tokens.
    AppAuthorized,
    /// A person allowed an app the scopes named.
    ConsentGranted,
    /// A person withdrew an app's access; its tokens were revoked.
    ConsentRevoked,
    /// An authorization code came back after it was used: what it issued is revoked.
    CodeReplayed,
    /// The user changed their username or display name (detail `fields`).
    ProfileUpdated,
    /// An admin added a webhook endpoint.
    WebhookCreated,
    /// An admin removed a webhook endpoint.
    WebhookDeleted,
    /// A webhook endpoint answered 410 Gone and was disabled.
    WebhookDisabled,
}

impl AuditEvent {
    /// Every event, for tests and documentation.
    pub const ALL: [AuditEvent; 38] = [
        AuditEvent::Register,
        AuditEvent::LoginSucceeded,
        AuditEvent::LoginFailed,
        AuditEvent::AccountLocked,
        AuditEvent::AccountUnlocked,
        AuditEvent::RefreshReused,
        AuditEvent::Logout,
        AuditEvent::SessionRevoked,
        AuditEvent::PasswordChanged,
        AuditEvent::PasswordRehashed,
        AuditEvent::PasswordReset,
        AuditEvent::PasswordResetRequested,
        AuditEvent::EmailVerified,
        AuditEvent::UserDeleted,
        AuditEvent::UserDisabled,
        AuditEvent::UserEnabled,
        AuditEvent::UserImported,
        AuditEvent::RoleChanged,
        AuditEvent::KeyRotated,
        AuditEvent::ClientCreated,
        AuditEvent::ClientDeleted,
        AuditEvent::MfaEnrolled,
        AuditEvent::MfaRemoved,
        AuditEvent::MfaFailed,
        AuditEvent::RecoveryCodeUsed,
        AuditEvent::RecoveryCodesRegenerated,
        AuditEvent::PasskeyAdded,
        AuditEvent::PasskeyRemoved,
        AuditEvent::IdentityLinked,
        AuditEvent::IdentityUnlinked,
        AuditEvent::AppAuthorized,
        AuditEvent::ConsentGranted,
        AuditEvent::ConsentRevoked,
        AuditEvent::CodeReplayed,
        AuditEvent::ProfileUpdated,
        AuditEvent::WebhookCreated,
        AuditEvent::WebhookDeleted,
        AuditEvent::WebhookDisabled,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Register => "register",
            AuditEvent::LoginSucceeded => "login_succeeded",
            AuditEvent::LoginFailed => "login_failed",
            AuditEvent::AccountLocked => "account_locked",
            AuditEvent::AccountUnlocked => "account_unlocked",
            AuditEvent::RefreshReused => "refresh_reused",
            AuditEvent::Logout => "logout",
            AuditEvent::SessionRevoked => "session_revoked",
            AuditEvent::PasswordChanged => "password_changed",
            AuditEvent::PasswordRehashed => "password_rehashed",
            AuditEvent::PasswordReset => "password_reset",
            AuditEvent::PasswordResetRequested => "password_reset_requested",
            AuditEvent::EmailVerified => "email_verified",
            AuditEvent::UserDeleted => "user_deleted",
            AuditEvent::UserDisabled => "user_disabled",
            AuditEvent::UserEnabled => "user_enabled",
            AuditEvent::UserImported => "user_imported",
            AuditEvent::RoleChanged => "role_changed",
            AuditEvent::KeyRotated => "key_rotated",
            AuditEvent::ClientCreated => "client_created",
            AuditEvent::ClientDeleted => "client_deleted",
            AuditEvent::MfaEnrolled => "mfa_enrolled",
            AuditEvent::MfaRemoved => "mfa_removed",
            AuditEvent::MfaFailed => "mfa_failed",
            AuditEvent::RecoveryCodeUsed => "recovery_code_used",
            AuditEvent::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            AuditEvent::PasskeyAdded => "passkey_added",
            AuditEvent::PasskeyRemoved => "passkey_removed",
            AuditEvent::IdentityLinked => "identity_linked",
            AuditEvent::IdentityUnlinked => "identity_unlinked",
            AuditEvent::AppAuthorized => "app_authorized",
            AuditEvent::ConsentGranted => "consent_granted",
            AuditEvent::ConsentRevoked => "consent_revoked",
            AuditEvent::CodeReplayed => "code_replayed",
            AuditEvent::ProfileUpdated => "profile_updated",
            AuditEvent::WebhookCreated => "webhook_created",
            AuditEvent::WebhookDeleted => "webhook_deleted",
            AuditEvent::WebhookDisabled => "webhook_disabled",
        }
    }
}

impl std::fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Makes audit entries; shared by the capabilities that write them.
#[derive(Debug, Clone)]
pub(crate) struct Auditor {
    clock: Arc<dyn Clock>,
}

impl Auditor {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Auditor { clock }
    }

    /// An audit entry stamped now.
    pub(crate) fn entry(
        &self,
        event: AuditEvent,
        user_id: Option<uuid::Uuid>,
        client: &ClientInfo,
        detail: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            id: uuid::Uuid::now_v7(),
            at: self.clock.now(),
            event: event.as_str().to_string(),
            user_id,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_distinct_snake_case() {
        let names: std::collections::HashSet<_> =
            AuditEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(names.len(), AuditEvent::ALL.len());
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
    }
}
