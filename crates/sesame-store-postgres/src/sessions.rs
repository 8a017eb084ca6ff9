//! sessions (with their refresh tokens' hashes), the legacy refresh_tokens, denied_tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AppLink, Assurance, AuditEntry, FeedPage, NewBrowserSession, NewSession, Purged, RefreshState,
    Revocation, RevocationKind, Rotated, SessionKind, SessionRecord, SessionStore, StoreResult,
};
use uuid::Uuid;

use crate::audit::record_changes;
use crate::webhooks::{ENDED_COLUMNS, EndedRow, ended};
use crate::{PostgresStore, map_err};

pub(crate) const SESSION_COLUMNS: &str = "id, user_id, audience, created_at, last_used_at, expires_at, revoked_at, ip, user_agent, \
     browser_hash IS NOT NULL AS browser, status_idx, amr, acr, client_id, parent_id, sid, scope, auth_time";

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: Uuid,
    user_id: Uuid,
    audience: Vec<String>,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    ip: Option<String>,
    user_agent: Option<String>,
    browser: bool,
    status_idx: Option<i64>,
    amr: Vec<String>,
    acr: String,
    client_id: Option<String>,
    parent_id: Option<Uuid>,
    sid: Option<Uuid>,
    scope: Option<String>,
    auth_time: Option<DateTime<Utc>>,
}

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        SessionRecord {
            id: r.id,
            kind: if r.browser {
                SessionKind::Browser
            } else {
                SessionKind::Api
            },
            user_id: r.user_id,
            audience: r.audience,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            ip: r.ip,
            user_agent: r.user_agent,
            status_idx: r.status_idx,
            assurance: Assurance {
                amr: r.amr,
                acr: r.acr,
            },
            app: match (r.client_id, r.parent_id, r.sid, r.auth_time) {
                (Some(client_id), Some(parent_id), Some(sid), Some(auth_time)) => Some(AppLink {
                    client_id,
                    parent_id,
                    sid,
                    scope: r.scope.unwrap_or_default(),
                    auth_time,
                }),
                _ => None,
            },
        }
    }
}

#[derive(sqlx::FromRow)]
struct RefreshStateRow {
    #[sqlx(flatten)]
    session: SessionRow,
    refresh_hash: Option<Vec<u8>>,
    spent_hash: Option<Vec<u8>>,
    spent_at: Option<DateTime<Utc>>,
}

