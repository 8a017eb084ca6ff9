//! The configuration as the sources give it: one field per setting, its name the TOML key
//! (dotted for the `[lockout]` and `[argon2]` tables) and the source of its environment variable
//! (`SESAME_` + the key, dots as `_`, upper case). Adding a setting costs a field here and its
//! default in [`RawConfig::default`]; [`super::validate`] turns it into a typed value.
//!
//! Values stay text until validated, so an environment variable and a TOML value go through the
//! same check and the same message ("expected a duration like 90s, 15m or 7d"); TOML's booleans,
//! numbers and arrays are accepted and read as `on`/`off`, the number, and a comma-separated list.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::sources::Origins;

/// A setting's value as text (see the module comment). `Debug` never shows it: it may be a
/// secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Text(pub String);

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Text(..)")
    }
}

impl Text {
    fn set(s: &str) -> Option<Text> {
        Some(Text(s.to_string()))
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a number, a boolean or a list")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(if v { "on" } else { "off" }.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
                let mut items = Vec::new();
                while let Some(Text(item)) = seq.next_element::<Text>()? {
                    items.push(item);
                }
                Ok(Text(items.join(",")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Every setting. `None` is unset (no default, and not given).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub listen: Option<Text>,
    pub metrics_listen: Option<Text>,
    pub tls: Option<Text>,
    pub tls_cert: Option<Text>,
    pub tls_key: Option<Text>,
    pub data_dir: Option<Text>,
    pub database_url: Option<Text>,
    pub issuer: Option<Text>,
    pub audiences: Option<Text>,
    pub access_ttl: Option<Text>,
    pub refresh_ttl: Option<Text>,
    pub refresh_reuse_grace: Option<Text>,
    pub lockout: RawLockout,
    pub rate_limit: Option<Text>,
    pub rate_limit_login: Option<Text>,
    pub rate_limit_register: Option<Text>,
    pub rate_limit_refresh: Option<Text>,
    pub rate_limit_token: Option<Text>,
    pub rate_limit_forgot: Option<Text>,
    pub smtp_url: Option<Text>,
    pub email_log: Option<Text>,
    pub email_from: Option<Text>,
    pub public_url: Option<Text>,
    pub product_name: Option<Text>,
    pub require_verified_email: Option<Text>,
    pub password_reset_ttl: Option<Text>,
    pub email_verify_ttl: Option<Text>,
    pub email_per_account_hour: Option<Text>,
    pub email_retry_base: Option<Text>,
    pub email_templates: Option<Text>,
    pub trusted_proxies: Option<Text>,
    pub audit_retention: Option<Text>,
    pub webhook_allow_private: Option<Text>,
    pub signup: Option<Text>,
    pub browser_session_idle: Option<Text>,
    pub browser_session_ttl: Option<Text>,
    pub status_list_ttl: Option<Text>,
    pub mfa_required_roles: Option<Text>,
    pub dynamic_registration: Option<Text>,
    pub dynamic_audiences: Option<Text>,
    pub webauthn_rp_id: Option<Text>,
    pub webauthn_origins: Option<Text>,
    pub templates_dir: Option<Text>,
    pub brand_color: Option<Text>,
    pub signing_alg: Option<Text>,
    pub id_token_alg: Option<Text>,
    pub argon2: RawArgon2,
    pub bootstrap_admin_email: Option<Text>,
    pub bootstrap_admin_password: Option<Text>,
    pub log: Option<Text>,
    pub log_format: Option<Text>,
    /// `[[upstream]]`: providers to sign in with (the file only: a list of tables has no
    /// environment variable).
    pub upstream: Vec<RawUpstream>,
    /// Where each value came from; filled by [`super::sources`] after the layers are merged.
    #[serde(skip)]
    pub origins: Origins,
}

/// `[lockout]` (`SESAME_LOCKOUT_*`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLockout {
    pub max_failures: Option<Text>,
    pub duration: Option<Text>,
}

/// One `[[upstream]]` provider (API.md "Sign in with another provider").
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawUpstream {
    pub id: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub issuer: Option<String>,
    /// GitHub's API (`https://api.github.com`), for a GitHub Enterprise server or a test.
    pub api_url: Option<String>,
    pub ca_file: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Text>,
    pub scopes: Option<Text>,
    pub signup: Option<bool>,
    pub roles: Vec<RawRoleRule>,
}

/// `roles = [{claim, value, role}]` of an `[[upstream]]`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRoleRule {
    pub claim: Option<String>,
    pub value: Option<String>,
    pub role: Option<String>,
}

/// `[argon2]` (`SESAME_ARGON2_*`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawArgon2 {
    pub memory_kib: Option<Text>,
    pub iterations: Option<Text>,
    pub parallelism: Option<Text>,
}

