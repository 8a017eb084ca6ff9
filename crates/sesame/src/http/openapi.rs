//! The OpenAPI 3.1 document, generated from the handlers' annotations as the routers register
//! them ([`super::api`]): what is here is the part no handler says — title, tags, the bearer
//! scheme, the error answers whole classes of routes share — and the aliases.

use std::collections::BTreeMap;

use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, PathItem, Paths};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Sesame", description = "Identity and JWT authentication service. Every route also answers with a trailing slash. Errors are `{detail, code}`; validation errors add `fields`."),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login, tokens, logout"),
        (name = "mfa", description = "Second factors: an authenticator app (TOTP), recovery codes, and the second step of a login"),
        (name = "identities", description = "Upstream identities (sign in with another provider) linked to the account"),
        (name = "passkeys", description = "Passkeys (WebAuthn): adding and managing them, and signing in with one — username-less, for a named user, or as the second factor"),
        (name = "email", description = "Email verification and password reset (links mailed from an outbox)"),
        (name = "sessions", description = "The signed-in user's sessions"),
        (name = "profile", description = "The signed-in user's profile and preferences"),
        (name = "keys", description = "Public keys and discovery"),
        (name = "operations", description = "Health, metrics and this document"),
        (name = "admin", description = "Operators (role admin)"),
        (name = "oauth", description = "Service clients: client credentials, token exchange, introspection, revocation (form-encoded)"),
        (name = "gateway", description = "Forward authentication for nginx, Traefik and Envoy"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Error answers that whole classes of routes share, added to each operation whose own
/// annotation leaves them out, so the document lists every status a route can answer (the
/// generated API tests in `tests/schemathesis` hold every response to it):
/// - a JSON body: 400 `invalid_json`/`invalid_request`, 413 `payload_too_large`, 415;
/// - a form body (OAuth): 413, and 503 below, in RFC 6749 form;
/// - a bearer token: 401, with `WWW-Authenticate`;
/// - anything that reaches the database or the password-hashing pool: 503 `unavailable`, with
///   `Retry-After` (routes served from memory alone are listed in [`MEMORY_ONLY`]).
///
/// 429 and 503 answers carry `Retry-After`, declared on every such response.
struct SharedErrors;

/// Routes answered from memory (keys, revocation state, counters): no database outage reaches
/// them, so they never answer 503.
const MEMORY_ONLY: &[&str] = &[
    "/healthz",
    "/openapi.json",
    "/metrics",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/auth/token/verify",
    "/auth/verify",
];

impl Modify for SharedErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for op in operations(item) {
                add_shared_errors(path, op);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// `routes` (of one path) served and documented at their own path and again at `alias`, a
/// second name the contract keeps for compatibility (`/login`, `/users/me`). The alias's
/// operations are copies of the originals, so they cannot drift apart; their operation ids get
/// an `_alias` suffix, since ids must be unique in a document.
pub fn with_alias<S>(routes: UtoipaMethodRouter<S>, alias: &str) -> OpenApiRouter<S>
where
    S: Send + Sync + Clone + 'static,
{
    let (schemas, paths, method_router) = routes.clone();
    let mut aliased = Paths::new();
    for (path, mut item) in paths.paths {
        for op in operations(&mut item) {
            op.operation_id = op.operation_id.take().map(|id| format!("{id}_alias"));
            op.description = Some(format!(
                "Alias of `{path}`.{}",
                op.description
                    .take()
                    .map(|d| format!("\n\n{d}"))
                    .unwrap_or_default()
            ));
        }
        aliased.paths.insert(alias.to_string(), item);
    }
    OpenApiRouter::default()
        .routes(routes)
        .routes((schemas, aliased, method_router))
}

fn add_shared_errors(path: &str, op: &mut Operation) {
    let body_types: Vec<String> = op
        .request_body
        .as_ref()
        .map(|b| b.content.keys().cloned().collect())
        .unwrap_or_default();
    let bearer = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let r = &mut op.responses.responses;
    if body_types.iter().any(|t| t == "application/json") {
        add(
            r,
            "400",
            "invalid_json or invalid_request (with `fields`)",
            "ErrorBody",
        );
        add(
            r,
            "413",
            "payload_too_large: the body is over 64 KiB",
            "ErrorBody",
        );
        add(
            r,
            "415",
            "unsupported_media_type: the body is not application/json",
            "ErrorBody",
        );
    }
    let form = body_types
        .iter()
        .any(|t| t == "application/x-www-form-urlencoded");
    if form {
        add(
            r,
            "413",
            "invalid_request: the body is over 64 KiB",
            "OAuthErrorBody",
        );
    }
    if bearer {
        add(r, "401", "not_authenticated or a token error", "ErrorBody");
        with_header(
            r,
            "401",
            "WWW-Authenticate",
            Type::String,
            "The RFC 6750 challenge",
        );
    }
    if !MEMORY_ONLY.contains(&path) {
        // The OAuth endpoints answer their 5xx in RFC 6749 form like their other errors.
        if form {
            add(
                r,
                "503",
                "temporarily_unavailable: the database does not answer, or the password-hashing \
                 queue is full",
                "OAuthErrorBody",
            );
        } else {
            add(
                r,
                "503",
                "unavailable: the database does not answer, or the password-hashing queue is full",
                "ErrorBody",
            );
        }
    }
    for status in ["429", "503"] {
        with_header(
            r,
            status,
            "Retry-After",
            Type::Integer,
            "Seconds to wait before retrying",
        );
    }
}

fn add(r: &mut BTreeMap<String, RefOr<Response>>, status: &str, description: &str, schema: &str) {
    r.entry(status.to_string()).or_insert_with(|| {
        Response::builder()
            .description(description)
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name(schema))),
            )
            .build()
            .into()
    });
}

fn with_header(
    r: &mut BTreeMap<String, RefOr<Response>>,
    status: &str,
    name: &str,
    ty: Type,
    description: &str,
) {
    if let Some(RefOr::T(res)) = r.get_mut(status) {
        res.headers.entry(name.to_string()).or_insert_with(|| {
            let mut header = Header::new(ObjectBuilder::new().schema_type(ty).build());
            header.description = Some(description.to_string());
            header
        });
    }
}

/// The document of every route, `/metrics` included (wherever it is served).
pub fn describe() -> utoipa::openapi::OpenApi {
    let mut doc = super::api(true).into_openapi();
    SharedErrors.modify(&mut doc);
    doc
}

/// The document as JSON text, made once at start-up.
pub fn document() -> String {
    describe().to_json().unwrap_or_else(|_| "{}".to_string())
}
