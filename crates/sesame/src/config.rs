//! Configuration: defaults, then an optional TOML file, then `SESAME_*` environment variables
//! (the names are part of the contract). Everything is validated before anything binds, and
//! each error names the setting and where its value came from.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use sesame_core::keys::SigningAlg;
use sesame_core::settings::{Argon2Cost, Settings};

use crate::http::ratelimit::{Limits, Rate};

/// Every setting: its key (dotted in TOML), its environment variable, and its default.
/// `None` as default means unset.
/// The longest duration any setting accepts.
const MAX_DURATION: Duration = Duration::from_secs(3650 * 24 * 3600);

const SETTINGS: &[(&str, &str, Option<&str>)] = &[
    ("listen", "SESAME_LISTEN", Some("127.0.0.1:8443")),
    ("metrics_listen", "SESAME_METRICS_LISTEN", None),
    ("tls", "SESAME_TLS", Some("auto")),
    ("tls_cert", "SESAME_TLS_CERT", None),
    ("tls_key", "SESAME_TLS_KEY", None),
    ("data_dir", "SESAME_DATA_DIR", Some("./data")),
    ("database_url", "SESAME_DATABASE_URL", None),
    ("issuer", "SESAME_ISSUER", Some("https://localhost:8443")),
    ("audiences", "SESAME_AUDIENCES", Some("api")),
    ("access_ttl", "SESAME_ACCESS_TTL", Some("15m")),
    ("refresh_ttl", "SESAME_REFRESH_TTL", Some("7d")),
    (
        "refresh_reuse_grace",
        "SESAME_REFRESH_REUSE_GRACE",
        Some("10s"),
    ),
    (
        "lockout.max_failures",
        "SESAME_LOCKOUT_MAX_FAILURES",
        Some("5"),
    ),
    ("lockout.duration", "SESAME_LOCKOUT_DURATION", Some("15m")),
    ("rate_limit", "SESAME_RATE_LIMIT", Some("on")),
    ("rate_limit_login", "SESAME_RATE_LIMIT_LOGIN", Some("20/m")),
    (
        "rate_limit_register",
        "SESAME_RATE_LIMIT_REGISTER",
        Some("10/m"),
    ),
    (
        "rate_limit_refresh",
        "SESAME_RATE_LIMIT_REFRESH",
        Some("60/m"),
    ),
    ("rate_limit_token", "SESAME_RATE_LIMIT_TOKEN", Some("120/m")),
    ("rate_limit_forgot", "SESAME_RATE_LIMIT_FORGOT", Some("5/m")),
    ("smtp_url", "SESAME_SMTP_URL", None),
    ("email_log", "SESAME_EMAIL_LOG", Some("off")),
    (
        "email_from",
        "SESAME_EMAIL_FROM",
        Some("Sesame <noreply@localhost>"),
    ),
    ("public_url", "SESAME_PUBLIC_URL", None),
    ("product_name", "SESAME_PRODUCT_NAME", Some("Sesame")),
    (
        "require_verified_email",
        "SESAME_REQUIRE_VERIFIED_EMAIL",
        Some("off"),
    ),
    (
        "password_reset_ttl",
        "SESAME_PASSWORD_RESET_TTL",
        Some("30m"),
    ),
    ("email_verify_ttl", "SESAME_EMAIL_VERIFY_TTL", Some("24h")),
    (
        "email_per_account_hour",
        "SESAME_EMAIL_PER_ACCOUNT_HOUR",
        Some("3"),
    ),
    ("email_retry_base", "SESAME_EMAIL_RETRY_BASE", Some("30s")),
    ("email_templates", "SESAME_EMAIL_TEMPLATES", None),
    ("trusted_proxies", "SESAME_TRUSTED_PROXIES", Some("")),
    ("audit_retention", "SESAME_AUDIT_RETENTION", Some("90d")),
    ("signing_alg", "SESAME_SIGNING_ALG", Some("EdDSA")),
    (
        "argon2.memory_kib",
        "SESAME_ARGON2_MEMORY_KIB",
        Some("19456"),
    ),
    ("argon2.iterations", "SESAME_ARGON2_ITERATIONS", Some("2")),
    ("argon2.parallelism", "SESAME_ARGON2_PARALLELISM", Some("1")),
    (
        "bootstrap_admin_email",
        "SESAME_BOOTSTRAP_ADMIN_EMAIL",
        None,
    ),
    (
        "bootstrap_admin_password",
        "SESAME_BOOTSTRAP_ADMIN_PASSWORD",
        None,
    ),
    ("log", "SESAME_LOG", Some("info")),
    ("log_format", "SESAME_LOG_FORMAT", Some("text")),
];

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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("config file {path}: unknown setting '{key}'")]
    UnknownKey { path: PathBuf, key: String },
    #[error("invalid {name} ({origin}): {problem}")]
    Invalid {
        name: String,
        origin: String,
        problem: String,
    },
}

