//! sessions (with their refresh tokens' hashes), the legacy refresh_tokens, denied_tokens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AppLink, Assurance, AuditEntry, FeedPage, NewBrowserSession, NewSession, Purged, RefreshState,
    Revocation, RevocationKind, Rotated, SessionKind, SessionRecord, SessionStore, StoreResult,
};

use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::record_changes;
use crate::types::{TextUuid, UnixMs};
use crate::webhooks::{ENDED_COLUMNS, EndedRow, ended};
use crate::{SqliteStore, map_err};

pub(crate) const SESSION_COLUMNS: &str = "id, user_id, audience, created_at, last_used_at, expires_at, revoked_at, ip, user_agent, \
     browser_hash IS NOT NULL AS browser, status_idx, amr, acr, client_id, parent_id, sid, scope, auth_time";

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: TextUuid,
    user_id: TextUuid,
    #[sqlx(json)]
    audience: Vec<String>,
    created_at: UnixMs,
    last_used_at: UnixMs,
    expires_at: UnixMs,
    revoked_at: Option<UnixMs>,
    ip: Option<String>,
    user_agent: Option<String>,
    browser: bool,
    status_idx: Option<i64>,
    #[sqlx(json)]
    amr: Vec<String>,
    acr: String,
    client_id: Option<String>,
    parent_id: Option<TextUuid>,
    sid: Option<TextUuid>,
    scope: Option<String>,
    auth_time: Option<UnixMs>,
}

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        SessionRecord {
            id: r.id.into(),
            kind: if r.browser {
                SessionKind::Browser
            } else {
                SessionKind::Api
            },
            user_id: r.user_id.into(),
            audience: r.audience,
            created_at: r.created_at.into(),
            last_used_at: r.last_used_at.into(),
            expires_at: r.expires_at.into(),
            revoked_at: r.revoked_at.map(Into::into),
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
                    parent_id: parent_id.into(),
                    sid: sid.into(),
                    scope: r.scope.unwrap_or_default(),
                    auth_time: auth_time.into(),
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
    spent_at: Option<UnixMs>,
}

