//! Email verification and password reset: single-use tokens mailed as links, and the messages
//! that carry them.
//!
//! A token is 32 random bytes (base64url, 43 characters) stored only as its SHA-256, like a
//! refresh token. Its message is rendered here and queued in the store's outbox in the same
//! transaction as the token; the service's background sender delivers it (SMTP, or the log in
//! development) and retries until the server accepts it.
//!
//! Nothing here tells a caller whether an address has an account: `forgot_password` does the
//! same work and answers the same way for both, and is meant to run off the request path.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Duration;
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::{Email, Password};
use crate::error::CoreError;
use crate::service::Sesame;
use crate::sessions::ClientInfo;
use crate::store::{EmailPurpose, NewEmailToken, OutboxMessage, UserRecord};

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

impl Sesame {
    fn email_link(&self, path: &str, token: &EmailToken) -> String {
        format!(
            "{}{path}?token={}",
            self.settings.public_url.trim_end_matches('/'),
            token.as_str()
        )
    }

    /// Makes a token, renders its message and queues both (one transaction) — unless the
    /// account had its hourly share of this kind of message already (then quietly nothing).
    async fn queue_email(
        &self,
        user: &UserRecord,
        purpose: EmailPurpose,
        email: &Email,
        token: &EmailToken,
        audit: Option<(&str, &ClientInfo)>,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let (path, ttl) = match purpose {
            EmailPurpose::Verify => (VERIFY_PATH, self.settings.email_verify_ttl),
            EmailPurpose::Reset => (RESET_PATH, self.settings.password_reset_ttl),
        };
        let ttl = Self::ttl(ttl);
        let rendered = render_with(
            &self.settings.email_templates,
            &self.settings.product_name,
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
                self.audit(
                    event,
                    Some(user.id),
                    client,
                    serde_json::json!({"message_id": message.id}),
                )
            })
            .into_iter()
            .collect();
        let limit = (
            now - Duration::hours(1),
            u64::from(self.settings.emails_per_account_hour),
        );
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

    /// Sends a verification link to `email` (the user's address, or the new address of an
    /// email change). Quietly sends nothing past the per-account hourly limit.
    #[tracing::instrument(skip_all, fields(user_id = %user.id))]
    pub async fn send_verification(
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

    /// POST /auth/email/verify/resend: a new link for the current address (or for the pending
    /// one, when an email change waits for its proof).
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn resend_verification(
        &self,
        user_id: Uuid,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let user = self.profile(user_id).await?;
        let pending = self.store.pending_email(user_id, self.now()).await?;
        let address = match pending {
            Some(p) => p,
            None if user.email_verified => return Ok(()),
            None => user.email.clone(),
        };
        let email = Email::parse(&address).map_err(CoreError::internal)?;
        self.send_verification(&user, &email, client).await
    }

    /// The address an email change waits to verify, if any.
    pub async fn pending_email(&self, user_id: Uuid) -> Result<Option<String>, CoreError> {
        Ok(self.store.pending_email(user_id, self.now()).await?)
    }

    /// POST /auth/email/verify: the address the token was sent to becomes the user's verified
    /// email.
    #[tracing::instrument(skip_all)]
    pub async fn verify_email(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<UserRecord, CoreError> {
        let token = EmailToken::parse(token).ok_or(CoreError::EmailTokenInvalid)?;
        let record = self
            .store
            .find_email_token(&token.hash(), EmailPurpose::Verify, self.now())
            .await?
            .ok_or(CoreError::EmailTokenInvalid)?;
        let entry = self.audit(
            "email_verified",
            Some(record.user_id),
            client,
            serde_json::json!({"email": record.email}),
        );
        let user_id = self
            .store
            .verify_email(&token.hash(), self.now(), &[entry])
            .await?
            .ok_or(CoreError::EmailTokenInvalid)?;
        self.profile(user_id).await
    }

    /// POST /auth/password/forgot. Answers nothing either way: run it off the request path so
    /// the response and its timing are the same for known and unknown addresses. Work that
    /// depends on the account is limited to a store read and, when it exists, one write.
    #[tracing::instrument(skip_all)]
    pub async fn forgot_password(&self, email: &str, client: &ClientInfo) -> Result<(), CoreError> {
        // The token is made in both branches, so both cost the same CPU.
        let token = EmailToken::generate();
        let _ = token.hash();
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let Some(user) = self.store.find_user_by_login(&email.canonical()).await? else {
            tracing::debug!("password reset asked for an unknown address");
            return Ok(());
        };
        if user.disabled {
            return Ok(());
        }
        // The message goes to the address on record (it may differ in case from the one typed).
        let to = Email::parse(&user.email).map_err(CoreError::internal)?;
        self.queue_email(
            &user,
            EmailPurpose::Reset,
            &to,
            &token,
            Some(("password_reset_requested", client)),
        )
        .await
    }

    /// POST /auth/password/reset: sets the password and ends every session of the user.
    #[tracing::instrument(skip_all)]
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &SecretString,
        client: &ClientInfo,
    ) -> Result<u64, CoreError> {
        let token = EmailToken::parse(token).ok_or(CoreError::EmailTokenInvalid)?;
        let record = self
            .store
            .find_email_token(&token.hash(), EmailPurpose::Reset, self.now())
            .await?
            .ok_or(CoreError::EmailTokenInvalid)?;
        let user = self
            .store
            .get_user(record.user_id)
            .await?
            .ok_or(CoreError::EmailTokenInvalid)?;
        let ids = [user.email.as_str(), user.username.as_deref().unwrap_or("")];
        let password = Password::parse(new_password, &ids)
            .map_err(|p| crate::accounts::password_error(p, "new_password"))?;
        let hash = self.hasher.hash(password.secret()).await?;
        let entry = self.audit(
            "password_reset",
            Some(user.id),
            client,
            serde_json::json!({}),
        );
        let (_, ended) = self
            .store
            .reset_password(&token.hash(), &hash, self.now(), &[entry])
            .await?
            .ok_or(CoreError::EmailTokenInvalid)?;
        self.revoked().await;
        Ok(ended)
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
