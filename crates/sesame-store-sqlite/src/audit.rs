//! audit_log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{AuditEntry, AuditFilter, AuditStore, EndedSession, StoreResult};
use sesame_core::webhooks::{events_for, with_noted};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::types::{TextUuid, UnixMs};
use crate::{SqliteStore, map_err};

/// Writes audit entries on the connection of the transaction making the change, with the
/// webhook deliveries of the events they stand for.
pub(crate) async fn insert_audit(
    conn: &mut SqliteConnection,
    entries: &[AuditEntry],
) -> StoreResult<()> {
    record_changes(conn, entries, &[]).await
}

/// [`insert_audit`] for a change that also ended sessions: each one's `session.revoked` event
/// is written with the entries.
pub(crate) async fn record_changes(
    conn: &mut SqliteConnection,
    entries: &[AuditEntry],
    ended: &[EndedSession],
) -> StoreResult<()> {
    for e in entries {
        sqlx::query("INSERT INTO audit_log (id, at, event, user_id, ip, user_agent, detail) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(e.id.to_string())
            .bind(UnixMs(e.at))
            .bind(&e.event)
            .bind(e.user_id.map(|u| u.to_string()))
            .bind(&e.ip)
            .bind(&e.user_agent)
            .bind(Json(&e.detail))
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    let noted = crate::webhooks::take_noted_app_ends(conn).await?;
    let ended = with_noted(ended, noted);
    crate::webhooks::fan_out(conn, &events_for(entries, &ended)).await
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: TextUuid,
    at: UnixMs,
    event: String,
    user_id: Option<TextUuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    #[sqlx(json)]
    detail: serde_json::Value,
}

impl From<EntryRow> for AuditEntry {
    fn from(r: EntryRow) -> Self {
        AuditEntry {
            id: r.id.into(),
            at: r.at.into(),
            event: r.event,
            user_id: r.user_id.map(Into::into),
            ip: r.ip,
            user_agent: r.user_agent,
            detail: r.detail,
        }
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_audit(&mut tx, entries).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn list_audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, at, event, user_id, ip, user_agent, detail FROM audit_log WHERE 1 = 1",
        );
        if let Some(u) = f.user_id {
            q.push(" AND user_id = ").push_bind(u.to_string());
        }
        if let Some(e) = &f.event {
            q.push(" AND event = ").push_bind(e.clone());
        }
        if let Some(b) = f.before {
            q.push(" AND id < ").push_bind(b.to_string());
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(f.limit));
        let entries: Vec<EntryRow> = q
            .build_query_as()
            .fetch_all(self.reader())
            .await
            .map_err(map_err)?;
        Ok(entries.into_iter().map(Into::into).collect())
    }

    async fn purge_audit(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < ?")
            .bind(UnixMs(before))
            .execute(self.writer())
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