#[derive(sqlx::FromRow)]
struct RevocationRow {
    id: i64,
    kind: String,
    subject: String,
    until: Option<UnixMs>,
    at: UnixMs,
    issued_before: Option<UnixMs>,
    status_idx: Option<i64>,
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, s: &NewSession) -> StoreResult<i64> {
        let mut tx = self.write_tx().await?;
        let status_idx = insert_session(&mut tx, s).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(status_idx)
    }

    async fn status_index_bound(&self) -> StoreResult<i64> {
        let (next,): (i64,) = sqlx::query_as("SELECT next FROM status_counter")
            .fetch_one(self.reader())
            .await
            .map_err(map_err)?;
        Ok(next)
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
        // Queued for the writer and committed with whatever other rotations are waiting, in
        // one transaction (see `rotation`): the batch's own task runs it, so a caller that
        // goes away cannot cut it between BEGIN and COMMIT. `None`: the token is not the
        // session's live one, or the session expired or ended, and nothing was changed; the
        // caller looks at why.
        let rotation = crate::rotation::Rotation {
            session: session.to_string(),
            presented: presented.to_vec(),
            next: next.to_vec(),
            now: UnixMs(now),
            expires_at: UnixMs(expires_at),
            access_until: UnixMs(access_until),
        };
        self.rotations.submit(rotation).await
    }

    async fn extend_session_access(&self, id: Uuid, until: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET access_until = MAX(COALESCE(access_until, 0), ?) \
             WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(UnixMs(until))
        .bind(id.to_string())
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn refresh_state(&self, session: Uuid) -> StoreResult<Option<RefreshState>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS}, refresh_hash, spent_hash, spent_at FROM sessions WHERE id = ?"
        );
        let row: Option<RefreshStateRow> = sqlx::query_as(&sql)
            .bind(session.to_string())
            .fetch_optional(self.reader())
            .await
            .map_err(map_err)?;
        Ok(row.map(|r| RefreshState {
            session: r.session.into(),
            live: r.refresh_hash,
            spent: r.spent_hash.zip(r.spent_at.map(Into::into)),
        }))
    }

    async fn legacy_refresh_session(&self, hash: &[u8]) -> StoreResult<Option<Uuid>> {
        let row: Option<(TextUuid,)> =
            sqlx::query_as("SELECT session_id FROM refresh_tokens WHERE hash = ?")
                .bind(hash)
                .fetch_optional(self.reader())
                .await
                .map_err(map_err)?;
        Ok(row.map(|(id,)| id.into()))
    }

    async fn create_browser_session(
        &self,
        s: &NewBrowserSession,
        audit: &[AuditEntry],
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let mut replaced: Vec<EndedRow> = Vec::new();
        if let Some(old) = s.replacing {
            // A sign-in again by the same person (a re-authentication an app asked for) keeps
            // the apps signed in: their sessions move to the new browser session before the old
            // one ends (which would end them).
            sqlx::query("UPDATE sessions SET parent_id = ? WHERE parent_id = ? AND user_id = ?")
                .bind(s.id.to_string())
                .bind(old.to_string())
                .bind(s.user_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            let sql = format!(
                "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING {ENDED_COLUMNS}"
            );
            replaced = sqlx::query_as(&sql)
                .bind(UnixMs(s.now))
                .bind(old.to_string())
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        // No access token is ever issued in a browser session: `access_until` is its start.
        sqlx::query(
            "INSERT INTO sessions (id, user_id, audience, created_at, last_used_at, expires_at, access_until, ip, user_agent, browser_hash, amr, acr) \
             VALUES (?, ?, '[]', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(s.id.to_string())
        .bind(s.user_id.to_string())
        .bind(UnixMs(s.now))
        .bind(UnixMs(s.now))
        .bind(UnixMs(s.expires_at))
        .bind(UnixMs(s.now))
        .bind(&s.ip)
        .bind(&s.user_agent)
        .bind(&s.cookie_hash)
        .bind(Json(&s.assurance.amr))
        .bind(&s.assurance.acr)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        record_changes(&mut tx, audit, &ended(replaced, s.now)).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn find_browser_session(&self, cookie_hash: &[u8]) -> StoreResult<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE browser_hash = ?");
        let session: Option<SessionRow> = sqlx::query_as(&sql)
            .bind(cookie_hash)
            .fetch_optional(self.reader())
            .await
            .map_err(map_err)?;
        Ok(session.map(Into::into))
    }

    async fn touch_session(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_used_at = MAX(last_used_at, ?) WHERE id = ?")
            .bind(UnixMs(now))
            .bind(id.to_string())
            .execute(self.writer())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?");
        let session: Option<SessionRow> = sqlx::query_as(&sql)
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await
            .map_err(map_err)?;
        Ok(session.map(Into::into))
    }

    async fn list_active_sessions(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SessionRecord>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions \
             WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC, id DESC"
        );
        let sessions: Vec<SessionRow> = sqlx::query_as(&sql)
            .bind(user_id.to_string())
            .bind(UnixMs(now))
            .fetch_all(self.reader())
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
        let mut tx = self.write_tx().await?;
        let sql = format!(
            "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING {ENDED_COLUMNS}"
        );
        let done: Vec<EndedRow> = sqlx::query_as(&sql)
            .bind(UnixMs(now))
            .bind(id.to_string())
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
            "INSERT INTO revocations (kind, subject, until, issued_before, at) \
             SELECT 'user', ?1, newest, ?2, CAST(unixepoch('subsec') * 1000 AS INTEGER) \
             FROM (SELECT max(COALESCE(access_until, expires_at)) AS newest \
                   FROM sessions WHERE user_id = ?1) \
             WHERE newest IS NOT NULL",
        )
        .bind(user_id.to_string())
        .bind(UnixMs(issued_before))
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn revocations_after(&self, cursor: i64) -> StoreResult<FeedPage> {
        // One writer at a time: ids are handed out in commit order, so every entry not read
        // yet has an id at or above the next cursor (see migration 0007).
        let rows: Vec<RevocationRow> = sqlx::query_as(
            "SELECT id, kind, subject, until, at, issued_before, status_idx FROM revocations WHERE id >= ? ORDER BY id",
        )
        .bind(cursor)
        .fetch_all(self.reader())
        .await
        .map_err(map_err)?;
        let mut page = FeedPage {
            entries: Vec::with_capacity(rows.len()),
            next: cursor,
        };
        for r in rows {
            page.next = page.next.max(r.id.saturating_add(1));
            // An unknown kind comes from a newer Sesame during a rolling upgrade: skipped, not
            // an error, which would stall the whole feed (see `RevocationKind::from_feed`).
            let Some(kind) = RevocationKind::from_feed(&r.kind) else {
                tracing::warn!(
                    kind = r.kind.as_str(),
                    "revocation feed entry of an unknown kind skipped"
                );
                continue;
            };
            page.entries.push(Revocation {
                kind,
                subject: r.subject,
                until: r.until.map(Into::into),
                at: r.at.into(),
                issued_before: r.issued_before.map(Into::into),
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
            sqlx::query("DELETE FROM revocations WHERE until < ? OR (until IS NULL AND at < ?)")
                .bind(UnixMs(before))
                .bind(UnixMs(legacy_before))
                .execute(self.writer())
                .await
                .map_err(map_err)?;
        Ok(done.rows_affected())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<Purged> {
        let now = UnixMs(now);
        let mut tx = self.write_tx().await?;
        // Sessions past expiry, revoked or not (their refresh tokens go by cascade), once their
        // newest access token has expired too: until then logout-all must still find them. A
        // revoked session's feed entry stays until its own `until`, whatever happens here.
        let sessions = sqlx::query(
            "DELETE FROM sessions WHERE expires_at <= ?1 AND COALESCE(access_until, 0) <= ?1",
        )
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
        let refresh_tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= ?1")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        let denied_tokens = sqlx::query("DELETE FROM denied_tokens WHERE expires_at <= ?1")
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
        sqlx::query("INSERT INTO denied_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(UnixMs(expires_at))
            .execute(self.writer())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn is_access_token_denied(&self, jti: &str) -> StoreResult<bool> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM denied_tokens WHERE jti = ?")
            .bind(jti)
            .fetch_optional(self.reader())
            .await
            .map_err(map_err)?;
        Ok(row.is_some())
    }
}

impl SqliteStore {
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
        let mut tx = self.write_tx().await?;
        let sql = format!(
            "UPDATE sessions SET revoked_at = ?1 WHERE user_id = ?2 AND id IS NOT ?3 \
             AND revoked_at IS NULL AND (expires_at > ?1 OR access_until > ?1) RETURNING {ENDED_COLUMNS}"
        );
        let done: Vec<EndedRow> = sqlx::query_as(&sql)
            .bind(UnixMs(now))
            .bind(user_id.to_string())
            .bind(keep.map(|k| k.to_string()))
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
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    s: &NewSession,
) -> StoreResult<i64> {
    let status_idx = crate::status::take_index(tx, s.status_reuse_before).await?;
    let app = s.app.as_ref();
    sqlx::query(
        "INSERT INTO sessions (id, user_id, audience, created_at, last_used_at, expires_at, access_until, ip, user_agent, status_idx, amr, acr, client_id, parent_id, sid, scope, auth_time, refresh_hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(s.id.to_string())
    .bind(s.user_id.to_string())
    .bind(Json(&s.audience))
    .bind(UnixMs(s.now))
    .bind(UnixMs(s.now))
    .bind(UnixMs(s.expires_at))
    .bind(UnixMs(s.access_until))
    .bind(&s.ip)
    .bind(&s.user_agent)
    .bind(status_idx)
    .bind(Json(&s.assurance.amr))
    .bind(&s.assurance.acr)
    .bind(app.map(|a| a.client_id.as_str()))
    .bind(app.map(|a| a.parent_id.to_string()))
    .bind(app.map(|a| a.sid.to_string()))
    .bind(app.map(|a| a.scope.as_str()))
    .bind(app.map(|a| UnixMs(a.auth_time)))
    .bind(&s.refresh_hash)
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(status_idx)
}

#[cfg(test)]
mod upgrade_tests {
    #![allow(clippy::unwrap_used)]

    use chrono::Duration;
    use sesame_core::store::{SessionStore, Store};
    use sesame_store_conformance::{create_user, t0, token};
    use uuid::Uuid;

    use crate::SqliteStore;
    use crate::types::UnixMs;

    /// Migration 0024 moves a session's live refresh token and the one it spent last from
    /// `refresh_tokens` into its row; the old rows stay findable by hash, and the live one
    /// rotates.
    #[tokio::test]
    async fn migration_0024_keeps_the_sessions_open_at_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let mut before = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations"
        )))
        .await
        .unwrap();
        before.migrations = std::borrow::Cow::Owned(
            before
                .migrations
                .iter()
                .filter(|m| m.version < 24)
                .cloned()
                .collect(),
        );
        before.run(store.writer()).await.unwrap();
        let user = create_user(&store, "upgraded").await;
        let (session, idle) = (Uuid::now_v7(), Uuid::now_v7());
        let (old, spent, live) = (token(), token(), token());
        let end = t0() + Duration::days(1);
        for id in [session, idle] {
            sqlx::query(
                "INSERT INTO sessions (id, user_id, audience, created_at, last_used_at, expires_at) \
                 VALUES (?, ?, '[]', ?, ?, ?)",
            )
            .bind(id.to_string())
            .bind(user.to_string())
            .bind(UnixMs(t0()))
            .bind(UnixMs(t0()))
            .bind(UnixMs(end))
            .execute(store.writer())
            .await
            .unwrap();
        }
        // Three generations in `session`: two spent (the later one last), one live.
        for (hash, issued, spent_at) in [(&old, 0, Some(1)), (&spent, 1, Some(2)), (&live, 2, None)]
        {
            sqlx::query(
                "INSERT INTO refresh_tokens (hash, session_id, issued_at, spent_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(hash)
            .bind(session.to_string())
            .bind(UnixMs(t0() + Duration::minutes(issued)))
            .bind(spent_at.map(|m| UnixMs(t0() + Duration::minutes(m))))
            .bind(UnixMs(end))
            .execute(store.writer())
            .await
            .unwrap();
        }

        store.migrate().await.unwrap();
        let state = store.refresh_state(session).await.unwrap().unwrap();
        assert_eq!(state.live.as_ref(), Some(&live));
        assert_eq!(
            state.spent,
            Some((spent.clone(), t0() + Duration::minutes(2)))
        );
        let empty = store.refresh_state(idle).await.unwrap().unwrap();
        assert_eq!(
            (empty.live, empty.spent),
            (None, None),
            "no tokens, none made up"
        );
        for hash in [&old, &spent, &live] {
            assert_eq!(
                store.legacy_refresh_session(hash).await.unwrap(),
                Some(session)
            );
        }
        let at = t0() + Duration::minutes(3);
        let next = token();
        let rotated = store
            .rotate_refresh(session, &live, &next, at, end, at)
            .await
            .unwrap();
        assert!(rotated.is_some(), "the live token of the old shape rotates");
        let state = store.refresh_state(session).await.unwrap().unwrap();
        assert_eq!(state.live, Some(next));
        assert_eq!(state.spent, Some((live, at)));
    }
}
