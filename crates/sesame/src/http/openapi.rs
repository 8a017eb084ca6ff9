//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, auth, email, forward_auth, metrics, oauth, ops, profile, sessions, wellknown};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Sesame", description = "Identity and JWT authentication service. Every route also answers with a trailing slash. Errors are `{detail, code}`; validation errors add `fields`."),
    paths(
        auth::register, auth::login, auth::refresh, auth::verify, auth::logout, auth::logout_all, auth::change_password,
        email::forgot_password, email::reset_password, email::verify_email, email::resend_verification,
        sessions::list, sessions::end,
        profile::show, profile::update, profile::update_patch, profile::remove, profile::preferences, profile::set_preferences,
        wellknown::jwks, wellknown::discovery, wellknown::discovery_oauth,
        ops::healthz, ops::readyz, ops::openapi, metrics::render,
        admin::list_users, admin::get_user, admin::patch_user, admin::delete_user, admin::unlock, admin::set_roles,
        admin::revoke_sessions, admin::list_keys, admin::rotate_keys, admin::audit,
        admin::create_client, admin::list_clients, admin::delete_client,
        oauth::token, oauth::introspect, oauth::revoke, forward_auth::verify,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login, tokens, logout"),
        (name = "email", description = "Email verification and password reset (links mailed from an outbox)"),
        (name = "sessions", description = "The signed-in user's sessions"),
        (name = "profile", description = "The signed-in user's profile and preferences"),
        (name = "keys", description = "Public keys and discovery"),
        (name = "operations", description = "Health, metrics and this document"),
        (name = "admin", description = "Operators (role admin)"),
        (name = "oauth", description = "Service clients: client credentials, introspection, revocation (form-encoded)"),
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

/// The document as JSON text, made once at start-up.
pub fn document() -> String {
    ApiDoc::openapi()
        .to_json()
        .unwrap_or_else(|_| "{}".to_string())
}
