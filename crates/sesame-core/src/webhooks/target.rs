//! Where a webhook may be sent. An endpoint URL is chosen by an admin, but the request is made
//! by Sesame from inside its network: without a rule, a webhook is a way to make Sesame POST to
//! its database, a cloud metadata service or an admin interface on loopback (server-side
//! request forgery). So only public addresses are targets, unless
//! `SESAME_WEBHOOK_ALLOW_PRIVATE=on` (development and tests): checked when the endpoint is
//! created, and again at every delivery, because a name may resolve elsewhere later (the
//! service's sender connects to exactly the addresses it checked).
//!
//! `https://` always; `http://` only with the setting on and for a target that is not public
//! (a receiver on loopback or the private network, where the traffic stays inside).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// How long creation waits for a name to resolve before it accepts the endpoint anyway (the
/// delivery-time check still holds).
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether an address is reachable on the public internet. Everything else — loopback,
/// private (RFC 1918), carrier-grade NAT (RFC 6598), link-local (cloud metadata services live
/// at 169.254.169.254), unique-local (fc00::/7), unspecified, multicast, broadcast, and the
/// documentation, benchmarking and reserved ranges — is refused as a target. IPv4 addresses
/// carried in IPv6 (mapped, compatible, NAT64, 6to4) are judged as the IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0                                   // "this network"
        || (a == 100 && (64..=127).contains(&b))    // carrier-grade NAT, 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0)           // IETF protocol assignments, 192.0.0.0/24
        || (a == 198 && (b == 18 || b == 19))       // benchmarking, 198.18.0.0/15
        || a >= 240) // reserved, 240.0.0.0/4
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00                 // unique local, fc00::/7
        || (s[0] & 0xffc0) == 0xfe80                 // link-local, fe80::/10
        || (s[0] & 0xffc0) == 0xfec0                 // site-local (deprecated), fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8)        // documentation, 2001:db8::/32
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])) // discard-only, 100::/64
}

/// The IPv4 address an IPv6 address stands for, when it is one of the forms that carry one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    match s {
        // ::ffff:a.b.c.d (mapped)
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(v4(hi, lo)),
        // ::a.b.c.d (compatible, deprecated); :: and ::1 are IPv6's own unspecified and loopback
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => Some(v4(hi, lo)),
        // NAT64, 64:ff9b::/96
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        // 6to4, 2002:aabb:ccdd::/48
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

/// An endpoint URL that passed the syntax rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    url: url::Url,
}

/// Where a URL's host points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

impl TargetUrl {
    /// The syntax rules: an absolute `https://` or `http://` URL with a host, no user name or
    /// password (they would be shown in every listing and log line), no fragment, at most
    /// [`MAX_URL_LEN`] bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_URL_LEN {
            return Err(format!("must be at most {MAX_URL_LEN} characters"));
        }
        let url = url::Url::parse(text.trim()).map_err(|_| "not a URL".to_string())?;
        if url.scheme() != "https" && url.scheme() != "http" {
            return Err("must be an https:// URL".into());
        }
        if url.host().is_none() {
            return Err("must name a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry a user name or password".into());
        }
        if url.fragment().is_some() {
            return Err("must not have a fragment".into());
        }
        Ok(TargetUrl { url })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    pub fn host(&self) -> Host<'_> {
        match self.url.host() {
            Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => Host::Name(name),
            None => Host::Name(""),
        }
    }

    /// The port requests go to (the scheme's default when none is written).
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }
}

/// The rule on a target's addresses, as resolved now: with `allow_private` off, every address
/// must be public (one private address among public ones is enough to refuse: the connection
/// may go to any of them); an `http://` URL needs `allow_private` and a target that is not
/// public at all.
pub fn check_addresses(
    url: &TargetUrl,
    addresses: &[IpAddr],
    allow_private: bool,
) -> Result<(), String> {
    if !url.is_https() {
        if !allow_private {
            return Err("must be an https:// URL".into());
        }
        if addresses.is_empty() || addresses.iter().any(|ip| is_public(*ip)) {
            return Err(
                "http:// is accepted only for a loopback or private-network receiver; use https://"
                    .into(),
            );
        }
        return Ok(());
    }
    if allow_private {
        return Ok(());
    }
    match addresses.iter().find(|ip| !is_public(**ip)) {
        Some(ip) => Err(format!(
            "resolves to {ip}, which is not a public address (loopback and private networks are refused unless SESAME_WEBHOOK_ALLOW_PRIVATE=on)"
        )),
        None => Ok(()),
    }
}

