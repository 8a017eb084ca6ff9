//! Configuration: defaults, then an optional TOML file, then `SESAME_*` environment variables
//! (the names are part of the contract). Everything is validated before anything binds, and
//! each error names the setting and where its value came from.

mod errors;
pub(crate) mod raw;
mod sources;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use sesame_core::settings::Settings;

pub use errors::ConfigError;
pub use raw::RawConfig;

use crate::http::ratelimit::Limits;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Self-signed certificate made once in the data dir.
    Auto,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated configuration. `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// When set, `/metrics` is served (plain HTTP) on this address and not on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    pub tls: TlsMode,
    pub data_dir: PathBuf,
    pub database_url: SecretString,
    pub rate_limit: bool,
    /// Per-IP rates of the limited endpoint groups.
    pub limits: Limits,
    /// Peers whose `X-Forwarded-For` is believed (CIDRs).
    pub trusted_proxies: Vec<IpNet>,
    pub bootstrap_admin: Option<(String, SecretString)>,
    pub log: String,
    pub log_format: LogFormat,
    pub settings: Settings,
    /// How queued emails go out.
    pub mail: MailSettings,
    /// The browser pages' look.
    pub pages: PagesSettings,
}

/// The browser pages' settings that are not rules (those are in [`Settings`]).
#[derive(Debug, Clone)]
pub struct PagesSettings {
    /// `SESAME_TEMPLATES_DIR`: templates replacing the built-in ones, file by file.
    pub templates_dir: Option<PathBuf>,
    /// `SESAME_BRAND_COLOR`: the accent colour, a CSS hex colour.
    pub brand_color: String,
}

/// The outbox sender's settings. `Debug` never shows the SMTP URL (it may hold a password).
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `smtp://`, `smtps://` (implicit TLS) or `smtp://...?tls=required` (STARTTLS); `None`
    /// writes messages to the log instead (development).
    pub smtp_url: Option<SecretString>,
    /// `SESAME_EMAIL_LOG=on`: without SMTP, the operator asked for messages (links included)
    /// in the log although the issuer is not local. (Without it, and without SMTP, a
    /// non-local issuer does not start: see [`is_local`].)
    pub log_allowed: bool,
    /// The `From:` mailbox.
    pub from: String,
    /// First retry delay after a failed delivery; doubles per attempt, capped at an hour.
    pub retry_base: Duration,
}

