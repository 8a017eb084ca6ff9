//! Redirect URIs of OAuth clients (OAuth 2.1 §2.3.1, RFC 8252, RFC 9700 §4.1): what may be
//! registered, and whether a URI presented at authorization time is a registered one.
//!
//! Registered URIs are compared as strings, exactly — no normalisation, no prefix, no wildcard —
//! with one exception RFC 8252 §7.3 requires for native apps: a loopback URI registered without
//! a port matches the same URI with any port (the app listens on whatever port it got). The rules
//! for what may be registered:
//! - `https://` with a host, no fragment, no user info;
//! - `http://` only on a loopback IP literal (`127.0.0.1` or `[::1]`, not `localhost`, which a
//!   hosts file or DNS may point elsewhere — RFC 8252 §8.3), with or without a port;
//! - a private-use scheme of reverse-domain form (`com.example.app:/cb`, RFC 8252 §7.1);
//! - never `javascript:`, `data:`, `file:` and the like, a `*` anywhere, or a fragment.

use std::fmt;

/// The longest URI accepted; real ones are far shorter.
const MAX_LEN: usize = 2000;

/// A redirect URI that may be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

/// Why a URI may not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUriError(pub &'static str);

impl fmt::Display for RedirectUriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Schemes that run code or read local data in a browser: never a place to send a code.
const FORBIDDEN_SCHEMES: [&str; 6] = ["javascript", "data", "file", "vbscript", "about", "blob"];

