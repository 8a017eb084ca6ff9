//! Emailed tokens: single-use tokens mailed as links, the messages that carry them, and the
//! [`Mailer`] that queues both (the use-cases that send them are in `accounts` and `recovery`).
//!
//! A token is 32 random bytes (base64url, 43 characters) stored only as its SHA-256, like a
//! refresh token. Its message is rendered here and queued in the store's outbox in the same
//! transaction as the token; the service's background sender delivers it (SMTP, or the log in
//! development) and retries until the server accepts it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use std::sync::Arc;

use chrono::Duration;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::{AuditEvent, Auditor};
use crate::clock::Clock;
use crate::domain::Email;
use crate::error::CoreError;
use crate::sessions::ClientInfo;
use crate::settings::{Settings, ttl as ttl_of};
use crate::store::{EmailPurpose, NewEmailToken, OutboxMessage, Store, UserRecord};

/// 32 random bytes, base64url without padding.
const TOKEN_LEN: usize = 43;

/// Path of the password-reset page under the public URL.
pub const RESET_PATH: &str = "/reset-password";
/// Path of the email-verification page under the public URL.
pub const VERIFY_PATH: &str = "/verify-email";

/// An emailed token. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailToken(String);

impl std::fmt::Debug for EmailToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmailToken([REDACTED])")
    }
}

impl EmailToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        EmailToken(B64.encode(bytes))
    }

    /// Accepts only the shape Sesame issues, so garbage never reaches the database.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let ok = raw.len() == TOKEN_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| EmailToken(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keeps: 256 bits of entropy leave nothing to brute-force, so SHA-256 is
    /// enough.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A rendered message: subject, plain text and HTML.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Bodies that replace the built-in ones (`SESAME_EMAIL_TEMPLATES`: files `verify.txt`,
/// `verify.html`, `reset.txt`, `reset.html`, each optional). Placeholders: `{product}`,
/// `{email}`, `{link}`, `{lifetime}`; in HTML their values are escaped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateOverrides {
    pub verify_text: Option<String>,
    pub verify_html: Option<String>,
    pub reset_text: Option<String>,
    pub reset_html: Option<String>,
}

