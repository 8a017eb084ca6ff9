//! The console's clients, keys and audit-trail sections (see `console.rs` for the rules every
//! console page follows: admins only, the `/admin` use-cases, destructive actions ask first).

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use sesame_core::CoreError;
use sesame_core::client_metadata::OAuthFields;
use sesame_core::clients::NewClient;
use sesame_core::secret::ExposeSecret;
use sesame_core::store::ClientRecord;
use sesame_templates::{
    ConsoleAudit, ConsoleAuditRow, ConsoleClientRow, ConsoleClients, ConsoleCreatedClient,
    ConsoleKeyRow, ConsoleKeys,
};
use uuid::Uuid;

use super::console::admin;
use super::context::PageCtx;
use super::form::PageForm;

/// The text fields of the client form (lists separated by spaces or commas).
const CLIENT_FIELDS: [&str; 7] = [
    "name",
    "audiences",
    "scopes",
    "delegable_roles",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
];

pub async fn clients(ctx: PageCtx) -> Result<Response, Response> {
    admin(&ctx)?;
    let page = clients_page(&ctx, ConsoleClients::default()).await?;
    Ok(ctx.render(StatusCode::OK, &page))
}

/// `POST /console/clients`: a client made with every OAuth field the admin API takes; the
/// answer is the page itself, the only one that ever shows the secret.
pub async fn client_create(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let actor = admin(&ctx)?;
    let form = ctx.checked(form)?;
    let list = |name: &str| -> Vec<String> {
        form.text(name)
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let grant_types: Vec<String> = form
        .pairs()
        .filter(|(k, _)| *k == "grant_types")
        .map(|(_, v)| v.to_string())
        .collect();
    let ticked = |name: &str| form.text(name) == "on";
    let input = NewClient {
        name: form.text("name").to_string(),
        audiences: list("audiences"),
        scopes: list("scopes"),
        delegable_roles: list("delegable_roles"),
        oauth: OAuthFields {
            redirect_uris: list("redirect_uris"),
            post_logout_redirect_uris: list("post_logout_redirect_uris"),
            grant_types: (!grant_types.is_empty()).then(|| grant_types.clone()),
            public: ticked("public"),
            first_party: ticked("first_party"),
            backchannel_logout_uri: form
                .optional("backchannel_logout_uri")
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string),
        },
    };
    let result = ctx
        .state
        .sesame
        .clients()
        .create(input, Some(actor.admin_id), &actor.client)
        .await;
    match result {
        Ok(created) => {
            let page = ConsoleClients {
                created: Some(ConsoleCreatedClient {
                    client_id: created.client.client_id.clone(),
                    secret: created.secret.map(|s| s.expose_secret().to_string()),
                }),
                ..ConsoleClients::default()
            };
            let page = clients_page(&ctx, page).await?;
            Ok(ctx.render(StatusCode::CREATED, &page))
        }
        Err(CoreError::Validation(fields)) => {
            let mut values: BTreeMap<String, String> = CLIENT_FIELDS
                .iter()
                .map(|k| (k.to_string(), form.text(k).to_string()))
                .collect();
            for k in ["public", "first_party"] {
                if ticked(k) {
                    values.insert(k.to_string(), "on".into());
                }
            }
            let page = ConsoleClients {
                values,
                grant_types,
                errors: ctx.field_errors(&fields),
                ..ConsoleClients::default()
            };
            let page = clients_page(&ctx, page).await?;
            Ok(ctx.render(StatusCode::BAD_REQUEST, &page))
        }
        Err(e) => Err(ctx.core_error(e)),
    }
}

/// `POST /console/clients/{id}/delete`: asks first.
pub async fn client_delete(
    ctx: PageCtx,
    Path(client_id): Path<String>,
    form: PageForm,
) -> Result<Response, Response> {
    let actor = admin(&ctx)?;
    let form = ctx.checked(form)?;
    let clients = ctx.state.sesame.clients();
    if form.text("confirm") != "yes" {
        // Only a client that exists is offered for deletion.
        let known = clients
            .list()
            .await
            .map_err(|e| ctx.core_error(e))?
            .iter()
            .any(|c| c.client_id == client_id);
        if !known {
            return Err(ctx.core_error(CoreError::NotFound));
        }
        let page = ConsoleClients {
            confirm_delete: Some(client_id),
            ..ConsoleClients::default()
        };
        let page = clients_page(&ctx, page).await?;
        return Ok(ctx.render(StatusCode::OK, &page));
    }
    clients
        .delete(&client_id, Some(actor.admin_id), &actor.client)
        .await
        .map_err(|e| ctx.core_error(e))?;
    Ok(ctx.redirect("/console/clients?notice=client-deleted"))
}

