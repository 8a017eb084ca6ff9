//! Per-client-IP rate limiting (token buckets, `governor`) on the endpoints that cost a password
//! hash or mint credentials: login, register, refresh, service tokens,
//! and the endpoints that send email (password reset, verification resend).
//!
//! Memory stays bounded under a flood of distinct addresses: idle buckets are dropped
//! periodically, and if the table still exceeds `MAX_TRACKED` it is cleared (failing open for one
//! window rather than growing without bound — a flood that large is a job for the network edge).
//! IPv6 clients are keyed by their /64, which one client usually owns whole.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::RwLock;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use super::error::ApiError;
use super::extract::client_ip;

/// Distinct addresses tracked per limiter before the table is pruned.
const MAX_TRACKED: usize = 100_000;

/// A rate such as `20/m`: `count` requests per `per`, bursts up to `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// Parses `N/s`, `N/m` (or `N/min`) and `N/h`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (n, unit) = s
            .trim()
            .split_once('/')
            .ok_or("expected a rate like 20/m")?;
        let count: u32 = n.trim().parse().map_err(|_| "expected a rate like 20/m")?;
        if count == 0 {
            return Err("the count must be at least 1".into());
        }
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err("the unit must be s, m or h".into()),
        };
        Ok(Rate { count, per })
    }

    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.count).unwrap_or(NonZeroU32::MIN);
        let period = self.per / self.count;
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst)
    }
}

/// The limited endpoint groups.
#[derive(Debug, Clone, Copy)]
pub enum Class {
    Login,
    Register,
    Refresh,
    Token,
    /// Password-reset and verification emails.
    Forgot,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub login: Rate,
    pub register: Rate,
    pub refresh: Rate,
    pub token: Rate,
    pub forgot: Rate,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            login: Rate {
                count: 20,
                per: Duration::from_secs(60),
            },
            register: Rate {
                count: 10,
                per: Duration::from_secs(60),
            },
            refresh: Rate {
                count: 60,
                per: Duration::from_secs(60),
            },
            token: Rate {
                count: 120,
                per: Duration::from_secs(60),
            },
            forgot: Rate {
                count: 5,
                per: Duration::from_secs(60),
            },
        }
    }
}

/// One class's limiter, replaceable whole when it must be cleared (governor has no `clear`).
struct Table {
    quota: Quota,
    limiter: RwLock<DefaultKeyedRateLimiter<IpAddr>>,
}

impl Table {
    fn new(rate: Rate) -> Self {
        let quota = rate.quota();
        Table {
            quota,
            limiter: RwLock::new(RateLimiter::keyed(quota)),
        }
    }

