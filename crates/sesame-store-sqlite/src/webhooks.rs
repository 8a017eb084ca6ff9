//! webhook_endpoints, webhook_deliveries (migration 0012); and the fan-out of a change's events
//! to the endpoints subscribed to them, written on the connection of the change's transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sesame_core::secret::ExposeSecret;
use sesame_core::secret::secret_bytes;
use sesame_core::store::{
    AuditEntry, ClaimedDelivery, DeliveryOutcome, DeliveryRecord, DeliveryStatus, EndedSession,
    NewWebhookEndpoint, StoreResult, WebhookEndpoint, WebhookStatus, WebhookStore,
};
use sesame_core::webhooks::WebhookEvent;
use sqlx::SqliteConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::insert_audit;
use crate::types::{TextUuid, UnixMs};
use crate::{SqliteStore, map_err};

/// Writes one delivery row per (event, active endpoint subscribed to its type), in one
/// statement: nothing is written when no endpoint wants the events.
pub(crate) async fn fan_out(
    conn: &mut SqliteConnection,
    events: &[WebhookEvent],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let list: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": e.id.to_string(),
                "type": e.kind.as_str(),
                "body": e.body,
                "at": e.at.timestamp_millis(),
            })
        })
        .collect();
    sqlx::query(
        "INSERT INTO webhook_deliveries (endpoint_id, id, event, body, created_at, next_attempt_at) \
         SELECT e.id, json_extract(ev.value, '$.id'), json_extract(ev.value, '$.type'), \
                json_extract(ev.value, '$.body'), json_extract(ev.value, '$.at'), json_extract(ev.value, '$.at') \
         FROM json_each(?) AS ev JOIN webhook_endpoints AS e ON e.status = 'active' \
          AND EXISTS (SELECT 1 FROM json_each(e.events) AS t WHERE t.value = json_extract(ev.value, '$.type'))",
    )
    .bind(Json(&list))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// A session a statement ended (`RETURNING` [`ENDED_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(crate) struct EndedRow {
    id: TextUuid,
    user_id: TextUuid,
    expires_at: UnixMs,
    access_until: Option<UnixMs>,
}

/// What a statement that ends sessions returns, for [`ended`].
pub(crate) const ENDED_COLUMNS: &str = "id, user_id, expires_at, access_until";

/// The sessions among `rows` that were in force at `now` — a refresh token or the newest access
/// token still alive — as ended at `now`. Ending one that had already run out is no news.
pub(crate) fn ended(rows: Vec<EndedRow>, now: DateTime<Utc>) -> Vec<EndedSession> {
    rows.into_iter()
        .filter(|r| r.expires_at.0 > now || r.access_until.is_some_and(|a| a.0 > now))
        .map(|r| EndedSession {
            sid: r.id.into(),
            user_id: r.user_id.into(),
            at: now,
        })
        .collect()
}

/// An app session's end noted by migration 0018's trigger.
#[derive(sqlx::FromRow)]
struct NotedEnd {
    #[sqlx(flatten)]
    row: EndedRow,
    revoked_at: UnixMs,
}

