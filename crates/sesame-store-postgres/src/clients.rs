//! clients.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{AuditEntry, ClientRecord, ClientStore, StoreResult};

use crate::audit::insert_audit;
use crate::{PostgresStore, map_err};

const COLUMNS: &str = "client_id, name, secret_hash, audiences, scopes, delegable_roles, created_at, access_until, status_idx, \
     redirect_uris, post_logout_redirect_uris, grant_types, public, first_party, backchannel_logout_uri";

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    name: String,
    secret_hash: Vec<u8>,
    audiences: Vec<String>,
    scopes: Vec<String>,
    delegable_roles: Vec<String>,
    created_at: DateTime<Utc>,
    access_until: Option<DateTime<Utc>>,
    status_idx: Option<i64>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    public: bool,
    first_party: bool,
    backchannel_logout_uri: Option<String>,
}

impl From<ClientRow> for ClientRecord {
    fn from(r: ClientRow) -> Self {
        ClientRecord {
            client_id: r.client_id,
            name: r.name,
            secret_hash: r.secret_hash,
            audiences: r.audiences,
            scopes: r.scopes,
            delegable_roles: r.delegable_roles,
            created_at: r.created_at,
            access_until: r.access_until,
            status_idx: r.status_idx,
            redirect_uris: r.redirect_uris,
            post_logout_redirect_uris: r.post_logout_redirect_uris,
            grant_types: r.grant_types,
            public: r.public,
            first_party: r.first_party,
            backchannel_logout_uri: r.backchannel_logout_uri,
        }
    }
}

#[async_trait]
impl ClientStore for PostgresStore {
    async fn create_client(
        &self,
        c: &ClientRecord,
        status_reuse_before: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        let status_idx = crate::status::take_index(&mut tx, status_reuse_before).await?;
        sqlx::query(
            "INSERT INTO clients \
             (client_id, name, secret_hash, audiences, scopes, delegable_roles, created_at, status_idx, \
              redirect_uris, post_logout_redirect_uris, grant_types, public, first_party, backchannel_logout_uri) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&c.client_id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(&c.audiences)
        .bind(&c.scopes)
        .bind(&c.delegable_roles)
        .bind(c.created_at)
        .bind(status_idx)
        .bind(&c.redirect_uris)
        .bind(&c.post_logout_redirect_uris)
        .bind(&c.grant_types)
        .bind(c.public)
        .bind(c.first_party)
        .bind(&c.backchannel_logout_uri)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(status_idx)
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let client: Option<ClientRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM clients WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(self.pool())
        .await
        .map_err(map_err)?;
        Ok(client.map(Into::into))
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        // Byte order for the tie-break, as SQLite sorts, whatever the database's locale.
        let clients: Vec<ClientRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM clients ORDER BY created_at, client_id COLLATE \"C\""
        ))
        .fetch_all(self.pool())
        .await
        .map_err(map_err)?;
        Ok(clients.into_iter().map(Into::into).collect())
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
