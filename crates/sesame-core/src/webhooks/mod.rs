//! Webhooks: other systems learn of changes to users and sessions as they happen.
//!
//! - **Endpoints** are added and removed by an admin ([`Webhooks::create`], [`Webhooks::delete`]):
//!   a URL (see [`target`] for which ones), the event types it wants, and a signing secret shown
//!   once.
//! - **Events** are written by the store in the transaction of the change they report, derived
//!   from the change's audit entries and the sessions it ended ([`events::events_for`]): one
//!   delivery row per endpoint subscribed at that moment. A change that commits has its
//!   deliveries; one that rolls back has none; a crash after the commit delays them, never
//!   drops them.
//! - **Delivery** is the service's worker (`sesame::webhooks`): it claims due rows under a
//!   lease ([`Webhooks::claim`], so replicas never send the same row at once), POSTs them signed
//!   ([`signing`]), and reports each attempt here ([`Webhooks::settle`]), which decides: 2xx
//!   delivered; 410 disables the endpoint; anything else is retried after 5 s, then twice as
//!   long each time (at most an hour), until 24 h after the event, then `failed`.
//!
//! At least once: an attempt whose outcome was not recorded (a crash mid-request, a lease run
//! out) is made again, with the same `webhook-id`, which receivers dedupe on.

pub mod events;
pub mod signing;
pub mod target;

use std::sync::Arc;
use std::time::Duration;

use chrono::SubsecRound;
use secrecy::SecretString;
use uuid::Uuid;

use crate::admin::{Actor, Page, page_size, parse_cursor};
use crate::audit::{AuditEvent, Auditor};
use crate::clock::Clock;
use crate::error::{CoreError, FieldErrors};
use crate::metrics::CoreMetrics;
use crate::outbox_signal::OutboxSignal;
use crate::settings::ttl;
use crate::store::{
    ClaimedDelivery, DeliveryOutcome, DeliveryRecord, NewWebhookEndpoint, Store, WebhookEndpoint,
    WebhookStatus,
};

pub use events::{EventType, WebhookEvent, end_reason, events_for, with_noted};

/// The wait before the first retry; each later one doubles it (capped, see `outbox::backoff`).
pub const FIRST_RETRY: Duration = Duration::from_secs(5);
/// How long after its event a delivery is retried before it is `failed`.
pub const RETRY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How long one attempt may take (connect, send, answer): the sender's timeout.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries claimed per round; the sender attempts a round's deliveries concurrently.
pub const BATCH: u32 = 32;
/// How long a claimed delivery is left to its worker before another may take it: a round's
/// attempts run side by side, so a round lasts about one [`ATTEMPT_TIMEOUT`]; the rest is room
/// for a busy machine. Shorter means a crashed replica's deliveries wait less.
pub const LEASE: Duration = Duration::from_secs(60);
/// Settled deliveries are kept this long (or the audit retention, if shorter), for the admin's
/// deliveries list.
pub const KEEP_SETTLED: Duration = Duration::from_secs(7 * 24 * 3600);

/// What an admin asks for.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
}

/// An endpoint just created: the only time its secret is shown.
#[derive(Debug)]
pub struct CreatedWebhook {
    pub endpoint: WebhookEndpoint,
    /// `whsec_` + base64 of the key.
    pub secret: SecretString,
}

/// What one attempt came to, as the sender saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint answered with this status.
    Answered(u16),
    /// No answer: the target was refused, could not be reached, or timed out.
    NoAnswer(String),
}

/// The webhook endpoints (admin API) and the delivery worker's side of the outbox.
#[derive(Debug, Clone)]
pub struct Webhooks {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    metrics: Arc<CoreMetrics>,
    /// Between the worker and flushes (the same mechanism as the mail outbox's).
    signal: Arc<OutboxSignal>,
    /// `SESAME_WEBHOOK_ALLOW_PRIVATE`.
    allow_private: bool,
}

