//! clients.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{AuditEntry, ClientRecord, ClientStore, StoreResult};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::audit::insert_audit;
use crate::{SqliteStore, from_ms, map_err, ms, opt_ms, other};

fn client_from_row(r: &SqliteRow) -> StoreResult<ClientRecord> {
    let audiences: String = r.try_get("audiences").map_err(map_err)?;
    let scopes: String = r.try_get("scopes").map_err(map_err)?;
    let delegable_roles: String = r.try_get("delegable_roles").map_err(map_err)?;
    Ok(ClientRecord {
        client_id: r.try_get("client_id").map_err(map_err)?,
        name: r.try_get("name").map_err(map_err)?,
        secret_hash: r.try_get("secret_hash").map_err(map_err)?,
        audiences: serde_json::from_str(&audiences).map_err(other)?,
        scopes: serde_json::from_str(&scopes).map_err(other)?,
        delegable_roles: serde_json::from_str(&delegable_roles).map_err(other)?,
        created_at: from_ms(r.try_get("created_at").map_err(map_err)?),
        access_until: opt_ms(r.try_get("access_until").map_err(map_err)?),
    })
}

const COLUMNS: &str =
    "client_id, name, secret_hash, audiences, scopes, delegable_roles, created_at, access_until";

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create_client(&self, c: &ClientRecord, audit: &[AuditEntry]) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO clients (client_id, name, secret_hash, audiences, scopes, delegable_roles, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(&c.client_id)
            .bind(&c.name)
            .bind(&c.secret_hash)
            .bind(serde_json::to_string(&c.audiences).map_err(other)?)
            .bind(serde_json::to_string(&c.scopes).map_err(other)?)
            .bind(serde_json::to_string(&c.delegable_roles).map_err(other)?)
            .bind(ms(c.created_at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM clients WHERE client_id = ?"
        ))
        .bind(client_id)
        .fetch_optional(self.reader())
        .await
        .map_err(map_err)?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM clients ORDER BY created_at, client_id"
        ))
        .fetch_all(self.reader())
        .await
        .map_err(map_err)?;
        rows.iter().map(client_from_row).collect()
    }

    async fn delete_client(&self, client_id: &str, audit: &[AuditEntry]) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM clients WHERE client_id = ?")
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn extend_client_access(
        &self,
        client_id: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "UPDATE clients SET access_until = MAX(COALESCE(access_until, 0), ?) \
             WHERE client_id = ? RETURNING access_until",
        )
        .bind(ms(until))
        .bind(client_id)
        .fetch_optional(self.writer())
        .await
        .map_err(map_err)?;
        Ok(row.map(|(v,)| from_ms(v)))
    }
}
