//! clients.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{AuditEntry, ClientRecord, ClientStore, StoreResult};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::audit::insert_audit;
use crate::{PostgresStore, map_err};

const COLUMNS: &str =
    "client_id, name, secret_hash, audiences, scopes, delegable_roles, created_at, access_until";

fn client_from_row(r: &PgRow) -> StoreResult<ClientRecord> {
    Ok(ClientRecord {
        client_id: r.try_get("client_id").map_err(map_err)?,
        name: r.try_get("name").map_err(map_err)?,
        secret_hash: r.try_get("secret_hash").map_err(map_err)?,
        audiences: r.try_get("audiences").map_err(map_err)?,
        scopes: r.try_get("scopes").map_err(map_err)?,
        delegable_roles: r.try_get("delegable_roles").map_err(map_err)?,
        created_at: r.try_get("created_at").map_err(map_err)?,
        access_until: r.try_get("access_until").map_err(map_err)?,
    })
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn create_client(&self, c: &ClientRecord, audit: &[AuditEntry]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO clients \
             (client_id, name, secret_hash, audiences, scopes, delegable_roles, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&c.client_id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(&c.audiences)
        .bind(&c.scopes)
        .bind(&c.delegable_roles)
        .bind(c.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM clients WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        // Byte order for the tie-break, as SQLite sorts, whatever the database's locale.
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM clients ORDER BY created_at, client_id COLLATE \"C\""
        ))
        .fetch_all(self.pool())
        .await
        .map_err(map_err)?;
        rows.iter().map(client_from_row).collect()
    }

    async fn delete_client(&self, client_id: &str, audit: &[AuditEntry]) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
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
        // Under the row lock, so a deletion either comes after (and records this value) or
        // before (and nothing is updated: no token is issued).
        let row: Option<(DateTime<Utc>,)> = sqlx::query_as(
            "UPDATE clients SET access_until = GREATEST(access_until, $1) \
             WHERE client_id = $2 RETURNING access_until",
        )
        .bind(until)
        .bind(client_id)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        Ok(row.map(|(v,)| v))
    }
}
