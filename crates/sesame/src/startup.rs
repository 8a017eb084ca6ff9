//! [`Application`]: builds everything from a [`Config`], binds its own listener (port 0 works),
//! and serves until a shutdown future fires. Tests use exactly this wiring.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::Request;
use axum_server::tls_rustls::RustlsConfig;
use sesame_core::accounts::Registration;
use sesame_core::domain::Role;
use sesame_core::error::Chain;
use sesame_core::store::Store;
use sesame_core::{Clock, CoreError, Sesame, SystemClock};
use sesame_store_sqlite::SqliteStore;
use tower::Layer;
use tower_http::normalize_path::NormalizePathLayer;

use crate::config::Config;
use crate::http::{self, AppState};
use crate::tls;

/// How often each replica rereads the signing keys anyway. A rotation by another replica or by
/// the CLI reaches this one sooner: it writes a 'key' entry to the revocation feed, and the feed
/// poll (every second) reloads the keys. This periodic reload is the fallback for a poll that
/// failed.
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Application {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    /// `SESAME_METRICS_LISTEN`: `/metrics` served here (plain HTTP) instead of on `listener`.
    metrics_listener: Option<(std::net::TcpListener, SocketAddr)>,
    http: crate::http::HttpSettings,
    rate_limit: bool,
    limits: crate::http::ratelimit::Limits,
    tls: Option<RustlsConfig>,
    cert_path: Option<PathBuf>,
    sesame: Arc<Sesame>,
    mail: crate::config::MailSettings,
    pages: Arc<crate::pages::Pages>,
}

/// Opens the configured database and applies its migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database_url();
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(
            SqliteStore::connect(url)
                .await
                .context("cannot open the SQLite database")?,
        )
    } else {
        Arc::new(
            sesame_store_postgres::PostgresStore::connect(url)
                .await
                .context("cannot connect to PostgreSQL")?,
        )
    };
    store
        .migrate()
        .await
        .context("cannot apply database migrations")?;
    Ok(store)
}

/// Opens the store and starts the use-cases (keys and instance secrets made on first start).
pub async fn start_core(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Sesame>> {
    let store = open_store(config).await?;
    let http = crate::upstream_http::ReqwestUpstream::new(&config.settings.upstreams)?;
    let sesame = Sesame::start(store, clock, config.settings.clone())
        .await
        .context("cannot start")?
        .with_upstream_http(Arc::new(http));
    Ok(Arc::new(sesame))
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        // Before the database: a broken template override stops the start at once, naming the file.
        let pages = Arc::new(
            crate::pages::Pages::from_config(&config)
                .context("cannot load the page templates (SESAME_TEMPLATES_DIR)")?,
        );
        let sesame = start_core(&config, clock).await?;
        bootstrap_admin(&sesame, &config).await?;
        let (tls, cert_path) = match tls::server_config(&config).await? {
            Some((cfg, path)) => (Some(cfg), Some(path)),
            None => (None, None),
        };
        let listener = std::net::TcpListener::bind(config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let metrics_listener = match config.metrics_listen {
            Some(at) => {
                let l = std::net::TcpListener::bind(at)
                    .with_context(|| format!("cannot listen on {at} for /metrics"))?;
                l.set_nonblocking(true)?;
                let bound = l.local_addr()?;
                Some((l, bound))
            }
            None => None,
        };
        let http = crate::http::HttpSettings {
            trusted_proxies: config.trusted_proxies.clone(),
            metrics_elsewhere: metrics_listener.is_some(),
        };
        Ok(Application {
            listener,
            addr,
            metrics_listener,
            http,
            rate_limit: config.rate_limit,
            limits: config.limits,
            tls,
            cert_path,
            sesame,
            mail: config.mail.clone(),
            pages,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served when it has a listener of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, a)| *a)
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The self-signed (or configured) certificate clients should trust.
    pub fn cert_path(&self) -> Option<&PathBuf> {
        self.cert_path.as_ref()
    }

    pub fn sesame(&self) -> &Arc<Sesame> {
        &self.sesame
    }

    /// Serves until `shutdown` completes, then drains in-flight requests (10 s at most).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let limits = Arc::new(crate::http::ratelimit::RateLimits::new(
            self.rate_limit,
            self.limits,
        ));
        let state = AppState::new(crate::http::AppStateInner {
            sesame: self.sesame.clone(),
            openapi: Arc::new(http::openapi::document()),
            http: Arc::new(self.http),
            limits: limits.clone(),
            metrics: Arc::new(crate::http::metrics::Metrics::new(&self.sesame)),
            pages: self.pages.clone(),
        });
        let handle = axum_server::Handle::new();
        let metrics_server = match self.metrics_listener {
            Some((listener, _)) => {
                let app = http::metrics_router(state.clone());
                let server = axum_server::from_tcp(listener)?.handle(handle.clone());
                Some(tokio::spawn(server.serve(app.into_make_service())))
            }
            None => None,
        };
        let app = NormalizePathLayer::trim_trailing_slash().layer(http::router(state));
        let make =
            axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(app);
        let reload = tokio::spawn(reload_keys(self.sesame.clone()));
        let housekeeping = tokio::spawn(housekeeping(self.sesame.clone(), limits));
        let revocations = tokio::spawn(follow_revocations(self.sesame.clone()));
        let mailer = tokio::spawn(crate::mail::run_sender(self.sesame.clone(), self.mail));
        let webhooks = tokio::spawn(crate::webhooks::run_sender(self.sesame.clone()));
        let logouts = tokio::spawn(crate::backchannel::run_sender(self.sesame.clone()));
        {
            let handle = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                tracing::info!("shutting down");
                handle.graceful_shutdown(Some(Duration::from_secs(10)));
            });
        }
        let served = match self.tls {
            Some(cfg) => {
                axum_server::from_tcp_rustls(self.listener, cfg)?
                    .handle(handle)
                    .serve(make)
                    .await
            }
            None => {
                axum_server::from_tcp(self.listener)?
                    .handle(handle)
                    .serve(make)
                    .await
            }
        };
        if let Some(m) = metrics_server {
            m.abort();
        }
        reload.abort();
        housekeeping.abort();
        revocations.abort();
        mailer.abort();
        webhooks.abort();
        logouts.abort();
        served.context("server failed")
    }
}