/// The check made when an endpoint is created: its addresses as resolved now. A name that does
/// not resolve (yet) is accepted for `https://` — DNS may be set up after the endpoint — and is
/// checked at every delivery anyway; an `http://` URL must be shown to be private.
pub async fn check_at_creation(url: &TargetUrl, allow_private: bool) -> Result<(), String> {
    let addresses = match url.host() {
        Host::Ip(ip) => vec![ip],
        Host::Name(name) => resolve(name, url.port()).await.unwrap_or_default(),
    };
    if addresses.is_empty() && url.is_https() {
        return Ok(());
    }
    check_addresses(url, &addresses, allow_private)
}

/// The addresses a name resolves to (bounded by a timeout).
pub async fn resolve(name: &str, port: u16) -> std::io::Result<Vec<IpAddr>> {
    let lookup = tokio::net::lookup_host((name, port));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Ok(found) => Ok(found?.map(|a| a.ip()).collect()),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "name resolution timed out",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "fec0::1",
            "100::1",
        ] {
            assert!(!is_public(ip(private)), "{private} is not public");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(public)), "{public} is public");
        }
    }

    #[test]
    fn urls_follow_the_syntax_rules() {
        for bad in [
            "",
            "not a url",
            "ftp://example.com/hook",
            "javascript:alert(1)",
            "https://user:pass@example.com/hook",
            "https://user@example.com/hook",
            "https://example.com/hook#frag",
            "file:///etc/passwd",
        ] {
            assert!(TargetUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(TargetUrl::parse(&long).is_err());
        let u = TargetUrl::parse("https://hooks.example.com/in?x=1").unwrap();
        assert_eq!(u.host(), Host::Name("hooks.example.com"));
        assert_eq!(u.port(), 443);
        let u = TargetUrl::parse("http://[::1]:8080/in").unwrap();
        assert_eq!(u.host(), Host::Ip(ip("::1")));
        assert_eq!(u.port(), 8080);
        assert!(!u.is_https());
    }

    #[test]
    fn private_targets_need_the_setting_and_http_needs_a_private_target() {
        let https = TargetUrl::parse("https://hooks.example.com/in").unwrap();
        let http = TargetUrl::parse("http://hooks.example.com/in").unwrap();
        let public = [ip("93.184.215.14")];
        let private = [ip("10.0.0.5")];
        let mixed = [ip("93.184.215.14"), ip("127.0.0.1")];
        assert!(check_addresses(&https, &public, false).is_ok());
        assert!(check_addresses(&https, &private, false).is_err());
        assert!(check_addresses(&https, &mixed, false).is_err());
        assert!(check_addresses(&https, &private, true).is_ok());
        assert!(check_addresses(&https, &mixed, true).is_ok());
        assert!(check_addresses(&http, &private, false).is_err());
        assert!(check_addresses(&http, &private, true).is_ok());
        assert!(check_addresses(&http, &public, true).is_err());
        assert!(check_addresses(&http, &mixed, true).is_err());
        assert!(check_addresses(&http, &[], true).is_err());
    }

    #[tokio::test]
    async fn creation_resolves_names_and_refuses_loopback_ones() {
        let localhost = TargetUrl::parse("https://localhost:9/hook").unwrap();
        let err = check_at_creation(&localhost, false).await.unwrap_err();
        assert!(err.contains("not a public address"), "{err}");
        assert!(check_at_creation(&localhost, true).await.is_ok());
        let literal = TargetUrl::parse("https://[::ffff:192.168.0.1]/hook").unwrap();
        assert!(check_at_creation(&literal, false).await.is_err());
        let public = TargetUrl::parse("https://93.184.215.14/hook").unwrap();
        assert!(check_at_creation(&public, false).await.is_ok());
        // `.invalid` never resolves (RFC 6761): https waits for the delivery-time check, http
        // cannot be shown private and is refused.
        let unknown = TargetUrl::parse("https://nowhere.invalid/hook").unwrap();
        assert!(check_at_creation(&unknown, false).await.is_ok());
        let unknown = TargetUrl::parse("http://nowhere.invalid/hook").unwrap();
        assert!(check_at_creation(&unknown, true).await.is_err());
    }
}
