//! The console's webhooks section (see `console.rs` for the rules every console page follows).

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use sesame_core::CoreError;
use sesame_core::secret::ExposeSecret;
use sesame_core::store::WebhookEndpoint;
use sesame_core::webhooks::{EventType, NewWebhook};
use sesame_templates::{
    ConsoleCreatedWebhook, ConsoleDeliveryRow, ConsoleWebhook, ConsoleWebhookRow, ConsoleWebhooks,
};
use uuid::Uuid;

use super::console::admin;
use super::context::PageCtx;
use super::form::PageForm;

pub async fn list(ctx: PageCtx) -> Result<Response, Response> {
    admin(&ctx)?;
    let page = page(&ctx, ConsoleWebhooks::default()).await?;
    Ok(ctx.render(StatusCode::OK, &page))
}

/// `POST /console/webhooks`: the same checks as `POST /admin/webhooks` (events, and no private or
/// loopback target unless allowed); the answer shows the signing secret this once.
pub async fn create(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let actor = admin(&ctx)?;
    let form = ctx.checked(form)?;
    let url = form.text("url").trim().to_string();
    let events: Vec<String> = form
        .pairs()
        .filter(|(k, _)| *k == "events")
        .map(|(_, v)| v.to_string())
        .collect();
    let result = ctx
        .state
        .sesame
        .webhooks()
        .create(
            NewWebhook {
                url: url.clone(),
                events: events.clone(),
            },
            &actor,
        )
        .await;
    match result {
        Ok(created) => {
            let shown = ConsoleWebhooks {
                created: Some(ConsoleCreatedWebhook {
                    id: created.endpoint.id.to_string(),
                    secret: created.secret.expose_secret().to_string(),
                }),
                ..ConsoleWebhooks::default()
            };
            let shown = page(&ctx, shown).await?;
            Ok(ctx.render(StatusCode::CREATED, &shown))
        }
        Err(CoreError::Validation(fields)) => {
            let refused = ConsoleWebhooks {
                url,
                events,
                errors: ctx.field_errors(&fields),
                ..ConsoleWebhooks::default()
            };
            let refused = page(&ctx, refused).await?;
            Ok(ctx.render(StatusCode::BAD_REQUEST, &refused))
        }
        Err(e) => Err(ctx.core_error(e)),
    }
}

/// `POST /console/webhooks/{id}/delete`: asks first.
pub async fn delete(
    ctx: PageCtx,
    Path(id): Path<String>,
    form: PageForm,
) -> Result<Response, Response> {
    let actor = admin(&ctx)?;
    let form = ctx.checked(form)?;
    let id = Uuid::parse_str(&id).map_err(|_| ctx.core_error(CoreError::NotFound))?;
    let webhooks = ctx.state.sesame.webhooks();
    if form.text("confirm") != "yes" {
        endpoint(&ctx, id).await?;
        let asking = ConsoleWebhooks {
            confirm_delete: Some(id.to_string()),
            ..ConsoleWebhooks::default()
        };
        let asking = page(&ctx, asking).await?;
        return Ok(ctx.render(StatusCode::OK, &asking));
    }
    webhooks
        .delete(id, &actor)
        .await
        .map_err(|e| ctx.core_error(e))?;
    Ok(ctx.redirect("/console/webhooks?notice=webhook-deleted"))
}

/// `GET /console/webhooks/{id}?cursor=`: its deliveries, newest first.
pub async fn deliveries(ctx: PageCtx, Path(id): Path<String>) -> Result<Response, Response> {
    admin(&ctx)?;
    let id = Uuid::parse_str(&id).map_err(|_| ctx.core_error(CoreError::NotFound))?;
    let webhook = endpoint(&ctx, id).await?;
    let found = ctx
        .state
        .sesame
        .webhooks()
        .deliveries(id, None, ctx.query("cursor"))
        .await
        .map_err(|e| match e {
            CoreError::Validation(_) => ctx.redirect(&format!("/console/webhooks/{id}")),
            e => ctx.core_error(e),
        })?;
    let deliveries = found
        .items
        .into_iter()
        .map(|d| ConsoleDeliveryRow {
            id: d.id.to_string(),
            event: d.event,
            attempts: d.attempts,
            status: d.status.as_str().to_string(),
            last_attempt_at: d.last_attempt_at.map(|t| t.to_rfc3339()),
            response_status: d.response_status,
        })
        .collect();
    let next_page = found.next_cursor.map(|c| {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("cursor", &c)
            .finish();
        format!("/console/webhooks/{id}?{q}")
    });
    Ok(ctx.render(
        StatusCode::OK,
        &ConsoleWebhook {
            webhook: row(webhook),
            deliveries,
            next_page,
        },
    ))
}

/// The endpoint, or the 404 page.
async fn endpoint(ctx: &PageCtx, id: Uuid) -> Result<WebhookEndpoint, Response> {
    ctx.state
        .sesame
        .webhooks()
        .list()
        .await
        .map_err(|e| ctx.core_error(e))?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or_else(|| ctx.core_error(CoreError::NotFound))
}

async fn page(ctx: &PageCtx, page: ConsoleWebhooks) -> Result<ConsoleWebhooks, Response> {
    let webhooks = ctx
        .state
        .sesame
        .webhooks()
        .list()
        .await
        .map_err(|e| ctx.core_error(e))?;
    Ok(ConsoleWebhooks {
        webhooks: webhooks.into_iter().map(row).collect(),
        event_types: EventType::ALL
            .iter()
            .map(|e| e.as_str().to_string())
            .collect(),
        ..page
    })
}

/// An endpoint as the console lists it: never its secret.
fn row(w: WebhookEndpoint) -> ConsoleWebhookRow {
    ConsoleWebhookRow {
        id: w.id.to_string(),
        url: w.url,
        events: w.events,
        status: w.status.as_str().to_string(),
        created_at: w.created_at.to_rfc3339(),
    }
}
