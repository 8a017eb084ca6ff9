//! Refresh: rotation, the grace for racing clients, reuse detection, and logout by refresh token.
//!
//! A session row keeps the hash of its live refresh token and of the one its last rotation
//! spent (see `refresh_token` for why tokens name their session). A presented token is then
//! either the live one (rotated), the one just spent (within the grace window: answered with
//! the live one, which is its successor; after it: reuse), or an older one of the session —
//! authentic, so issued here and spent long ago: reuse, and the session ends.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{ClientInfo, Logout, Sessions, app_subject};
use crate::audit::AuditEvent;
use crate::error::CoreError;
use crate::refresh_token::{Names, RefreshKeys};
use crate::settings::ttl;
use crate::store::{
    ClientRecord, RefreshState, Rotated, SessionRecord, Store, TokenSubject, UserRecord,
};
use crate::tokens::{RefreshToken, TokenPair, TokenSession};

/// How a presented token stands in its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// The session's live token.
    Live,
    /// Spent by the session's last rotation, at that instant.
    JustSpent(DateTime<Utc>),
    /// Spent by an earlier rotation.
    Spent,
}

/// The session a well-formed token names, if Sesame issued it: from the token itself, or for a
/// token of the previous shape from the store. `None`: made up or unknown.
pub(crate) async fn session_named(
    store: &dyn Store,
    keys: &RefreshKeys,
    token: &RefreshToken,
) -> Result<Option<Uuid>, CoreError> {
    if !keys.authentic(token) {
        return Ok(None);
    }
    Ok(match token.names() {
        Names::Session(id) => Some(id),
        Names::Legacy => store.legacy_refresh_session(&token.hash()).await?,
    })
}

/// Where `hash`, the hash of an authentic token naming `state`'s session, stands in it. `None`
/// for a session that never had refresh tokens (a browser session).
pub(crate) fn standing(state: &RefreshState, hash: &[u8]) -> Option<Standing> {
    let live = state.live.as_deref()?;
    Some(if live == hash {
        Standing::Live
    } else {
        match &state.spent {
            Some((spent, at)) if spent.as_slice() == hash => Standing::JustSpent(*at),
            _ => Standing::Spent,
        }
    })
}

impl Sessions {
    pub(crate) fn refresh_keys(&self) -> Arc<RefreshKeys> {
        self.refresh_keys.clone()
    }

    /// A new session's first refresh token.
    pub(crate) fn issue_refresh(&self, session: Uuid) -> RefreshToken {
        self.refresh_keys.issue(session)
    }

    /// Spends a refresh token and returns a new pair in the same session.
    ///
    /// Within the grace window, the just-spent token returns the *same* successor (racing tabs);
    /// after it, presenting a spent token revokes the whole session (RFC 9700 §4.14.2).
    ///
    /// `for_client`: the app presenting it (`/oauth/token`), `None` for Sesame's own refresh. A
    /// token of another client's session (or an app's token at Sesame's own endpoint) is taken
    /// as stolen: its session ends, as on reuse. An app's tokens carry only the roles it may
    /// delegate (see [`app_subject`]).
    #[tracing::instrument(skip_all)]
    pub async fn refresh(
        &self,
        presented: &str,
        for_client: Option<&ClientRecord>,
        client: &ClientInfo,
    ) -> Result<TokenPair, CoreError> {
        let token = RefreshToken::parse(presented.trim()).ok_or(CoreError::TokenInvalid)?;
        let session_id = session_named(self.store.as_ref(), &self.refresh_keys, &token)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let now = self.now();
        let hash = token.hash();
        let next = self.refresh_keys.successor(&token, session_id);
        let expires_at = now + ttl(self.issuer.refresh_ttl());
        if let Some(Rotated { session, user }) = self
            .store
            .rotate_refresh(
                session_id,
                &hash,
                &next.hash(),
                now,
                expires_at,
                self.issuer.access_until(now),
            )
            .await?
        {
            // The user as of the rotation's own transaction: no second read.
            let user = match user {
                Some(u) if !u.disabled => u,
                _ => return Err(self.end_for_user(&session, now).await),
            };
            self.check_bound_to(&session, for_client, client, now)
                .await?;
            return self.issuer.token_pair(
                &app_subject(user, for_client),
                TokenSession::from(&session),
                session.app.as_ref(),
                &session.audience,
                next,
                now,
                now,
            );
        }
        // Not rotated: the token is not the live one, the session expired, or it ended.
        let state = self
            .store
            .refresh_state(session_id)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let session = &state.session;
        if session.revoked_at.is_some() {
            return Err(CoreError::TokenRevoked);
        }
        let spent_at = match standing(&state, &hash) {
            None => return Err(CoreError::TokenInvalid),
            Some(Standing::Live) => {
                return Err(if session.expires_at <= now {
                    CoreError::TokenExpired
                } else {
                    CoreError::TokenRevoked
                });
            }
            Some(Standing::JustSpent(at)) => Some(at),
            Some(Standing::Spent) => None,
        };
        let grace = ttl(self.refresh_reuse_grace);
        // Strictly inside the window: a zero grace turns the grace path off entirely. Another
        // replica may have spent it a moment "after" our clock reading: clamp at zero.
        if let Some(spent_at) = spent_at
            && (now - spent_at).max(chrono::Duration::zero()) < grace
            && session.expires_at > now
            && let Some(successor) = self.live_successor(&token, next, &state)
        {
            self.check_bound_to(session, for_client, client, now)
                .await?;
            let user = app_subject(
                TokenSubject::from(&self.live_user(session, now).await?),
                for_client,
            );
            // No rotation records this token's expiry: record it before issuing, under the
            // session's row lock, so a revocation that wins the race refuses it instead.
            if !self
                .store
                .extend_session_access(session.id, self.issuer.access_until(now))
                .await?
            {
                return Err(CoreError::TokenRevoked);
            }
            return self.issuer.token_pair(
                &user,
                TokenSession::from(session),
                session.app.as_ref(),
                &session.audience,
                successor,
                now,
                now,
            );
        }
        // A spent token came back after the grace window: someone holds a stolen copy.
        self.metrics.refresh_reuse.inc();
        let entry = self.audit.entry(
            AuditEvent::RefreshReused,
            Some(session.user_id),
            client,
            serde_json::json!({"session_id": session.id, "spent_at": spent_at}),
        );
        self.store.revoke_session(session.id, now, &[entry]).await?;
        self.revoker.revoked().await;
        tracing::warn!(session_id = %session.id, user_id = %session.user_id, "refresh token reuse detected; session revoked");
        Err(CoreError::TokenRevoked)
    }