/// Substitutes `{name}` placeholders in one pass (a value is never scanned again, so a value
/// that looks like a placeholder stays as it is); unknown `{...}` are kept literally.
pub fn fill(template: &str, vars: &[(&str, &str)], html: bool) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let hit = vars
            .iter()
            .find(|(name, _)| after.starts_with(name) && after[name.len()..].starts_with('}'));
        match hit {
            Some((name, value)) => {
                if html {
                    out.push_str(&html_escape(value));
                } else {
                    out.push_str(value);
                }
                rest = &after[name.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The message for `purpose`, addressed to `email`, carrying `link`. Everything that came from
/// a user or the configuration is escaped in the HTML part.
pub fn render(
    product: &str,
    purpose: EmailPurpose,
    email: &str,
    link: &str,
    valid_for: Duration,
) -> Rendered {
    render_with(
        &TemplateOverrides::default(),
        product,
        purpose,
        email,
        link,
        valid_for,
    )
}

/// [`render`], with bodies from `overrides` where given.
pub fn render_with(
    overrides: &TemplateOverrides,
    product: &str,
    purpose: EmailPurpose,
    email: &str,
    link: &str,
    valid_for: Duration,
) -> Rendered {
    let minutes = valid_for.num_minutes().max(1);
    let lifetime = if minutes % 60 == 0 {
        let h = minutes / 60;
        format!("{h} hour{}", if h == 1 { "" } else { "s" })
    } else {
        format!("{minutes} minutes")
    };
    let (subject, intro, action, outro) = match purpose {
        EmailPurpose::Verify => (
            format!("Verify your email address for {product}"),
            format!("Please confirm that {email} is your email address for {product}."),
            "Verify email address",
            "If you did not ask for this, you can ignore this message.",
        ),
        EmailPurpose::Reset => (
            format!("Reset your {product} password"),
            format!("Someone asked to reset the password of the {product} account for {email}."),
            "Choose a new password",
            "If it was not you, ignore this message: your password stays as it is.",
        ),
    };
    let text = format!(
        "{intro}\n\n{action}:\n{link}\n\nThe link works once, for {lifetime}.\n{outro}\n\n-- {product}\n"
    );
    let (p, i, l, a, o) = (
        html_escape(product),
        html_escape(&intro),
        html_escape(link),
        html_escape(action),
        html_escape(outro),
    );
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{s}</title></head>\n\
         <body style=\"font-family: sans-serif\">\n<p>{i}</p>\n\
         <p><a href=\"{l}\">{a}</a></p>\n\
         <p>Or copy this link into your browser:<br>{l}</p>\n\
         <p>The link works once, for {lifetime}. {o}</p>\n<p>&mdash; {p}</p>\n</body></html>\n",
        s = html_escape(&subject),
    );
    let (text_override, html_override) = match purpose {
        EmailPurpose::Verify => (&overrides.verify_text, &overrides.verify_html),
        EmailPurpose::Reset => (&overrides.reset_text, &overrides.reset_html),
    };
    let vars = [
        ("product", product),
        ("email", email),
        ("link", link),
        ("lifetime", lifetime.as_str()),
    ];
    Rendered {
        subject,
        text: text_override
            .as_deref()
            .map_or(text, |t| fill(t, &vars, false)),
        html: html_override
            .as_deref()
            .map_or(html, |t| fill(t, &vars, true)),
    }
}

/// The notice that an admin removed every second factor of the account at `email`.
pub fn render_mfa_removed(product: &str, email: &str, public_url: &str) -> Rendered {
    let subject = format!("Your {product} sign-in no longer asks for a second factor");
    let intro = format!(
        "An administrator removed every second factor (authenticator app, recovery codes) of \
         the {product} account for {email}. Signing in now takes the password alone."
    );
    let outro = "If you asked for this, set up a new authenticator app once you are signed in. \
                 If you did not, change your password now and tell your administrator.";
    let link = format!("{}/account/security", public_url.trim_end_matches('/'));
    let text = format!(
        "{intro}\n\n{outro}\n\nYour account's security settings:\n{link}\n\n-- {product}\n"
    );
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{s}</title></head>\n\
         <body style=\"font-family: sans-serif\">\n<p>{i}</p>\n<p>{o}</p>\n\
         <p><a href=\"{l}\">Your account's security settings</a></p>\n<p>&mdash; {p}</p>\n</body></html>\n",
        s = html_escape(&subject),
        i = html_escape(&intro),
        o = html_escape(outro),
        l = html_escape(&link),
        p = html_escape(product),
    );
    Rendered {
        subject,
        text,
        html,
    }
}

/// Queues the messages that carry emailed tokens; shared by accounts (registration, email
/// change) and recovery (resend, password reset).
#[derive(Debug, Clone)]
pub(crate) struct Mailer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Auditor,
    /// Told when a message is queued, so the sender need not wait for its next poll.
    outbox: Arc<crate::outbox_signal::OutboxSignal>,
    public_url: String,
    product_name: String,
    templates: TemplateOverrides,
    verify_ttl: std::time::Duration,
    reset_ttl: std::time::Duration,
    per_account_hour: u32,
}