impl Webhooks {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Auditor,
        metrics: Arc<CoreMetrics>,
        settings: &crate::Settings,
    ) -> Self {
        Webhooks {
            store,
            clock,
            audit,
            metrics,
            signal: Arc::new(OutboxSignal::default()),
            allow_private: settings.webhook_allow_private,
        }
    }

    /// Whether loopback and private targets are allowed (`SESAME_WEBHOOK_ALLOW_PRIVATE=on`).
    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// Adds an endpoint: `url` must pass [`target`]'s rules, `events` name at least one event
    /// type of the contract. The secret is returned this once.
    pub async fn create(
        &self,
        input: NewWebhook,
        actor: &Actor,
    ) -> Result<CreatedWebhook, CoreError> {
        let mut fields = FieldErrors::new();
        let mut problem =
            |field: &str, text: String| fields.entry(field.to_string()).or_default().push(text);
        let url = match target::TargetUrl::parse(&input.url) {
            Ok(url) => match target::check_at_creation(&url, self.allow_private).await {
                Ok(()) => Some(url),
                Err(p) => {
                    problem("url", p);
                    None
                }
            },
            Err(p) => {
                problem("url", p);
                None
            }
        };
        let mut events: Vec<String> = Vec::new();
        if input.events.is_empty() {
            problem("events", "at least one event is required".into());
        }
        for e in &input.events {
            match EventType::parse(e) {
                Some(kind) if !events.iter().any(|x| x == kind.as_str()) => {
                    events.push(kind.as_str().to_string())
                }
                Some(_) => {}
                None => problem(
                    "events",
                    format!(
                        "'{e}' is not an event; the events are {}",
                        EventType::ALL.map(EventType::as_str).join(", ")
                    ),
                ),
            }
        }
        let Some(url) = url.filter(|_| fields.is_empty()) else {
            return Err(CoreError::Validation(fields));
        };
        let (key, secret) = signing::generate_secret();
        let endpoint = WebhookEndpoint {
            id: Uuid::now_v7(),
            url: url.as_str().to_string(),
            events,
            status: WebhookStatus::Active,
            // Milliseconds, as every store keeps it: the answer shows what a listing will.
            created_at: self.clock.now().trunc_subsecs(3),
        };
        let entry = self.admin_entry(
            AuditEvent::WebhookCreated,
            actor,
            serde_json::json!({"webhook_id": endpoint.id, "url": endpoint.url, "events": endpoint.events}),
        );
        let new = NewWebhookEndpoint {
            endpoint,
            secret: key,
        };
        self.store.create_webhook(&new, &[entry]).await?;
        Ok(CreatedWebhook {
            endpoint: new.endpoint,
            secret,
        })
    }

    /// Every endpoint, oldest first (never a secret).
    pub async fn list(&self) -> Result<Vec<WebhookEndpoint>, CoreError> {
        Ok(self.store.list_webhooks().await?)
    }

    /// Removes an endpoint and its deliveries; nothing more is sent to it.
    pub async fn delete(&self, id: Uuid, actor: &Actor) -> Result<(), CoreError> {
        let entry = self.admin_entry(
            AuditEvent::WebhookDeleted,
            actor,
            serde_json::json!({"webhook_id": id}),
        );
        if self.store.delete_webhook(id, &[entry]).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound)
        }
    }

    /// An endpoint's deliveries, newest first, a page at a time (cursors as the other admin
    /// lists: the last id of a page).
    pub async fn deliveries(
        &self,
        id: Uuid,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<DeliveryRecord>, CoreError> {
        let limit = page_size(limit)?;
        let before = parse_cursor(cursor)?;
        if self.store.get_webhook(id).await?.is_none() {
            return Err(CoreError::NotFound);
        }
        let mut items = self.store.list_deliveries(id, limit + 1, before).await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more {
            items.last().map(|d| d.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    fn admin_entry(
        &self,
        event: AuditEvent,
        actor: &Actor,
        mut detail: serde_json::Value,
    ) -> crate::store::AuditEntry {
        detail["by"] = serde_json::json!(actor.admin_id);
        let by = (!actor.admin_id.is_nil()).then_some(actor.admin_id);
        self.audit.entry(event, by, &actor.client, detail)
    }

    // ---- The delivery worker's side. ----

    /// What the worker waits on and reports its passes to, and what a flush awaits.
    pub fn signal(&self) -> &Arc<OutboxSignal> {
        &self.signal
    }

    /// Waits until every delivery due so far has been attempted (see [`OutboxSignal::flush`]):
    /// tests await it instead of sleeping.
    pub async fn flush(&self) {
        self.signal.flush().await;
    }

    /// Takes up to [`BATCH`] due deliveries under a lease of [`LEASE`].
    pub async fn claim(&self) -> Result<Vec<ClaimedDelivery>, CoreError> {
        let now = self.clock.now();
        Ok(self
            .store
            .claim_deliveries(now, now + ttl(LEASE), BATCH)
            .await?)
    }

    /// Records an attempt of `delivery` and decides what follows (see the module comment).
    pub async fn settle(
        &self,
        delivery: &ClaimedDelivery,
        attempt: Attempt,
    ) -> Result<DeliveryOutcome, CoreError> {
        let now = self.clock.now();
        let (response_status, error) = match attempt {
            Attempt::Answered(status) if (200..300).contains(&status) => {
                let outcome = DeliveryOutcome::Delivered {
                    response_status: status,
                };
                return self.record(delivery, now, outcome, &[], "delivered").await;
            }
            Attempt::Answered(410) => {
                tracing::warn!(webhook_id = %delivery.endpoint_id, url = %delivery.url, "the webhook endpoint answered 410 Gone: disabled");
                let entry = self.audit.entry(
                    AuditEvent::WebhookDisabled,
                    None,
                    &Default::default(),
                    serde_json::json!({"webhook_id": delivery.endpoint_id, "url": delivery.url, "response_status": 410}),
                );
                let outcome = DeliveryOutcome::Gone {
                    response_status: 410,
                };
                return self
                    .record(delivery, now, outcome, &[entry], "disabled")
                    .await;
            }
            Attempt::Answered(status) => (Some(status), format!("HTTP {status}")),
            Attempt::NoAnswer(problem) => (None, problem),
        };
        let wait = crate::outbox::backoff(FIRST_RETRY, delivery.attempts);
        let next_attempt_at = now + ttl(wait);
        if next_attempt_at > delivery.created_at + ttl(RETRY_WINDOW) {
            tracing::warn!(webhook_id = %delivery.endpoint_id, event_id = %delivery.id, attempts = delivery.attempts + 1, error = %error, "webhook delivery failed for 24 h: given up");
            let outcome = DeliveryOutcome::Failed {
                response_status,
                error,
            };
            return self.record(delivery, now, outcome, &[], "failed").await;
        }
        tracing::info!(webhook_id = %delivery.endpoint_id, event_id = %delivery.id, attempts = delivery.attempts + 1, retry_in = ?wait, error = %error, "webhook delivery failed; will retry");
        let outcome = DeliveryOutcome::Retry {
            response_status,
            error,
            next_attempt_at,
        };
        self.record(delivery, now, outcome, &[], "retry").await
    }

    async fn record(
        &self,
        d: &ClaimedDelivery,
        now: chrono::DateTime<chrono::Utc>,
        outcome: DeliveryOutcome,
        audit: &[crate::store::AuditEntry],
        metric: &'static str,
    ) -> Result<DeliveryOutcome, CoreError> {
        self.store
            .record_delivery(d.endpoint_id, d.id, now, &outcome, audit)
            .await?;
        self.metrics.webhook_delivery(metric);
        Ok(outcome)
    }

    /// Deliveries waiting to be made (the backlog), also set as the metric
    /// `sesame_webhook_backlog`.
    pub async fn backlog(&self) -> Result<u64, CoreError> {
        let n = self.store.pending_deliveries().await?;
        self.metrics
            .webhook_backlog
            .set(i64::try_from(n).unwrap_or(i64::MAX));
        Ok(n)
    }
}
