//! Email verification and password reset, end to end over the HTTP API, with the mail going
//! out over real SMTP to a tiny sink this module runs (a tokio listener speaking just enough
//! SMTP), links and all.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::helpers::*;

pub(crate) const PUBLIC_URL: &str = "https://app.example.test";

/// One message the sink accepted.
#[derive(Debug, Clone)]
pub(crate) struct Mail {
    to: String,
    /// The DATA section, transfer encoding undone enough to read links (quoted-printable soft
    /// breaks and `=3D`).
    pub(crate) data: String,
}

impl Mail {
    pub(crate) fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_string()
    }

    /// The token of the first link to `path` under the public URL.
    pub(crate) fn token(&self, path: &str) -> String {
        let prefix = format!("{PUBLIC_URL}{path}?token=");
        let at = self
            .data
            .find(&prefix)
            .unwrap_or_else(|| panic!("no {prefix} link in:\n{}", self.data));
        let token: String = self.data[at + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert_eq!(token.len(), 43, "a 256-bit URL-safe token");
        token
    }
}

/// A minimal SMTP server: 220, EHLO/HELO 250, MAIL/RCPT 250, DATA 354 … `.` 250, QUIT 221.
#[derive(Clone, Default)]
pub(crate) struct SmtpSink {
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub(crate) async fn start() -> (Self, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = SmtpSink::default();
        sink.clone().serve(listener);
        (sink, port)
    }