async fn clients_page(ctx: &PageCtx, page: ConsoleClients) -> Result<ConsoleClients, Response> {
    let clients = ctx
        .state
        .sesame
        .clients()
        .list()
        .await
        .map_err(|e| ctx.core_error(e))?;
    Ok(ConsoleClients {
        clients: clients.into_iter().map(client_row).collect(),
        ..page
    })
}

/// A client as the console lists it: never its secret's hash.
fn client_row(c: ClientRecord) -> ConsoleClientRow {
    ConsoleClientRow {
        client_id: c.client_id,
        name: c.name,
        audiences: c.audiences,
        grant_types: c.grant_types,
        redirect_uris: c.redirect_uris,
        public: c.public,
        first_party: c.first_party,
        created_at: c.created_at.to_rfc3339(),
    }
}

pub async fn keys(ctx: PageCtx) -> Result<Response, Response> {
    admin(&ctx)?;
    Ok(ctx.render(StatusCode::OK, &keys_page(&ctx, false)))
}

/// `POST /console/keys/rotate`: asks first, then rotates both families (as `/admin/keys/rotate`).
pub async fn keys_rotate(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let actor = admin(&ctx)?;
    let form = ctx.checked(form)?;
    if form.text("confirm") != "yes" {
        return Ok(ctx.render(StatusCode::OK, &keys_page(&ctx, true)));
    }
    ctx.state
        .sesame
        .keys()
        .rotate(Some(actor.admin_id), &actor.client)
        .await
        .map_err(|e| ctx.core_error(e))?;
    Ok(ctx.redirect("/console/keys?notice=keys-rotated"))
}

fn keys_page(ctx: &PageCtx, confirm: bool) -> ConsoleKeys {
    ConsoleKeys {
        keys: key_rows(ctx),
        confirm,
    }
}

/// The published keys (public parts only, as the JWKS shows them) with their state and age.
pub(super) fn key_rows(ctx: &PageCtx) -> Vec<ConsoleKeyRow> {
    let now = ctx.state.sesame.now();
    let ring = ctx.state.sesame.key_ring().current();
    ring.published
        .iter()
        .map(|k| ConsoleKeyRow {
            kid: k.jwk.kid.clone(),
            purpose: k.purpose.as_str().to_string(),
            alg: k.jwk.alg.clone(),
            state: k.state.as_str().to_string(),
            created_at: k.created_at.to_rfc3339(),
            age_days: (now - k.created_at).num_days().max(0),
        })
        .collect()
}

/// `GET /console/audit?user_id=&event=&cursor=`: newest first, a page at a time.
pub async fn audit(ctx: PageCtx) -> Result<Response, Response> {
    admin(&ctx)?;
    let user_id = ctx.query("user_id").unwrap_or("").trim().to_string();
    let event = ctx.query("event").unwrap_or("").trim().to_string();
    let mut page = ConsoleAudit {
        user_id: user_id.clone(),
        event: event.clone(),
        ..ConsoleAudit::default()
    };
    let user = match Uuid::parse_str(&user_id) {
        Ok(id) => Some(id),
        Err(_) if user_id.is_empty() => None,
        Err(_) => {
            page.errors
                .insert("user_id".into(), ctx.message("console-audit-bad-user", &[]));
            return Ok(ctx.render(StatusCode::BAD_REQUEST, &page));
        }
    };
    let found = ctx
        .state
        .sesame
        .admin()
        .audit_trail(
            user,
            Some(event.clone()).filter(|e| !e.is_empty()),
            None,
            ctx.query("cursor"),
        )
        .await
        .map_err(|e| match e {
            CoreError::Validation(_) => ctx.redirect("/console/audit"),
            e => ctx.core_error(e),
        })?;
    page.next_page = found.next_cursor.map(|c| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if !user_id.is_empty() {
            q.append_pair("user_id", &user_id);
        }
        if !event.is_empty() {
            q.append_pair("event", &event);
        }
        q.append_pair("cursor", &c);
        format!("/console/audit?{}", q.finish())
    });
    page.events = found
        .items
        .into_iter()
        .map(|e| ConsoleAuditRow {
            at: e.at.to_rfc3339(),
            event: e.event,
            user_id: e.user_id.map(|u| u.to_string()),
            ip: e.ip,
            detail: e.detail.to_string(),
        })
        .collect();
    Ok(ctx.render(StatusCode::OK, &page))
}
