//! Settings, from `GALLERY_*` environment variables (an empty value counts as unset).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `GALLERY_LISTEN` | `127.0.0.1:8081` | address to serve on (port 0: any free port) |
//! | `GALLERY_ISSUER` | `https://localhost:8443` | Sesame's issuer URL: the `iss` tokens must carry, and where the JWKS is discovered |
//! | `GALLERY_AUDIENCE` | `gallery` | the `aud` tokens must contain |
//! | `GALLERY_DATA_DIR` | `./gallery-data` | metadata database and image files |
//! | `GALLERY_PUBLIC_URL` | `http://<listen address>` | base of every `image_url` (the entry point's URL behind a proxy), and the gallery's RFC 9728 resource identifier |
//! | `GALLERY_ISSUER_CA` | unset | a PEM file to trust for Sesame's TLS (its self-signed certificate) |
//! | `GALLERY_ISSUER_BACKCHANNEL` | unset | reach Sesame at this base URL instead of the issuer URL (containers) |
//! | `GALLERY_JWKS_URL` | discovered | fetch keys here, skipping discovery |
//! | `GALLERY_INTROSPECTION_CLIENT_ID` / `_SECRET` | unset | introspection mode: every token is also checked with Sesame (instant revocation) |
//! | `GALLERY_STATUS_LISTS` | `on` | check each token's status list (a logout is refused within the list's `ttl`, no call per request); `off`: revocation only by expiry |
//! | `GALLERY_LOG` | `info` | tracing filter |

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub issuer: String,
    pub audience: String,
    pub data_dir: PathBuf,
    pub public_url: Option<String>,
    pub issuer_ca: Option<PathBuf>,
    pub issuer_backchannel: Option<String>,
    pub jwks_url: Option<String>,
    pub introspection: Option<(String, SecretString)>,
    pub status_lists: bool,
    pub log: String,
}

fn http_url(name: &'static str, s: &str) -> Result<String, ConfigError> {
    let ok = s
        .split_once("://")
        .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && !rest.is_empty());
    if ok {
        Ok(s.trim_end_matches('/').to_string())
    } else {
        Err(ConfigError {
            name,
            problem: format!("expected an http(s) URL, got {s:?}"),
        })
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("GALLERY_"))
            .collect();
        Self::from_map(&env)
    }

    pub fn from_map(env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            env.get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let listen = get("GALLERY_LISTEN").unwrap_or_else(|| "127.0.0.1:8081".into());
        let listen = listen.parse().map_err(|e| ConfigError {
            name: "GALLERY_LISTEN",
            problem: format!("expected HOST:PORT ({e})"),
        })?;
        let issuer = http_url(
            "GALLERY_ISSUER",
            &get("GALLERY_ISSUER").unwrap_or_else(|| "https://localhost:8443".into()),
        )?;
        let audience = get("GALLERY_AUDIENCE").unwrap_or_else(|| "gallery".into());
        let public_url = get("GALLERY_PUBLIC_URL")
            .map(|u| http_url("GALLERY_PUBLIC_URL", &u))
            .transpose()?;
        let issuer_backchannel = get("GALLERY_ISSUER_BACKCHANNEL")
            .map(|u| http_url("GALLERY_ISSUER_BACKCHANNEL", &u))
            .transpose()?;
        let jwks_url = get("GALLERY_JWKS_URL")
            .map(|u| http_url("GALLERY_JWKS_URL", &u))
            .transpose()?;
        let introspection = match (
            get("GALLERY_INTROSPECTION_CLIENT_ID"),
            get("GALLERY_INTROSPECTION_CLIENT_SECRET"),
        ) {
            (Some(id), Some(secret)) => Some((id, SecretString::from(secret))),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError {
                    name: "GALLERY_INTROSPECTION_CLIENT_SECRET",
                    problem: "required with GALLERY_INTROSPECTION_CLIENT_ID".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    name: "GALLERY_INTROSPECTION_CLIENT_ID",
                    problem: "required with GALLERY_INTROSPECTION_CLIENT_SECRET".into(),
                });
            }
        };
        Ok(Config {
            listen,
            issuer,
            audience,
            data_dir: PathBuf::from(
                get("GALLERY_DATA_DIR").unwrap_or_else(|| "./gallery-data".into()),
            ),
            public_url,
            issuer_ca: get("GALLERY_ISSUER_CA").map(PathBuf::from),
            issuer_backchannel,
            jwks_url,
            introspection,
            status_lists: match get("GALLERY_STATUS_LISTS").as_deref() {
                None | Some("on") => true,
                Some("off") => false,
                Some(other) => {
                    return Err(ConfigError {
                        name: "GALLERY_STATUS_LISTS",
                        problem: format!("expected on or off, got {other:?}"),
                    });
                }
            },
            log: get("GALLERY_LOG").unwrap_or_else(|| "info".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::from_map(&env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.issuer, "https://localhost:8443");
        assert_eq!(c.audience, "gallery");
        assert_eq!(c.data_dir, PathBuf::from("./gallery-data"));
        assert!(c.public_url.is_none() && c.issuer_ca.is_none() && c.introspection.is_none());
        assert!(c.status_lists, "status lists are checked by default");
    }

    #[test]
    fn values_are_read_and_checked() {
        let c = Config::from_map(&env(&[
            ("GALLERY_LISTEN", "0.0.0.0:9000"),
            ("GALLERY_ISSUER", "https://auth.example.com/"),
            ("GALLERY_PUBLIC_URL", "https://example.com/"),
            ("GALLERY_AUDIENCE", " photos "),
            ("GALLERY_ISSUER_CA", ""),
        ]))
        .unwrap();
        assert_eq!(c.issuer, "https://auth.example.com");
        assert_eq!(c.public_url.as_deref(), Some("https://example.com"));
        assert_eq!(c.audience, "photos");
        assert!(c.issuer_ca.is_none(), "empty means unset");
        let off = Config::from_map(&env(&[("GALLERY_STATUS_LISTS", "off")])).unwrap();
        assert!(!off.status_lists);
        for (k, v) in [
            ("GALLERY_LISTEN", "nowhere"),
            ("GALLERY_ISSUER", "auth.example.com"),
            ("GALLERY_PUBLIC_URL", "ftp://x"),
            ("GALLERY_INTROSPECTION_CLIENT_ID", "svc_x"),
            ("GALLERY_STATUS_LISTS", "maybe"),
        ] {
            let e = Config::from_map(&env(&[(k, v)])).unwrap_err();
            assert!(e.to_string().starts_with("GALLERY_"), "{e}");
        }
    }

    #[test]
    fn debug_output_hides_the_client_secret() {
        let c = Config::from_map(&env(&[
            ("GALLERY_INTROSPECTION_CLIENT_ID", "svc_x"),
            ("GALLERY_INTROSPECTION_CLIENT_SECRET", "hunter2-very-secret"),
        ]))
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
