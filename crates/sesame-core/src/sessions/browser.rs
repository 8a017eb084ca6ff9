//! Browser sessions: a person signed in on Sesame's own pages.
//!
//! A browser session is a session like any other (listed, ended by logout-all, a password
//! change or reset, an admin disable), carried by the `__Host-sesame` cookie instead of tokens.
//! The cookie is 256 random bits; the store keeps only its SHA-256, so a copy of the database
//! signs no one in. It ends after `browser_session_idle` without use and at
//! `browser_session_ttl` whatever happens; every sign-in makes a new one and ends the browser's
//! previous one (no fixation: a value planted before sign-in is never adopted).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::error::CoreError;
use crate::mfa::SecondFactorCode;
use crate::sessions::login::Credentials;
use crate::sessions::{ClientInfo, Sessions};
use crate::settings::ttl;
use crate::store::{Assurance, ChallengeKind, NewBrowserSession, SessionKind, UserRecord};

/// Last-use times are written at most this often: a page view is a read, not a write.
const TOUCH_EVERY_SECS: i64 = 60;

/// A sign-in on the sign-in page.
#[derive(Debug)]
pub struct BrowserLogin {
    /// A username or an email.
    pub login: String,
    pub password: SecretString,
    pub client: ClientInfo,
    /// The browser's current session, if it has one: ended by this sign-in.
    pub replacing: Option<Uuid>,
}

/// A new browser session: the cookie value to set (never stored) and its session.
#[derive(Debug)]
pub struct BrowserSignIn {
    pub cookie: SecretString,
    pub session_id: Uuid,
    pub user_id: Uuid,
}

/// The live session behind a cookie, with its user as of this request.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub session_id: Uuid,
    pub user: UserRecord,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// How the person signed in: what the app sessions it starts say in `amr`/`acr`.
    pub assurance: Assurance,
}