/// A revocation, or with no entry after the cursor only the snapshot's `xmin`.
#[derive(sqlx::FromRow)]
struct FeedRow {
    xmin: i64,
    kind: Option<String>,
    subject: Option<String>,
    until: Option<DateTime<Utc>>,
    at: Option<DateTime<Utc>>,
    issued_before: Option<DateTime<Utc>>,
    status_idx: Option<i64>,
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn create_session(&self, s: &NewSession) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        let status_idx = insert_session(&mut tx, s).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(status_idx)
    }

    async fn status_index_bound(&self) -> StoreResult<i64> {
        // `last_value` with `is_called` false is the next value nextval returns.
        let (bound,): (i64,) = sqlx::query_as(
            "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM status_idx_seq",
        )
        .fetch_one(self.pool())
        .await
        .map_err(map_err)?;
        Ok(bound)
    }

    async fn rotate_refresh(
        &self,
        session: Uuid,
        presented: &[u8],
        next: &[u8],
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        access_until: DateTime<Utc>,
    ) -> StoreResult<Option<Rotated>> {
        // Queued and committed with whatever other rotations are waiting, in one statement (see
        // `rotation`). The batch runs on a task of its own: a caller that goes away (a client
        // hanging up mid-refresh) must not cut the extended-protocol exchange between Execute
        // and Sync, which leaves the server "idle in transaction" holding the session's row
        // lock, so every later presentation of its token waits forever. Found by the
        // conformance check `cancellation::writes_dropped_at_any_await_leave_the_store_usable`.
        self.rotations
            .submit(crate::rotation::Rotation {
                session,
                presented: presented.to_vec(),
                next: next.to_vec(),
                now,
                expires_at,
                access_until,
            })
            .await
    }

    async fn extend_session_access(&self, id: Uuid, until: DateTime<Utc>) -> StoreResult<bool> {
        // Under the row lock: a revocation committed first makes this match nothing; one that
        // comes after records the raised value.
        let done = sqlx::query(
            "UPDATE sessions SET access_until = GREATEST(access_until, $1) \
             WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(until)
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn refresh_state(&self, session: Uuid) -> StoreResult<Option<RefreshState>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, refresh_hash, spent_hash, spent_at FROM sessions WHERE id = $1"
        );
        let row: Option<RefreshStateRow> = sqlx::query_as(&sql)
            .bind(session)
            .fetch_optional(self.pool())
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| RefreshState {
            session: r.session.into(),
            live: r.refresh_hash,
            spent: r.spent_hash.zip(r.spent_at),
        }))
    }

    async fn legacy_refresh_session(&self, hash: &[u8]) -> StoreResult<Option<Uuid>> {
        let row: Option<(Uuid,)> =
            sqlx::query_as("SELECT session_id FROM refresh_tokens WHERE hash = $1")
                .bind(hash)
                .fetch_optional(self.pool())
                .await
                .map_err(map_err)?;
        Ok(row.map(|(id,)| id))
    }

    async fn create_browser_session(
        &self,
        s: &NewBrowserSession,
        audit: &[AuditEntry],
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let mut replaced: Vec<EndedRow> = Vec::new();
        if let Some(old) = s.replacing {
            // A sign-in again by the same person (a re-authentication an app asked for) keeps
            // the apps signed in: their sessions move to the new browser session before the old
            // one ends (which would end them).
            sqlx::query("UPDATE sessions SET parent_id = $1 WHERE parent_id = $2 AND user_id = $3")
                .bind(s.id)
                .bind(old)
                .bind(s.user_id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            let sql = format!(
                "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING {ENDED_COLUMNS}"
            );
            replaced = sqlx::query_as(&sql)
                .bind(s.now)
                .bind(old)
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        // No access token is ever issued in a browser session: `access_until` is its start.
        sqlx::query(
            "INSERT INTO sessions (id, user_id, audience, created_at, last_used_at, expires_at, ip, user_agent, access_until, browser_hash, amr, acr) \
             VALUES ($1, $2, '{}', $3, $3, $4, $5, $6, $3, $7, $8, $9)",
        )
        .bind(s.id)
        .bind(s.user_id)
        .bind(s.now)
        .bind(s.expires_at)
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(&s.cookie_hash)
        .bind(&s.assurance.amr)
        .bind(&s.assurance.acr)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        record_changes(&mut tx, audit, &ended(replaced, s.now)).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn find_browser_session(&self, cookie_hash: &[u8]) -> StoreResult<Option<SessionRecord>> {
        let session: Option<SessionRow> = sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE browser_hash = $1"
        ))
        .bind(cookie_hash)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        Ok(session.map(Into::into))
    }

    async fn touch_session(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_used_at = GREATEST(last_used_at, $1) WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>> {
        let session: Option<SessionRow> = sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        Ok(session.map(Into::into))
    }

    async fn list_active_sessions(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SessionRecord>> {
        let sessions: Vec<SessionRow> = sqlx::query_as(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .bind(now)
        .fetch_all(self.pool())
        .await
        .map_err(map_err)?;
        Ok(sessions.into_iter().map(Into::into).collect())
    }

    async fn revoke_session(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // Conditional: of two concurrent logouts only one revokes, and only it writes the audit.
        let sql = format!(
            "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING {ENDED_COLUMNS}"
        );
        let done: Vec<EndedRow> = sqlx::query_as(&sql)
            .bind(now)
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.is_empty() {
            return Ok(false);
        }
        record_changes(&mut tx, audit, &ended(done, now)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<u64> {
        self.revoke_sessions_of(user_id, None, now, audit).await
    }

    async fn revoke_other_sessions(
        &self,
        user_id: Uuid,
        keep: Uuid,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<u64> {
        self.revoke_sessions_of(user_id, Some(keep), now, audit)
            .await
    }

    async fn feed_user_change(
        &self,
        user_id: Uuid,
        issued_before: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO revocations (kind, subject, until, issued_before) \
             SELECT 'user', $1::uuid::text, max(COALESCE(access_until, expires_at)), $2 \
             FROM sessions WHERE user_id = $1::uuid \
             HAVING count(*) > 0",
        )
        .bind(user_id)
        .bind(issued_before)
        .execute(self.pool())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn revocations_after(&self, cursor: i64) -> StoreResult<FeedPage> {
        // Commit order (see migration 0007): every entry at or after the cursor by writing
        // transaction, and the next cursor at the xmin of this statement's snapshot — every
        // transaction below it has ended (its entries are read here or never committed), every
        // later writer gets a larger id. Committed entries of transactions at or above it are
        // read now and again next time (readers treat entries as sets). The LEFT JOIN returns
        // the xmin even when there is no entry.
        let rows: Vec<FeedRow> = sqlx::query_as(
            "WITH snap AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin) \
             SELECT snap.xmin, r.kind, r.subject, r.until, r.at, r.issued_before, r.status_idx \
             FROM snap LEFT JOIN revocations r ON r.xid >= $1::text::xid8 \
             ORDER BY r.xid, r.id",
        )
        .bind(cursor.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(map_err)?;
        let mut page = FeedPage {
            entries: Vec::with_capacity(rows.len()),
            next: cursor,
        };
        for r in rows {
            page.next = page.next.max(r.xmin);
            let (Some(kind), Some(subject), Some(at)) = (r.kind, r.subject, r.at) else {
                continue; // no entry (its columns are NOT NULL): the snapshot's row only
            };
            // An unknown kind comes from a newer Sesame during a rolling upgrade: skipped, not
            // an error, which would stall the whole feed (see `RevocationKind::from_feed`).
            let Some(kind) = RevocationKind::from_feed(&kind) else {
                tracing::warn!(
                    kind = kind.as_str(),
                    "revocation feed entry of an unknown kind skipped"
                );
                continue;
            };
            page.entries.push(Revocation {
                kind,
                subject,
                until: r.until,
                at,
                issued_before: r.issued_before,
                status_idx: r.status_idx,
            });
        }
        Ok(page)
    }

    async fn purge_revocations(
        &self,
        before: DateTime<Utc>,
        legacy_before: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM revocations WHERE until < $1 OR (until IS NULL AND at < $2)")
                .bind(before)
                .bind(legacy_before)
                .execute(self.pool())
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<Purged> {
        let mut tx = self.begin().await?;
        // Sessions past expiry, revoked or not (their refresh tokens go by cascade and are not
        // counted below), once their newest access token has expired too: until then
        // logout-all must still find them. A revoked session's feed entry stays until its own
        // `until`, whatever happens here.
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE expires_at <= $1 \
             AND COALESCE(access_until, '-infinity') <= $1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
        let refresh_tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        let denied_tokens = sqlx::query("DELETE FROM denied_tokens WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        tx.commit().await.map_err(map_err)?;
        Ok(Purged {
            sessions,
            refresh_tokens,
            denied_tokens,
        })
    }

    async fn deny_access_token(&self, jti: &str, expires_at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO denied_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .execute(self.pool())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn is_access_token_denied(&self, jti: &str) -> StoreResult<bool> {
        let (denied,): (bool,) =
            sqlx::query_as("SELECT EXISTS (SELECT 1 FROM denied_tokens WHERE jti = $1)")
                .bind(jti)
                .fetch_one(self.pool())
                .await
                .map_err(map_err)?;
        Ok(denied)
    }
}

impl PostgresStore {
    /// Revokes every session of the user in force — its refresh token or its newest access
    /// token is alive (the refresh lifetime may be the shorter one) — but `keep`, with the audit
    /// entries, in one transaction.
    async fn revoke_sessions_of(
        &self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let sql = format!(
            "UPDATE sessions SET revoked_at = $1 \
             WHERE user_id = $2 AND id IS DISTINCT FROM $3 AND revoked_at IS NULL \
               AND (expires_at > $1 OR access_until > $1) RETURNING {ENDED_COLUMNS}"
        );
        let done: Vec<EndedRow> = sqlx::query_as(&sql)
            .bind(now)
            .bind(user_id)
            .bind(keep)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
        let n = done.len() as u64;
        record_changes(&mut tx, audit, &ended(done, now)).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(n)
    }
}

/// Inserts a session with (the hash of) its first refresh token in `tx`; the status-list index it took.
pub(crate) async fn insert_session(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    s: &NewSession,
) -> StoreResult<i64> {
    let status_idx = crate::status::take_index(tx, s.status_reuse_before).await?;
    let app = s.app.as_ref();
    sqlx::query(
        "INSERT INTO sessions (id, user_id, audience, created_at, last_used_at, expires_at, ip, user_agent, access_until, status_idx, amr, acr, client_id, parent_id, sid, scope, auth_time, refresh_hash) \
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(s.id)
    .bind(s.user_id)
    .bind(&s.audience)
    .bind(s.now)
    .bind(s.expires_at)
    .bind(&s.ip)
    .bind(&s.user_agent)
    .bind(s.access_until)
    .bind(status_idx)
    .bind(&s.assurance.amr)
    .bind(&s.assurance.acr)
    .bind(app.map(|a| a.client_id.as_str()))
    .bind(app.map(|a| a.parent_id))
    .bind(app.map(|a| a.sid))
    .bind(app.map(|a| a.scope.as_str()))
    .bind(app.map(|a| a.auth_time))
    .bind(&s.refresh_hash)
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(status_idx)
}
