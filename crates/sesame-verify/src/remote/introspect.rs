//! Introspection mode (RFC 7662): for services that must see a logout or a revocation at once.
//!
//! It runs only after the token passed every local check, so garbage never reaches the issuer.
//! The answer must say `active: true`; a `token_type` other than an access token or a `sub` that
//! differs from the token's own is treated as inactive too (a refresh token is never a bearer
//! credential here). Any other answer (network error, non-200, malformed body) is
//! [`AuthError::IntrospectionUnavailable`]: this mode fails closed.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::AuthError;
use super::fetch::read_limited;
use crate::Claims;

pub(super) struct Introspector {
    endpoint: String,
    client_id: String,
    client_secret: SecretString,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Answer {
    active: bool,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    sub: Option<String>,
}

/// RFC 6749 §2.3.1: client id and secret are form-encoded before going into HTTP Basic.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Introspector {
    pub(super) fn new(endpoint: String, client_id: String, client_secret: SecretString) -> Self {
        Introspector {
            endpoint,
            client_id,
            client_secret,
        }
    }

    pub(super) async fn check(
        &self,
        http: &reqwest::Client,
        token: &str,
        claims: &Claims,
    ) -> Result<(), AuthError> {
        let unavailable = |why: String| {
            tracing::warn!(endpoint = %self.endpoint, reason = %why, "introspection failed; refusing the token");
            AuthError::IntrospectionUnavailable
        };
        let res = http
            .post(&self.endpoint)
            .basic_auth(
                form_encode(&self.client_id),
                Some(form_encode(self.client_secret.expose_secret())),
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if res.status() != reqwest::StatusCode::OK {
            return Err(unavailable(format!("HTTP {}", res.status().as_u16())));
        }
        let body = read_limited(res, &self.endpoint)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let answer: Answer =
            serde_json::from_slice(&body).map_err(|e| unavailable(e.to_string()))?;
        let right_type = answer
            .token_type
            .as_deref()
            .is_none_or(|t| t == "access_token");
        let same_subject = answer.sub.as_deref().is_none_or(|s| s == claims.sub);
        if answer.active && right_type && same_subject {
            Ok(())
        } else {
            Err(AuthError::Inactive)
        }
    }
}