/// A raw value and where it came from.
struct Raw {
    value: String,
    origin: String,
    env: &'static str,
}

struct Layers(BTreeMap<&'static str, Raw>);

impl Layers {
    fn get(&self, key: &str) -> Option<&Raw> {
        self.0.get(key)
    }

    fn invalid(&self, key: &str, problem: impl Into<String>) -> ConfigError {
        let (name, origin) = match self.0.get(key) {
            Some(r) if r.origin == "environment" => (r.env.to_string(), r.origin.clone()),
            Some(r) => (key.to_string(), r.origin.clone()),
            None => (key.to_string(), "unset".to_string()),
        };
        ConfigError::Invalid {
            name,
            origin,
            problem: problem.into(),
        }
    }

    fn parse<T>(
        &self,
        key: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let raw = self.get(key).map(|r| r.value.as_str()).unwrap_or("");
        f(raw.trim()).map_err(|p| self.invalid(key, p))
    }

    /// A duration setting, between one nanosecond and [`MAX_DURATION`].
    fn duration(&self, key: &str) -> Result<Duration, ConfigError> {
        self.parse(key, |s| {
            let d = humantime::parse_duration(s)
                .map_err(|e| format!("expected a duration like 90s, 15m or 7d ({e})"))?;
            if d.is_zero() {
                Err("must be greater than zero".into())
            } else if d > MAX_DURATION {
                // Every lifetime is added to timestamps; past this the arithmetic could
                // overflow, and no lifetime of a token, session or record needs more.
                Err("must be at most 3650d (ten years)".into())
            } else {
                Ok(d)
            }
        })
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Result<T, ConfigError> {
        self.parse(key, |s| {
            s.parse::<T>()
                .map_err(|_| "expected a whole number".to_string())
        })
    }
}

fn flatten_toml(prefix: &str, table: &toml::Table, out: &mut Vec<(String, String)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten_toml(&key, t, out),
            toml::Value::String(s) => out.push((key, s.clone())),
            toml::Value::Boolean(b) => out.push((key, if *b { "on" } else { "off" }.into())),
            toml::Value::Array(a) => {
                let items: Vec<String> = a
                    .iter()
                    .map(|i| match i {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                out.push((key, items.join(",")));
            }
            other => out.push((key, other.to_string())),
        }
    }
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

/// Reads `verify.txt`, `verify.html`, `reset.txt` and `reset.html` from `dir` (each optional;
/// at least one must be there, and each must place `{link}`).
fn load_templates(dir: &Path) -> Result<sesame_core::email::TemplateOverrides, String> {
    if !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let read = |name: &str| -> Result<Option<String>, String> {
        let path = dir.join(name);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !text.contains("{link}") {
            return Err(format!("{} does not contain {{link}}", path.display()));
        }
        Ok(Some(text))
    };
    let t = sesame_core::email::TemplateOverrides {
        verify_text: read("verify.txt")?,
        verify_html: read("verify.html")?,
        reset_text: read("reset.txt")?,
        reset_html: read("reset.html")?,
    };
    if t == Default::default() {
        return Err(format!(
            "{} has none of verify.txt, verify.html, reset.txt, reset.html",
            dir.display()
        ));
    }
    Ok(t)
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
        let mut layers = BTreeMap::new();
        for (key, env_name, default) in SETTINGS {
            if let Some(d) = default {
                layers.insert(
                    *key,
                    Raw {
                        value: d.to_string(),
                        origin: "default".into(),
                        env: env_name,
                    },
                );
            }
        }
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("SESAME_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::File {
                path: path.clone(),
                source,
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::Toml {
                        path: path.clone(),
                        message: e.message().to_string(),
                    })?;
            let mut flat = Vec::new();
            flatten_toml("", &table, &mut flat);
            for (k, v) in flat {
                let Some((key, env_name, _)) = SETTINGS.iter().find(|(key, _, _)| *key == k) else {
                    return Err(ConfigError::UnknownKey { path, key: k });
                };
                layers.insert(
                    *key,
                    Raw {
                        value: v,
                        origin: format!("file {}", path.display()),
                        env: env_name,
                    },
                );
            }
        }
        for (key, env_name, default) in SETTINGS {
            // An empty variable leaves an optional setting unset (compose files pass `${X:-}`).
            if let Some(v) = env
                .get(*env_name)
                .filter(|v| default.is_some() || !v.trim().is_empty())
            {
                layers.insert(
                    *key,
                    Raw {
                        value: v.clone(),
                        origin: "environment".into(),
                        env: env_name,
                    },
                );
            }
        }
        Self::validate(&Layers(layers))
    }

    fn validate(l: &Layers) -> Result<Self, ConfigError> {
        let listen: SocketAddr = l.parse("listen", |s| {
            s.parse()
                .map_err(|_| "expected HOST:PORT, e.g. 127.0.0.1:8443".to_string())
        })?;
        let metrics_listen: Option<SocketAddr> = l.parse("metrics_listen", |s| {
            if s.is_empty() {
                return Ok(None);
            }
            s.parse()
                .map(Some)
                .map_err(|_| "expected HOST:PORT, e.g. 127.0.0.1:9464".to_string())
        })?;
        if let Some(m) = metrics_listen
            && m == listen
            && m.port() != 0
        {
            return Err(l.invalid(
                "metrics_listen",
                format!("must differ from SESAME_LISTEN ({listen})"),
            ));
        }
        let data_dir = PathBuf::from(l.parse("data_dir", |s| {
            if s.is_empty() {
                Err("must not be empty".to_string())
            } else {
                Ok(s.to_string())
            }
        })?);
        let tls = match l
            .parse("tls", |s| Ok::<_, String>(s.to_ascii_lowercase()))?
            .as_str()
        {
            "auto" => TlsMode::Auto,
            "off" => TlsMode::Off,
            "files" => {
                let cert = l.get("tls_cert").map(|r| PathBuf::from(&r.value));
                let key = l.get("tls_key").map(|r| PathBuf::from(&r.value));
                match (cert, key) {
                    (Some(cert), Some(key)) => {
                        for (name, p) in [("tls_cert", &cert), ("tls_key", &key)] {
                            if !p.is_file() {
                                return Err(l.invalid(
                                    name,
                                    format!("{} is not a readable file", p.display()),
                                ));
                            }
                        }
                        TlsMode::Files { cert, key }
                    }
                    _ => {
                        return Err(
                            l.invalid("tls", "'files' needs SESAME_TLS_CERT and SESAME_TLS_KEY")
                        );
                    }
                }
            }
            _ => return Err(l.invalid("tls", "expected auto, files or off")),
        };
        let database_url = match l.get("database_url") {
            Some(r) => {
                let v = r.value.trim().to_string();
                if !(v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://"))
                {
                    return Err(
                        l.invalid("database_url", "expected sqlite://PATH or postgres://...")
                    );
                }
                v
            }
            None => format!("sqlite://{}", data_dir.join("sesame.db").display()),
        };
        let issuer = l.parse("issuer", |s| {
            let u = url::Url::parse(s).map_err(|e| format!("expected an absolute URL ({e})"))?;
            if !matches!(u.scheme(), "https" | "http") || u.host().is_none() {
                return Err("expected an http(s) URL with a host".into());
            }
            Ok(s.trim_end_matches('/').to_string())
        })?;
        let audiences: Vec<String> = l.parse("audiences", |s| {
            let list: Vec<String> = s
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect();
            if list.is_empty() {
                Err("at least one audience is required".to_string())
            } else {
                Ok(list)
            }
        })?;
        let on_off = |key: &str| {
            l.parse(key, |s| match s.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" | "yes" => Ok(true),
                "off" | "false" | "0" | "no" => Ok(false),
                _ => Err("expected on or off".to_string()),
            })
        };
        let rate_limit = on_off("rate_limit")?;
        let limits = Limits {
            login: l.parse("rate_limit_login", Rate::parse)?,
            register: l.parse("rate_limit_register", Rate::parse)?,
            refresh: l.parse("rate_limit_refresh", Rate::parse)?,
            token: l.parse("rate_limit_token", Rate::parse)?,
            forgot: l.parse("rate_limit_forgot", Rate::parse)?,
        };
        let trusted_proxies = l.parse("trusted_proxies", |s| {
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    p.parse::<IpNet>()
                        .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                        .map_err(|_| format!("'{p}' is not an IP address or CIDR"))
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        let signing_alg = l.parse("signing_alg", |s| {
            SigningAlg::parse(s).ok_or_else(|| "expected EdDSA, ES256 or RS256".to_string())
        })?;
        let argon2 = Argon2Cost {
            memory_kib: l.number("argon2.memory_kib")?,
            iterations: l.number("argon2.iterations")?,
            parallelism: l.number("argon2.parallelism")?,
        };
        if let Err(e) = argon2::Params::new(
            argon2.memory_kib,
            argon2.iterations,
            argon2.parallelism,
            None,
        ) {
            return Err(l.invalid(
                "argon2.memory_kib",
                format!("argon2 parameters rejected: {e}"),
            ));
        }
        let lockout_max_failures: u32 = l.number("lockout.max_failures")?;
        if lockout_max_failures == 0 {
            return Err(l.invalid("lockout.max_failures", "must be at least 1"));
        }
        let bootstrap_admin = match (
            l.get("bootstrap_admin_email"),
            l.get("bootstrap_admin_password"),
        ) {
            (None, None) => None,
            (Some(e), Some(p)) => Some((e.value.clone(), SecretString::from(p.value.clone()))),
            (Some(_), None) => {
                return Err(l.invalid(
                    "bootstrap_admin_password",
                    "required with SESAME_BOOTSTRAP_ADMIN_EMAIL",
                ));
            }
            (None, Some(_)) => {
                return Err(l.invalid(
                    "bootstrap_admin_email",
                    "required with SESAME_BOOTSTRAP_ADMIN_PASSWORD",
                ));
            }
        };
        let log_format = l.parse("log_format", |s| match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".to_string()),
        })?;
        let log = l.parse("log", |s| {
            tracing_subscriber::EnvFilter::try_new(s)
                .map_err(|e| format!("not a tracing filter: {e}"))?;
            Ok(s.to_string())
        })?;
        let smtp_url = match l.get("smtp_url") {
            None => None,
            Some(r) => {
                let v = r.value.trim().to_string();
                if let Err(e) = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&v) {
                    // The error text never includes the URL (it may hold a password).
                    return Err(l.invalid(
                        "smtp_url",
                        format!("expected smtp://HOST:PORT or smtps://USER:PASS@HOST:PORT ({e})"),
                    ));
                }
                Some(SecretString::from(v))
            }
        };
        let from = l.parse("email_from", |s| {
            s.parse::<lettre::message::Mailbox>()
                .map(|_| s.to_string())
                .map_err(|e| {
                    format!("expected a mailbox like 'Sesame <noreply@example.com>' ({e})")
                })
        })?;
        let public_url = match l.get("public_url") {
            None => issuer.clone(),
            Some(_) => l.parse("public_url", |s| {
                let u =
                    url::Url::parse(s).map_err(|e| format!("expected an absolute URL ({e})"))?;
                if !matches!(u.scheme(), "https" | "http") || u.host().is_none() {
                    return Err("expected an http(s) URL with a host".into());
                }
                Ok(s.trim_end_matches('/').to_string())
            })?,
        };
        let log_allowed = on_off("email_log")?;
        if smtp_url.is_none() && !log_allowed && !is_local(&issuer) {
            let origin = l.get("issuer").map_or("default", |r| r.origin.as_str());
            return Err(l.invalid(
                "email_log",
                format!(
                    "SESAME_SMTP_URL is unset and the issuer {issuer} ({origin}) is not on localhost, \
                     so password-reset and verification links would be written to the log, where \
                     whoever reads it could take over accounts; set SESAME_SMTP_URL, or \
                     SESAME_EMAIL_LOG=on to write them to the log anyway"
                ),
            ));
        }
        let mail = MailSettings {
            smtp_url,
            log_allowed,
            from,
            retry_base: l.duration("email_retry_base")?,
        };
        let email_templates = match l.get("email_templates") {
            None => Default::default(),
            Some(r) => load_templates(Path::new(r.value.trim()))
                .map_err(|problem| l.invalid("email_templates", problem))?,
        };
        let settings = Settings {
            email_templates,
            public_url,
            product_name: l.parse("product_name", |s| {
                let s = s.trim();
                if s.is_empty() || s.len() > 100 {
                    Err("expected 1 to 100 characters".to_string())
                } else {
                    Ok(s.to_string())
                }
            })?,
            require_verified_email: on_off("require_verified_email")?,
            password_reset_ttl: l.duration("password_reset_ttl")?,
            email_verify_ttl: l.duration("email_verify_ttl")?,
            emails_per_account_hour: l.number("email_per_account_hour")?,
            issuer,
            audiences,
            access_ttl: l.duration("access_ttl")?,
            refresh_ttl: l.duration("refresh_ttl")?,
            refresh_reuse_grace: l.parse("refresh_reuse_grace", |s| {
                let d = humantime::parse_duration(s)
                    .map_err(|e| format!("expected a duration like 10s ({e})"))?;
                if d > MAX_DURATION {
                    return Err("must be at most 3650d (ten years)".into());
                }
                Ok(d)
            })?,
            lockout_max_failures,
            lockout_duration: l.duration("lockout.duration")?,
            signing_alg,
            argon2,
            audit_retention: l.duration("audit_retention")?,
            ..Settings::default()
        };
        Ok(Config {
            listen,
            metrics_listen,
            tls,
            data_dir,
            database_url: SecretString::from(database_url),
            rate_limit,
            limits,
            trusted_proxies,
            bootstrap_admin,
            log,
            log_format,
            settings,
            mail,
        })
    }

    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// All contract environment variables, for `--help` and docs.
    pub fn env_names() -> impl Iterator<Item = &'static str> {
        SETTINGS.iter().map(|(_, e, _)| *e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
