//! The back-channel logout sender: POSTs `logout_token`s to apps whose sessions ended (see
//! `sesame_core::oidc::backchannel`, which decides retries).
//!
//! Like the webhook sender it claims due rows under a lease (replicas share the work), attempts a
//! round side by side, and follows no redirect (a redirect could lead anywhere). Unlike webhooks,
//! the target is not checked for being public: a `backchannel_logout_uri` is registered by the
//! operator under the redirect-URI rules (`https://`, or `http://` on a loopback address), and an
//! app's logout endpoint beside it on loopback or the private network is the normal case.

use std::sync::Arc;
use std::time::Duration;

use sesame_core::Sesame;
use sesame_core::error::Chain;
use sesame_core::oidc::backchannel::{LOGOUT_ATTEMPT_TIMEOUT, LOGOUT_BATCH, LogoutAttempt};
use sesame_core::store::ClaimedLogout;

/// How often due logouts are looked for.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Runs until aborted (started next to the mail and webhook senders in `startup`).
pub async fn run_sender(sesame: Arc<Sesame>) {
    let client = match reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(LOGOUT_ATTEMPT_TIMEOUT)
        .user_agent(concat!("Sesame-Logout/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            // Only a broken TLS setup gets here; the logouts wait in the store meanwhile.
            tracing::error!(error = %Chain(&e), "cannot build the back-channel logout client: logouts stay queued");
            return;
        }
    };
    loop {
        while deliver_round(&sesame, &client).await {}
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Claims a round and attempts it; true when the round was full (more may be due).
async fn deliver_round(sesame: &Arc<Sesame>, client: &reqwest::Client) -> bool {
    let claimed = match sesame.oidc().claim_logouts().await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %Chain(&e), "cannot read the back-channel logouts; will retry");
            return false;
        }
    };
    let full = claimed.len() as u32 == LOGOUT_BATCH;
    let mut round = tokio::task::JoinSet::new();
    for logout in claimed {
        let (sesame, client) = (sesame.clone(), client.clone());
        round.spawn(async move {
            let attempt = attempt(&sesame, &client, &logout).await;
            if let Err(e) = sesame.oidc().settle_logout(&logout, attempt).await {
                // The lease runs out and the logout is attempted again: late, never lost.
                tracing::warn!(client_id = %logout.client_id, error = %Chain(&e), "cannot record the back-channel logout attempt");
            }
        });
    }
    while round.join_next().await.is_some() {}
    full
}

async fn attempt(
    sesame: &Sesame,
    client: &reqwest::Client,
    logout: &ClaimedLogout,
) -> LogoutAttempt {
    let token = match sesame.oidc().logout_token(logout) {
        Ok(t) => t,
        Err(e) => {
            return LogoutAttempt::NoAnswer(format!("cannot sign the logout token: {}", Chain(&e)));
        }
    };
    match client
        .post(&logout.uri)
        .form(&[("logout_token", token.as_str())])
        .send()
        .await
    {
        Ok(res) => LogoutAttempt::Answered(res.status().as_u16()),
        Err(e) => LogoutAttempt::NoAnswer(Chain(&e).to_string()),
    }
}
