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
    /// Self-registration is off (`SESAME_SIGNUP=off`); operators still create users.
    #[error("sign-up is disabled")]
    SignupDisabled,
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
    /// The change would leave no active admin (the store refuses it: `Constraint::LastAdmin`).
    #[error("the last active admin cannot be removed, demoted or disabled")]
    LastAdmin,
    #[error("forbidden")]
    Forbidden,
    /// The password was right and the user has a second factor: the sign-in goes on with the
    /// challenge's token (`POST /auth/mfa/verify`). No token was issued.
    #[error("a second factor is required")]
    MfaRequired(Box<crate::mfa::MfaChallenge>),
    /// A second-factor code at sign-in was wrong, already used, or for another user (counted
    /// toward the lockout).
    #[error("the second-factor code is invalid")]
    MfaCodeInvalid,
    /// The code confirming an enrollment was wrong.
    #[error("the code does not match the authenticator being enrolled")]
    EnrollmentCodeInvalid,
    #[error("a second factor is enrolled already")]
    MfaAlreadyEnrolled,
    /// A passkey registration was refused: an unknown, expired or used ceremony, an answer
    /// that does not verify, or a credential registered already.
    #[error("the passkey could not be registered")]
    PasskeyRejected,
    /// A passkey sign-in was refused: an unknown, expired or used ceremony, an unknown
    /// credential, a wrong signature, origin or RP id, no user verification, or a signature
    /// counter gone backwards.
    #[error("the passkey was not accepted")]
    PasskeyInvalid,
    /// An upstream sign-in's `state` is unknown, used, expired or another provider's.
    #[error("the sign-in with the provider is unknown, used or expired")]
    UpstreamStateInvalid,
    /// The provider could not be reached or answered nonsense (its name).
    #[error("the provider {0} is unavailable")]
    UpstreamUnavailable(String),
    /// The provider's answer was refused (the person declined, a bad code, an ID token that
    /// does not verify); the reason is for the log and the page.
    #[error("the provider's answer was refused: {0}")]
    UpstreamRefused(String),
    /// The upstream identity's email names an account it may not join by itself (the email
    /// is not verified on both sides): the person signs in and links it themselves.
    #[error("sign in to link this identity")]
    UpstreamLinkRequired,
    /// No account is made from an email the provider did not verify.
    #[error("the provider has not verified the email address")]
    UpstreamEmailUnverified,
    /// The upstream identity is linked to another account.
    #[error("the identity belongs to another account")]
    IdentityTaken,
    /// Unlinking would leave the account no way in.
    #[error("this is the account's last way to sign in")]
    LastSignInMethod,
    /// No WebAuthn relying party: the issuer is an IP address and no RP id is set.
    #[error("passkeys are not available on this server")]
    PasskeysUnavailable,
    /// No second factor (or no pending enrollment) to act on.
    #[error("no second factor is enrolled")]
    MfaNotEnrolled,
    /// The policy asks for a sign-in with a second factor (`acr` `aal2`) and the token's was
    /// not (`SESAME_MFA_REQUIRED_ROLES`, `/auth/verify?acr=aal2`).
    #[error("a sign-in with a second factor is required")]
    StepUpRequired,
    /// OAuth client authentication failed (unknown client or wrong secret: not told apart).
    #[error("client authentication failed")]
    InvalidClient,
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    /// OAuth: the grant presented (e.g. a token-exchange subject token) is invalid, expired,
    /// revoked or not the requesting client's to use.
    #[error("invalid grant: {0}")]
    InvalidGrant(String),
    /// OAuth: the client is not registered for this grant type (RFC 6749 §5.2).
    #[error("unauthorized client: {0}")]
    UnauthorizedClient(String),
    /// The password-hashing queue is full: shed load rather than queue without bound.
    #[error("the service is busy")]
    Busy { retry_after_secs: u64 },
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
    /// Something that should not happen. The source is the real cause (a driver error, an
    /// I/O error, or a sentence for the cases with no error value behind them): the HTTP edge
    /// logs its whole `source()` chain once, with the request id, and sends none of it.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

