//! What relying services read to verify tokens on their own.
//!
//! Routes:
//! - GET /.well-known/jwks.json
//! - GET /.well-known/openid-configuration
//! - GET /.well-known/oauth-authorization-server

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Value, json};
use sesame_core::keys::KeyPurpose;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(jwks))
        .routes(routes!(discovery))
        .routes(routes!(discovery_oauth))
}

/// Every public key that may have signed a live token, plus the next signing key (RFC 7517):
/// access-token keys first, then ID-token keys, each with `kid`, `alg` and `use: sig`.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "JWK Set", body = Object)))]
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let ring = state.sesame.key_ring().current();
    let keys: Vec<_> = ring.published.iter().map(|k| &k.jwk).collect();
    // Short caching is safe: a key is published one rotation before it signs.
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(json!({ "keys": keys })),
    )
}

/// Authorization server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "keys",
    responses((status = 200, description = "Server metadata", body = Object)))]
pub async fn discovery_oauth(state: State<AppState>) -> Json<Value> {
    discovery(state).await
}

/// Authorization server metadata (RFC 8414); the same document for OpenID discovery.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "keys",
    responses((status = 200, description = "Server metadata", body = Object)))]
pub async fn discovery(State(state): State<AppState>) -> Json<Value> {
    let iss = &state.sesame.settings().issuer;
    // Published keys only carry algorithms Sesame signs with (the key set is built from them);
    // each family advertises its own: a retired or next key of another algorithm counts, as
    // tokens signed with it are (or will be) in circulation.
    let ring = state.sesame.key_ring().current();
    let algs = |purpose: KeyPurpose| {
        let mut algs: Vec<String> = ring
            .published
            .iter()
            .filter(|k| k.purpose == purpose)
            .map(|k| k.jwk.alg.clone())
            .collect();
        algs.sort();
        algs.dedup();
        algs
    };
    let mut doc = json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "authorization_endpoint": format!("{iss}/oauth/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "userinfo_endpoint": format!("{iss}/oauth/userinfo"),
        "end_session_endpoint": format!("{iss}/oauth/logout"),
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "subject_types_supported": ["public"],
        "scopes_supported": sesame_core::oidc::OPENID_SCOPES,
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "client_id", "sid", "roles", "scope", "email", "email_verified", "preferred_username", "name", "updated_at", "status"],
        "prompt_values_supported": ["none", "login", "consent"],
        "acr_values_supported": ["aal1", "aal2"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        "access_token_signing_alg_values_supported": algs(KeyPurpose::Access),
        "id_token_signing_alg_values_supported": algs(KeyPurpose::IdToken),
        "audiences_supported": state.sesame.settings().audiences,
        "service_documentation": format!("{iss}/openapi.json"),
    });
    if state.sesame.clients().dynamic_registration() {
        doc["registration_endpoint"] = json!(format!("{iss}/oauth/register"));
    }
    Json(doc)
}
