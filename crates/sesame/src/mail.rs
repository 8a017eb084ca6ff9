//! The outbox sender: delivers the messages the core queues (verification, password reset).
//!
//! Messages are written to the outbox in the same transaction as their tokens; this task claims
//! due ones (a lease, so replicas share the work without sending twice), hands each to the SMTP
//! server with `lettre`, and marks it sent only once the server accepted it. A failure is
//! retried with exponential backoff (`SESAME_EMAIL_RETRY_BASE`, doubling, capped at an hour);
//! a crash between commit and send, or mid-send, leaves the row unsent, so it goes out when its
//! lease runs out. (A crash after the server accepted a message but before it was marked sent
//! sends it twice: at-least-once, as an outbox gives.)
//!
//! Without `SESAME_SMTP_URL` each message, with its one-time link, is written to the log at info
//! level and marked sent. That is allowed only in development (an issuer on localhost) or when
//! the operator said so with `SESAME_EMAIL_LOG=on`: the configuration refuses anything else
//! (`config::is_local`). Whatever the transport, a stored message keeps its link only until it
//! is delivered or its link expires (the store clears the bodies then).
//!
//! The sender works in passes (claim batches until no due message is left, then wait) and
//! reports each to the core's `OutboxSignal`, so `Sesame::flush_outbox` can wait until every
//! message queued so far has been attempted: tests await that instead of sleeping.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use sesame_core::Sesame;
use sesame_core::error::Chain;
use sesame_core::outbox;
use sesame_core::store::OutboxMessage;

use crate::config::MailSettings;

/// How often the outbox is polled when nothing wakes the sender.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// One SMTP conversation may take this long (the core's outbox lease allows for a batch of
/// them).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

enum Transport {
    Log,
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
}

/// Runs until aborted (started next to housekeeping in `startup`).
pub async fn run_sender(sesame: Arc<Sesame>, settings: MailSettings) {
    let transport = match &settings.smtp_url {
        None if settings.log_allowed => {
            tracing::warn!(
                "no SESAME_SMTP_URL and SESAME_EMAIL_LOG=on: emails, with their one-time links, are written to the log"
            );
            Transport::Log
        }
        None => {
            tracing::info!("no SESAME_SMTP_URL (development): emails are written to the log");
            Transport::Log
        }
        Some(url) => match AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret()) {
            Ok(b) => Transport::Smtp(Box::new(b.timeout(Some(SMTP_TIMEOUT)).build())),
            Err(e) => {
                // Checked when the configuration loaded; this cannot happen, but never panic.
                tracing::error!(error = %e, "invalid SESAME_SMTP_URL: emails stay queued");
                return;
            }
        },
    };
    let from: Option<Mailbox> = settings.from.parse().ok();
    let signal = sesame.outbox().signal().clone();
    loop {
        // One pass: claim and attempt batches until the due messages run out. A flush waits
        // for a whole pass that began after it (`sesame_core::outbox_signal`).
        let pass = signal.begin_pass();
        while deliver_batch(&sesame, &transport, from.as_ref(), &settings).await {}
        signal.end_pass(pass);
        tokio::select! {
            _ = signal.wait_for_work() => {}
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

/// Claims up to [`outbox::BATCH`] due messages and attempts each; true when the batch was full
/// (more may be due). The lease and the backoff are the core's rules (`sesame_core::outbox`);
/// this only delivers and reports.
async fn deliver_batch(
    sesame: &Sesame,
    transport: &Transport,
    from: Option<&Mailbox>,
    settings: &MailSettings,
) -> bool {
    let queue = sesame.outbox();
    let claimed = match queue.claim().await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %Chain(&e), "cannot read the outbox; will retry");
            Vec::new()
        }
    };
    let full = claimed.len() as u32 == outbox::BATCH;
    for m in claimed {
        let outcome = match deliver(transport, from, &m).await {
            Ok(()) => queue.sent(m.id).await,
            Err(problem) => {
                let wait = outbox::backoff(settings.retry_base, m.attempts);
                tracing::warn!(message_id = %m.id, attempts = m.attempts + 1, retry_in = ?wait, error = %problem, "email delivery failed; will retry");
                queue.failed(&m, &problem, settings.retry_base).await
            }
        };
        if let Err(e) = outcome {
            // The lease runs out and the message is tried again: delayed, never lost.
            tracing::warn!(message_id = %m.id, error = %Chain(&e), "cannot record the delivery outcome");
        }
    }
    full
}

async fn deliver(
    transport: &Transport,
    from: Option<&Mailbox>,
    m: &OutboxMessage,
) -> Result<(), String> {
    match transport {
        Transport::Log => {
            tracing::info!(
                message_id = %m.id,
                to = %m.recipient,
                subject = %m.subject,
                "email (no SMTP configured):\n{}",
                m.text_body
            );
            Ok(())
        }
        Transport::Smtp(smtp) => {
            let from = from.ok_or("SESAME_EMAIL_FROM is not a mailbox")?;
            let to: Mailbox = m
                .recipient
                .parse()
                .map_err(|e| format!("bad recipient: {e}"))?;
            let email = Message::builder()
                .from(from.clone())
                .to(to)
                .subject(m.subject.clone())
                .multipart(MultiPart::alternative_plain_html(
                    m.text_body.clone(),
                    m.html_body.clone(),
                ))
                .map_err(|e| format!("cannot build the message: {e}"))?;
            smtp.send(email)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
}
