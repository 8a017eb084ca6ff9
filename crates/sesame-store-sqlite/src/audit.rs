//! audit_log.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{AuditEntry, AuditFilter, AuditStore, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::{SqliteStore, from_ms, map_err, ms, other, parse_uuid};

/// Writes audit entries on the connection of the transaction making the change.
pub(crate) async fn insert_audit(
    conn: &mut SqliteConnection,
    entries: &[AuditEntry],
) -> StoreResult<()> {
    for e in entries {
        sqlx::query("INSERT INTO audit_log (id, at, event, user_id, ip, user_agent, detail) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(e.id.to_string())
            .bind(ms(e.at))
            .bind(&e.event)
            .bind(e.user_id.map(|u| u.to_string()))
            .bind(&e.ip)
            .bind(&e.user_agent)
            .bind(e.detail.to_string())
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    Ok(())
}

fn entry_from_row(r: &SqliteRow) -> StoreResult<AuditEntry> {
    let user_id: Option<String> = r.try_get("user_id").map_err(map_err)?;
    let detail: String = r.try_get("detail").map_err(map_err)?;
    Ok(AuditEntry {
        id: parse_uuid(&r.try_get::<String, _>("id").map_err(map_err)?)?,
        at: from_ms(r.try_get("at").map_err(map_err)?),
        event: r.try_get("event").map_err(map_err)?,
        user_id: user_id.as_deref().map(parse_uuid).transpose()?,
        ip: r.try_get("ip").map_err(map_err)?,
        user_agent: r.try_get("user_agent").map_err(map_err)?,
        detail: serde_json::from_str(&detail).map_err(other)?,
    })
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
        let rows = q.build().fetch_all(self.reader()).await.map_err(map_err)?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn purge_audit(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < ?")
            .bind(ms(before))
            .execute(self.writer())
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected())
    }
}
