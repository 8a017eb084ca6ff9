//! axum integration (feature `axum`): extractors that verify the bearer token of a request with
//! a [`RemoteVerifier`] taken from the router state (via `FromRef`).
//!
//! - [`Authenticated`]: the token's claims, or 401.
//! - [`RequireRole<R>`]: the same, and the role named by `R`, or 403.
//!
//! Rejections speak the Sesame contract: a JSON body `{detail, code}` (`not_authenticated`,
//! `token_invalid`, `token_expired`, `token_revoked`, `forbidden`, `unavailable`), and every 401
//! carries an RFC 6750 `WWW-Authenticate: Bearer ...` challenge.
//!
//! ```no_run
//! use axum::{Router, routing::get, extract::FromRef};
//! use sesame_verify::RemoteVerifier;
//! use sesame_verify::axum::{Authenticated, RequireRole, RoleName};
//!
//! struct Admin;
//! impl RoleName for Admin { const NAME: &'static str = "admin"; }
//!
//! async fn me(Authenticated(claims): Authenticated) -> String { claims.sub }
//! async fn panel(_: RequireRole<Admin>) -> &'static str { "welcome" }
//!
//! # fn app(verifier: RemoteVerifier) -> Router {
//! Router::new().route("/me", get(me)).route("/admin", get(panel)).with_state(verifier)
//! # }
//! ```

use std::marker::PhantomData;

use ::axum::Json;
use ::axum::extract::{FromRef, FromRequestParts};
use ::axum::http::request::Parts;
use ::axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};

use crate::remote::{AuthError, RemoteVerifier};
use crate::{Claims, VerifyError};

/// The claims of a request's verified bearer token.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Claims);

impl Authenticated {
    /// 403 `forbidden` unless the token carries `role`, for roles only known at run time.
    pub fn require_role(&self, role: &str) -> Result<(), AuthRejection> {
        if self.0.has_role(role) {
            Ok(())
        } else {
            Err(AuthRejection::forbidden())
        }
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    RemoteVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Verified once per request, even when a handler extracts more than one guard.
        if let Some(done) = parts.extensions.get::<Authenticated>() {
            return Ok(done.clone());
        }
        let verifier = RemoteVerifier::from_ref(state);
        let realm = verifier
            .audiences()
            .first()
            .cloned()
            .unwrap_or_else(|| "api".into());
        let metadata = verifier.resource_metadata_url();
        let token = match bearer_token(&parts.headers) {
            Bearer::Missing => {
                return Err(AuthRejection::not_authenticated(&realm)
                    .with_resource_metadata(metadata.as_deref()));
            }
            Bearer::Malformed => {
                return Err(AuthRejection::from_error(
                    &AuthError::Invalid(VerifyError::Malformed),
                    &realm,
                )
                .with_resource_metadata(metadata.as_deref()));
            }
            Bearer::Token(t) => t,
        };
        let claims = verifier.verify(token).await.map_err(|e| {
            AuthRejection::from_error(&e, &realm).with_resource_metadata(metadata.as_deref())
        })?;
        let done = Authenticated(claims);
        parts.extensions.insert(done.clone());
        Ok(done)
    }
}

/// Names a role for [`RequireRole`].
pub trait RoleName {
    const NAME: &'static str;
}

/// The claims of a verified bearer token that carries the role `R::NAME`; 403 otherwise.
#[derive(Debug, Clone)]
pub struct RequireRole<R> {
    pub claims: Claims,
    role: PhantomData<fn() -> R>,
}

impl<R: RoleName, S> FromRequestParts<S> for RequireRole<R>
where
    RemoteVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(claims) = Authenticated::from_request_parts(parts, state).await?;
        if !claims.has_role(R::NAME) {
            return Err(AuthRejection::forbidden());
        }
        Ok(RequireRole {
            claims,
            role: PhantomData,
        })
    }
}

