//! The webhook tables' part of the storage contract: endpoints, which an admin adds and
//! removes, and deliveries — one row per (event, endpoint), written by the store in the
//! transaction of the change the event reports (see `crate::webhooks`), then claimed, attempted
//! and settled by the delivery worker.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{AuditEntry, StoreResult};
use crate::secret::SecretBytes;

/// A session that a change ended (revoked, or deleted with its user while in force): the store
/// reports each one so its `session.revoked` event is written in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndedSession {
    pub sid: Uuid,
    pub user_id: Uuid,
    /// When it ended (the changing use-case's clock).
    pub at: DateTime<Utc>,
}

/// Whether an endpoint still receives deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookStatus {
    Active,
    /// It answered 410 Gone: nothing more is sent to it.
    Disabled,
}

impl WebhookStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Active => "active",
            WebhookStatus::Disabled => "disabled",
        }
    }

    /// The stored text; anything unknown reads as disabled (sends nothing rather than too much).
    pub fn from_stored(s: &str) -> Self {
        match s {
            "active" => WebhookStatus::Active,
            _ => WebhookStatus::Disabled,
        }
    }
}

/// An endpoint as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    /// Event types it subscribes to (`user.created`, ...), as given, without duplicates.
    pub events: Vec<String>,
    pub status: WebhookStatus,
    pub created_at: DateTime<Utc>,
}

/// An endpoint to create, with the signing secret (32 random bytes) deliveries are signed with.
/// The secret is stored as it is: it is a key that must sign again later, not a password that
/// is only ever compared. `Debug` shows `[REDACTED]` for it.
#[derive(Debug)]
pub struct NewWebhookEndpoint {
    pub endpoint: WebhookEndpoint,
    pub secret: SecretBytes,
}

/// Where a delivery stands (the contract's `status` of a delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not attempted yet, or attempted and waiting for its next try.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up after the retry window (24 h).
    Failed,
    /// Its endpoint was disabled (410) before it was delivered.
    Disabled,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Disabled => "disabled",
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "pending" => DeliveryStatus::Pending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Disabled,
        }
    }
}

/// One event's delivery to one endpoint, as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The event's id: the `webhook-id` header of every attempt.
    pub id: Uuid,
    /// The event type.
    pub event: String,
    pub attempts: u32,
    pub status: DeliveryStatus,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer; `None` before the first or when none came (a
    /// network error, a refused target).
    pub response_status: Option<u16>,
    /// Why the last attempt failed, for operators.
    pub last_error: Option<String>,
}

/// A delivery taken by a worker: what to send, where, and the key to sign it with.
#[derive(Debug)]
pub struct ClaimedDelivery {
    pub endpoint_id: Uuid,
    /// The event's id (`webhook-id`).
    pub id: Uuid,
    pub event: String,
    /// The exact body, as signed and sent at every attempt.
    pub body: String,
    /// Attempts made before this one.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub url: String,
    pub secret: SecretBytes,
}

/// How an attempt ended, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// A 2xx answer.
    Delivered { response_status: u16 },
    /// Failed; tried again at `next_attempt_at`.
    Retry {
        response_status: Option<u16>,
        error: String,
        next_attempt_at: DateTime<Utc>,
    },
    /// Failed, and the retry window is over.
    Failed {
        response_status: Option<u16>,
        error: String,
    },
    /// 410 Gone: the endpoint is disabled, and every delivery of it still pending with it.
    Gone { response_status: u16 },
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(
        &self,
        endpoint: &NewWebhookEndpoint,
        audit: &[AuditEntry],
    ) -> StoreResult<()>;
    /// Oldest first.
    async fn list_webhooks(&self) -> StoreResult<Vec<WebhookEndpoint>>;
    async fn get_webhook(&self, id: Uuid) -> StoreResult<Option<WebhookEndpoint>>;
    /// Deletes the endpoint and its deliveries. False (and nothing written) when it does not
    /// exist.
    async fn delete_webhook(&self, id: Uuid, audit: &[AuditEntry]) -> StoreResult<bool>;
    /// The endpoint's deliveries, newest first, older than `before` when given.
    async fn list_deliveries(
        &self,
        endpoint_id: Uuid,
        limit: u32,
        before: Option<Uuid>,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Up to `limit` pending deliveries of active endpoints due at `now`, leased until
    /// `lease_until` (another worker skips them until then), oldest first.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Records an attempt's outcome on a delivery that is still pending (a late report of a
    /// worker whose lease ran out changes nothing already settled). `audit` is written only
    /// with [`DeliveryOutcome::Gone`], when it disables the endpoint.
    async fn record_delivery(
        &self,
        endpoint_id: Uuid,
        id: Uuid,
        now: DateTime<Utc>,
        outcome: &DeliveryOutcome,
        audit: &[AuditEntry],
    ) -> StoreResult<()>;
    /// Deliveries still pending (of active endpoints): the backlog.
    async fn pending_deliveries(&self) -> StoreResult<u64>;
    /// Deletes deliveries settled (delivered, failed, disabled) before `before`, and deliveries
    /// left behind by an endpoint deleted while its change was being written.
    async fn purge_deliveries(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
