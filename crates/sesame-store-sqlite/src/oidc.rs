//! oauth_codes, oauth_grants (issue #18).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{
    AuditEntry, ClaimedLogout, CodeRecord, GrantRecord, LogoutOutcome, NewCode, NewSession,
    OidcStore, Redeemed, StoreResult,
};
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::sessions::insert_session;
use crate::types::{TextUuid, UnixMs};
use crate::{SqliteStore, map_err};

#[derive(sqlx::FromRow)]
struct CodeRow {
    hash: Vec<u8>,
    client_id: String,
    user_id: TextUuid,
    parent_id: TextUuid,
    redirect_uri: String,
    scope: String,
    #[sqlx(json)]
    audience: Vec<String>,
    code_challenge: String,
    nonce: Option<String>,
    auth_time: UnixMs,
    created_at: UnixMs,
    expires_at: UnixMs,
    used_at: Option<UnixMs>,
    session_id: Option<TextUuid>,
}

impl From<CodeRow> for CodeRecord {
    fn from(r: CodeRow) -> Self {
        CodeRecord {
            code: NewCode {
                hash: r.hash,
                client_id: r.client_id,
                user_id: r.user_id.into(),
                parent_id: r.parent_id.into(),
                redirect_uri: r.redirect_uri,
                scope: r.scope,
                audience: r.audience,
                code_challenge: r.code_challenge,
                nonce: r.nonce,
                auth_time: r.auth_time.into(),
                created_at: r.created_at.into(),
                expires_at: r.expires_at.into(),
            },
            used_at: r.used_at.map(Into::into),
            session_id: r.session_id.map(Into::into),
        }
    }
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    user_id: TextUuid,
    client_id: String,
    client_name: String,
    scope: String,
    granted_at: UnixMs,
}

impl From<GrantRow> for GrantRecord {
    fn from(r: GrantRow) -> Self {
        GrantRecord {
            user_id: r.user_id.into(),
            client_id: r.client_id,
            client_name: r.client_name,
            scopes: r.scope.split_whitespace().map(str::to_string).collect(),
            granted_at: r.granted_at.into(),
        }
    }
}

const GRANT_SELECT: &str = "SELECT g.user_id, g.client_id, c.name AS client_name, g.scope, g.granted_at \
     FROM oauth_grants g JOIN clients c ON c.client_id = g.client_id";

#[async_trait]
impl OidcStore for SqliteStore {
    async fn create_code(&self, c: &NewCode) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth_codes (hash, client_id, user_id, parent_id, redirect_uri, scope, audience, code_challenge, nonce, auth_time, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.hash)
        .bind(&c.client_id)
        .bind(c.user_id.to_string())
        .bind(c.parent_id.to_string())
        .bind(&c.redirect_uri)
        .bind(&c.scope)
        .bind(Json(&c.audience))
        .bind(&c.code_challenge)
        .bind(&c.nonce)
        .bind(UnixMs(c.auth_time))
        .bind(UnixMs(c.created_at))
        .bind(UnixMs(c.expires_at))
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn find_code(&self, hash: &[u8]) -> StoreResult<Option<CodeRecord>> {
        let row: Option<CodeRow> = sqlx::query_as(
            "SELECT hash, client_id, user_id, parent_id, redirect_uri, scope, audience, code_challenge, nonce, auth_time, created_at, expires_at, used_at, session_id \
             FROM oauth_codes WHERE hash = ?",
        )
        .bind(hash)
        .fetch_optional(self.reader())
        .await
        .map_err(map_err)?;
        Ok(row.map(Into::into))
    }