impl RedirectUri {
    /// Checks `raw` against the registration rules; stored as given (the comparison is exact).
    pub fn parse(raw: &str) -> Result<Self, RedirectUriError> {
        if raw.is_empty() || raw.len() > MAX_LEN {
            return Err(RedirectUriError("must be 1 to 2000 characters"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RedirectUriError(
                "must not contain spaces or control characters",
            ));
        }
        // A `Location` header is ASCII: a code for `https://bücher.example/cb` was issued and
        // then answered with a 303 that had no `Location` at all. IDN hosts go in punycode,
        // other characters percent-encoded — the form browsers send anyway.
        if !raw.is_ascii() {
            return Err(RedirectUriError(
                "must be ASCII (a host in punycode, other characters percent-encoded)",
            ));
        }
        if raw.contains('*') {
            return Err(RedirectUriError("must not contain a wildcard"));
        }
        if raw.contains('#') {
            return Err(RedirectUriError("must not contain a fragment"));
        }
        let url = url::Url::parse(raw).map_err(|_| RedirectUriError("must be an absolute URI"))?;
        let scheme = url.scheme();
        if FORBIDDEN_SCHEMES.contains(&scheme) {
            return Err(RedirectUriError("this scheme is never allowed"));
        }
        match scheme {
            "https" => {
                if url.host().is_none() {
                    return Err(RedirectUriError("an https URI needs a host"));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(RedirectUriError("must not contain user information"));
                }
            }
            "http" => {
                if !is_loopback_literal(&url) {
                    return Err(RedirectUriError(
                        "http is allowed only on a loopback address (127.0.0.1 or [::1])",
                    ));
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(RedirectUriError("must not contain user information"));
                }
            }
            // RFC 8252 §7.1: a private-use scheme is a reverse domain name the app controls.
            other => {
                let reverse_domain = other.contains('.')
                    && other.split('.').all(|l| {
                        !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    });
                if !reverse_domain {
                    return Err(RedirectUriError(
                        "a native app's scheme must be a reverse domain name, like com.example.app",
                    ));
                }
            }
        }
        Ok(RedirectUri(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` (from an authorization request) is this registered URI: the same
    /// string, or for a loopback URI registered without a port, the same URI with any port.
    pub fn matches(&self, presented: &str) -> bool {
        if presented == self.0 {
            return true;
        }
        let (Ok(registered), Ok(given)) = (url::Url::parse(&self.0), url::Url::parse(presented))
        else {
            return false;
        };
        if registered.scheme() != "http"
            || !is_loopback_literal(&registered)
            || registered.port().is_some()
            || given.port().is_none()
            || presented.contains('#')
        {
            return false;
        }
        let mut without_port = given.clone();
        if without_port.set_port(None).is_err() {
            return false;
        }
        // Compared as parsed URLs (the port removed), and the presented string must be exactly
        // the registered one with `:port` after the host: no other difference slips through.
        without_port == registered
            && presented.replacen(&format!(":{}", given.port().unwrap_or(0)), "", 1) == self.0
    }
}

/// Whether a registered URI that matched `presented` vouches for the app behind it: an
/// `https` address reaches only its host's owner, but any app on a device may listen on a
/// loopback port or claim a private-use scheme (RFC 8252 §8.6), so there the client's identity
/// cannot be assured.
pub fn identifies_the_app(presented: &str) -> bool {
    presented.starts_with("https://")
}

/// `127.0.0.1` or `[::1]`, written as such (not a name that resolves to one).
fn is_loopback_literal(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(url::Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_may_be_registered() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?tenant=1",
            "https://app.example.com:8443/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:7777/cb",
            "http://[::1]/cb",
            "com.example.app:/cb",
            "com.example.app:/oauth2redirect/example-provider",
            "https://xn--bcher-kva.example/caf%C3%A9",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/relative/cb",
            "app.example.com/cb",
            "https://app.example.com/cb#frag",
            "https://*.example.com/cb",
            "https://app.example.com/*",
            "https://user:pw@app.example.com/cb",
            "http://app.example.com/cb",
            "http://localhost/cb",
            "http://127.0.0.2/cb",
            "http://0.0.0.0/cb",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "myapp:/cb",
            "https://app.example.com/c b",
            "https://app.example.com/cb\n",
            "https://bücher.example/cb",
            "https://app.example.com/café",
            "com.example.app:/ünïcode",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RedirectUri::parse(&format!("https://a.example/{}", "x".repeat(2000))).is_err());
    }

    #[test]
    fn presented_uris_match_exactly_or_by_loopback_port() {
        let https = RedirectUri::parse("https://app.example.com/cb").unwrap();
        assert!(https.matches("https://app.example.com/cb"));
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/CB",
            "https://APP.example.com/cb",
            "https://app.example.com:443/cb",
            "https://app.example.com/cb#x",
            "https://app.example.com.evil.test/cb",
            "https://app.example.com:8443/cb",
        ] {
            assert!(!https.matches(other), "{other}");
        }

        let loopback = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        assert!(loopback.matches("http://127.0.0.1/cb"));
        assert!(loopback.matches("http://127.0.0.1:51234/cb"));
        for other in [
            "http://127.0.0.1:51234/cb2",
            "http://127.0.0.1:51234/cb?x",
            "http://127.0.0.1:51234/cb#x",
            "http://localhost:51234/cb",
            "http://[::1]:51234/cb",
            "https://127.0.0.1:51234/cb",
            "http://127.0.0.1:51234@evil.test/cb",
        ] {
            assert!(!loopback.matches(other), "{other}");
        }
        let v6 = RedirectUri::parse("http://[::1]/cb").unwrap();
        assert!(v6.matches("http://[::1]:4000/cb"));

        // Registered with a port: that port only.
        let fixed = RedirectUri::parse("http://127.0.0.1:7777/cb").unwrap();
        assert!(fixed.matches("http://127.0.0.1:7777/cb"));
        assert!(!fixed.matches("http://127.0.0.1:7778/cb"));
        assert!(!fixed.matches("http://127.0.0.1/cb"));

        let native = RedirectUri::parse("com.example.app:/cb").unwrap();
        assert!(native.matches("com.example.app:/cb"));
        assert!(!native.matches("com.example.app:/cb2"));
    }
}
