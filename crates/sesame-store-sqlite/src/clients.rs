//! clients.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::store::{AuditEntry, ClientRecord, ClientStore, StoreResult};
use sqlx::types::Json;

use crate::audit::insert_audit;
use crate::types::UnixMs;
use crate::{SqliteStore, map_err};

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    name: String,
    secret_hash: Vec<u8>,
    #[sqlx(json)]
    audiences: Vec<String>,
    #[sqlx(json)]
    scopes: Vec<String>,
    #[sqlx(json)]
    delegable_roles: Vec<String>,
    created_at: UnixMs,
    access_until: Option<UnixMs>,
    status_idx: Option<i64>,
    #[sqlx(json)]
    redirect_uris: Vec<String>,
    #[sqlx(json)]
    post_logout_redirect_uris: Vec<String>,
    #[sqlx(json)]
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
            created_at: r.created_at.into(),
            access_until: r.access_until.map(Into::into),
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

const COLUMNS: &str = "client_id, name, secret_hash, audiences, scopes, delegable_roles, created_at, access_until, status_idx, \
     redirect_uris, post_logout_redirect_uris, grant_types, public, first_party, backchannel_logout_uri";

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create_client(
        &self,
        c: &ClientRecord,
        status_reuse_before: DateTime<Utc>,
        audit: &[AuditEntry],
    ) -> StoreResult<i64> {
        let mut tx = self.write_tx().await?;
        let status_idx = crate::status::take_index(&mut tx, status_reuse_before).await?;
        sqlx::query(
            "INSERT INTO clients (client_id, name, secret_hash, audiences, scopes, delegable_roles, created_at, status_idx, \
             redirect_uris, post_logout_redirect_uris, grant_types, public, first_party, backchannel_logout_uri) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
            .bind(&c.client_id)
            .bind(&c.name)
            .bind(&c.secret_hash)
            .bind(Json(&c.audiences))
            .bind(Json(&c.scopes))
            .bind(Json(&c.delegable_roles))
            .bind(UnixMs(c.created_at))
            .bind(status_idx)
            .bind(Json(&c.redirect_uris))
            .bind(Json(&c.post_logout_redirect_uris))
            .bind(Json(&c.grant_types))
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
            "SELECT {COLUMNS} FROM clients WHERE client_id = ?"
        ))
        .bind(client_id)
        .fetch_optional(self.reader())
        .await
        .map_err(map_err)?;
        Ok(client.map(Into::into))
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        let clients: Vec<ClientRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM clients ORDER BY created_at, client_id"
        ))
        .fetch_all(self.reader())
        .await
        .map_err(map_err)?;
        Ok(clients.into_iter().map(Into::into).collect())
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
        let row: Option<(UnixMs,)> = sqlx::query_as(
            "UPDATE clients SET access_until = MAX(COALESCE(access_until, 0), ?) \
             WHERE client_id = ? RETURNING access_until",
        )
        .bind(UnixMs(until))
        .bind(client_id)
        .fetch_optional(self.writer())
        .await
        .map_err(map_err)?;
        Ok(row.map(|(v,)| v.0))
    }
}
