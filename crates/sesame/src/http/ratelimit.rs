//! Per-client-IP rate limiting on the endpoints that cost a password hash or mint credentials:
//! login, register, refresh, service tokens, and the endpoints that send email (password reset,
//! verification resend). IPv6 clients are keyed by their /64, which one client usually owns whole.
//!
//! Each address has a GCRA bucket (the "generic cell rate algorithm" of ATM networks and of the
//! `governor` crate this replaced): one timestamp per address, the theoretical arrival time of
//! its next request. Memory stays bounded under a flood of distinct addresses by evicting *by
//! age*: buckets that are full again are dropped first (they limit nothing), then, if the table
//! is still over [`MAX_TRACKED`], those closest to full. The addresses that are being limited
//! hardest are kept, so a flood of fresh IPv6 addresses cannot reset everyone's counters — which
//! is what clearing the whole table, governor's only option, did.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use super::extract::client_ip;

/// Distinct addresses tracked per limiter; past that the oldest buckets are evicted.
const MAX_TRACKED: usize = 100_000;
/// The table is split in shards so concurrent requests rarely wait for one lock.
const SHARDS: usize = 16;
/// How much of a full shard one eviction frees, so evictions stay rare under a flood.
const EVICT_FRACTION: usize = 10;

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

    /// The time between two requests at the sustained rate.
    fn interval(self) -> Duration {
        self.per / self.count.max(1)
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

/// One class's buckets: per address, when its bucket will be full again (as an offset from
/// `epoch`, in nanoseconds). A request is allowed while that moment is at most `burst` intervals
/// ahead of now; each allowed request moves it one interval further.
struct Table {
    interval: u64,
    burst: u64,
    epoch: Instant,
    shards: Vec<Mutex<HashMap<IpAddr, u64>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Table {
    fn new(rate: Rate) -> Self {
        Table {
            interval: u64::try_from(rate.interval().as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
            burst: u64::from(rate.count.max(1)),
            epoch: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: Default::default(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn shard(&self, key: &IpAddr) -> &Mutex<HashMap<IpAddr, u64>> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    fn check(&self, key: IpAddr) -> Result<(), u64> {
        self.check_at(key, self.now())
    }

    /// `Err(seconds to wait)` when `key` is over its rate at `now` (ns since `epoch`).
    fn check_at(&self, key: IpAddr, now: u64) -> Result<(), u64> {
        let mut shard = self.shard(&key).lock().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= MAX_TRACKED / SHARDS && !shard.contains_key(&key) {
            evict_oldest(&mut shard, now);
        }
        let full_at = shard.get(&key).copied().unwrap_or(0).max(now);
        let next = full_at.saturating_add(self.interval);
        let allowance = self.interval.saturating_mul(self.burst);
        if next - now > allowance {
            let wait = Duration::from_nanos(next - now - allowance);
            return Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        }
        shard.insert(key, next);
        Ok(())
    }

    /// Drops the buckets that are full again: those addresses are not limited at all.
    fn prune(&self) {
        let now = self.now();
        for shard in &self.shards {
            let mut s = shard.lock().unwrap_or_else(|e| e.into_inner());
            s.retain(|_, full_at| *full_at > now);
            s.shrink_to_fit();
        }
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}

/// Frees room in a full shard: buckets already full again go first; if that is not enough, the
/// ones that will be full soonest (the least limited), never the addresses limited hardest.
fn evict_oldest(shard: &mut HashMap<IpAddr, u64>, now: u64) {
    shard.retain(|_, full_at| *full_at > now);
    let target = (MAX_TRACKED / SHARDS).saturating_sub(MAX_TRACKED / SHARDS / EVICT_FRACTION);
    if shard.len() <= target {
        return;
    }
    let mut ages: Vec<u64> = shard.values().copied().collect();
    let cut = shard.len() - target;
    let (_, nth, _) = ages.select_nth_unstable(cut - 1);
    let threshold = *nth;
    let mut removed = 0;
    shard.retain(|_, full_at| {
        if removed < cut && *full_at <= threshold {
            removed += 1;
            false
        } else {
            true
        }
    });
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
        assert!(l.tracked() <= MAX_TRACKED, "tracked {}", l.tracked());
    }

    #[test]
    fn a_flood_of_new_addresses_does_not_reset_a_limited_one() {
        let l = RateLimits::new(
            true,
            Limits {
                login: Rate {
                    count: 3,
                    per: Duration::from_secs(3600),
                },
                ..Limits::default()
            },
        );
        let attacker: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(Class::Login, attacker).is_ok());
        }
        assert!(l.check(Class::Login, attacker).is_err());
        // Three times the table's size of fresh /64s, one request each.
        for i in 0..(3 * MAX_TRACKED as u128) {
            let v6 =
                std::net::Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000 | (i << 64));
            let _ = l.check(Class::Login, IpAddr::V6(v6));
        }
        assert!(l.tracked() <= MAX_TRACKED, "tracked {}", l.tracked());
        assert!(
            l.check(Class::Login, attacker).is_err(),
            "the address limited hardest keeps its bucket"
        );
    }

    #[test]
    fn buckets_refill_at_the_sustained_rate() {
        let t = Table::new(Rate {
            count: 2,
            per: Duration::from_secs(2),
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let s = 1_000_000_000u64;
        assert!(t.check_at(a, 10 * s).is_ok());
        assert!(t.check_at(a, 10 * s).is_ok());
        assert_eq!(t.check_at(a, 10 * s), Err(1), "one interval to wait");
        assert!(t.check_at(a, 11 * s).is_ok(), "one request back after 1 s");
        assert!(t.check_at(a, 11 * s).is_err());
        assert!(t.check_at(a, 20 * s).is_ok());
        assert!(t.check_at(a, 20 * s).is_ok(), "a full burst after idling");
        assert!(t.check_at(a, 20 * s).is_err());
    }
}
