//! audit_log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{AuditEntry, AuditFilter, AuditStore, EndedSession, StoreResult};
use sesame_core::webhooks::{events_for, with_noted};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::{PostgresStore, map_err};

/// Writes audit entries on the connection of the transaction making the change, so an entry
/// commits or rolls back with it; and the webhook deliveries of the events they stand for.
pub(crate) async fn insert_audit(
    conn: &mut PgConnection,
    entries: &[AuditEntry],
) -> StoreResult<()> {
    record_changes(conn, entries, &[]).await
}

/// [`insert_audit`] for a change that also ended sessions: each one's `session.revoked` event
/// is written with the entries.
pub(crate) async fn record_changes(
    conn: &mut PgConnection,
    entries: &[AuditEntry],
    ended: &[EndedSession],
) -> StoreResult<()> {
    for e in entries {
        sqlx::query(
            "INSERT INTO audit_log (id, at, event, user_id, ip, user_agent, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.id)
        .bind(e.at)
        .bind(&e.event)
        .bind(e.user_id)
        .bind(&e.ip)
        .bind(&e.user_agent)
        .bind(&e.detail)
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
    id: Uuid,
    at: DateTime<Utc>,
    event: String,
    user_id: Option<Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: serde_json::Value,
}

impl From<EntryRow> for AuditEntry {
    fn from(r: EntryRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            event: r.event,
            user_id: r.user_id,
            ip: r.ip,
            user_agent: r.user_agent,
            detail: r.detail,
        }
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_audit(&mut tx, entries).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn list_audit(&self, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
            "SELECT id, at, event, user_id, ip, user_agent, detail FROM audit_log WHERE true",
        );
        if let Some(u) = f.user_id {
            q.push(" AND user_id = ").push_bind(u);
        }
        if let Some(e) = &f.event {
            q.push(" AND event = ").push_bind(e.clone());
        }
        if let Some(b) = f.before {
            q.push(" AND id < ").push_bind(b);
        }
        // Ids are UUIDv7, so id order is time order and the (user_id, id) / (event, id)
        // indexes serve both the filter and the sort.
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(f.limit));
        let entries: Vec<EntryRow> = q
            .build_query_as()
            .fetch_all(self.pool())
            .await
            .map_err(map_err)?;
        Ok(entries.into_iter().map(Into::into).collect())
    }

    async fn purge_audit(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(self.pool())
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
