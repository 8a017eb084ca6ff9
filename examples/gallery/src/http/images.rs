//! Image resources. Every route needs a bearer token for the gallery's audience; the owner of a
//! resource is the `sub` of the token that created it.
//!
//! Routes:
//! - POST   /images        `{title, description?, data}` → 201 the resource
//! - GET    /images        `?limit=&cursor=&owner=` → `{images, next_cursor}`, newest first
//! - GET    /images/{id}   → the resource
//! - PUT    /images/{id}   (PATCH too) any of `{title, description, data}` → the resource
//! - DELETE /images/{id}   → 204
#![allow(
    clippy::disallowed_methods,
    reason = "the example service has no injected clock: images are stamped with the real time"
)]

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use sesame_verify::axum::Authenticated;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, FieldErrors};
use super::extract::AppJson;
use crate::gallery::{DEFAULT_PAGE, ImageChanges, MAX_PAGE, NewImage};
use crate::image::{Description, ImageData, Title};
use crate::store::ImageRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/images", get(list).post(create))
        .route(
            "/images/{id}",
            get(show).put(update).patch(update).delete(remove),
        )
}

/// A resource as clients see it.
#[derive(Debug, Serialize)]
pub struct ImageView {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub image_url: String,
    pub content_type: &'static str,
    pub size: u64,
    pub owner: String,
    pub created_at: String,
    pub updated_at: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl ImageView {
    fn new(r: ImageRecord, public_url: &str) -> Self {
        ImageView {
            image_url: super::files::url(public_url, &r.hash, r.kind),
            id: r.id,
            title: r.title,
            description: r.description,
            content_type: r.kind.content_type(),
            size: r.size,
            owner: r.owner,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    title: Option<String>,
    description: Option<String>,
    data: Option<String>,
}

/// Absent stays `None`; present (even `null`) becomes `Some(..)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
    /// `null` or `""` removes the description.
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    data: Option<Option<String>>,
}

fn push(fields: &mut FieldErrors, name: &str, problem: impl Into<String>) {
    fields
        .entry(name.to_string())
        .or_default()
        .push(problem.into());
}

/// `data` first: an image over the limit is a 413 whatever else is wrong.
fn parse_data(data: Option<&str>, fields: &mut FieldErrors) -> Result<Option<ImageData>, ApiError> {
    let Some(text) = data else { return Ok(None) };
    match ImageData::from_base64(text) {
        Ok(d) => Ok(Some(d)),
        Err(crate::image::DataError::TooLarge) => Err(ApiError::image_too_large()),
        Err(e) => {
            push(fields, "data", e.to_string());
            Ok(None)
        }
    }
}

fn parse_description(d: Option<&str>, fields: &mut FieldErrors) -> Option<Description> {
    match Description::parse(d.unwrap_or("")) {
        Ok(d) => d,
        Err(p) => {
            push(fields, "description", p);
            None
        }
    }
}

async fn create(
    Authenticated(claims): Authenticated,
    State(state): State<AppState>,
    AppJson(body): AppJson<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let mut fields = FieldErrors::new();
    let data = parse_data(body.data.as_deref(), &mut fields)?;
    if body.data.is_none() {
        push(&mut fields, "data", "this field is required");
    }
    let title = match body.title.as_deref().map(Title::parse) {
        Some(Ok(t)) => Some(t),
        Some(Err(p)) => {
            push(&mut fields, "title", p);
            None
        }
        None => {
            push(&mut fields, "title", "this field is required");
            None
        }
    };
    let description = parse_description(body.description.as_deref(), &mut fields);
    let (Some(title), Some(data), true) = (title, data, fields.is_empty()) else {
        return Err(ApiError::invalid_request(fields));
    };
    let record = state
        .gallery
        .create(
            NewImage {
                owner: claims.sub,
                title,
                description,
                data,
            },
            Utc::now(),
        )
        .await?;
    let location = format!("/images/{}", record.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(ImageView::new(record, &state.public_url)),
    ))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
    /// A user id, or `me` for the caller's own images.
    owner: Option<String>,
}

#[derive(Debug, Serialize)]
struct ListView {
    images: Vec<ImageView>,
    next_cursor: Option<String>,
}

async fn list(
    Authenticated(claims): Authenticated,
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ListView>, ApiError> {
    let Query(q) = query.map_err(|_| ApiError::field("query", "not a valid query string"))?;
    let mut fields = FieldErrors::new();
    let limit = match q.limit.as_deref().filter(|s| !s.is_empty()) {
        None => DEFAULT_PAGE,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                push(
                    &mut fields,
                    "limit",
                    format!("an integer from 1 to {MAX_PAGE}"),
                );
                DEFAULT_PAGE
            }
        },
    };
    // The cursor is the id of the last image of the previous page (opaque to clients).
    let before = match q.cursor.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match Uuid::parse_str(s) {
            Ok(id) => Some(id),
            Err(_) => {
                push(&mut fields, "cursor", "not a cursor this service returned");
                None
            }
        },
    };
    if !fields.is_empty() {
        return Err(ApiError::invalid_request(fields));
    }
    let owner = match q.owner.as_deref().filter(|s| !s.is_empty()) {
        Some("me") => Some(claims.sub.as_str()),
        other => other,
    };
    let page = state.gallery.list(limit, before, owner).await?;
    Ok(Json(ListView {
        images: page
            .images
            .into_iter()
            .map(|r| ImageView::new(r, &state.public_url))
            .collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

/// Ids are UUIDs; anything else names no image.
fn image_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found())
}

async fn show(
    _: Authenticated,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ImageView>, ApiError> {
    let record = state.gallery.get(image_id(&id)?).await?;
    Ok(Json(ImageView::new(record, &state.public_url)))
}

async fn update(
    Authenticated(claims): Authenticated,
    State(state): State<AppState>,
    Path(id): Path<String>,
    AppJson(body): AppJson<UpdateBody>,
) -> Result<Json<ImageView>, ApiError> {
    let id = image_id(&id)?;
    let mut fields = FieldErrors::new();
    let data = match &body.data {
        None => None,
        Some(None) => {
            push(&mut fields, "data", "may not be null");
            None
        }
        Some(Some(text)) => parse_data(Some(text), &mut fields)?,
    };
    let title = match &body.title {
        None => None,
        Some(None) => {
            push(&mut fields, "title", "may not be null");
            None
        }
        Some(Some(t)) => match Title::parse(t) {
            Ok(t) => Some(t),
            Err(p) => {
                push(&mut fields, "title", p);
                None
            }
        },
    };
    let description = body
        .description
        .as_ref()
        .map(|d| parse_description(d.as_deref(), &mut fields));
    if !fields.is_empty() {
        return Err(ApiError::invalid_request(fields));
    }
    let changes = ImageChanges {
        title,
        description,
        data,
    };
    let record = state
        .gallery
        .update(id, &claims.sub, changes, Utc::now())
        .await?;
    Ok(Json(ImageView::new(record, &state.public_url)))
}

async fn remove(
    Authenticated(claims): Authenticated,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.gallery.delete(image_id(&id)?, &claims.sub).await?;
    Ok(StatusCode::NO_CONTENT)
}