    async fn redeem_code(
        &self,
        hash: &[u8],
        session: &NewSession,
        audit: &[AuditEntry],
        replay_audit: &[AuditEntry],
    ) -> StoreResult<Redeemed> {
        let mut tx = self.write_tx().await?;
        // The code is spent only while the sign-in that approved it is live: the exchange
        // checked it before, but a sign-out committed since ran its cascade before this session
        // existed. One statement (one call to the writer thread, which serialises them); one
        // writer at a time, so nothing can end the sign-in between here and the commit.
        let parent = session.app.as_ref().map(|a| a.parent_id.to_string());
        let spent = sqlx::query(
            "UPDATE oauth_codes SET used_at = ?, session_id = ? WHERE hash = ? AND used_at IS NULL \
               AND (? IS NULL OR EXISTS (SELECT 1 FROM sessions \
                     WHERE id = ? AND revoked_at IS NULL AND expires_at > ?))",
        )
        .bind(UnixMs(session.now))
        .bind(session.id.to_string())
        .bind(hash)
        .bind(&parent)
        .bind(&parent)
        .bind(UnixMs(session.now))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
        if spent == 1 {
            let status_idx = insert_session(&mut tx, session).await?;
            insert_audit(&mut tx, audit).await?;
            tx.commit().await.map_err(map_err)?;
            return Ok(Redeemed::Issued { status_idx });
        }
        let code: Option<(bool, Option<TextUuid>)> = sqlx::query_as(
            "SELECT used_at IS NOT NULL, session_id FROM oauth_codes WHERE hash = ?",
        )
        .bind(hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let Some((used, first)) = code else {
            return Ok(Redeemed::Unknown);
        };
        if !used {
            // Not used before, yet not spent above: the sign-in that approved it has ended.
            // Rolled back when `tx` drops: nothing is created.
            return Ok(Redeemed::SignInEnded);
        }
        if let Some(id) = first {
            sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(UnixMs(session.now))
                .bind(Uuid::from(id).to_string())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        insert_audit(&mut tx, replay_audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Redeemed::Replayed)
    }

    async fn get_grant(&self, user_id: Uuid, client_id: &str) -> StoreResult<Option<GrantRecord>> {
        let sql = format!("{GRANT_SELECT} WHERE g.user_id = ? AND g.client_id = ?");
        let row: Option<GrantRow> = sqlx::query_as(&sql)
            .bind(user_id.to_string())
            .bind(client_id)
            .fetch_optional(self.reader())
            .await
            .map_err(map_err)?;
        Ok(row.map(Into::into))
    }

    async fn save_grant(
        &self,
        user_id: Uuid,
        client_id: &str,
        scopes: &[String],
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO oauth_grants (user_id, client_id, scope, granted_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        )
        .bind(user_id.to_string())
        .bind(client_id)
        .bind(scopes.join(" "))
        .bind(UnixMs(now))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn list_grants(&self, user_id: Uuid) -> StoreResult<Vec<GrantRecord>> {
        let sql = format!("{GRANT_SELECT} WHERE g.user_id = ? ORDER BY g.granted_at DESC");
        let rows: Vec<GrantRow> = sqlx::query_as(&sql)
            .bind(user_id.to_string())
            .fetch_all(self.reader())
            .await
            .map_err(map_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn delete_grant(
        &self,
        user_id: Uuid,
        client_id: &str,
        now: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let grants = sqlx::query("DELETE FROM oauth_grants WHERE user_id = ? AND client_id = ?")
            .bind(user_id.to_string())
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
        let sessions = sqlx::query(
            "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND client_id = ? AND revoked_at IS NULL",
        )
        .bind(UnixMs(now))
        .bind(user_id.to_string())
        .bind(client_id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
        if grants + sessions == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn claim_backchannel(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedLogout>> {
        self.claim_backchannel_rows(now, lease_until, limit).await
    }

    async fn settle_backchannel(&self, id: i64, outcome: &LogoutOutcome) -> StoreResult<()> {
        self.settle_backchannel_row(id, outcome).await
    }

    async fn purge_codes(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM oauth_codes WHERE expires_at < ?")
            .bind(UnixMs(before))
            .execute(self.writer())
            .await
            .map_err(map_err)?
            .rows_affected())
    }
}

#[derive(sqlx::FromRow)]
struct LogoutRow {
    id: i64,
    client_id: String,
    uri: String,
    sub: TextUuid,
    sid: TextUuid,
    created_at: UnixMs,
    attempts: i64,
}

impl SqliteStore {
    pub(crate) async fn claim_backchannel_rows(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedLogout>> {
        let mut tx = self.write_tx().await?;
        // The lease is the due time pushed ahead: one writer at a time, so no other worker can
        // take these rows until it passes.
        let rows: Vec<LogoutRow> = sqlx::query_as(
            "UPDATE backchannel_logouts SET next_attempt_at = ?1 \
             WHERE id IN (SELECT b.id FROM backchannel_logouts b \
                JOIN clients c ON c.client_id = b.client_id AND c.backchannel_logout_uri IS NOT NULL \
                WHERE b.status = 'pending' AND b.next_attempt_at <= ?2 \
                ORDER BY b.next_attempt_at, b.id LIMIT ?3) \
             RETURNING id, client_id, sub, sid, created_at, attempts, \
               (SELECT c.backchannel_logout_uri FROM clients c WHERE c.client_id = backchannel_logouts.client_id) AS uri",
        )
        .bind(UnixMs(lease_until))
        .bind(UnixMs(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        let mut out: Vec<ClaimedLogout> = rows
            .into_iter()
            .map(|r| ClaimedLogout {
                id: r.id,
                client_id: r.client_id,
                uri: r.uri,
                sub: r.sub.into(),
                sid: r.sid.into(),
                created_at: r.created_at.into(),
                attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            })
            .collect();
        out.sort_by_key(|l| l.id);
        Ok(out)
    }

    pub(crate) async fn settle_backchannel_row(
        &self,
        id: i64,
        outcome: &LogoutOutcome,
    ) -> StoreResult<()> {
        let (status, at, error) = match outcome {
            LogoutOutcome::Delivered => ("delivered", None, None),
            LogoutOutcome::Retry { at, error } => {
                ("pending", Some(UnixMs(*at)), Some(error.as_str()))
            }
            LogoutOutcome::Failed { error } => ("failed", None, Some(error.as_str())),
        };
        sqlx::query(
            "UPDATE backchannel_logouts SET status = ?, attempts = attempts + 1, \
             next_attempt_at = COALESCE(?, next_attempt_at), last_error = ? WHERE id = ?",
        )
        .bind(status)
        .bind(at)
        .bind(error)
        .bind(id)
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        Ok(())
    }
}

/// The back-channel logouts of an account about to be deleted: its sessions go by cascade,
/// unrevoked, so the revocation trigger never sees them (see migration 0017).
pub(crate) async fn logouts_of_deleted_user(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT OR IGNORE INTO backchannel_logouts (client_id, sub, sid, created_at, next_attempt_at) \
         SELECT s.client_id, s.user_id, s.sid, ?2, ?2 FROM sessions s \
         JOIN clients c ON c.client_id = s.client_id AND c.backchannel_logout_uri IS NOT NULL \
         WHERE s.user_id = ?1 AND s.revoked_at IS NULL AND s.sid IS NOT NULL",
    )
    .bind(user_id.to_string())
    .bind(UnixMs(now))
    .execute(&mut **tx)
    .await
    .map_err(map_err)?;
    Ok(())
}
