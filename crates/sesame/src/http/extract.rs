//! Our own extractors, so every rejection speaks the contract's error shape instead of axum's
//! plain-text messages.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use serde::de::DeserializeOwned;
use sesame_core::sessions::ClientInfo;
use sesame_verify::Claims;

use super::AppState;
use super::error::ApiError;

/// A JSON body: 415 for another content type, 413 past the body limit, 400 `invalid_json` for
/// malformed JSON, 400 `invalid_request` (with the offending field) for the wrong shape.
#[derive(Debug)]
pub struct AppJson<T>(pub T);

pub fn is_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => {
                    if path == "." {
                        ApiError::invalid_request(
                            format!("The body has the wrong shape: {inner}."),
                            Default::default(),
                        )
                    } else {
                        let mut f = std::collections::BTreeMap::new();
                        f.insert(path, vec![strip_position(&inner.to_string())]);
                        ApiError::invalid_request("The request is invalid.", f)
                    }
                }
                _ => ApiError::invalid_json(format!("The body is not valid JSON: {inner}.")),
            });
        }
    };
    de.end()
        .map_err(|e| ApiError::invalid_json(format!("The body is not valid JSON: {e}.")))?;
    Ok(value)
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large()
            } else {
                ApiError::invalid_json("The request body could not be read.")
            }
        })?;
        parse_json(&bytes).map(AppJson)
    }
}

/// A path parameter. One that cannot be read (not UTF-8 after percent-decoding, wrong shape)
/// names nothing that exists: 404 `not_found`, in the contract's shape, like any unknown id —
/// never axum's plain-text 400.
#[derive(Debug)]
pub struct AppPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for AppPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| AppPath(v))
            .map_err(|_| ApiError::not_found())
    }
}

/// The raw bearer token of the request, if any.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A caller authenticated by a bearer access token that is valid and not revoked.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub claims: std::sync::Arc<Claims>,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).ok_or_else(ApiError::not_authenticated)?;
        let claims = state.sesame.authenticate(token).await?;
        Ok(AuthUser { claims })
    }
}

/// The bearer token sent along, unverified (logout revokes it when it is valid).
#[derive(Debug)]
pub struct OptionalBearer(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for OptionalBearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(OptionalBearer(bearer_token(parts).map(str::to_string)))
    }
}

/// The client's address: the direct peer, unless the peer is a trusted proxy, in which case the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy. Untrusted peers
/// cannot choose their address by sending the header.
pub fn client_ip(parts: &Parts, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer),
        v4 => v4,
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    Some(
        forwarded
            .iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .copied()
            .or(forwarded.first().copied())
            .unwrap_or(peer),
    )
}

/// The caller's address and user agent, recorded on sessions and in the audit trail.
#[derive(Debug)]
pub struct Client(pub ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip(parts, &state.http.trusted_proxies).map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Client(ClientInfo { ip, user_agent }))
    }
}