fn cookie_hash(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// A cookie value has exactly this shape (43 URL-safe characters); anything else is not looked up.
fn is_cookie_value(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Sessions {
    /// Signs in on a page: the same rules as [`Sessions::login`] (lockout, dummy hash, audit,
    /// metrics), then a browser session instead of tokens. A user with a second factor gets
    /// no session from the password alone: `MfaRequired`, with a challenge the second page
    /// finishes ([`Sessions::finish_browser_sign_in`]).
    #[tracing::instrument(skip_all)]
    pub async fn sign_in_browser(&self, input: BrowserLogin) -> Result<BrowserSignIn, CoreError> {
        let result = async {
            match self
                .check_credentials(
                    &input.login,
                    &input.password,
                    &input.client,
                    serde_json::json!({"via": "browser"}),
                )
                .await?
            {
                Credentials::SignedIn(user, _) => {
                    self.open_browser_session(
                        &user,
                        &input.client,
                        input.replacing,
                        None,
                        Assurance::password(),
                    )
                    .await
                }
                Credentials::SecondFactorNeeded(user) => Err(CoreError::MfaRequired(Box::new(
                    self.challenge(&user, ChallengeKind::Browser, Vec::new())
                        .await?,
                ))),
            }
        }
        .await;
        self.count_login(result.as_ref().map(|_| ()));
        result
    }

    /// The second page of a sign-in with a second factor: the same rules as
    /// [`Sessions::verify_mfa`] (lockout, single use, audit), then a browser session.
    #[tracing::instrument(skip_all)]
    pub async fn finish_browser_sign_in(
        &self,
        token: &str,
        code: &SecondFactorCode,
        client: &ClientInfo,
        replacing: Option<Uuid>,
    ) -> Result<BrowserSignIn, CoreError> {
        let result = async {
            let step = self
                .second_step(token, ChallengeKind::Browser, code, client)
                .await?;
            self.open_browser_session(
                &step.user,
                client,
                replacing,
                None,
                Assurance::password_and_otp(),
            )
            .await
        }
        .await;
        self.count_login(result.as_ref().map(|_| ()));
        result
    }

    /// After a sign-in through an upstream provider ([`crate::upstream`]): a browser session
    /// (`amr: [fed]`, `aal1`) — or, for a person with a second factor here, `MfaRequired` with a
    /// challenge the second page finishes, as after a password (a provider's sign-in does not
    /// replace the factor the person set up with Sesame).
    #[tracing::instrument(skip_all)]
    pub async fn upstream_sign_in(
        &self,
        user: &UserRecord,
        provider: &str,
        client: &ClientInfo,
        replacing: Option<Uuid>,
    ) -> Result<BrowserSignIn, CoreError> {
        let result = async {
            if user.disabled {
                return Err(CoreError::AccountDisabled);
            }
            // As for a password: an address nobody proved signs in to nothing while Sesame
            // requires verified email (the provider did not vouch for it).
            if self.require_verified_email && !user.email_verified {
                return Err(CoreError::EmailNotVerified);
            }
            if self.store.mfa_factors(user.id).await?.has_second_factor() {
                return Err(CoreError::MfaRequired(Box::new(
                    self.challenge(user, ChallengeKind::Browser, Vec::new())
                        .await?,
                )));
            }
            let entry = self.audit.entry(
                AuditEvent::LoginSucceeded,
                Some(user.id),
                client,
                serde_json::json!({"via": "upstream", "provider": provider}),
            );
            self.open_browser_session(user, client, replacing, Some(entry), Assurance::federated())
                .await
        }
        .await;
        self.count_login(result.as_ref().map(|_| ()));
        result
    }

    /// Right after sign-up: a browser session for the new user, without a password check (they
    /// just chose it). `EmailNotVerified` when verified email is required and this one is not.
    #[tracing::instrument(skip_all)]
    pub async fn start_browser_session(
        &self,
        user: &UserRecord,
        client: &ClientInfo,
        replacing: Option<Uuid>,
    ) -> Result<BrowserSignIn, CoreError> {
        if self.require_verified_email && !user.email_verified {
            return Err(CoreError::EmailNotVerified);
        }
        let entry = self.audit.entry(
            AuditEvent::LoginSucceeded,
            Some(user.id),
            client,
            serde_json::json!({"via": "signup"}),
        );
        let result = self
            .open_browser_session(user, client, replacing, Some(entry), Assurance::password())
            .await;
        self.count_login(result.as_ref().map(|_| ()));
        result
    }

    pub(super) async fn open_browser_session(
        &self,
        user: &UserRecord,
        client: &ClientInfo,
        replacing: Option<Uuid>,
        audit: Option<crate::store::AuditEntry>,
        assurance: Assurance,
    ) -> Result<BrowserSignIn, CoreError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let cookie = URL_SAFE_NO_PAD.encode(bytes);
        let now = self.now();
        let session = NewBrowserSession {
            id: Uuid::now_v7(),
            user_id: user.id,
            cookie_hash: cookie_hash(&cookie),
            now,
            expires_at: now + ttl(self.browser_session_ttl),
            ip: client.ip.clone(),
            user_agent: client
                .user_agent
                .as_ref()
                .map(|ua| ua.chars().take(512).collect()),
            replacing,
            assurance,
        };
        let mut audit: Vec<_> = audit.into_iter().collect();
        if let Some(old) = replacing {
            audit.push(self.audit.entry(
                AuditEvent::SessionRevoked,
                Some(user.id),
                client,
                serde_json::json!({"session_id": old, "reason": "replaced_by_sign_in"}),
            ));
        }
        self.store.create_browser_session(&session, &audit).await?;
        if replacing.is_some() {
            self.revoker.revoked().await;
        }
        Ok(BrowserSignIn {
            cookie: SecretString::from(cookie),
            session_id: session.id,
            user_id: user.id,
        })
    }

    /// The live session of a cookie value, or `None`: unknown, malformed, revoked, expired,
    /// idle too long (then it is also ended), or its user disabled or gone.
    pub async fn browser_session(&self, cookie: &str) -> Result<Option<BrowserSession>, CoreError> {
        if !is_cookie_value(cookie) {
            return Ok(None);
        }
        let Some(session) = self
            .store
            .find_browser_session(&cookie_hash(cookie))
            .await?
        else {
            return Ok(None);
        };
        let now = self.now();
        if session.kind != SessionKind::Browser
            || session.revoked_at.is_some()
            || session.expires_at <= now
        {
            return Ok(None);
        }
        if now - session.last_used_at >= ttl(self.browser_session_idle) {
            let entry = self.audit.entry(
                AuditEvent::SessionRevoked,
                Some(session.user_id),
                &ClientInfo::default(),
                serde_json::json!({"session_id": session.id, "reason": "idle"}),
            );
            self.store.revoke_session(session.id, now, &[entry]).await?;
            self.revoker.revoked().await;
            return Ok(None);
        }
        let user = match self.live_user(&session, now).await {
            Ok(user) => user,
            Err(CoreError::TokenRevoked) => return Ok(None),
            Err(e) => return Err(e),
        };
        if (now - session.last_used_at).num_seconds() >= TOUCH_EVERY_SECS {
            self.store.touch_session(session.id, now).await?;
        }
        Ok(Some(BrowserSession {
            session_id: session.id,
            user,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            assurance: session.assurance,
        }))
    }

    /// Signs the browser out: its session ends.
    pub async fn sign_out_browser(
        &self,
        session_id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let session = self.store.get_session(session_id).await?;
        let entry = self.audit.entry(
            AuditEvent::Logout,
            session.map(|s| s.user_id),
            client,
            serde_json::json!({"session_id": session_id, "via": "browser"}),
        );
        if self
            .store
            .revoke_session(session_id, self.now(), &[entry])
            .await?
        {
            self.revoker.revoked().await;
        }
        Ok(())
    }

    /// Ends every session of the user but `keep` (the "sign out everywhere else" button).
    pub async fn end_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        client: &ClientInfo,
    ) -> Result<u64, CoreError> {
        let entry = self.audit.entry(
            AuditEvent::Logout,
            Some(user_id),
            client,
            serde_json::json!({"all_sessions_but": keep}),
        );
        // One statement for all of them, with the same notion of "in force" as logout-all
        // (a session whose last access token still lives is ended too).
        let ended = self
            .store
            .revoke_other_sessions(user_id, keep, self.now(), &[entry])
            .await?;
        self.revoker.revoked().await;
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_cookie_values_are_looked_up() {
        assert!(is_cookie_value(&URL_SAFE_NO_PAD.encode([7u8; 32])));
        assert!(!is_cookie_value("planted-by-an-attacker"));
        assert!(!is_cookie_value(&"a".repeat(44)));
        assert!(!is_cookie_value(&format!("{}=", "a".repeat(42))));
    }
}