    /// The session's live token when it is the successor of `spent` (the grace path hands it
    /// out again): `next`, or for a token of the previous shape spent just before the upgrade,
    /// the successor it had then.
    fn live_successor(
        &self,
        spent: &RefreshToken,
        next: RefreshToken,
        state: &RefreshState,
    ) -> Option<RefreshToken> {
        let live = state.live.as_deref()?;
        if next.hash() == live {
            return Some(next);
        }
        let legacy = self.refresh_keys.legacy_successor(spent);
        (spent.names() == Names::Legacy && legacy.hash() == live).then_some(legacy)
    }

    /// Ends the session of a refresh token (the live one, or the one just spent within the
    /// grace window), and deny-lists the access token sent along.
    #[tracing::instrument(skip_all)]
    pub async fn logout(&self, input: Logout) -> Result<(), CoreError> {
        let now = self.now();
        let token = RefreshToken::parse(input.refresh.trim()).ok_or(CoreError::TokenInvalid)?;
        let session_id = session_named(self.store.as_ref(), &self.refresh_keys, &token)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let state = self
            .store
            .refresh_state(session_id)
            .await?
            .ok_or(CoreError::TokenInvalid)?;
        let grace = ttl(self.refresh_reuse_grace);
        let usable = state.session.expires_at > now
            && match standing(&state, &token.hash()) {
                Some(Standing::Live) => true,
                Some(Standing::JustSpent(at)) => now - at <= grace,
                Some(Standing::Spent) | None => false,
            };
        if !usable {
            return Err(CoreError::TokenInvalid);
        }
        let entry = self.audit.entry(
            AuditEvent::Logout,
            Some(state.session.user_id),
            &input.client,
            serde_json::json!({"session_id": session_id}),
        );
        if !self.store.revoke_session(session_id, now, &[entry]).await? {
            return Err(CoreError::TokenInvalid);
        }
        self.revoker.revoked().await;
        if let Some(access) = input.access.as_deref()
            && let Ok(claims) = self.verify_access(access)
        {
            self.revoker.deny(&claims).await?;
        }
        Ok(())
    }

    /// Refuses (and ends) a session whose refresh token came from a client it is not bound to.
    pub(super) async fn check_bound_to(
        &self,
        session: &SessionRecord,
        for_client: Option<&ClientRecord>,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<(), CoreError> {
        let for_client = for_client.map(|c| c.client_id.as_str());
        if session.app.as_ref().map(|a| a.client_id.as_str()) == for_client {
            return Ok(());
        }
        let entry = self.audit.entry(
            AuditEvent::SessionRevoked,
            Some(session.user_id),
            client,
            serde_json::json!({"session_id": session.id, "reason": "refresh_token_of_another_client", "presented_by": for_client}),
        );
        self.store.revoke_session(session.id, now, &[entry]).await?;
        self.revoker.revoked().await;
        tracing::warn!(session_id = %session.id, "refresh token presented by a client it is not bound to; session revoked");
        Err(CoreError::TokenInvalid)
    }

    /// The session's user, re-read so role changes and disabling take effect at refresh.
    pub(super) async fn live_user(
        &self,
        session: &SessionRecord,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, CoreError> {
        match self.store.get_user(session.user_id).await? {
            Some(u) if !u.disabled => Ok(u),
            _ => Err(self.end_for_user(session, now).await),
        }
    }

    /// Ends a session whose user is disabled or gone; the error to answer with.
    pub(super) async fn end_for_user(
        &self,
        session: &SessionRecord,
        now: DateTime<Utc>,
    ) -> CoreError {
        let entry = self.audit.entry(
            AuditEvent::SessionRevoked,
            Some(session.user_id),
            &ClientInfo::default(),
            serde_json::json!({"session_id": session.id, "reason": "user_disabled_or_deleted"}),
        );
        if let Err(e) = self.store.revoke_session(session.id, now, &[entry]).await {
            return e.into();
        }
        self.revoker.revoked().await;
        CoreError::TokenRevoked
    }
}