    /// Starts listening on a port picked earlier (the "SMTP server comes back" case).
    async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let sink = SmtpSink::default();
        sink.clone().serve(listener);
        sink
    }

    fn serve(self, listener: TcpListener) {
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = self.clone();
                tokio::spawn(async move {
                    let _ = sink.session(stream).await;
                });
            }
        });
    }

    async fn session(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        write.write_all(b"220 sink ESMTP\r\n").await?;
        let mut to = String::new();
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            match verb.as_str() {
                "EHLO" | "HELO" => write.write_all(b"250 sink\r\n").await?,
                "RCPT" => {
                    to = line
                        .split(['<', '>'])
                        .nth(1)
                        .unwrap_or_default()
                        .to_string();
                    write.write_all(b"250 OK\r\n").await?
                }
                "DATA" => {
                    write.write_all(b"354 go ahead\r\n").await?;
                    let mut data = String::new();
                    loop {
                        let mut l = String::new();
                        if lines.read_line(&mut l).await? == 0 {
                            return Ok(());
                        }
                        if l == ".\r\n" {
                            break;
                        }
                        data.push_str(&l);
                    }
                    let data = data.replace("=\r\n", "").replace("=3D", "=");
                    self.mails.lock().unwrap().push(Mail {
                        to: to.clone(),
                        data,
                    });
                    write.write_all(b"250 queued\r\n").await?
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await?;
                    return Ok(());
                }
                _ => write.write_all(b"250 OK\r\n").await?,
            }
        }
    }

    fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to.eq_ignore_ascii_case(to))
            .cloned()
            .collect()
    }

    /// Waits (bounded) for the `n`-th message to `to` whose subject contains `subject`.
    pub(crate) async fn wait_for(&self, to: &str, subject: &str, n: usize) -> Mail {
        for _ in 0..150 {
            let found: Vec<Mail> = self
                .mails_to(to)
                .into_iter()
                .filter(|m| m.subject().contains(subject))
                .collect();
            if found.len() >= n {
                return found[n - 1].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no message '{subject}' #{n} to {to} within 15 s");
    }
}

pub(crate) async fn app_with_sink(extra: &[(&str, &str)]) -> (TestApp, SmtpSink) {
    let (sink, port) = SmtpSink::start().await;
    let url = format!("smtp://127.0.0.1:{port}");
    let mut env = vec![
        ("SESAME_SMTP_URL", url.as_str()),
        ("SESAME_PUBLIC_URL", PUBLIC_URL),
        ("SESAME_EMAIL_FROM", "Sesame <noreply@example.test>"),
    ];
    env.extend_from_slice(extra);
    (spawn_app_with(&env).await, sink)
}

#[tokio::test]
async fn registration_mails_a_link_that_verifies_the_address() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    let profile = body(app.get("/profile", Some(&user.tokens.access)).await).await;
    assert_eq!(profile["email_verified"], false);

    let mail = sink.wait_for(&user.email, "Verify", 1).await;
    assert!(mail.data.contains("From: Sesame <noreply@example.test>"));
    assert!(mail.data.contains("text/plain") && mail.data.contains("text/html"));
    let token = mail.token("/verify-email");

    let res = app
        .post("/auth/email/verify", json!({"token": token}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await["email_verified"], true);
    let profile = body(app.get("/profile", Some(&user.tokens.access)).await).await;
    assert_eq!(profile["email_verified"], true);
    // New tokens carry the claim.
    let tokens = app.login(&user.username, PASSWORD).await;
    assert_eq!(jwt::part(&tokens.access, 1)["email_verified"], true);

    // Single use; garbage is refused the same way.
    for t in [token.as_str(), "not-a-token", &"A".repeat(43)] {
        assert_error(
            app.post("/auth/email/verify", json!({"token": t})).await,
            StatusCode::BAD_REQUEST,
            "token_invalid",
        )
        .await;
    }
}

#[tokio::test]
async fn forgot_and_reset_ends_every_session() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    let other_session = app.login(&user.username, PASSWORD).await;

    let res = app
        .post(
            "/auth/password/forgot",
            json!({"email": user.email.to_uppercase()}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let known_answer = body(res).await;
    let mail = sink.wait_for(&user.email, "Reset", 1).await;
    let token = mail.token("/reset-password");

    // The password policy applies, and a refused password leaves the token usable.
    assert_error(
        app.post(
            "/auth/password/reset",
            json!({"token": token, "new_password": user.email}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;
    let new_password = "a brand new passphrase 42";
    let res = app
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": new_password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    for refresh in [&user.tokens.refresh, &other_session.refresh] {
        assert_error(
            app.refresh_raw(refresh).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
    }
    assert_error(
        app.login_raw(&user.username, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.login_raw(&user.username, new_password).await.status(),
        StatusCode::OK
    );
    // Used once: refused after.
    assert_error(
        app.post(
            "/auth/password/reset",
            json!({"token": token, "new_password": "yet another passphrase 7"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "token_invalid",
    )
    .await;

    // An unknown address gets the very same answer, and no mail.
    let stranger = format!("{}@example.com", unique("nobody"));
    let res = app
        .post("/auth/password/forgot", json!({"email": stranger}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(body(res).await, known_answer);
    app.flush_outbox().await;
    assert!(sink.mails_to(&stranger).is_empty());

    // Not an address at all: 400.
    assert_error(
        app.post("/auth/password/forgot", json!({"email": "nope"}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn reset_links_expire() {
    let (app, sink) = app_with_sink(&[("SESAME_PASSWORD_RESET_TTL", "10m")]).await;
    let user = app.new_user().await;
    app.post("/auth/password/forgot", json!({"email": user.email}))
        .await;
    let token = sink
        .wait_for(&user.email, "Reset", 1)
        .await
        .token("/reset-password");
    app.advance(11 * 60);
    assert_error(
        app.post(
            "/auth/password/reset",
            json!({"token": token, "new_password": "a brand new passphrase 42"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "token_invalid",
    )
    .await;
}

/// Asks for a reset link for `email` and returns the token of the `n`-th one it was sent.
async fn reset_link(app: &TestApp, sink: &SmtpSink, email: &str, n: usize) -> String {
    let res = app
        .post("/auth/password/forgot", json!({"email": email}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    sink.wait_for(email, "Reset", n)
        .await
        .token("/reset-password")
}

async fn reset_with(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    app.post(
        "/auth/password/reset",
        json!({"token": token, "new_password": new_password}),
    )
    .await
}

#[tokio::test]
async fn using_one_reset_link_kills_the_others() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    let first = reset_link(&app, &sink, &user.email, 1).await;
    let second = reset_link(&app, &sink, &user.email, 2).await;
    let res = reset_with(&app, &second, "a brand new passphrase 42").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_error(
        reset_with(&app, &first, "yet another passphrase 7").await,
        StatusCode::BAD_REQUEST,
        "token_invalid",
    )
    .await;
    assert_eq!(
        app.login_raw(&user.username, "a brand new passphrase 42")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_password_change_kills_open_reset_links() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    let link = reset_link(&app, &sink, &user.email, 1).await;
    let res = app
        .post_auth(
            "/auth/password",
            &user.tokens.access,
            json!({"current_password": PASSWORD, "new_password": "a brand new passphrase 42"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Whoever got hold of the link cannot undo the change with it.
    assert_error(
        reset_with(&app, &link, "the attacker's passphrase 1").await,
        StatusCode::BAD_REQUEST,
        "token_invalid",
    )
    .await;
    assert_eq!(
        app.login_raw(&user.username, "a brand new passphrase 42")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_email_change_kills_open_reset_links_and_old_verification_links() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    let reset = reset_link(&app, &sink, &user.email, 1).await;
    // A verification link for the old address, still open (the one registration sent).
    let old_verify = sink
        .wait_for(&user.email, "Verify", 1)
        .await
        .token("/verify-email");
    let new_email = format!("{}@example.org", unique("moved"));
    let res = app
        .request(
            reqwest::Method::PUT,
            "/profile",
            Some(&user.tokens.access),
            Some(&json!({"email": new_email, "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Until the change is confirmed, the old address and its reset link still work...
    let pending = sink
        .wait_for(&new_email, "Verify", 1)
        .await
        .token("/verify-email");
    let res = app
        .post("/auth/email/verify", json!({"token": pending}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // ...once it is, the reset link sent to the old address is dead,
    assert_error(
        reset_with(&app, &reset, "the attacker's passphrase 1").await,
        StatusCode::BAD_REQUEST,
        "token_invalid",
    )
    .await;
    // and a verification link for the old address cannot move the account back to it.
    assert_error(
        app.post("/auth/email/verify", json!({"token": old_verify}))
            .await,
        StatusCode::BAD_REQUEST,
        "token_invalid",
    )
    .await;
    let profile = body(app.get("/profile", Some(&user.tokens.access)).await).await;
    assert_eq!(profile["email"], new_email);
    assert_eq!(
        app.login_raw(&user.username, PASSWORD).await.status(),
        StatusCode::OK
    );
    // A link asked for at the new address works.
    let fresh = reset_link(&app, &sink, &new_email, 1).await;
    let res = reset_with(&app, &fresh, "a brand new passphrase 42").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

/// A flush waits for facts, not for time: when it returns, the reset link asked for off the
/// request path and the verification link of the registration are both at the SMTP server.
#[tokio::test]
async fn a_flushed_outbox_has_handed_every_queued_message_to_smtp() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    let res = app
        .post("/auth/password/forgot", json!({"email": user.email}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    app.flush_outbox().await;
    // No waiting here: the sink has them already.
    let subjects: Vec<String> = sink
        .mails_to(&user.email)
        .iter()
        .map(Mail::subject)
        .collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(
        subjects.iter().any(|s| s.contains("Verify")),
        "{subjects:?}"
    );
    assert!(subjects.iter().any(|s| s.contains("Reset")), "{subjects:?}");
}

#[tokio::test]
async fn reset_emails_are_limited_per_account_and_per_ip() {
    let (app, sink) = app_with_sink(&[
        ("SESAME_RATE_LIMIT", "on"),
        ("SESAME_RATE_LIMIT_FORGOT", "4/m"),
        ("SESAME_EMAIL_PER_ACCOUNT_HOUR", "2"),
    ])
    .await;
    let user = app.new_user().await;
    for _ in 0..4 {
        let res = app
            .post("/auth/password/forgot", json!({"email": user.email}))
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let res = app
        .post("/auth/password/forgot", json!({"email": user.email}))
        .await;
    assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Every accepted request has queued its message or been refused a slot, and every queued
    // message has gone out.
    app.flush_outbox().await;
    let resets = sink
        .mails_to(&user.email)
        .into_iter()
        .filter(|m| m.subject().contains("Reset"))
        .count();
    assert_eq!(resets, 2, "at most 2 reset emails per account and hour");
}

#[tokio::test]
async fn mail_waits_in_the_outbox_while_smtp_is_down() {
    // A port nobody listens on (yet).
    let port = free_port().expect("a free port");
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_app_with(&[
        ("SESAME_SMTP_URL", url.as_str()),
        ("SESAME_PUBLIC_URL", PUBLIC_URL),
        ("SESAME_EMAIL_RETRY_BASE", "1s"),
    ])
    .await;
    let user = app.new_user().await;
    // The sender has tried the verification message once, and failed.
    app.flush_outbox().await;

    let sink = SmtpSink::start_on(port).await;
    // Retries are scheduled on the app's (manual) clock: move past any backoff.
    app.advance(3600);
    let mail = sink.wait_for(&user.email, "Verify", 1).await;
    let res = app
        .post(
            "/auth/email/verify",
            json!({"token": mail.token("/verify-email")}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_can_require_a_verified_address() {
    let (app, sink) = app_with_sink(&[("SESAME_REQUIRE_VERIFIED_EMAIL", "on")]).await;
    let username = unique("user");
    let email = format!("{username}@example.com");
    assert_eq!(
        app.register(&email, PASSWORD, Some(&username))
            .await
            .status(),
        StatusCode::CREATED
    );
    // A wrong password is still just a wrong password.
    assert_error(
        app.login_raw(&username, "not the password at all").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_error(
        app.login_raw(&username, PASSWORD).await,
        StatusCode::FORBIDDEN,
        "email_not_verified",
    )
    .await;
    let token = sink
        .wait_for(&email, "Verify", 1)
        .await
        .token("/verify-email");
    let res = app
        .post("/auth/email/verify", json!({"token": token}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.login_raw(&username, PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn email_change_takes_effect_once_the_new_address_is_verified() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    let new_email = format!("{}@example.org", unique("moved"));
    let res = app
        .request(
            reqwest::Method::PUT,
            "/profile",
            Some(&user.tokens.access),
            Some(&json!({"email": new_email, "current_password": PASSWORD})),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let b = body(res).await;
    assert_eq!(b["email"], user.email);
    assert_eq!(b["pending_email"], new_email);

    // The link goes to the NEW address only.
    let mail = sink.wait_for(&new_email, "Verify", 1).await;
    let res = app
        .post(
            "/auth/email/verify",
            json!({"token": mail.token("/verify-email")}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let profile = body(app.get("/profile", Some(&user.tokens.access)).await).await;
    assert_eq!(profile["email"], new_email);
    assert_eq!(profile["email_verified"], true);
    assert!(profile.get("pending_email").is_none());
    assert_eq!(
        app.login_raw(&new_email, PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_error(
        app.login_raw(&user.email, PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
}

#[tokio::test]
async fn resend_mails_a_new_link_to_a_signed_in_user() {
    let (app, sink) = app_with_sink(&[]).await;
    let user = app.new_user().await;
    sink.wait_for(&user.email, "Verify", 1).await;
    let res = app
        .post_auth("/auth/email/verify/resend", &user.tokens.access, json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let second = sink.wait_for(&user.email, "Verify", 2).await;
    let res = app
        .post(
            "/auth/email/verify",
            json!({"token": second.token("/verify-email")}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .client
        .post(app.url("/auth/email/verify/resend"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_openapi_document_lists_the_email_endpoints() {
    let app = spawn_app().await;
    let doc = body(app.get("/openapi.json", None).await).await;
    for path in [
        "/auth/password/forgot",
        "/auth/password/reset",
        "/auth/email/verify",
        "/auth/email/verify/resend",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    let profile = &doc["components"]["schemas"]["ProfileView"]["properties"];
    assert!(profile.get("pending_email").is_some());
}

/// Without SMTP (the embedded default) messages are written to the log and marked sent.
#[tokio::test]
async fn without_smtp_messages_go_to_the_log_and_leave_the_outbox() {
    let app = spawn_app().await;
    app.new_user().await;
    app.flush_outbox().await;
    let store = app.sesame.store().clone();
    let later = app.sesame.now() + chrono::Duration::hours(2);
    // Anything still unsent would be due by then; claiming nothing means it went out.
    assert!(
        store
            .claim_outbox(later, app.sesame.now(), 10)
            .await
            .unwrap()
            .is_empty(),
        "the verification message stayed in the outbox"
    );
}

/// Delivered or not, a stored message keeps its one-time link no longer than delivery needs:
/// the log sender (development) still writes the link, and the row it marked sent holds none.
#[tokio::test]
async fn a_delivered_message_keeps_no_link_in_the_outbox() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app
        .post("/auth/password/forgot", json!({"email": user.email}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // Queued off the request path, then delivered to the log.
    app.flush_outbox().await;
    let id = audited_message_id(&app, &user.id).await;
    let m = app
        .sesame
        .store()
        .get_outbox_message(id)
        .await
        .unwrap()
        .expect("queued");
    assert!(
        m.text_body.is_empty(),
        "the delivered message still holds its link"
    );
    assert!(m.html_body.is_empty());
}

/// The id of the reset message queued for `user_id`, from its `password_reset_requested` audit
/// entry (written with the message).
async fn audited_message_id(app: &TestApp, user_id: &str) -> uuid::Uuid {
    let filter = sesame_core::store::AuditFilter {
        user_id: Some(user_id.parse().unwrap()),
        event: Some("password_reset_requested".into()),
        limit: 10,
        before: None,
    };
    let events = app.sesame.store().list_audit(&filter).await.unwrap();
    let event = events.first().expect("a password_reset_requested event");
    event.detail["message_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn template_files_replace_the_built_in_bodies() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("verify.txt"),
        "Welcome to {product}! Confirm {email} here: {link}\n",
    )
    .unwrap();
    let d = dir.path().display().to_string();
    let (app, sink) = app_with_sink(&[
        ("SESAME_EMAIL_TEMPLATES", d.as_str()),
        ("SESAME_PRODUCT_NAME", "Acme ID"),
    ])
    .await;
    let user = app.new_user().await;
    let mail = sink.wait_for(&user.email, "Verify", 1).await;
    assert!(
        mail.data
            .contains(&format!("Welcome to Acme ID! Confirm {} here:", user.email)),
        "{}",
        mail.data
    );
    let res = app
        .post(
            "/auth/email/verify",
            json!({"token": mail.token("/verify-email")}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

/// Lockout: whoever holds the mailbox is the owner, so a password reset ends
/// every lock of the account — the account-wide one that refuses new sources and the locks of
/// single sources — and the owner gets in from a device never seen before.
#[tokio::test]
async fn a_password_reset_ends_every_lock_of_the_account() {
    let (app, sink) = app_with_sink(&[("SESAME_TRUSTED_PROXIES", "127.0.0.0/8,::1")]).await;
    let user = app.new_user().await;
    let login_from = |ip: &str, password: &str| {
        app.client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", ip.to_string())
            .json(&json!({"username": user.username, "password": password}))
            .send()
    };
    for n in 1..=4 {
        for _ in 0..5 {
            let res = login_from(&format!("192.0.2.{n}"), "wrong password here")
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let new_device = "198.51.100.9";
    assert_error(
        login_from(new_device, PASSWORD).await.unwrap(),
        StatusCode::FORBIDDEN,
        "account_locked",
    )
    .await;

    let res = app
        .post("/auth/password/forgot", json!({"email": user.email}))
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let token = sink
        .wait_for(&user.email, "Reset", 1)
        .await
        .token("/reset-password");
    let new_password = "a brand new passphrase 42";
    let res = app
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": new_password}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let res = login_from(new_device, new_password).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the owner gets in after the reset"
    );
    let res = login_from("192.0.2.1", new_password).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "source locks end too");
}
