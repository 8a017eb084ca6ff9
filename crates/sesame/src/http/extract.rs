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
use super::query::QueryDeserializer;

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

/// An optional JSON body (`Option<AppJson<T>>`): an empty body is `None` whatever its content
/// type (a `{}`-only request may come bare); a body is read as [`AppJson`] reads it.
impl<S: Send + Sync, T: DeserializeOwned> axum::extract::OptionalFromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let json = is_json_content_type(req.headers());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::payload_too_large()
            } else {
                ApiError::invalid_json("The request body could not be read.")
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        if !json {
            return Err(ApiError::unsupported_media_type());
        }
        parse_json(&bytes).map(|v| Some(AppJson(v)))
    }
}

/// A query string read into `T` (see [`super::query`] for its format): a value that does not
/// parse is 400 `invalid_request` naming the parameter in `fields`, like a body field of the
/// wrong type. Unknown parameters are ignored.
#[derive(Debug)]
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(AppQuery)
    }
}

pub fn parse_query<T: DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(QueryDeserializer::new(raw)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if path == "." {
            ApiError::invalid_request(
                format!("The query string has the wrong shape: {message}."),
                Default::default(),
            )
        } else {
            let mut f = std::collections::BTreeMap::new();
            f.insert(path, vec![message]);
            ApiError::invalid_request("The request is invalid.", f)
        }
    })
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
        let claims = state.sesame.sessions().authenticate(token).await?;
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

/// The client's address: the direct peer, unless the peer is a trusted proxy, in which case
/// `X-Forwarded-For` is walked from the right (each hop appends the address it saw) past the
/// trusted proxies; the first address that is not one is the client. Untrusted peers cannot
/// choose their address by sending the header.
///
/// An entry that does not parse as an address (`ip:port` and `[v6]:port`, which some proxies
/// write, do parse) ends the walk at the trusted hop that wrote it: whatever stands to its left
/// was written by someone we cannot vouch for, so it must not become the client — a client that
/// could get garbage past one proxy would otherwise pick its own address (and rate-limit bucket).
pub fn client_ip(parts: &Parts, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = unmap(parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip());
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    // The common case, and every request of an untrusted peer: no header is read.
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    let hops = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("\u{0}").split(','))
        .rev();
    for hop in hops {
        if !is_trusted(&client) {
            break;
        }
        match parse_forwarded(hop.trim()) {
            Some(ip) => client = ip,
            None => break,
        }
    }
    Some(client)
}

/// An `X-Forwarded-For` entry: an address, or an address with a port.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(unmap)
}

/// `::ffff:a.b.c.d` is the IPv4 client a dual-stack listener saw.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip_of(peer: &str, forwarded: &[&str]) -> IpAddr {
        let mut req = axum::http::Request::builder();
        for f in forwarded {
            req = req.header("x-forwarded-for", *f);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        let trusted: Vec<IpNet> = vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        client_ip(&parts, &trusted).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            ip_of("203.0.113.9:5000", &["198.51.100.1"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_hops_are_walked_from_the_right() {
        assert_eq!(
            ip_of("127.0.0.1:5000", &["6.6.6.6, 198.51.100.7, 10.1.1.1"]),
            ip("198.51.100.7"),
            "the left-most entry is the client's own claim, not believed"
        );
        assert_eq!(
            ip_of("127.0.0.1:5000", &["6.6.6.6", "198.51.100.7"]),
            ip("198.51.100.7"),
            "several headers are one list"
        );
        assert_eq!(ip_of("127.0.0.1:5000", &[]), ip("127.0.0.1"));
        assert_eq!(ip_of("127.0.0.1:5000", &["10.0.0.2"]), ip("10.0.0.2"));
    }

    #[test]
    fn entries_with_a_port_parse() {
        assert_eq!(
            ip_of("127.0.0.1:5000", &["198.51.100.7:4711"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            ip_of("127.0.0.1:5000", &["[2001:db8::7]:4711"]),
            ip("2001:db8::7")
        );
        assert_eq!(
            ip_of("127.0.0.1:5000", &["::ffff:198.51.100.7"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn an_entry_that_does_not_parse_does_not_make_the_one_to_its_left_the_client() {
        for garbage in ["unknown", "_hidden", "", "198.51.100.7:port", "1.2.3"] {
            assert_eq!(
                ip_of("127.0.0.1:5000", &[&format!("6.6.6.6, {garbage}")]),
                ip("127.0.0.1"),
                "{garbage:?}: the trusted hop that wrote it stands for the client"
            );
            assert_eq!(
                ip_of(
                    "127.0.0.1:5000",
                    &[&format!("6.6.6.6, {garbage}, 10.0.0.3")]
                ),
                ip("10.0.0.3"),
                "{garbage:?}"
            );
        }
    }
}