enum Bearer<'a> {
    Missing,
    Malformed,
    Token(&'a str),
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>`, the scheme case-insensitive. Another scheme
/// (Basic, say) counts as no bearer token at all.
fn bearer_token(headers: &HeaderMap) -> Bearer<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Bearer::Missing;
    };
    let Ok(value) = value.to_str() else {
        return Bearer::Malformed;
    };
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Bearer::Missing;
    }
    let token = rest.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Bearer::Malformed;
    }
    Bearer::Token(token)
}

/// Why a request was refused; renders as the contract's `{detail, code}`.
#[derive(Debug, Clone)]
pub struct AuthRejection {
    status: StatusCode,
    code: &'static str,
    detail: &'static str,
    challenge: Option<String>,
}

impl AuthRejection {
    /// 401 `not_authenticated`: no bearer token was sent.
    pub fn not_authenticated(realm: &str) -> Self {
        AuthRejection {
            status: StatusCode::UNAUTHORIZED,
            code: "not_authenticated",
            detail: "Authentication credentials were not provided.",
            challenge: Some(format!("Bearer realm=\"{}\"", quote_safe(realm))),
        }
    }

    /// 403 `forbidden`: a valid token without the required role.
    pub fn forbidden() -> Self {
        AuthRejection {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            detail: "You do not have permission to perform this action.",
            challenge: None,
        }
    }

    /// The response for a failed verification.
    pub fn from_error(error: &AuthError, realm: &str) -> Self {
        let (status, code, detail) = match error {
            AuthError::Invalid(VerifyError::Expired) => (
                StatusCode::UNAUTHORIZED,
                "token_expired",
                "The token has expired.",
            ),
            AuthError::Invalid(VerifyError::WrongAudience) => (
                StatusCode::UNAUTHORIZED,
                "token_invalid",
                "The token is not meant for this service.",
            ),
            AuthError::Invalid(_) => (
                StatusCode::UNAUTHORIZED,
                "token_invalid",
                "The token is invalid.",
            ),
            AuthError::Inactive => (
                StatusCode::UNAUTHORIZED,
                "token_revoked",
                "The token has been revoked.",
            ),
            AuthError::KeysUnavailable
            | AuthError::IntrospectionUnavailable
            | AuthError::StatusUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The identity provider cannot be reached; try again shortly.",
            ),
        };
        let challenge = (status == StatusCode::UNAUTHORIZED).then(|| {
            format!(
                "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"{}\"",
                quote_safe(realm),
                detail.trim_end_matches('.')
            )
        });
        AuthRejection {
            status,
            code,
            detail,
            challenge,
        }
    }

    /// Names this service's protected-resource metadata (RFC 9728 §5.1) in the challenge.
    pub fn with_resource_metadata(mut self, url: Option<&str>) -> Self {
        if let (Some(challenge), Some(url)) = (self.challenge.as_mut(), url) {
            challenge.push_str(&format!(", resource_metadata=\"{}\"", quote_safe(url)));
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn detail(&self) -> &'static str {
        self.detail
    }

    /// The `WWW-Authenticate` value (on 401s).
    pub fn challenge(&self) -> Option<&str> {
        self.challenge.as_deref()
    }
}

/// The route of this service's protected-resource metadata (RFC 9728), for the verifier's
/// resource (none when it has none): `authorization_servers` names the issuer, bearer tokens go
/// in the `Authorization` header. Merge it into the service's router.
pub fn protected_resource<S>(verifier: &RemoteVerifier) -> ::axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let (Some(resource), Some(url)) = (
        verifier.resource().map(str::to_string),
        verifier.resource_metadata_url(),
    ) else {
        return ::axum::Router::new();
    };
    let path = url::Url::parse(&url)
        .map(|u| u.path().to_string())
        .unwrap_or_else(|_| "/.well-known/oauth-protected-resource".into());
    let document = serde_json::json!({
        "resource": resource,
        "authorization_servers": [verifier.issuer()],
        "bearer_methods_supported": ["header"],
    });
    ::axum::Router::new().route(
        &path,
        ::axum::routing::get(move || {
            let document = document.clone();
            async move { Json(document) }
        }),
    )
}

/// A realm is configuration, but it ends up inside a quoted header parameter: keep it plain.
fn quote_safe(s: &str) -> String {
    s.chars()
        .filter(|c| (c.is_ascii_graphic() && *c != '"' && *c != '\\') || *c == ' ')
        .collect()
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"detail": self.detail, "code": self.code});
        let mut res = (self.status, Json(body)).into_response();
        if let Some(challenge) = self
            .challenge
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn bearer_tokens_are_read_like_rfc_6750_says() {
        assert!(matches!(bearer_token(&HeaderMap::new()), Bearer::Missing));
        assert!(matches!(
            bearer_token(&headers("Bearer abc.def.ghi")),
            Bearer::Token("abc.def.ghi")
        ));
        assert!(matches!(
            bearer_token(&headers("bearer   abc")),
            Bearer::Token("abc")
        ));
        assert!(matches!(
            bearer_token(&headers("Basic dXNlcjpwYXNz")),
            Bearer::Missing
        ));
        assert!(matches!(
            bearer_token(&headers("Bearer")),
            Bearer::Malformed
        ));
        assert!(matches!(
            bearer_token(&headers("Bearer a b")),
            Bearer::Malformed
        ));
    }

    #[test]
    fn every_401_has_a_challenge_and_the_others_do_not() {
        let e = AuthRejection::from_error(&AuthError::Invalid(VerifyError::Expired), "gallery");
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(e.code(), "token_expired");
        assert_eq!(
            e.challenge(),
            Some(
                "Bearer realm=\"gallery\", error=\"invalid_token\", error_description=\"The token has expired\""
            )
        );
        assert_eq!(
            AuthRejection::from_error(&AuthError::Inactive, "x").code(),
            "token_revoked"
        );
        let e = AuthRejection::from_error(&AuthError::KeysUnavailable, "x");
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.challenge().is_none());
        assert!(AuthRejection::forbidden().challenge().is_none());
        assert_eq!(
            AuthRejection::not_authenticated("a\"b").challenge(),
            Some("Bearer realm=\"ab\"")
        );
    }
}