    fn check(&self, key: IpAddr) -> Result<(), u64> {
        let over = self.limiter.read().unwrap_or_else(|e| e.into_inner()).len() > MAX_TRACKED;
        if over {
            let mut l = self.limiter.write().unwrap_or_else(|e| e.into_inner());
            l.retain_recent();
            if l.len() > MAX_TRACKED {
                *l = RateLimiter::keyed(self.quota);
            }
        }
        let l = self.limiter.read().unwrap_or_else(|e| e.into_inner());
        l.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    fn prune(&self) {
        let l = self.limiter.read().unwrap_or_else(|e| e.into_inner());
        l.retain_recent();
        l.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.limiter.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

pub struct RateLimits {
    enabled: bool,
    login: Table,
    register: Table,
    refresh: Table,
    token: Table,
    forgot: Table,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// The address a limit applies to: the address itself for IPv4, the /64 for IPv6.
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
    }
}

impl RateLimits {
    pub fn new(enabled: bool, limits: Limits) -> Self {
        RateLimits {
            enabled,
            login: Table::new(limits.login),
            register: Table::new(limits.register),
            refresh: Table::new(limits.refresh),
            token: Table::new(limits.token),
            forgot: Table::new(limits.forgot),
        }
    }

    fn table(&self, class: Class) -> &Table {
        match class {
            Class::Login => &self.login,
            Class::Register => &self.register,
            Class::Refresh => &self.refresh,
            Class::Token => &self.token,
            Class::Forgot => &self.forgot,
        }
    }

    /// `Err(seconds to wait)` when the client is over its rate.
    pub fn check(&self, class: Class, ip: IpAddr) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        self.table(class).check(bucket_key(ip))
    }

    /// Drops buckets that are full again (idle clients); run periodically.
    pub fn prune(&self) {
        for t in [
            &self.login,
            &self.register,
            &self.refresh,
            &self.token,
            &self.forgot,
        ] {
            t.prune();
        }
    }

    pub fn tracked(&self) -> usize {
        [
            &self.login,
            &self.register,
            &self.refresh,
            &self.token,
            &self.forgot,
        ]
        .iter()
        .map(|l| l.len())
        .sum()
    }
}

/// Declared in a handler's signature: refuses the request with 429 `rate_limited` and
/// `Retry-After` when the client is over the rate of the class `C`.
#[derive(Debug)]
pub struct Limited<const C: u8>;

pub const LOGIN: u8 = 0;
pub const REGISTER: u8 = 1;
pub const REFRESH: u8 = 2;
pub const TOKEN: u8 = 3;
pub const FORGOT: u8 = 4;

impl<const C: u8> FromRequestParts<AppState> for Limited<C> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let class = match C {
            LOGIN => Class::Login,
            REGISTER => Class::Register,
            REFRESH => Class::Refresh,
            FORGOT => Class::Forgot,
            _ => Class::Token,
        };
        let Some(ip) = client_ip(parts, &state.http.trusted_proxies) else {
            return Ok(Limited);
        };
        state
            .limits
            .check(class, ip)
            .map(|()| Limited)
            .map_err(ApiError::rate_limited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!(
            Rate::parse("20/m").unwrap(),
            Rate {
                count: 20,
                per: Duration::from_secs(60)
            }
        );
        assert_eq!(Rate::parse("5/s").unwrap().per, Duration::from_secs(1));
        assert_eq!(Rate::parse("100/h").unwrap().count, 100);
        for bad in ["", "20", "0/m", "x/m", "5/d"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_per_address_and_reports_the_wait() {
        let l = RateLimits::new(
            true,
            Limits {
                login: Rate {
                    count: 3,
                    per: Duration::from_secs(60),
                },
                ..Limits::default()
            },
        );
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(Class::Login, a).is_ok());
        }
        let wait = l.check(Class::Login, a).unwrap_err();
        assert!((1..=20).contains(&wait), "wait {wait}");
        assert!(
            l.check(Class::Login, b).is_ok(),
            "another address has its own bucket"
        );
        assert!(
            l.check(Class::Register, a).is_ok(),
            "another class has its own bucket"
        );
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let l = RateLimits::new(
            true,
            Limits {
                login: Rate {
                    count: 1,
                    per: Duration::from_secs(60),
                },
                ..Limits::default()
            },
        );
        assert!(
            l.check(Class::Login, "2001:db8:1:2::1".parse().unwrap())
                .is_ok()
        );
        assert!(
            l.check(Class::Login, "2001:db8:1:2::ffff".parse().unwrap())
                .is_err()
        );
        assert!(
            l.check(Class::Login, "2001:db8:1:3::1".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn disabled_never_limits() {
        let l = RateLimits::new(
            false,
            Limits {
                login: Rate {
                    count: 1,
                    per: Duration::from_secs(60),
                },
                ..Limits::default()
            },
        );
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..10 {
            assert!(l.check(Class::Login, a).is_ok());
        }
    }

    #[test]
    fn memory_stays_bounded_under_distinct_addresses() {
        let l = RateLimits::new(true, Limits::default());
        for i in 0..(MAX_TRACKED as u32 + 10) {
            let _ = l.check(Class::Login, IpAddr::V4(i.into()));
        }
        assert!(l.tracked() <= MAX_TRACKED + 1, "tracked {}", l.tracked());
    }
}