async fn reload_keys(sesame: Arc<Sesame>) {
    let mut tick = tokio::time::interval(KEY_RELOAD_INTERVAL);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = sesame.keys().reload().await {
            tracing::warn!(error = %Chain(&e), "cannot reload signing keys; keeping the current set");
        }
    }
}

/// Polls the revocation feed for what other replicas revoked (see `sesame_core::revocation`).
async fn follow_revocations(sesame: Arc<Sesame>) {
    let mut tick = tokio::time::interval(sesame_core::revocation::SYNC_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick fires at once, and `Sesame::start` has just caught up with the feed.
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = sesame.sync_revocations().await {
            tracing::debug!(error = %e, "cannot read the revocation feed; keeping the current state");
        }
    }
}

/// How often expired sessions, refresh-token records, deny-list entries, old audit entries and
/// settled webhook deliveries are purged, and idle rate-limit buckets dropped.
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(600);

async fn housekeeping(sesame: Arc<Sesame>, limits: Arc<crate::http::ratelimit::RateLimits>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    loop {
        tick.tick().await;
        limits.prune();
        match sesame.maintenance().purge().await {
            Ok((p, audit)) => tracing::debug!(
                sessions = p.sessions,
                refresh_tokens = p.refresh_tokens,
                denied = p.denied_tokens,
                audit,
                "purged expired records"
            ),
            Err(e) => tracing::warn!(error = %Chain(&e), "purge failed; will retry"),
        }
    }
}

/// `SESAME_BOOTSTRAP_ADMIN_*`: creates that admin unless a user with the email exists.
async fn bootstrap_admin(sesame: &Sesame, config: &Config) -> anyhow::Result<()> {
    let Some((email, password)) = &config.bootstrap_admin else {
        return Ok(());
    };
    let input = Registration {
        email: email.clone(),
        password: password.clone(),
        username: None,
        client: Default::default(),
    };
    let roles = vec![
        Role::customer(),
        Role::parse(Role::ADMIN).map_err(anyhow::Error::msg)?,
    ];
    match sesame.accounts().create_user(input, roles).await {
        Ok(user) => tracing::info!(user_id = %user.id, "created the bootstrap admin"),
        Err(CoreError::EmailTaken) => tracing::debug!("bootstrap admin exists"),
        Err(e) => anyhow::bail!("cannot create the bootstrap admin: {}", describe(&e)),
    }
    Ok(())
}

/// A one-line description of a core error for the command line: the fields of a validation
/// error, otherwise the error and its whole cause chain (an operator at a terminal needs the
/// driver's words as much as one reading the log of a 500).
pub fn describe(e: &CoreError) -> String {
    match e {
        CoreError::Validation(f) | CoreError::WeakPassword(f) => f
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.join(", ")))
            .collect::<Vec<_>>()
            .join("; "),
        other => Chain(other).to_string(),
    }
}
