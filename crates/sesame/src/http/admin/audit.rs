//! The audit trail, newest first, filtered by user and event.
//!
//! Route: GET /admin/audit?user_id=&event=&limit=&cursor=

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use sesame_core::store::AuditEntry;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AdminUser, page_limit};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::AppQuery;
use crate::http::query::{non_empty, non_empty_parsed};

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub event: String,
    pub user_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditEntry> for AuditView {
    fn from(e: AuditEntry) -> Self {
        AuditView {
            id: e.id,
            at: e.at,
            event: e.event,
            user_id: e.user_id,
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuditQuery {
    #[serde(default, deserialize_with = "user_id")]
    user_id: Option<Uuid>,
    #[serde(default, deserialize_with = "non_empty")]
    event: Option<String>,
    /// 1–200, default 50.
    #[serde(default, deserialize_with = "page_limit")]
    limit: Option<u32>,
    cursor: Option<String>,
}

fn user_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    non_empty_parsed(d, "not a user id")
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden (not an admin), or mfa_required (SESAME_MFA_REQUIRED_ROLES: sign in with a second factor)", body = ErrorBody),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let page = state
        .sesame
        .admin()
        .audit_trail(
            query.user_id,
            query.event,
            query.limit,
            query.cursor.as_deref(),
        )
        .await?;
    Ok(Json(AuditPage {
        events: page.items.into_iter().map(AuditView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
