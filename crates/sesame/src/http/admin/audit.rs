//! The audit trail, newest first, filtered by user and event.
//!
//! Route: GET /admin/audit?user_id=&event=&limit=&cursor=

use axum::Json;
use axum::extract::{RawQuery, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sesame_core::store::AuditEntry;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{AdminUser, limit_param, query_map};
use crate::http::AppState;
use crate::http::error::{ApiError, ErrorBody};

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
#[allow(dead_code)]
pub struct AuditQuery {
    user_id: Option<Uuid>,
    event: Option<String>,
    /// 1–200, default 50.
    limit: Option<u32>,
    cursor: Option<String>,
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "not_authenticated or a token error", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody),
    ))]
pub async fn audit(
    State(state): State<AppState>,
    _admin: AdminUser,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditPage>, ApiError> {
    let q = query_map(raw);
    let user = match q.get("user_id").filter(|u| !u.is_empty()) {
        Some(u) => Some(Uuid::parse_str(u).map_err(|_| {
            let mut f = std::collections::BTreeMap::new();
            f.insert("user_id".to_string(), vec!["not a user id".to_string()]);
            ApiError::invalid_request("The request is invalid.", f)
        })?),
        None => None,
    };
    let event = q.get("event").filter(|e| !e.is_empty()).cloned();
    let page = state
        .sesame
        .admin_audit(
            user,
            event,
            limit_param(&q)?,
            q.get("cursor").map(String::as_str),
        )
        .await?;
    Ok(Json(AuditPage {
        events: page.items.into_iter().map(AuditView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
