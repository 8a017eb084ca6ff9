//! From [`RawConfig`] to [`Config`]: every check, each error naming the setting (see
//! [`Origins::invalid`]). Settings are named by their field ([`key!`]), never by a string.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;
use sesame_core::keys::SigningAlg;
use sesame_core::settings::{Argon2Cost, Settings};

use super::errors::ConfigError;
use super::raw::{Key, RawConfig, key};
use super::sources::Origins;
use super::{Config, LogFormat, MailSettings, PagesSettings, TlsMode, is_local};
use crate::http::ratelimit::{Limits, Rate};

/// The longest duration any setting accepts.
const MAX_DURATION: Duration = Duration::from_secs(3650 * 24 * 3600);

/// The checks of single values.
struct Check<'a>(&'a Origins);

impl Check<'_> {
    fn invalid(&self, key: Key, problem: impl Into<String>) -> ConfigError {
        self.0.invalid(key, problem)
    }

    fn parse<T>(
        &self,
        key: Key,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        f(key.value.unwrap_or("").trim()).map_err(|p| self.invalid(key, p))
    }

    /// A duration setting, between one nanosecond and [`MAX_DURATION`].
    fn duration(&self, key: Key) -> Result<Duration, ConfigError> {
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

    /// A duration of at least a second, in whole seconds (it is published as a number of
    /// seconds: the status list's `ttl`).
    fn whole_seconds(&self, key: Key) -> Result<Duration, ConfigError> {
        let d = self.duration(key)?;
        self.parse(key, |_| {
            if d.subsec_nanos() != 0 || d < Duration::from_secs(1) {
                Err("must be a whole number of seconds, at least 1s".into())
            } else {
                Ok(d)
            }
        })
    }

    fn number<T: std::str::FromStr>(&self, key: Key) -> Result<T, ConfigError> {
        self.parse(key, |s| {
            s.parse::<T>()
                .map_err(|_| "expected a whole number".to_string())
        })
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Self, ConfigError> {
        let l = Check(&raw.origins);
        let listen: SocketAddr = l.parse(key!(raw.listen), |s| {
            s.parse()
                .map_err(|_| "expected HOST:PORT, e.g. 127.0.0.1:8443".to_string())
        })?;
        let metrics_listen: Option<SocketAddr> = l.parse(key!(raw.metrics_listen), |s| {
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
                key!(raw.metrics_listen),
                format!("must differ from {} ({listen})", key!(raw.listen).env()),
            ));
        }
        let data_dir = PathBuf::from(l.parse(key!(raw.data_dir), |s| {
            if s.is_empty() {
                Err("must not be empty".to_string())
            } else {
                Ok(s.to_string())
            }
        })?);
        let tls = match l
            .parse(key!(raw.tls), |s| Ok::<_, String>(s.to_ascii_lowercase()))?
            .as_str()
        {
            "auto" => TlsMode::Auto,
            "off" => TlsMode::Off,
            "files" => {
                let cert = key!(raw.tls_cert).value.map(PathBuf::from);
                let key = key!(raw.tls_key).value.map(PathBuf::from);
                match (cert, key) {
                    (Some(cert), Some(key)) => {
                        for (name, p) in [(key!(raw.tls_cert), &cert), (key!(raw.tls_key), &key)] {
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
                        return Err(l.invalid(
                            key!(raw.tls),
                            format!(
                                "'files' needs {} and {}",
                                key!(raw.tls_cert).env(),
                                key!(raw.tls_key).env()
                            ),
                        ));
                    }
                }
            }
            _ => return Err(l.invalid(key!(raw.tls), "expected auto, files or off")),
        };
        let database_url = match key!(raw.database_url).value {
            Some(r) => {
                let v = r.trim().to_string();
                if !(v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://"))
                {
                    return Err(l.invalid(
                        key!(raw.database_url),
                        "expected sqlite://PATH or postgres://...",
                    ));
                }
                v
            }
            None => format!("sqlite://{}", data_dir.join("sesame.db").display()),
        };
        let issuer = l.parse(key!(raw.issuer), |s| {
            let u = url::Url::parse(s).map_err(|e| format!("expected an absolute URL ({e})"))?;
            if !matches!(u.scheme(), "https" | "http") || u.host().is_none() {
                return Err("expected an http(s) URL with a host".into());
            }
            Ok(s.trim_end_matches('/').to_string())
        })?;
        let audiences: Vec<String> = l.parse(key!(raw.audiences), |s| {
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
        // Only services already configured, and never Sesame's own (the first): a bare
        // forward-auth gate guards that one (docs/decisions.md).
        let dynamic_audiences = l.parse(key!(raw.dynamic_audiences), |s| {
            s.split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(|a| {
                    if audiences.first().is_some_and(|own| own == a) {
                        Err(format!("'{a}' is Sesame's own audience"))
                    } else if !audiences.iter().any(|c| c == a) {
                        Err(format!("'{a}' is not one of SESAME_AUDIENCES"))
                    } else {
                        Ok(a.to_string())
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        })?;
        let on_off = |key: Key| {
            l.parse(key, |s| match s.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" | "yes" => Ok(true),
                "off" | "false" | "0" | "no" => Ok(false),
                _ => Err("expected on or off".to_string()),
            })
        };
        let rate_limit = on_off(key!(raw.rate_limit))?;
        let limits = Limits {
            login: l.parse(key!(raw.rate_limit_login), Rate::parse)?,
            register: l.parse(key!(raw.rate_limit_register), Rate::parse)?,
            refresh: l.parse(key!(raw.rate_limit_refresh), Rate::parse)?,
            token: l.parse(key!(raw.rate_limit_token), Rate::parse)?,
            forgot: l.parse(key!(raw.rate_limit_forgot), Rate::parse)?,
        };
        let trusted_proxies = l.parse(key!(raw.trusted_proxies), |s| {
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
        let alg = |s: &str| {
            SigningAlg::parse(s).ok_or_else(|| "expected EdDSA, ES256 or RS256".to_string())
        };
        let signing_alg = l.parse(key!(raw.signing_alg), alg)?;
        let id_token_alg = l.parse(key!(raw.id_token_alg), alg)?;
        let argon2 = Argon2Cost {
            memory_kib: l.number(key!(raw.argon2.memory_kib))?,
            iterations: l.number(key!(raw.argon2.iterations))?,
            parallelism: l.number(key!(raw.argon2.parallelism))?,
        };
        if let Err(e) = argon2::Params::new(
            argon2.memory_kib,
            argon2.iterations,
            argon2.parallelism,
            None,
        ) {
            return Err(l.invalid(
                key!(raw.argon2.memory_kib),
                format!("argon2 parameters rejected: {e}"),
            ));
        }
        let lockout_max_failures: u32 = l.number(key!(raw.lockout.max_failures))?;
        if lockout_max_failures == 0 {
            return Err(l.invalid(key!(raw.lockout.max_failures), "must be at least 1"));
        }
        let bootstrap_admin = match (
            key!(raw.bootstrap_admin_email).value,
            key!(raw.bootstrap_admin_password).value,
        ) {
            (None, None) => None,
            (Some(e), Some(p)) => Some((e.to_string(), SecretString::from(p.to_string()))),
            (Some(_), None) => {
                return Err(l.invalid(
                    key!(raw.bootstrap_admin_password),
                    format!("required with {}", key!(raw.bootstrap_admin_email).env()),
                ));
            }
            (None, Some(_)) => {
                return Err(l.invalid(
                    key!(raw.bootstrap_admin_email),
                    format!("required with {}", key!(raw.bootstrap_admin_password).env()),
                ));
            }
        };
        let log_format = l.parse(key!(raw.log_format), |s| match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected text or json".to_string()),
        })?;
        let log = l.parse(key!(raw.log), |s| {
            tracing_subscriber::EnvFilter::try_new(s)
                .map_err(|e| format!("not a tracing filter: {e}"))?;
            Ok(s.to_string())
        })?;
        let smtp_url = match key!(raw.smtp_url).value {
            None => None,
            Some(r) => {
                let v = r.trim().to_string();
                if let Err(e) = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&v) {
                    // The error text never includes the URL (it may hold a password).
                    return Err(l.invalid(
                        key!(raw.smtp_url),
                        format!("expected smtp://HOST:PORT or smtps://USER:PASS@HOST:PORT ({e})"),
                    ));
                }
                Some(SecretString::from(v))
            }
        };
        let from = l.parse(key!(raw.email_from), |s| {
            s.parse::<lettre::message::Mailbox>()
                .map(|_| s.to_string())
                .map_err(|e| {
                    format!("expected a mailbox like 'Sesame <noreply@example.com>' ({e})")
                })
        })?;
        let public_url = match key!(raw.public_url).value {
            None => issuer.clone(),
            Some(_) => l.parse(key!(raw.public_url), |s| {
                let u =
                    url::Url::parse(s).map_err(|e| format!("expected an absolute URL ({e})"))?;
                if !matches!(u.scheme(), "https" | "http") || u.host().is_none() {
                    return Err("expected an http(s) URL with a host".into());
                }
                Ok(s.trim_end_matches('/').to_string())
            })?,
        };
        let log_allowed = on_off(key!(raw.email_log))?;
        if smtp_url.is_none() && !log_allowed && !is_local(&issuer) {
            let origin = raw.origins.origin(&key!(raw.issuer));
            return Err(l.invalid(
                key!(raw.email_log),
                format!(
                    "{smtp} is unset and the issuer {issuer} ({origin}) is not on localhost, \
                     so password-reset and verification links would be written to the log, where \
                     whoever reads it could take over accounts; set {smtp}, or \
                     {email_log}=on to write them to the log anyway",
                    smtp = key!(raw.smtp_url).env(),
                    email_log = key!(raw.email_log).env(),
                ),
            ));
        }
        let mail = MailSettings {
            smtp_url,
            log_allowed,
            from,
            retry_base: l.duration(key!(raw.email_retry_base))?,
        };
        let email_templates = match key!(raw.email_templates).value {
            None => Default::default(),
            Some(r) => load_templates(Path::new(r.trim()))
                .map_err(|problem| l.invalid(key!(raw.email_templates), problem))?,
        };
        let settings = Settings {
            email_templates,
            public_url,
            product_name: l.parse(key!(raw.product_name), |s| {
                let s = s.trim();
                if s.is_empty() || s.len() > 100 {
                    Err("expected 1 to 100 characters".to_string())
                } else {
                    Ok(s.to_string())
                }
            })?,
            require_verified_email: on_off(key!(raw.require_verified_email))?,
            password_reset_ttl: l.duration(key!(raw.password_reset_ttl))?,
            email_verify_ttl: l.duration(key!(raw.email_verify_ttl))?,
            emails_per_account_hour: l.number(key!(raw.email_per_account_hour))?,
            issuer,
            audiences,
            access_ttl: l.duration(key!(raw.access_ttl))?,
            refresh_ttl: l.duration(key!(raw.refresh_ttl))?,
            refresh_reuse_grace: l.parse(key!(raw.refresh_reuse_grace), |s| {
                let d = humantime::parse_duration(s)
                    .map_err(|e| format!("expected a duration like 10s ({e})"))?;
                if d > MAX_DURATION {
                    return Err("must be at most 3650d (ten years)".into());
                }
                Ok(d)
            })?,
            lockout_max_failures,
            lockout_duration: l.duration(key!(raw.lockout.duration))?,
            signing_alg,
            id_token_alg,
            argon2,
            audit_retention: l.duration(key!(raw.audit_retention))?,
            webhook_allow_private: on_off(key!(raw.webhook_allow_private))?,
            signup_enabled: on_off(key!(raw.signup))?,
            browser_session_idle: l.duration(key!(raw.browser_session_idle))?,
            browser_session_ttl: l.duration(key!(raw.browser_session_ttl))?,
            status_list_ttl: l.whole_seconds(key!(raw.status_list_ttl))?,
            mfa_required_roles: l.parse(key!(raw.mfa_required_roles), |s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(|r| {
                        sesame_core::domain::Role::parse(r)
                            .map(|role| role.as_str().to_string())
                            .map_err(|m| format!("'{r}': {m}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })?,
            dynamic_registration: on_off(key!(raw.dynamic_registration))?,
            dynamic_audiences,
            webauthn_rp_id: match key!(raw.webauthn_rp_id).value {
                None => None,
                Some(_) => Some(l.parse(key!(raw.webauthn_rp_id), |s| {
                    // A registrable domain (or localhost): no scheme, port or path.
                    let ok = !s.is_empty()
                        && s.split('.').all(|label| {
                            !label.is_empty()
                                && label
                                    .bytes()
                                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        });
                    if ok {
                        Ok(s.to_ascii_lowercase())
                    } else {
                        Err(
                            "expected a domain such as example.com (no scheme, port or path)"
                                .to_string(),
                        )
                    }
                })?),
            },
            webauthn_origins: l.parse(key!(raw.webauthn_origins), |s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(|o| {
                        let u = url::Url::parse(o)
                            .map_err(|e| format!("'{o}': expected an origin ({e})"))?;
                        let local = u.host_str() == Some("localhost");
                        if u.scheme() != "https" && !(u.scheme() == "http" && local) {
                            return Err(format!(
                                "'{o}': expected https:// (http:// only on localhost)"
                            ));
                        }
                        if u.path() != "/" || u.query().is_some() {
                            return Err(format!("'{o}': expected an origin, without a path"));
                        }
                        Ok(u.origin().ascii_serialization())
                    })
                    .collect::<Result<Vec<_>, _>>()
            })?,
            upstreams: upstreams(&raw)?,
            ..Settings::default()
        };
        // Passkeys are bound to the RP id: every origin must be on it (WebAuthn §5.1.4.1). Left
        // to default on an IP-address issuer they are merely off (sesame-core says so at start).
        let chosen = settings.webauthn_rp_id.is_some() || !settings.webauthn_origins.is_empty();
        if let Err(e) = sesame_core::mfa::passkeys::rp_id_and_origins(&settings)
            && chosen
        {
            let key = if key!(raw.webauthn_origins)
                .value
                .is_some_and(|v| !v.trim().is_empty())
            {
                key!(raw.webauthn_origins)
            } else {
                key!(raw.webauthn_rp_id)
            };
            return Err(l.invalid(key, e));
        }
        let pages = PagesSettings {
            templates_dir: match key!(raw.templates_dir).value {
                None => None,
                Some(dir) => {
                    let dir = PathBuf::from(dir.trim());
                    if !dir.is_dir() {
                        return Err(l.invalid(
                            key!(raw.templates_dir),
                            format!("{} is not a directory", dir.display()),
                        ));
                    }
                    Some(dir)
                }
            },
            brand_color: l.parse(key!(raw.brand_color), |s| {
                let s = s.trim();
                if sesame_templates::is_hex_color(s) {
                    Ok(s.to_string())
                } else {
                    Err("expected a colour like #4f46e5 or #46e".to_string())
                }
            })?,
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
            pages,
        })
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

/// The `[[upstream]]` providers, each checked: a unique slug id, a known kind, an `https://`
/// issuer (or `http://` on a loopback address), a client id and secret, a readable CA file, and
/// role rules naming valid roles.
fn upstreams(raw: &RawConfig) -> Result<Vec<sesame_core::upstream::UpstreamProvider>, ConfigError> {
    use sesame_core::upstream::{RoleRule, UpstreamKind, UpstreamProvider};
    let mut out: Vec<UpstreamProvider> = Vec::new();
    for (i, u) in raw.upstream.iter().enumerate() {
        let bad = |field: &str, problem: String| ConfigError::Invalid {
            name: format!("upstream[{i}].{field}"),
            origin: "file".into(),
            problem,
        };
        let text = |v: &Option<String>, field: &str| -> Result<String, ConfigError> {
            v.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .ok_or_else(|| bad(field, "is required".into()))
        };
        let id = text(&u.id, "id")?;
        if id.len() > 32
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(bad(
                "id",
                "expected a slug: a-z, 0-9 and -, at most 32".into(),
            ));
        }
        if matches!(id.as_str(), "mfa" | "passkey") || out.iter().any(|p| p.id == id) {
            return Err(bad("id", format!("'{id}' is taken")));
        }
        let kind = match text(&u.kind, "kind")?.as_str() {
            "oidc" => UpstreamKind::Oidc,
            "github" => UpstreamKind::Github,
            other => return Err(bad("kind", format!("'{other}': expected oidc or github"))),
        };
        let issuer = match (kind, &u.issuer) {
            (UpstreamKind::Github, None) => "https://github.com".to_string(),
            _ => text(&u.issuer, "issuer")?,
        };
        let api_url = match (kind, &u.api_url) {
            (_, Some(a)) => a.trim().to_string(),
            (UpstreamKind::Github, None) => "https://api.github.com".to_string(),
            (UpstreamKind::Oidc, None) => String::new(),
        };
        for (field, value) in [("issuer", &issuer), ("api_url", &api_url)] {
            if value.is_empty() {
                continue;
            }
            let url = url::Url::parse(value).map_err(|e| bad(field, format!("{e}")))?;
            let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
                return Err(bad(
                    field,
                    "expected https:// (http:// only on a loopback address)".into(),
                ));
            }
        }
        let ca_file = match &u.ca_file {
            None => None,
            Some(path) => {
                let path = PathBuf::from(path.trim());
                if !path.is_file() {
                    return Err(bad("ca_file", format!("{} is not a file", path.display())));
                }
                Some(path)
            }
        };
        let client_secret = u
            .client_secret
            .as_ref()
            .map(|t| t.0.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("client_secret", "is required".into()))?;
        let scopes: Vec<String> = match &u.scopes {
            Some(t) => {
                t.0.split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            None => match kind {
                UpstreamKind::Oidc => vec!["openid".into(), "email".into(), "profile".into()],
                UpstreamKind::Github => vec!["read:user".into(), "user:email".into()],
            },
        };
        if kind == UpstreamKind::Oidc && !scopes.iter().any(|s| s == "openid") {
            return Err(bad(
                "scopes",
                "an OpenID provider needs the scope openid".into(),
            ));
        }
        let mut roles = Vec::new();
        for (j, r) in u.roles.iter().enumerate() {
            let field = |f: &str| format!("roles[{j}].{f}");
            let claim = text(&r.claim, &field("claim"))?;
            let value = text(&r.value, &field("value"))?;
            let role = text(&r.role, &field("role"))?;
            let role = sesame_core::domain::Role::parse(&role)
                .map_err(|m| bad(&field("role"), format!("'{role}': {m}")))?
                .as_str()
                .to_string();
            roles.push(RoleRule { claim, value, role });
        }
        out.push(UpstreamProvider {
            name: u.name.clone().unwrap_or_else(|| id.clone()),
            id,
            kind,
            issuer: issuer.trim_end_matches('/').to_string(),
            api_url,
            ca_file,
            client_id: text(&u.client_id, "client_id")?,
            client_secret: secrecy::SecretString::from(client_secret),
            scopes,
            signup: u.signup.unwrap_or(true),
            roles,
        });
    }
    Ok(out)
}
