//! What went wrong, in domain terms. No status codes here: the HTTP edge maps each variant to the
//! contract's `{detail, code}` once.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::store::StoreError;

/// Field name → problems, for validation errors.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, Error)]
pub enum CoreError {
    #[error("the request is invalid")]
    Validation(FieldErrors),
    #[error("the password is too weak")]
    WeakPassword(FieldErrors),
    #[error("the current password is wrong")]
    InvalidCurrentPassword,
    #[error("the requested audience is not allowed")]
    InvalidAudience(String),
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("the username is already taken")]
    UsernameTaken,
    #[error("no active account found with the given credentials")]
    InvalidCredentials,
    #[error("the account is locked")]
    AccountLocked { retry_after_secs: u64 },
    #[error("the account is disabled")]
    AccountDisabled,
    /// Login refused until the address is verified (`SESAME_REQUIRE_VERIFIED_EMAIL`).
    #[error("the email address is not verified")]
    EmailNotVerified,
    /// An emailed token (verification, reset) that is unknown, used or expired.
    #[error("the emailed token is invalid")]
    EmailTokenInvalid,
    #[error("the token is invalid")]
    TokenInvalid,
    #[error("the token has expired")]
    TokenExpired,
    #[error("the token has been revoked")]
    TokenRevoked,
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// OAuth client authentication failed (unknown client or wrong secret: not told apart).
    #[error("client authentication failed")]
    InvalidClient,
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    /// The password-hashing queue is full: shed load rather than queue without bound.
    #[error("the service is busy")]
    Busy { retry_after_secs: u64 },
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    pub fn field(name: &str, problem: impl Into<String>) -> Self {
        let mut f = FieldErrors::new();
        f.insert(name.to_string(), vec![problem.into()]);
        CoreError::Validation(f)
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        CoreError::Internal(e.to_string())
    }
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(crate::store::Constraint::Email) => CoreError::EmailTaken,
            StoreError::Conflict(crate::store::Constraint::Username) => CoreError::UsernameTaken,
            StoreError::Unavailable(_) => CoreError::Unavailable(e),
            // The whole cause chain, not only "database error": it is what the operator reads in
            // the log line of the 500 (never in the response body), and without the driver's
            // words a failing store call cannot be told from another.
            other => CoreError::Internal(chain(&other)),
        }
    }
}

/// `error: cause: cause of the cause ...`, as logged for a 500.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use super::*;

    // A 500's log line names the driver's error, not only "database error": without it the
    // registration 500s after a login storm (issue #16.1) were one opaque line each.
    #[test]
    fn a_store_errors_cause_chain_reaches_the_internal_error() {
        let e = CoreError::from(StoreError::Other(
            "cannot start a transaction within a transaction".into(),
        ));
        match e {
            CoreError::Internal(text) => assert_eq!(
                text,
                "database error: cannot start a transaction within a transaction"
            ),
            other => panic!("{other:?}"),
        }
    }
}