/// Any error, boxed: the cause an [`CoreError::Internal`] carries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl CoreError {
    pub fn field(name: &str, problem: impl Into<String>) -> Self {
        let mut f = FieldErrors::new();
        f.insert(name.to_string(), vec![problem.into()]);
        CoreError::Validation(f)
    }

    /// An internal error caused by `cause`: an error value (kept whole, with its own sources)
    /// or, where there is none, a sentence (`&str` or `String`) saying what failed.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        CoreError::Internal(cause.into())
    }

    /// An internal error saying what failed (`what`), caused by `source`: the log reads
    /// `internal error: what: source: ...`.
    pub fn internal_because(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        CoreError::Internal(Box::new(Because {
            what: what.into(),
            source: source.into(),
        }))
    }
}

/// What failed, and the error that made it fail.
#[derive(Debug, Error)]
#[error("{what}")]
struct Because {
    what: String,
    #[source]
    source: BoxError,
}

/// Displays an error followed by each of its sources, `error: cause: cause of the cause`,
/// the way a 500 is logged (and a command-line failure printed). Never for a response body.
///
/// A source whose text its error already ends with is not repeated: some errors print their
/// source in their own message and return it from `source()` too (sqlx's `Database` error:
/// `error returned from database: (code: 1) no such table: users`).
#[derive(Debug)]
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            let text = s.to_string();
            if !shown.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            shown = text;
            source = s.source();
        }
        Ok(())
    }
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(crate::store::Constraint::Email) => CoreError::EmailTaken,
            StoreError::Conflict(crate::store::Constraint::Username) => CoreError::UsernameTaken,
            StoreError::Conflict(crate::store::Constraint::LastAdmin) => CoreError::LastAdmin,
            StoreError::Unavailable(_) => CoreError::Unavailable(e),
            // Boxed whole, not flattened to "database error": the driver's error stays reachable
            // through `source()` for the log line of the 500 (never the response body).
            other => CoreError::Internal(Box::new(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use super::*;

    // A 500's log line names the driver's error, not only "database error": without it the
    // registration 500s after a login storm (issue #16.1) were one opaque line each. The chain
    // is the errors themselves, reachable through `source()`, not a string made on the way.
    #[test]
    fn a_store_errors_cause_chain_reaches_the_internal_error() {
        let driver = std::io::Error::other("cannot start a transaction within a transaction");
        let e = CoreError::from(StoreError::Other(Box::new(driver)));
        assert!(matches!(e, CoreError::Internal(_)), "{e:?}");
        let store = std::error::Error::source(&e).expect("the store error is the source");
        assert!(store.downcast_ref::<StoreError>().is_some(), "{store:?}");
        let cause = store
            .source()
            .expect("the driver's error is the store error's source");
        assert!(
            cause.downcast_ref::<std::io::Error>().is_some(),
            "{cause:?}"
        );
        assert_eq!(
            Chain(&e).to_string(),
            "internal error: database error: cannot start a transaction within a transaction"
        );
    }

    // sqlx's `Database` error prints its source in its own message and returns it from
    // `source()` as well: the log line says it once.
    #[test]
    fn a_source_already_in_its_errors_message_is_not_repeated() {
        #[derive(Debug, Error)]
        #[error("error returned from database: {0}")]
        struct Driver(#[source] std::io::Error);
        let e = CoreError::from(StoreError::Other(Box::new(Driver(std::io::Error::other(
            "(code: 1) no such table: users",
        )))));
        assert_eq!(
            Chain(&e).to_string(),
            "internal error: database error: error returned from database: (code: 1) no such \
             table: users"
        );
    }

    #[test]
    fn an_internal_error_says_what_failed_and_keeps_its_cause() {
        let e = CoreError::internal_because(
            "cannot start a hashing thread",
            std::io::Error::other("out of threads"),
        );
        assert_eq!(
            Chain(&e).to_string(),
            "internal error: cannot start a hashing thread: out of threads"
        );
        assert_eq!(
            Chain(&CoreError::internal("no current signing key")).to_string(),
            "internal error: no current signing key"
        );
    }
}
