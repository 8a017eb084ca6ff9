//! Webhook endpoints: add (the signing secret shown once), list, remove, and each one's
//! deliveries. What is sent, and how it is signed and retried: `sesame_core::webhooks` and
//! docs/webhooks.md.
//!
//! Routes: POST/GET /admin/webhooks, DELETE /admin/webhooks/{id},
//! GET /admin/webhooks/{id}/deliveries?limit=&cursor=

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sesame_core::store::{DeliveryRecord, WebhookEndpoint};
use sesame_core::webhooks::NewWebhook;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AdminUser, page_limit};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{AppJson, AppPath, AppQuery};

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewWebhookRequest {
    /// `https://` (an `http://` receiver on loopback or a private network only with
    /// `SESAME_WEBHOOK_ALLOW_PRIVATE=on`); loopback and private targets are refused unless that
    /// setting is on.
    #[schema(value_type = String)]
    pub url: Option<String>,
    /// At least one of: `user.created`, `user.updated`, `user.deleted`, `user.disabled`,
    /// `user.enabled`, `user.roles_changed`, `user.password_changed`, `user.email_verified`,
    /// `user.mfa_changed`, `session.revoked`.
    #[schema(value_type = Vec<String>)]
    pub events: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    /// `active`, or `disabled` once the endpoint answered 410 Gone.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

impl From<WebhookEndpoint> for WebhookView {
    fn from(e: WebhookEndpoint) -> Self {
        WebhookView {
            id: e.id,
            url: e.url,
            events: e.events,
            status: e.status.as_str().to_string(),
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookView {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    /// `whsec_` + base64 of the 32-byte signing key (Standard Webhooks). Shown this once.
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The event's id: the `webhook-id` header of every attempt.
    pub id: Uuid,
    /// The event type.
    pub event: String,
    pub attempts: u32,
    /// `pending`, `delivered`, `failed` or `disabled`.
    pub status: String,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer (`null` before the first attempt, or when none came).
    pub response_status: Option<u16>,
    /// When the event happened.
    pub created_at: DateTime<Utc>,
    /// Why the last attempt failed (`null` once delivered).
    pub last_error: Option<String>,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(d: DeliveryRecord) -> Self {
        DeliveryView {
            id: d.id,
            event: d.event,
            attempts: d.attempts,
            status: d.status.as_str().to_string(),
            last_attempt_at: d.last_attempt_at,
            response_status: d.response_status,
            created_at: d.created_at,
            last_error: d.last_error,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeliveriesQuery {
    /// 1–200, default 50.
    #[serde(default, deserialize_with = "page_limit")]
    limit: Option<u32>,
    cursor: Option<String>,
}

/// Add a webhook endpoint; its signing secret is in this response only.
#[utoipa::path(post, path = "/admin/webhooks", tag = "admin", security(("bearer" = [])), request_body = NewWebhookRequest,
    responses(
        (status = 201, description = "Created", body = CreatedWebhookView),
        (status = 400, description = "invalid_request (`fields.url`, `fields.events`)", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
    ))]
pub async fn create_webhook(
    State(state): State<AppState>,
    AdminUser(actor): AdminUser,
    AppJson(body): AppJson<NewWebhookRequest>,
) -> Result<(StatusCode, Json<CreatedWebhookView>), ApiError> {
    let url = body.url.ok_or_else(|| ApiError::required("url"))?;
    let events = body.events.ok_or_else(|| ApiError::required("events"))?;
    let created = state
        .sesame
        .webhooks()
        .create(NewWebhook { url, events }, &actor)
        .await?;
    let e = created.endpoint;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhookView {
            id: e.id,
            url: e.url,
            events: e.events,
            secret: created.secret.expose_secret().to_string(),
            created_at: e.created_at,
        }),
    ))
}

/// Webhook endpoints, oldest first (never their secrets).
#[utoipa::path(get, path = "/admin/webhooks", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Endpoints", body = WebhookList),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
    ))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<WebhookList>, ApiError> {
    let webhooks = state
        .sesame
        .webhooks()
        .list()
        .await?
        .into_iter()
        .map(WebhookView::from)
        .collect();
    Ok(Json(WebhookList { webhooks }))
}

/// Remove a webhook endpoint and its deliveries; nothing more is sent to it.
#[utoipa::path(delete, path = "/admin/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    ))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    AdminUser(actor): AdminUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.sesame.webhooks().delete(id, &actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/admin/webhooks/{id}/deliveries", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path), DeliveriesQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
    ))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppPath(id): AppPath<Uuid>,
    AppQuery(query): AppQuery<DeliveriesQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    let page = state
        .sesame
        .webhooks()
        .deliveries(id, query.limit, query.cursor.as_deref())
        .await?;
    Ok(Json(DeliveryPage {
        deliveries: page.items.into_iter().map(DeliveryView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
