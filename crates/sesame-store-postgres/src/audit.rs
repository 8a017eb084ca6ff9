//! audit_log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{AuditEntry, AuditFilter, AuditStore, StoreResult};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use crate::{PostgresStore, map_err};

/// Writes audit entries on the connection of the transaction making the change, so an entry
/// commits or rolls back with it.
pub(crate) async fn insert_audit(
    conn: &mut PgConnection,
    entries: &[AuditEntry],
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
    Ok(())
}

fn entry_from_row(r: &PgRow) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        id: r.try_get("id").map_err(map_err)?,
        at: r.try_get("at").map_err(map_err)?,
        event: r.try_get("event").map_err(map_err)?,
        user_id: r.try_get("user_id").map_err(map_err)?,
        ip: r.try_get("ip").map_err(map_err)?,
        user_agent: r.try_get("user_agent").map_err(map_err)?,
        detail: r.try_get("detail").map_err(map_err)?,
    })
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
        let rows = q.build().fetch_all(self.pool()).await.map_err(map_err)?;
        rows.iter().map(entry_from_row).collect()
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
