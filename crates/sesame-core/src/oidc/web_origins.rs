//! Which browser origins may call the token, userinfo and revocation endpoints (CORS): the
//! origins of registered redirect URIs. A single-page app is a public client whose JavaScript
//! exchanges its code from the page the redirect landed on, so the origin it runs at is already
//! vouched for by the registration — what Keycloak calls a client's web origins ("+"). Any other
//! origin's scripts cannot read those endpoints' answers.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use super::Oidc;
use crate::error::CoreError;

/// How long the set is reused before the clients are read again (a new app's origin is allowed
/// within this).
const TTL: chrono::Duration = chrono::Duration::seconds(10);

/// The origins, and when they were read.
type Snapshot = (DateTime<Utc>, Arc<HashSet<String>>);

/// The set, as last read.
#[derive(Debug, Default)]
pub(crate) struct WebOrigins {
    read: RwLock<Option<Snapshot>>,
}

/// The origin of an `https://` or `http://` URI (`https://app.example:8443`); none for a
/// native app's private-use scheme, which no browser page runs at.
fn origin_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    matches!(url.scheme(), "https" | "http").then(|| url.origin().ascii_serialization())
}

impl Oidc {
    /// Whether a browser page at `origin` may read the answers of the token, userinfo and
    /// revocation endpoints.
    pub async fn is_web_origin(&self, origin: &str) -> Result<bool, CoreError> {
        let now = self.now();
        let cached = self
            .web_origins
            .read
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|(at, _)| now - *at < TTL);
        let set = match cached {
            Some((_, set)) => set,
            None => {
                let set: HashSet<String> = self
                    .store
                    .list_clients()
                    .await?
                    .iter()
                    .flat_map(|c| c.redirect_uris.iter().filter_map(|u| origin_of(u)))
                    .collect();
                let set = Arc::new(set);
                *self
                    .web_origins
                    .read
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = Some((now, set.clone()));
                set
            }
        };
        Ok(set.contains(origin))
    }
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins_of_web_redirect_uris_only() {
        assert_eq!(
            origin_of("https://app.example/cb?x=1").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:5173/cb").as_deref(),
            Some("http://127.0.0.1:5173")
        );
        assert_eq!(origin_of("com.example.app:/cb"), None);
    }
}