impl Mailer {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Auditor,
        outbox: Arc<crate::outbox_signal::OutboxSignal>,
        settings: &Settings,
    ) -> Self {
        Mailer {
            store,
            clock,
            audit,
            outbox,
            public_url: settings.public_url.clone(),
            product_name: settings.product_name.clone(),
            templates: settings.email_templates.clone(),
            verify_ttl: settings.email_verify_ttl,
            reset_ttl: settings.password_reset_ttl,
            per_account_hour: settings.emails_per_account_hour,
        }
    }

    fn email_link(&self, path: &str, token: &EmailToken) -> String {
        format!(
            "{}{path}?token={}",
            self.public_url.trim_end_matches('/'),
            token.as_str()
        )
    }

    /// Makes a token, renders its message and queues both (one transaction) — unless the
    /// account had its hourly share of this kind of message already (then quietly nothing).
    pub(crate) async fn queue_email(
        &self,
        user: &UserRecord,
        purpose: EmailPurpose,
        email: &Email,
        token: &EmailToken,
        audit: Option<(AuditEvent, &ClientInfo)>,
    ) -> Result<(), CoreError> {
        let now = self.clock.now();
        let (path, ttl) = match purpose {
            EmailPurpose::Verify => (VERIFY_PATH, self.verify_ttl),
            EmailPurpose::Reset => (RESET_PATH, self.reset_ttl),
        };
        let ttl = ttl_of(ttl);
        let rendered = render_with(
            &self.templates,
            &self.product_name,
            purpose,
            email.as_str(),
            &self.email_link(path, token),
            ttl,
        );
        let record = NewEmailToken {
            hash: token.hash(),
            user_id: user.id,
            purpose,
            email: email.as_str().to_string(),
            email_canonical: email.canonical(),
            created_at: now,
            expires_at: now + ttl,
        };
        let message = OutboxMessage {
            id: Uuid::now_v7(),
            recipient: email.as_str().to_string(),
            subject: rendered.subject,
            text_body: rendered.text,
            html_body: rendered.html,
            created_at: now,
            expires_at: now + ttl,
            attempts: 0,
        };
        let entries: Vec<_> = audit
            .map(|(event, client)| {
                self.audit.entry(
                    event,
                    Some(user.id),
                    client,
                    serde_json::json!({"message_id": message.id}),
                )
            })
            .into_iter()
            .collect();
        let limit = (now - Duration::hours(1), u64::from(self.per_account_hour));
        let queued = self
            .store
            .enqueue_email(&record, &message, Some(limit), &entries)
            .await?;
        if queued {
            self.outbox.queued();
        } else {
            tracing::info!(user_id = %user.id, purpose = purpose.as_str(), "email not sent: hourly limit per account reached");
        }
        Ok(())
    }

    /// The message telling a user that an admin removed their second factors (no link in it:
    /// it asks them to act if it was not at their request). Kept a week if undelivered.
    pub(crate) fn mfa_removed_notice(&self, user: &UserRecord) -> OutboxMessage {
        let now = self.clock.now();
        let rendered = render_mfa_removed(&self.product_name, &user.email, &self.public_url);
        OutboxMessage {
            id: Uuid::now_v7(),
            recipient: user.email.clone(),
            subject: rendered.subject,
            text_body: rendered.text,
            html_body: rendered.html,
            created_at: now,
            expires_at: now + Duration::days(7),
            attempts: 0,
        }
    }

    /// A message was queued outside [`Mailer::queue_email`]: wakes the sender.
    pub(crate) fn queued(&self) {
        self.outbox.queued();
    }

    /// Sends a verification link to `email` (the user's address, or the new address of an
    /// email change). Quietly sends nothing past the per-account hourly limit.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub(crate) async fn send_verification(
        &self,
        user: &UserRecord,
        email: &Email,
        _client: &ClientInfo,
    ) -> Result<(), CoreError> {
        // Not audited: registration and email changes are, and they are what sends these.
        let token = EmailToken::generate();
        self.queue_email(user, EmailPurpose::Verify, email, &token, None)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_url_safe_and_parse_back() {
        let t = EmailToken::generate();
        assert_eq!(t.as_str().len(), 43);
        assert_eq!(EmailToken::parse(t.as_str()), Some(t.clone()));
        assert!(EmailToken::parse("short").is_none());
        assert!(EmailToken::parse(&"+".repeat(43)).is_none());
        assert_eq!(t.hash().len(), 32);
        assert!(!format!("{t:?}").contains(t.as_str()));
    }

    #[test]
    fn html_part_escapes_user_input() {
        let r = render(
            "Sesame",
            EmailPurpose::Verify,
            "<script>alert(1)</script>@example.com",
            "https://x.example/verify-email?token=abc",
            Duration::minutes(30),
        );
        assert!(!r.html.contains("<script>"));
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.text.contains("https://x.example/verify-email?token=abc"));
        assert!(r.text.contains("30 minutes"));
        let r = render("S", EmailPurpose::Reset, "a@b.c", "l", Duration::hours(24));
        assert!(r.text.contains("24 hours"));
    }

    #[test]
    fn overrides_fill_placeholders_once_and_escape_html() {
        let o = TemplateOverrides {
            reset_html: Some("<p>{product}: <a href=\"{link}\">{email}</a> {nope} {</p>".into()),
            reset_text: Some("Hi {email}, go to {link} within {lifetime}.".into()),
            ..Default::default()
        };
        let r = render_with(
            &o,
            "S&Co",
            EmailPurpose::Reset,
            "{link}<b>@example.com",
            "https://x/reset-password?token=t&a=1",
            Duration::minutes(30),
        );
        assert_eq!(
            r.html,
            "<p>S&amp;Co: <a href=\"https://x/reset-password?token=t&amp;a=1\">{link}&lt;b&gt;@example.com</a> {nope} {</p>"
        );
        assert_eq!(
            r.text,
            "Hi {link}<b>@example.com, go to https://x/reset-password?token=t&a=1 within 30 minutes."
        );
        // The other purpose keeps the built-in bodies.
        let v = render_with(
            &o,
            "S",
            EmailPurpose::Verify,
            "a@b.c",
            "l",
            Duration::hours(1),
        );
        assert!(v.html.starts_with("<!DOCTYPE html>"));
    }
}
