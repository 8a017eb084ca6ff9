//! [`Application`]: builds everything from a [`Config`], binds its own listener (port 0 works),
//! and serves until a shutdown future fires. Tests use exactly this wiring.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::ServiceExt;
use axum::extract::Request;
use sesame_verify::RemoteVerifier;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

use crate::blobs::BlobStore;
use crate::config::Config;
use crate::gallery::Gallery;
use crate::http::{self, AppState};
use crate::store::ImageStore;

#[derive(Debug)]
pub struct Application {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: AppState,
}

/// The token verifier the configuration describes, for the gallery at `public_url` (its
/// resource identifier, RFC 9728). Nothing is fetched yet.
pub fn verifier(config: &Config, public_url: &str) -> anyhow::Result<RemoteVerifier> {
    let mut b = RemoteVerifier::builder(&config.issuer)
        .audience(&config.audience)
        .resource(public_url);
    if let Some(path) = &config.issuer_ca {
        let pem = std::fs::read(path)
            .with_context(|| format!("GALLERY_ISSUER_CA: cannot read {}", path.display()))?;
        b = b.trust_ca_pem(pem);
    }
    if let Some(url) = &config.issuer_backchannel {
        b = b.backchannel(url);
    }
    if let Some(url) = &config.jwks_url {
        b = b.jwks_url(url);
    }
    if let Some((id, secret)) = &config.introspection {
        b = b.introspection(id, secret.clone());
    }
    b = b.status_lists(config.status_lists);
    b.build().context("cannot configure token verification")
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create the data dir {}", config.data_dir.display()))?;
        let store = ImageStore::open(&config.data_dir.join("gallery.db"))
            .await
            .context("cannot open the metadata database")?;
        let blobs = BlobStore::open(config.data_dir.join("images"))
            .context("cannot create the image directory")?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let verifier = verifier(&config, &public_url)?;
        Ok(Application {
            listener,
            addr,
            state: AppState {
                gallery: Arc::new(Gallery::new(store, blobs)),
                verifier,
                public_url: public_url.into(),
            },
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base of every `image_url`.
    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Warm the key cache without delaying start-up: Sesame may start after us, and tokens
        // fetch the keys on demand anyway.
        let verifier = self.state.verifier.clone();
        tokio::spawn(async move {
            match verifier.refresh().await {
                Ok(n) => tracing::info!(
                    issuer = verifier.issuer(),
                    keys = n,
                    "fetched the issuer's keys"
                ),
                Err(e) => {
                    tracing::warn!(issuer = verifier.issuer(), error = %e, "cannot fetch the issuer's keys yet; will retry on demand")
                }
            }
        });
        let app = NormalizePathLayer::trim_trailing_slash().layer(http::router(self.state));
        axum::serve(self.listener, ServiceExt::<Request>::into_make_service(app))
            .with_graceful_shutdown(shutdown)
            .await
            .context("server failed")
    }
}