/// The contract's defaults (API.md, "Configuration and command line"). A setting without one is
/// optional, and an empty environment variable leaves it unset (compose files pass `${X:-}`).
impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            listen: Text::set("127.0.0.1:8443"),
            metrics_listen: None,
            tls: Text::set("auto"),
            tls_cert: None,
            tls_key: None,
            data_dir: Text::set("./data"),
            database_url: None,
            issuer: Text::set("https://localhost:8443"),
            audiences: Text::set("api"),
            access_ttl: Text::set("15m"),
            refresh_ttl: Text::set("7d"),
            refresh_reuse_grace: Text::set("10s"),
            lockout: RawLockout::default(),
            rate_limit: Text::set("on"),
            rate_limit_login: Text::set("20/m"),
            rate_limit_register: Text::set("10/m"),
            rate_limit_refresh: Text::set("60/m"),
            rate_limit_token: Text::set("120/m"),
            rate_limit_forgot: Text::set("5/m"),
            smtp_url: None,
            email_log: Text::set("off"),
            email_from: Text::set("Sesame <noreply@localhost>"),
            public_url: None,
            product_name: Text::set("Sesame"),
            require_verified_email: Text::set("off"),
            password_reset_ttl: Text::set("30m"),
            email_verify_ttl: Text::set("24h"),
            email_per_account_hour: Text::set("3"),
            email_retry_base: Text::set("30s"),
            email_templates: None,
            trusted_proxies: Text::set(""),
            audit_retention: Text::set("90d"),
            webhook_allow_private: Text::set("off"),
            signup: Text::set("on"),
            browser_session_idle: Text::set("24h"),
            browser_session_ttl: Text::set("7d"),
            status_list_ttl: Text::set("5s"),
            mfa_required_roles: Text::set(""),
            dynamic_registration: Text::set("off"),
            dynamic_audiences: Text::set(""),
            webauthn_rp_id: None,
            webauthn_origins: Text::set(""),
            templates_dir: None,
            brand_color: Text::set("#4f46e5"),
            signing_alg: Text::set("EdDSA"),
            id_token_alg: Text::set("RS256"),
            argon2: RawArgon2::default(),
            upstream: Vec::new(),
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
            log: Text::set("info"),
            log_format: Text::set("text"),
            origins: Origins::default(),
        }
    }
}

impl Default for RawLockout {
    fn default() -> Self {
        RawLockout {
            max_failures: Text::set("5"),
            duration: Text::set("15m"),
        }
    }
}

impl Default for RawArgon2 {
    fn default() -> Self {
        RawArgon2 {
            memory_kib: Text::set("19456"),
            iterations: Text::set("2"),
            parallelism: Text::set("1"),
        }
    }
}

/// One setting as [`super::validate`] sees it: its key path and its value.
#[derive(Clone, Copy)]
pub struct Key<'a> {
    pub path: &'static [&'static str],
    pub value: Option<&'a str>,
}

impl fmt::Debug for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Key<'_> {
    /// The TOML key: `lockout.max_failures`.
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }

    /// The environment variable: `SESAME_LOCKOUT_MAX_FAILURES`.
    pub fn env(&self) -> String {
        env_name(&self.dotted())
    }
}

/// `SESAME_` + the key, dots as `_`, upper case: the only place an environment name is made.
pub fn env_name(dotted: &str) -> String {
    format!("SESAME_{}", dotted.replace('.', "_").to_ascii_uppercase())
}

/// `key!(raw.lockout.max_failures)`: the setting of that field, named after the field itself, so
/// a misspelt setting does not compile.
macro_rules! key {
    ($raw:ident . $($field:ident).+) => {
        $crate::config::raw::Key {
            path: &[$(stringify!($field)),+],
            value: $raw.$($field).+.as_ref().map(|t| t.0.as_str()),
        }
    };
}
pub(crate) use key;
