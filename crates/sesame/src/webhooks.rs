//! The webhook sender: delivers the deliveries the store writes with each change (see
//! `sesame_core::webhooks`).
//!
//! It works like the mail outbox's sender (`mail.rs`): it claims due rows under a lease (so
//! replicas share the work and never send the same row at once), attempts them, and reports
//! each outcome to the core, which decides what follows (delivered, retried with backoff,
//! failed after 24 h, or the endpoint disabled on 410). A round's deliveries are attempted side
//! by side, so one slow receiver does not hold up the others for more than one timeout.
//!
//! Each attempt is a POST of the stored body, signed as Standard Webhooks (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature`), with a timeout, no redirects followed (a redirect
//! could lead anywhere), and no proxy from the environment (the target must be the address that
//! was checked). The target rule of `sesame_core::webhooks::target` holds at every attempt: an
//! address written in the URL is checked before connecting, and a name is resolved by
//! [`CheckedResolver`], which refuses it if any address is not public — and the connection goes
//! to exactly the addresses it checked, so a name cannot resolve to something else in between.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use sesame_core::Sesame;
use sesame_core::error::Chain;
use sesame_core::store::ClaimedDelivery;
use sesame_core::webhooks::target::{self, Host, TargetUrl};
use sesame_core::webhooks::{ATTEMPT_TIMEOUT, Attempt, BATCH, signing};

/// How often due deliveries are looked for when nothing wakes the sender.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Runs until aborted (started next to the mail sender in `startup`).
pub async fn run_sender(sesame: Arc<Sesame>) {
    let client = match client(sesame.webhooks().allow_private()) {
        Ok(c) => c,
        Err(e) => {
            // Only a broken TLS setup gets here; deliveries wait in the outbox meanwhile.
            tracing::error!(error = %Chain(&e), "cannot build the webhook HTTP client: webhooks stay queued");
            return;
        }
    };
    let signal = sesame.webhooks().signal().clone();
    loop {
        // One pass: claim and attempt rounds until the due deliveries run out. A flush waits
        // for a whole pass that began after it (`sesame_core::outbox_signal`).
        let pass = signal.begin_pass();
        while deliver_round(&sesame, &client).await {}
        if let Err(e) = sesame.webhooks().backlog().await {
            tracing::debug!(error = %Chain(&e), "cannot count the webhook backlog");
        }
        signal.end_pass(pass);
        tokio::select! {
            _ = signal.wait_for_work() => {}
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

/// The HTTP client of every attempt (see the module comment).
fn client(allow_private: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(CheckedResolver { allow_private }))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(ATTEMPT_TIMEOUT)
        .user_agent(concat!("Sesame-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Claims a round of due deliveries and attempts them concurrently; true when the round was
/// full (more may be due).
async fn deliver_round(sesame: &Arc<Sesame>, client: &reqwest::Client) -> bool {
    let claimed = match sesame.webhooks().claim().await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %Chain(&e), "cannot read the webhook outbox; will retry");
            return false;
        }
    };
    let full = claimed.len() as u32 == BATCH;
    let mut round = tokio::task::JoinSet::new();
    for delivery in claimed {
        let (sesame, client) = (sesame.clone(), client.clone());
        round.spawn(async move {
            let attempt = attempt(&sesame, &client, &delivery).await;
            if let Err(e) = sesame.webhooks().settle(&delivery, attempt).await {
                // The lease runs out and the delivery is attempted again: late, never lost.
                tracing::warn!(webhook_id = %delivery.endpoint_id, event_id = %delivery.id, error = %Chain(&e), "cannot record the webhook attempt");
            }
        });
    }
    while round.join_next().await.is_some() {}
    full
}

/// One signed POST of a delivery.
async fn attempt(sesame: &Sesame, client: &reqwest::Client, d: &ClaimedDelivery) -> Attempt {
    let allow_private = sesame.webhooks().allow_private();
    let url = match TargetUrl::parse(&d.url) {
        Ok(url) => url,
        Err(problem) => return Attempt::NoAnswer(format!("refused: the URL {problem}")),
    };
    // Names are checked by the resolver as they are resolved; an address written in the URL
    // never reaches it, so it is checked here. An http:// URL needs the setting in any case.
    match url.host() {
        Host::Ip(ip) => match target::check_addresses(&url, &[ip], allow_private) {
            Ok(()) => send(sesame, client, d).await,
            Err(problem) => Attempt::NoAnswer(format!("refused: the target {problem}")),
        },
        Host::Name(_) if !url.is_https() && !allow_private => Attempt::NoAnswer(
            "refused: http:// targets need SESAME_WEBHOOK_ALLOW_PRIVATE=on".into(),
        ),
        Host::Name(_) => send(sesame, client, d).await,
    }
}

async fn send(sesame: &Sesame, client: &reqwest::Client, d: &ClaimedDelivery) -> Attempt {
    let id = d.id.to_string();
    let timestamp = sesame.now().timestamp();
    let signature = signing::sign(&d.secret, &id, timestamp, &d.body);
    let sent = client
        .post(&d.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.body.clone())
        .send()
        .await;
    match sent {
        Ok(res) => Attempt::Answered(res.status().as_u16()),
        Err(e) => Attempt::NoAnswer(Chain(&e).to_string()),
    }
}

/// Resolves a target's name and refuses it unless every address is public (or private targets
/// are allowed); the connection then goes to the addresses returned here, and only those.
#[derive(Debug)]
struct CheckedResolver {
    allow_private: bool,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "refused: {host} resolves to {ip}, which is not a public address (SESAME_WEBHOOK_ALLOW_PRIVATE is off)"
)]
struct PrivateTarget {
    host: String,
    ip: std::net::IpAddr,
}

#[derive(Debug, thiserror::Error)]
#[error("{0} does not resolve to any address")]
struct NoAddress(String);

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found = target::resolve(&host, 0).await?;
            if found.is_empty() {
                return Err(NoAddress(host).into());
            }
            if !allow_private && let Some(ip) = found.iter().find(|ip| !target::is_public(**ip)) {
                return Err(PrivateTarget { host, ip: *ip }.into());
            }
            // Port 0: the connector puts the URL's port in.
            let addrs: Addrs = Box::new(found.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The delivery-time check with a real resolution: `localhost` is refused without the
    /// setting, and resolved to its loopback addresses with it.
    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        let strict = CheckedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().unwrap();
        let err = match strict.resolve(name).await {
            Ok(_) => panic!("localhost resolved while private targets are refused"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("not a public address"), "{err}");
        let open = CheckedResolver {
            allow_private: true,
        };
        let addrs: Vec<_> = open
            .resolve("localhost".parse().unwrap())
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .collect();
        assert!(
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()),
            "{addrs:?}"
        );
    }
}