/// The app sessions ended in this transaction that migration 0018's trigger noted, the notes
/// deleted: those in force when they ended, as [`ended`] counts them.
pub(crate) async fn take_noted_app_ends(
    conn: &mut SqliteConnection,
) -> StoreResult<Vec<EndedSession>> {
    let noted: Vec<NotedEnd> = sqlx::query_as(
        "DELETE FROM ended_app_sessions RETURNING id, user_id, expires_at, access_until, revoked_at",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(noted
        .into_iter()
        .flat_map(|n| ended(vec![n.row], n.revoked_at.into()))
        .collect())
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: TextUuid,
    url: String,
    #[sqlx(json)]
    events: Vec<String>,
    status: String,
    created_at: UnixMs,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(r: EndpointRow) -> Self {
        WebhookEndpoint {
            id: r.id.into(),
            url: r.url,
            events: r.events,
            status: WebhookStatus::from_stored(&r.status),
            created_at: r.created_at.into(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: TextUuid,
    event: String,
    attempts: i64,
    status: String,
    created_at: UnixMs,
    last_attempt_at: Option<UnixMs>,
    response_status: Option<i64>,
    last_error: Option<String>,
}

impl From<DeliveryRow> for DeliveryRecord {
    fn from(r: DeliveryRow) -> Self {
        DeliveryRecord {
            id: r.id.into(),
            event: r.event,
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            status: DeliveryStatus::from_stored(&r.status),
            created_at: r.created_at.into(),
            last_attempt_at: r.last_attempt_at.map(Into::into),
            response_status: r.response_status.and_then(|s| u16::try_from(s).ok()),
            last_error: r.last_error,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    endpoint_id: TextUuid,
    id: TextUuid,
    event: String,
    body: String,
    attempts: i64,
    created_at: UnixMs,
    url: String,
    secret: Vec<u8>,
}

const ENDPOINT_COLUMNS: &str = "id, url, events, status, created_at";
const DELIVERY_COLUMNS: &str =
    "id, event, attempts, status, created_at, last_attempt_at, response_status, last_error";

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(
        &self,
        new: &NewWebhookEndpoint,
        audit: &[AuditEntry],
    ) -> StoreResult<()> {
        let e = &new.endpoint;
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, events, secret, status, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(e.id.to_string())
        .bind(&e.url)
        .bind(Json(&e.events))
        .bind(new.secret.expose_secret().as_slice())
        .bind(e.status.as_str())
        .bind(UnixMs(e.created_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookEndpoint>> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY id");
        let rows: Vec<EndpointRow> = sqlx::query_as(&sql)
            .fetch_all(self.reader())
            .await
            .map_err(map_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn get_webhook(&self, id: Uuid) -> StoreResult<Option<WebhookEndpoint>> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?");
        let row: Option<EndpointRow> = sqlx::query_as(&sql)
            .bind(id.to_string())
            .fetch_optional(self.reader())
            .await
            .map_err(map_err)?;
        Ok(row.map(Into::into))
    }

    async fn delete_webhook(&self, id: Uuid, audit: &[AuditEntry]) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = ?")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn list_deliveries(
        &self,
        endpoint_id: Uuid,
        limit: u32,
        before: Option<Uuid>,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
             WHERE endpoint_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3"
        );
        let rows: Vec<DeliveryRow> = sqlx::query_as(&sql)
            .bind(endpoint_id.to_string())
            .bind(before.map(|b| b.to_string()))
            .bind(i64::from(limit))
            .fetch_all(self.reader())
            .await
            .map_err(map_err)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let mut tx = self.write_tx().await?;
        // The lease is the due time pushed ahead (as the mail outbox does): one writer at a
        // time, so no other worker can take these rows until it passes.
        let rows: Vec<ClaimedRow> = sqlx::query_as(
            "UPDATE webhook_deliveries SET next_attempt_at = ?1 \
             WHERE (endpoint_id, id) IN \
               (SELECT d.endpoint_id, d.id FROM webhook_deliveries d \
                JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.status = 'active' \
                WHERE d.status = 'pending' AND d.next_attempt_at <= ?2 \
                ORDER BY d.next_attempt_at, d.id LIMIT ?3) \
             RETURNING endpoint_id, id, event, body, attempts, created_at, \
               (SELECT e.url FROM webhook_endpoints e WHERE e.id = webhook_deliveries.endpoint_id) AS url, \
               (SELECT e.secret FROM webhook_endpoints e WHERE e.id = webhook_deliveries.endpoint_id) AS secret",
        )
        .bind(UnixMs(lease_until))
        .bind(UnixMs(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        let mut out: Vec<ClaimedDelivery> = rows
            .into_iter()
            .map(|r| ClaimedDelivery {
                endpoint_id: r.endpoint_id.into(),
                id: r.id.into(),
                event: r.event,
                body: r.body,
                attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
                created_at: r.created_at.into(),
                url: r.url,
                secret: secret_bytes(r.secret),
            })
            .collect();
        out.sort_by_key(|d| d.id);
        Ok(out)
    }

    async fn record_delivery(
        &self,
        endpoint_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
        outcome: &DeliveryOutcome,
        audit: &[AuditEntry],
    ) -> StoreResult<()> {
        let (status, response_status, error, next) = match outcome {
            DeliveryOutcome::Delivered { response_status } => (
                DeliveryStatus::Delivered,
                Some(*response_status),
                None,
                None,
            ),
            DeliveryOutcome::Retry {
                response_status,
                error,
                next_attempt_at,
            } => (
                DeliveryStatus::Pending,
                *response_status,
                Some(error.as_str()),
                Some(*next_attempt_at),
            ),
            DeliveryOutcome::Failed {
                response_status,
                error,
            } => (
                DeliveryStatus::Failed,
                *response_status,
                Some(error.as_str()),
                None,
            ),
            DeliveryOutcome::Gone { response_status } => (
                DeliveryStatus::Disabled,
                Some(*response_status),
                Some("410 Gone: the endpoint is disabled"),
                None,
            ),
        };
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = ?1, attempts = attempts + 1, last_attempt_at = ?2, \
             response_status = ?3, last_error = ?4, next_attempt_at = COALESCE(?5, next_attempt_at), \
             settled_at = CASE WHEN ?1 = 'pending' THEN NULL ELSE ?2 END \
             WHERE endpoint_id = ?6 AND id = ?7 AND status = 'pending'",
        )
        .bind(status.as_str())
        .bind(UnixMs(now))
        .bind(response_status.map(i64::from))
        .bind(error)
        .bind(next.map(UnixMs))
        .bind(endpoint_id.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        if done.rows_affected() == 1 && matches!(outcome, DeliveryOutcome::Gone { .. }) {
            let gone = sqlx::query(
                "UPDATE webhook_endpoints SET status = 'disabled' WHERE id = ? AND status = 'active'",
            )
            .bind(endpoint_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query(
                "UPDATE webhook_deliveries SET status = 'disabled', settled_at = ? \
                 WHERE endpoint_id = ? AND status = 'pending'",
            )
            .bind(UnixMs(now))
            .bind(endpoint_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            if gone.rows_affected() == 1 {
                insert_audit(&mut tx, audit).await?;
            }
        }
        tx.commit().await.map_err(map_err)
    }

    async fn pending_deliveries(&self) -> StoreResult<u64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
             WHERE d.status = 'pending' AND e.status = 'active'",
        )
        .fetch_one(self.reader())
        .await
        .map_err(map_err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn purge_deliveries(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let settled = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND settled_at < ?",
        )
        .bind(UnixMs(before))
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        let orphans = sqlx::query(
            "DELETE FROM webhook_deliveries \
             WHERE NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = webhook_deliveries.endpoint_id)",
        )
        .execute(self.writer())
        .await
        .map_err(map_err)?;
        Ok(settled.rows_affected() + orphans.rows_affected())
    }
}