/// Whether an issuer URL names this machine (`localhost`, `*.localhost`, a loopback address):
/// development, where writing emailed links to the log is what a developer wants. Anywhere
/// else, whoever reads the log could take over accounts with them.
pub fn is_local(issuer: &str) -> bool {
    match url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Config {
    /// Loads from the process environment and the file named by `--config` or `SESAME_CONFIG`.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        Self::from_sources(file, &env)
    }

    /// Loads from an explicit environment map (tests pass their own).
    pub fn from_sources(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        RawConfig::try_from_sources(file, env)?.try_into()
    }

    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// All contract environment variables (from [`RawConfig`]'s fields), for `--help` and docs.
    pub fn env_names() -> Vec<String> {
        sources::env_names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ratelimit::Rate;
    use sesame_core::keys::SigningAlg;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.tls, TlsMode::Auto);
        assert_eq!(c.database_url(), "sqlite://./data/sesame.db");
        assert_eq!(c.settings.issuer, "https://localhost:8443");
        assert_eq!(c.settings.audiences, vec!["api"]);
        assert_eq!(c.settings.access_ttl, Duration::from_secs(900));
        assert_eq!(c.settings.refresh_ttl, Duration::from_secs(7 * 86400));
        assert_eq!(c.settings.refresh_reuse_grace, Duration::from_secs(10));
        assert_eq!(c.settings.lockout_max_failures, 5);
        assert_eq!(c.settings.signing_alg, SigningAlg::EdDSA);
        assert_eq!(c.settings.id_token_alg, SigningAlg::RS256);
        assert_eq!(c.settings.argon2.memory_kib, 19456);
        assert!(c.rate_limit);
        assert_eq!(c.limits.login, Rate::parse("20/m").unwrap());
        assert!(c.trusted_proxies.is_empty());
        let c = Config::from_sources(
            None,
            &env(&[("SESAME_TRUSTED_PROXIES", "10.0.0.0/8,192.168.1.1")]),
        )
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
    }

    #[test]
    fn file_then_environment_override() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sesame.toml");
        std::fs::write(&path, "access_ttl = \"5m\"\naudiences = [\"api\", \"gallery\"]\nrate_limit = false\n[lockout]\nmax_failures = 3\n").unwrap();
        let c = Config::from_sources(Some(&path), &env(&[("SESAME_ACCESS_TTL", "90s")])).unwrap();
        assert_eq!(c.settings.access_ttl, Duration::from_secs(90));
        assert_eq!(c.settings.audiences, vec!["api", "gallery"]);
        assert_eq!(c.settings.lockout_max_failures, 3);
        assert!(!c.rate_limit);
    }

    // Lifetimes are added to timestamps: an absurd one is refused at start-up instead of
    // overflowing that arithmetic (a panic) later.
    #[test]
    fn absurd_durations_are_refused_by_name() {
        for (var, value) in [
            ("SESAME_ACCESS_TTL", "100000d"),
            ("SESAME_REFRESH_TTL", "1000000y"),
            ("SESAME_REFRESH_REUSE_GRACE", "5000y"),
            ("SESAME_AUDIT_RETENTION", "3651d"),
        ] {
            let err = Config::from_sources(None, &env(&[(var, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(var) && err.contains("3650d"), "{var}: {err}");
        }
        let c = Config::from_sources(None, &env(&[("SESAME_REFRESH_TTL", "3650d")])).unwrap();
        assert_eq!(c.settings.refresh_ttl, Duration::from_secs(3650 * 86400));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Config::from_sources(None, &env(&[("SESAME_ACCESS_TTL", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SESAME_ACCESS_TTL") && err.contains("environment"),
            "{err}"
        );
        let err = Config::from_sources(None, &env(&[("SESAME_SIGNING_ALG", "HS256")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SESAME_SIGNING_ALG"), "{err}");
        let err = Config::from_sources(None, &env(&[("SESAME_ID_TOKEN_ALG", "HS256")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SESAME_ID_TOKEN_ALG") && err.contains("expected EdDSA, ES256 or RS256"),
            "{err}"
        );
        let err = Config::from_sources(None, &env(&[("SESAME_TLS", "files")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SESAME_TLS_CERT"), "{err}");
        assert!(Config::from_sources(None, &env(&[("SESAME_LISTEN", "nowhere")])).is_err());
        let err = Config::from_sources(None, &env(&[("SESAME_METRICS_LISTEN", "9464")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SESAME_METRICS_LISTEN") && err.contains("HOST:PORT"),
            "{err}"
        );
        let err = Config::from_sources(
            None,
            &env(&[
                ("SESAME_LISTEN", "127.0.0.1:8443"),
                ("SESAME_METRICS_LISTEN", "127.0.0.1:8443"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("must differ from SESAME_LISTEN"), "{err}");
        assert!(Config::from_sources(None, &env(&[("SESAME_AUDIENCES", " , ")])).is_err());
        assert!(Config::from_sources(None, &env(&[("SESAME_ARGON2_MEMORY_KIB", "1")])).is_err());
        assert!(Config::from_sources(None, &env(&[("SESAME_DATABASE_URL", "mysql://x")])).is_err());
        let err = Config::from_sources(
            None,
            &env(&[("SESAME_TRUSTED_PROXIES", "10.0.0.0/8, nonsense")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("SESAME_TRUSTED_PROXIES") && err.contains("nonsense"),
            "{err}"
        );
        let err = Config::from_sources(None, &env(&[("SESAME_RATE_LIMIT_LOGIN", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SESAME_RATE_LIMIT_LOGIN"), "{err}");
    }

    /// The two lifetimes are independent (API.md): any positive pair is accepted, a refresh
    /// lifetime shorter than the access lifetime included. Start-up used to refuse a refresh
    /// lifetime below access + grace + 3 s, because revocations were kept for the configured
    /// access lifetime only; they are now kept as long as the tokens they cover can live.
    #[test]
    fn any_positive_pair_of_lifetimes_is_accepted() {
        for (access, refresh) in [("2s", "4s"), ("15m", "10m"), ("1h", "1s")] {
            let c = Config::from_sources(
                None,
                &env(&[
                    ("SESAME_ACCESS_TTL", access),
                    ("SESAME_REFRESH_TTL", refresh),
                ]),
            )
            .unwrap_or_else(|e| panic!("{access}/{refresh}: {e}"));
            assert_eq!(
                c.settings.refresh_ttl,
                humantime::parse_duration(refresh).unwrap()
            );
        }
        for zero in ["SESAME_ACCESS_TTL", "SESAME_REFRESH_TTL"] {
            assert!(Config::from_sources(None, &env(&[(zero, "0s")])).is_err());
        }
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sesame.toml");
        std::fs::write(&path, "acess_ttl = \"5m\"\n").unwrap();
        let err = Config::from_sources(Some(&path), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("acess_ttl"), "{err}");
    }

    #[test]
    fn empty_optional_variables_are_unset() {
        let c = Config::from_sources(
            None,
            &env(&[
                ("SESAME_BOOTSTRAP_ADMIN_EMAIL", ""),
                ("SESAME_BOOTSTRAP_ADMIN_PASSWORD", ""),
                ("SESAME_DATABASE_URL", " "),
            ]),
        )
        .unwrap();
        assert!(c.bootstrap_admin.is_none());
        assert_eq!(c.database_url(), "sqlite://./data/sesame.db");
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Config::from_sources(
            None,
            &env(&[
                (
                    "SESAME_DATABASE_URL",
                    "postgres://sesame:hunter2pass@db/sesame",
                ),
                ("SESAME_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
                ("SESAME_BOOTSTRAP_ADMIN_PASSWORD", "s3cret-admin-pass"),
                (
                    "SESAME_SMTP_URL",
                    "smtps://mailer:smtp-pa55word@mail.example.com:465",
                ),
            ]),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2pass")
                && !shown.contains("s3cret-admin-pass")
                && !shown.contains("smtp-pa55word"),
            "{shown}"
        );
    }

    #[test]
    fn a_public_issuer_without_smtp_needs_email_log_on() {
        for issuer in [
            "https://id.example.com",
            "https://localhost.example.com",
            "http://10.0.0.5:8080",
            "https://[2001:db8::1]",
        ] {
            let err = Config::from_sources(None, &env(&[("SESAME_ISSUER", issuer)]))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("email_log (default)")
                    && err.contains("SESAME_EMAIL_LOG=on")
                    && err.contains("SESAME_SMTP_URL")
                    && err.contains(&format!("{issuer} (environment)")),
                "{err}"
            );
            // The operator's explicit choice, or SMTP, lets it start.
            let c = Config::from_sources(
                None,
                &env(&[("SESAME_ISSUER", issuer), ("SESAME_EMAIL_LOG", "on")]),
            )
            .unwrap();
            assert!(c.mail.log_allowed && c.mail.smtp_url.is_none());
            let c = Config::from_sources(
                None,
                &env(&[
                    ("SESAME_ISSUER", issuer),
                    ("SESAME_SMTP_URL", "smtp://127.0.0.1:2525"),
                ]),
            )
            .unwrap();
            assert!(!c.mail.log_allowed && c.mail.smtp_url.is_some());
        }
        let err = Config::from_sources(
            None,
            &env(&[
                ("SESAME_ISSUER", "https://id.example.com"),
                ("SESAME_EMAIL_LOG", "off"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("SESAME_EMAIL_LOG (environment)"), "{err}");
        let err = Config::from_sources(None, &env(&[("SESAME_EMAIL_LOG", "maybe")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SESAME_EMAIL_LOG"), "{err}");
        // Development: the log it is, without being asked.
        for issuer in [
            "https://localhost:8443",
            "http://LOCALHOST",
            "https://sesame.localhost",
            "http://127.0.0.1:8080",
            "https://[::1]:8443",
        ] {
            let c = Config::from_sources(None, &env(&[("SESAME_ISSUER", issuer)]))
                .unwrap_or_else(|e| panic!("{issuer}: {e}"));
            assert!(!c.mail.log_allowed && c.mail.smtp_url.is_none());
        }
    }

    #[test]
    fn email_settings_default_and_validate() {
        let c = Config::from_sources(
            None,
            &env(&[
                ("SESAME_ISSUER", "https://id.example.com"),
                ("SESAME_EMAIL_LOG", "on"),
            ]),
        )
        .unwrap();
        assert!(c.mail.smtp_url.is_none());
        assert_eq!(c.settings.public_url, "https://id.example.com");
        assert_eq!(c.settings.password_reset_ttl, Duration::from_secs(1800));
        assert!(!c.settings.require_verified_email);
        assert_eq!(c.limits.forgot, Rate::parse("5/m").unwrap());
        let c = Config::from_sources(
            None,
            &env(&[
                ("SESAME_PUBLIC_URL", "https://app.example.com/"),
                ("SESAME_REQUIRE_VERIFIED_EMAIL", "on"),
                ("SESAME_PASSWORD_RESET_TTL", "10m"),
                ("SESAME_SMTP_URL", "smtp://127.0.0.1:2525"),
            ]),
        )
        .unwrap();
        assert_eq!(c.settings.public_url, "https://app.example.com");
        assert!(c.settings.require_verified_email);
        assert_eq!(c.settings.password_reset_ttl, Duration::from_secs(600));
        assert!(c.mail.smtp_url.is_some());
        for (k, v) in [
            ("SESAME_SMTP_URL", "http://mail.example.com"),
            ("SESAME_EMAIL_FROM", "not a mailbox"),
            ("SESAME_PUBLIC_URL", "ftp://x"),
        ] {
            let e = Config::from_sources(None, &env(&[(k, v)])).unwrap_err();
            assert!(e.to_string().contains(k), "{e}");
        }
    }

    #[test]
    fn email_templates_load_from_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let e = Config::from_sources(None, &env(&[("SESAME_EMAIL_TEMPLATES", &d)])).unwrap_err();
        assert!(e.to_string().contains("SESAME_EMAIL_TEMPLATES"), "{e}");
        std::fs::write(dir.path().join("reset.txt"), "no link here").unwrap();
        assert!(Config::from_sources(None, &env(&[("SESAME_EMAIL_TEMPLATES", &d)])).is_err());
        std::fs::write(dir.path().join("reset.txt"), "Go to {link}").unwrap();
        let c = Config::from_sources(None, &env(&[("SESAME_EMAIL_TEMPLATES", &d)])).unwrap();
        let t = &c.settings.email_templates;
        assert_eq!(t.reset_text.as_deref(), Some("Go to {link}"));
        assert!(t.verify_text.is_none() && t.reset_html.is_none());
    }

    fn toml(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sesame.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn error(file: Option<&Path>, pairs: &[(&str, &str)]) -> String {
        Config::from_sources(file, &env(pairs))
            .unwrap_err()
            .to_string()
    }

    /// The ID-token algorithm is read like the access-token one: from the file, overridden by
    /// the environment, and refused by name when it is not one Sesame signs with.
    #[test]
    fn id_token_alg_comes_from_the_file_or_the_environment() {
        let (_dir, path) = toml("id_token_alg = \"ES256\"\nsigning_alg = \"RS256\"\n");
        let c = Config::from_sources(Some(&path), &env(&[])).unwrap();
        assert_eq!(c.settings.id_token_alg, SigningAlg::ES256);
        assert_eq!(c.settings.signing_alg, SigningAlg::RS256);
        let c =
            Config::from_sources(Some(&path), &env(&[("SESAME_ID_TOKEN_ALG", "EdDSA")])).unwrap();
        assert_eq!(c.settings.id_token_alg, SigningAlg::EdDSA);
        let (_dir, path) = toml("id_token_alg = \"none\"\n");
        assert_eq!(
            error(Some(&path), &[]),
            format!(
                "invalid id_token_alg (file {}): expected EdDSA, ES256 or RS256",
                path.display()
            )
        );
    }

    /// A value from the file is named by its TOML key and the file; the same setting from the
    /// environment by its variable.
    #[test]
    fn file_values_are_named_by_key_and_file() {
        let (_dir, path) = toml("access_ttl = \"soon\"\n");
        let err = error(Some(&path), &[]);
        assert!(
            err.starts_with(&format!("invalid access_ttl (file {}): ", path.display()))
                && err.contains("expected a duration like 90s, 15m or 7d"),
            "{err}"
        );
        let (_dir, path) = toml("[lockout]\nmax_failures = 0\n");
        let err = error(Some(&path), &[]);
        assert_eq!(
            err,
            format!(
                "invalid lockout.max_failures (file {}): must be at least 1",
                path.display()
            )
        );
        let err = error(Some(&path), &[("SESAME_LOCKOUT_MAX_FAILURES", "x")]);
        assert_eq!(
            err,
            "invalid SESAME_LOCKOUT_MAX_FAILURES (environment): expected a whole number"
        );
        let err = error(None, &[("SESAME_ARGON2_ITERATIONS", "0")]);
        assert!(
            err.starts_with("invalid argon2.memory_kib (default): argon2 parameters rejected"),
            "{err}"
        );
    }

    #[test]
    fn the_file_itself_is_named_when_it_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let err = error(Some(&missing), &[]);
        assert!(
            err.starts_with(&format!("cannot read config file {}", missing.display())),
            "{err}"
        );
        // SESAME_CONFIG names the file when --config does not.
        let err = error(None, &[("SESAME_CONFIG", &missing.display().to_string())]);
        assert!(err.contains("cannot read config file"), "{err}");
        let (_dir, path) = toml("access_ttl = \n");
        let err = error(Some(&path), &[]);
        assert!(
            err.starts_with(&format!(
                "config file {} is not valid TOML: ",
                path.display()
            )),
            "{err}"
        );
        for (text, key) in [
            ("[lockout]\nmax_failure = 3\n", "lockout.max_failure"),
            ("[lokout]\nmax_failures = 3\n", "lokout"),
            (
                "database_url_file = \"/run/secrets/db\"\n",
                "database_url_file",
            ),
        ] {
            let (_dir, path) = toml(text);
            let err = error(Some(&path), &[]);
            assert_eq!(
                err,
                format!("config file {}: unknown setting '{key}'", path.display())
            );
        }
        let (_dir, path) = toml("listen = { host = \"x\" }\n");
        let err = error(Some(&path), &[]);
        assert!(
            err.starts_with(&format!("invalid listen (file {}): ", path.display())),
            "{err}"
        );
    }

    #[test]
    fn toml_booleans_numbers_and_lists_are_read_as_settings() {
        let (_dir, path) = toml(
            "require_verified_email = true\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n\
             [argon2]\nmemory_kib = 65536\n[lockout]\nduration = \"1h\"\n",
        );
        let c = Config::from_sources(Some(&path), &env(&[])).unwrap();
        assert!(c.settings.require_verified_email);
        assert_eq!(c.trusted_proxies.len(), 2);
        assert_eq!(c.settings.argon2.memory_kib, 65536);
        assert_eq!(c.settings.lockout_duration, Duration::from_secs(3600));
        assert_eq!(c.settings.lockout_max_failures, 5);
    }

    #[test]
    fn a_pair_names_the_missing_half_as_unset() {
        let err = error(
            None,
            &[("SESAME_BOOTSTRAP_ADMIN_EMAIL", "root@example.com")],
        );
        assert_eq!(
            err,
            "invalid bootstrap_admin_password (unset): required with SESAME_BOOTSTRAP_ADMIN_EMAIL"
        );
        let err = error(None, &[("SESAME_BOOTSTRAP_ADMIN_PASSWORD", "pw-s3cret")]);
        assert_eq!(
            err,
            "invalid bootstrap_admin_email (unset): required with SESAME_BOOTSTRAP_ADMIN_PASSWORD"
        );
        let err = error(None, &[("SESAME_TLS", "files")]);
        assert_eq!(
            err,
            "invalid SESAME_TLS (environment): 'files' needs SESAME_TLS_CERT and SESAME_TLS_KEY"
        );
    }

    /// Variables that are not settings (another version's, `SESAME_CONFIG`) are left alone.
    #[test]
    fn other_sesame_variables_are_not_settings() {
        let c = Config::from_sources(
            None,
            &env(&[("SESAME_SIGNUP", "off"), ("SESAME_LOCKOUT", "x")]),
        )
        .unwrap();
        assert_eq!(c.settings.lockout_max_failures, 5);
    }

    #[test]
    fn env_names_come_from_the_fields() {
        let names = Config::env_names();
        for name in [
            "SESAME_LISTEN",
            "SESAME_LOCKOUT_MAX_FAILURES",
            "SESAME_ARGON2_PARALLELISM",
            "SESAME_EMAIL_LOG",
            "SESAME_DATABASE_URL_FILE",
            "SESAME_SMTP_URL_FILE",
            "SESAME_BOOTSTRAP_ADMIN_PASSWORD_FILE",
            "SESAME_SIGNUP",
            "SESAME_WEBHOOK_ALLOW_PRIVATE",
            "SESAME_BROWSER_SESSION_IDLE",
            "SESAME_BROWSER_SESSION_TTL",
            "SESAME_TEMPLATES_DIR",
            "SESAME_BRAND_COLOR",
            "SESAME_STATUS_LIST_TTL",
            "SESAME_DYNAMIC_REGISTRATION",
            "SESAME_ID_TOKEN_ALG",
            "SESAME_MFA_REQUIRED_ROLES",
            "SESAME_WEBAUTHN_RP_ID",
            "SESAME_WEBAUTHN_ORIGINS",
        ] {
            assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
        }
        // 54 settings, 3 of them secrets with a _FILE variant; no table is a variable.
        assert_eq!(names.len(), 57, "{names:?}");
        // Two fields never share a variable (`a_b` beside `[a] b` would).
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(
            !names
                .iter()
                .any(|n| n == "SESAME_LOCKOUT" || n == "SESAME_ORIGINS")
        );
    }

    #[test]
    fn private_webhook_targets_are_off_unless_asked_for() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert!(!c.settings.webhook_allow_private);
        let c =
            Config::from_sources(None, &env(&[("SESAME_WEBHOOK_ALLOW_PRIVATE", "on")])).unwrap();
        assert!(c.settings.webhook_allow_private);
        let e = Config::from_sources(
            None,
            &env(&[("SESAME_WEBHOOK_ALLOW_PRIVATE", "yes please")]),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("SESAME_WEBHOOK_ALLOW_PRIVATE"),
            "{e}"
        );
    }

    #[test]
    fn page_settings_have_defaults_and_are_checked() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert!(c.settings.signup_enabled);
        assert_eq!(
            c.settings.browser_session_idle,
            Duration::from_secs(24 * 3600)
        );
        assert_eq!(
            c.settings.browser_session_ttl,
            Duration::from_secs(7 * 24 * 3600)
        );
        assert_eq!(c.pages.templates_dir, None);
        assert_eq!(c.pages.brand_color, "#4f46e5");

        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let c = Config::from_sources(
            None,
            &env(&[
                ("SESAME_SIGNUP", "off"),
                ("SESAME_BROWSER_SESSION_IDLE", "30m"),
                ("SESAME_BROWSER_SESSION_TTL", "12h"),
                ("SESAME_TEMPLATES_DIR", &d),
                ("SESAME_BRAND_COLOR", "#0a7"),
            ]),
        )
        .unwrap();
        assert!(!c.settings.signup_enabled);
        assert_eq!(c.settings.browser_session_idle, Duration::from_secs(1800));
        assert_eq!(
            c.settings.browser_session_ttl,
            Duration::from_secs(12 * 3600)
        );
        assert_eq!(c.pages.templates_dir.as_deref(), Some(dir.path()));
        assert_eq!(c.pages.brand_color, "#0a7");

        for (var, value) in [
            ("SESAME_SIGNUP", "maybe"),
            ("SESAME_BROWSER_SESSION_IDLE", "soon"),
            ("SESAME_BROWSER_SESSION_TTL", "0s"),
            ("SESAME_TEMPLATES_DIR", "/no/such/dir"),
            ("SESAME_BRAND_COLOR", "red"),
            ("SESAME_BRAND_COLOR", "#12345g"),
            ("SESAME_BRAND_COLOR", "#fff;}body{display:none"),
        ] {
            let e = Config::from_sources(None, &env(&[(var, value)])).unwrap_err();
            assert!(e.to_string().contains(var), "{var}={value}: {e}");
        }
    }

    #[test]
    fn the_status_list_ttl_is_whole_seconds_of_at_least_one() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert_eq!(c.settings.status_list_ttl, Duration::from_secs(5));
        let c = Config::from_sources(None, &env(&[("SESAME_STATUS_LIST_TTL", "1m")])).unwrap();
        assert_eq!(c.settings.status_list_ttl, Duration::from_secs(60));
        for value in ["0s", "500ms", "1500ms", "soon"] {
            let e =
                Config::from_sources(None, &env(&[("SESAME_STATUS_LIST_TTL", value)])).unwrap_err();
            assert!(
                e.to_string().contains("SESAME_STATUS_LIST_TTL"),
                "{value}: {e}"
            );
        }
    }

    fn secret_file(dir: &Path, name: &str, content: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    /// Docker and Kubernetes mount secrets as files: `SESAME_X_FILE` names one, its content
    /// (the trailing newline trimmed) is the value.
    #[test]
    fn secrets_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = secret_file(dir.path(), "db", "postgres://sesame:db-pa55@db/sesame\n");
        let smtp = secret_file(
            dir.path(),
            "smtp",
            "smtps://m:smtp-pa55@mail.example.com:465\r\n",
        );
        let admin = secret_file(dir.path(), "admin", " admin pa55 \n");
        let c = Config::from_sources(
            None,
            &env(&[
                ("SESAME_DATABASE_URL_FILE", &db),
                ("SESAME_SMTP_URL_FILE", &smtp),
                ("SESAME_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
                ("SESAME_BOOTSTRAP_ADMIN_PASSWORD_FILE", &admin),
            ]),
        )
        .unwrap();
        assert_eq!(c.database_url(), "postgres://sesame:db-pa55@db/sesame");
        let smtp_url = c
            .mail
            .smtp_url
            .as_ref()
            .map(|s| s.expose_secret().to_string());
        assert_eq!(
            smtp_url.as_deref(),
            Some("smtps://m:smtp-pa55@mail.example.com:465")
        );
        let (email, password) = c.bootstrap_admin.as_ref().unwrap();
        assert_eq!(email, "root@example.com");
        // Only the newline goes: a password may begin or end with a space.
        assert_eq!(password.expose_secret(), " admin pa55 ");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("db-pa55")
                && !shown.contains("smtp-pa55")
                && !shown.contains("admin pa55"),
            "{shown}"
        );
        // An empty variable or an empty file leaves an optional secret unset.
        let empty = secret_file(dir.path(), "empty", "\n");
        let c = Config::from_sources(
            None,
            &env(&[
                ("SESAME_DATABASE_URL_FILE", &empty),
                ("SESAME_SMTP_URL_FILE", ""),
            ]),
        )
        .unwrap();
        assert_eq!(c.database_url(), "sqlite://./data/sesame.db");
        assert!(c.mail.smtp_url.is_none());
    }

    #[test]
    fn a_secret_and_its_file_together_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = secret_file(dir.path(), "secret", "x\n");
        for (var, value) in [
            ("SESAME_DATABASE_URL", "sqlite://other.db"),
            ("SESAME_SMTP_URL", "smtp://127.0.0.1:2525"),
            ("SESAME_BOOTSTRAP_ADMIN_PASSWORD", "pw"),
        ] {
            let file_var = format!("{var}_FILE");
            let err = error(None, &[(var, value), (&file_var, &file)]);
            assert_eq!(
                err,
                format!("invalid {file_var} (environment): set {var} or {file_var}, not both")
            );
        }
    }

    /// An unreadable file is named with its variable; a bad value read from one is named by the
    /// variable and the file — and neither message shows the content.
    #[test]
    fn a_bad_secret_file_is_named_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope").display().to_string();
        let err = error(None, &[("SESAME_SMTP_URL_FILE", &missing)]);
        assert!(
            err.starts_with(&format!(
                "invalid SESAME_SMTP_URL_FILE (environment): cannot read {missing}: "
            )),
            "{err}"
        );
        let bad = secret_file(dir.path(), "db", "mysql://u:t0psecret@db/x\n");
        let err = error(None, &[("SESAME_DATABASE_URL_FILE", &bad)]);
        assert_eq!(
            err,
            format!(
                "invalid SESAME_DATABASE_URL_FILE (file {bad}): expected sqlite://PATH or postgres://..."
            )
        );
        let bad = secret_file(dir.path(), "smtp", "http://u:t0psecret@mail\n");
        let err = error(None, &[("SESAME_SMTP_URL_FILE", &bad)]);
        assert!(
            err.starts_with(&format!("invalid SESAME_SMTP_URL_FILE (file {bad}): "))
                && !err.contains("t0psecret"),
            "{err}"
        );
    }

    /// `SESAME_DYNAMIC_AUDIENCES`: none by default; only configured audiences other than
    /// Sesame's own.
    #[test]
    fn dynamic_audiences_are_other_configured_audiences() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert!(c.settings.dynamic_audiences.is_empty());
        let c = Config::from_sources(
            None,
            &env(&[
                ("SESAME_AUDIENCES", "api,mcp,gallery"),
                ("SESAME_DYNAMIC_AUDIENCES", " mcp ,"),
            ]),
        )
        .unwrap();
        assert_eq!(c.settings.dynamic_audiences, ["mcp"]);
        for (value, says) in [("api", "own audience"), ("elsewhere", "not one of")] {
            let err = Config::from_sources(
                None,
                &env(&[
                    ("SESAME_AUDIENCES", "api,mcp"),
                    ("SESAME_DYNAMIC_AUDIENCES", value),
                ]),
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("SESAME_DYNAMIC_AUDIENCES") && err.contains(says),
                "{err}"
            );
        }
    }

    /// `SESAME_WEBAUTHN_RP_ID` / `SESAME_WEBAUTHN_ORIGINS`: the issuer's host and origin by
    /// default; every origin must sit on the RP id, or the configuration is refused.
    #[test]
    fn webauthn_origins_must_sit_on_the_rp_id() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert_eq!(c.settings.webauthn_rp_id, None);
        assert!(c.settings.webauthn_origins.is_empty());
        let c = Config::from_sources(
            None,
            &env(&[
                ("SESAME_ISSUER", "https://id.example.com"),
                ("SESAME_SMTP_URL", "smtp://mail.example.com"),
                ("SESAME_WEBAUTHN_RP_ID", "Example.com"),
                (
                    "SESAME_WEBAUTHN_ORIGINS",
                    "https://id.example.com, https://app.example.com/",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.settings.webauthn_rp_id.as_deref(), Some("example.com"));
        assert_eq!(
            c.settings.webauthn_origins,
            ["https://id.example.com", "https://app.example.com"]
        );
        for (vars, says) in [
            (
                vec![("SESAME_WEBAUTHN_ORIGINS", "https://elsewhere.example.org")],
                "SESAME_WEBAUTHN_ORIGINS",
            ),
            (
                vec![("SESAME_WEBAUTHN_RP_ID", "example.org")],
                "SESAME_WEBAUTHN_RP_ID",
            ),
            (
                vec![("SESAME_WEBAUTHN_RP_ID", "https://x.com")],
                "SESAME_WEBAUTHN_RP_ID",
            ),
            (
                vec![("SESAME_WEBAUTHN_ORIGINS", "http://id.example.com")],
                "SESAME_WEBAUTHN_ORIGINS",
            ),
        ] {
            let mut all = vec![
                ("SESAME_ISSUER", "https://id.example.com"),
                ("SESAME_SMTP_URL", "smtp://mail.example.com"),
            ];
            all.extend(vars);
            let err = Config::from_sources(None, &env(&all))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{err}");
        }
    }

    /// `SESAME_MFA_REQUIRED_ROLES`: empty by default, a comma-separated list of roles (from the
    /// environment or a TOML list), each checked as a role name.
    #[test]
    fn mfa_required_roles_are_a_list_of_valid_roles() {
        let c = Config::from_sources(None, &env(&[])).unwrap();
        assert!(c.settings.mfa_required_roles.is_empty());
        let c = Config::from_sources(
            None,
            &env(&[("SESAME_MFA_REQUIRED_ROLES", " admin, support:l2 ,")]),
        )
        .unwrap();
        assert_eq!(c.settings.mfa_required_roles, ["admin", "support:l2"]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sesame.toml");
        std::fs::write(&path, "mfa_required_roles = [\"admin\"]\n").unwrap();
        let c = Config::from_sources(Some(&path), &env(&[])).unwrap();
        assert_eq!(c.settings.mfa_required_roles, ["admin"]);
        let err = Config::from_sources(None, &env(&[("SESAME_MFA_REQUIRED_ROLES", "Admin!")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SESAME_MFA_REQUIRED_ROLES") && err.contains("Admin!"),
            "{err}"
        );
    }
}
