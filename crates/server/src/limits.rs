//! Request rate limits (token buckets, GCRA, with `governor`), kept per node: events
//! per API key, failed authentications per client address, preference writes per user.
//! A refused request gets 429 `rate_limited` with `Retry-After`.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::Config;
use crate::error::ApiError;

/// Checks between sweeps of keys whose buckets are full again (memory stays bounded by
/// the keys seen in one sweep period).
const SWEEP_EVERY: u64 = 4096;

/// One keyed token bucket.
struct Bucket<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    burst: u32,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> Bucket<K> {
    /// `None` when `per_second` is 0 (no limit).
    fn new(per_second: f64, burst: u32) -> Option<Bucket<K>> {
        if per_second <= 0.0 {
            return None;
        }
        let burst_nz = NonZeroU32::new(burst.max(1))?;
        let quota =
            Quota::with_period(Duration::from_secs_f64(1.0 / per_second))?.allow_burst(burst_nz);
        Some(Bucket {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            burst: burst_nz.get(),
            checks: AtomicU64::new(0),
        })
    }

    /// Takes `n` cells; `Err(seconds to wait)` when they are not there.
    fn take(&self, key: &K, n: u32) -> Result<(), Wait> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        let Some(n) = NonZeroU32::new(n) else {
            return Ok(());
        };
        match self.limiter.check_key_n(key, n) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                Err(Wait::For(wait))
            }
            Err(_) => Err(Wait::Never(self.burst)),
        }
    }
}

/// Why cells were not there.
enum Wait {
    For(Duration),
    /// More cells than the burst holds.
    Never(u32),
}

fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The limits of this node.
pub struct Limits {
    events: Option<Bucket<String>>,
    auth_failures: Option<Bucket<IpAddr>>,
    pref_writes: Option<Bucket<(String, String)>>,
    /// Addresses whose failed-authentication bucket ran dry, until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl Limits {
    pub fn from_config(cfg: &Config) -> Limits {
        Limits {
            events: Bucket::new(cfg.rate_events_per_second, cfg.rate_events_burst),
            auth_failures: Bucket::new(
                cfg.rate_auth_failures_per_minute / 60.0,
                cfg.rate_auth_failures_burst,
            ),
            pref_writes: Bucket::new(
                cfg.rate_pref_writes_per_minute / 60.0,
                cfg.rate_pref_writes_burst,
            ),
            blocked: Mutex::new(HashMap::new()),
        }
    }

    /// `n` events posted with the API key whose hash is `key`.
    pub fn events(&self, key: &str, n: usize) -> Result<(), ApiError> {
        let Some(b) = &self.events else {
            return Ok(());
        };
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        b.take(&key.to_string(), n).map_err(|w| match w {
            Wait::For(d) => ApiError::too_many(
                "rate_limited",
                "too many events for this API key; slow down and retry after the time in Retry-After",
                seconds(d),
            ),
            Wait::Never(burst) => ApiError::too_many(
                "rate_limited",
                format!("a request may carry at most {burst} events under this server's rate limit"),
                1,
            ),
        })
    }

    /// A preference write by a user.
    pub fn pref_write(&self, account: &str, user: &str) -> Result<(), ApiError> {
        let Some(b) = &self.pref_writes else {
            return Ok(());
        };
        b.take(&(account.to_string(), user.to_string()), 1)
            .map_err(|w| {
                let d = match w {
                    Wait::For(d) => d,
                    Wait::Never(_) => Duration::from_secs(60),
                };
                ApiError::too_many(
                    "rate_limited",
                    "too many preference changes; retry after the time in Retry-After",
                    seconds(d),
                )
            })
    }

    fn lock_blocked(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Instant>> {
        // Only plain inserts and removes happen under this lock.
        self.blocked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Refuses every credential from an address whose failures used up its bucket.
    pub fn auth_allowed(&self, addr: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(addr) = addr else {
            return Ok(());
        };
        if self.auth_failures.is_none() {
            return Ok(());
        }
        let mut blocked = self.lock_blocked();
        let Some(until) = blocked.get(&addr).copied() else {
            return Ok(());
        };
        let now = Instant::now();
        if until <= now {
            blocked.remove(&addr);
            return Ok(());
        }
        Err(too_many_failures(until - now))
    }

    /// Counts a failed authentication from `addr`; the error to answer (the 401, or 429
    /// once the address has used up its failures).
    pub fn auth_failed(&self, addr: Option<IpAddr>, failure: ApiError) -> ApiError {
        let (Some(addr), Some(b)) = (addr, &self.auth_failures) else {
            return failure;
        };
        match b.take(&addr, 1) {
            Ok(()) => failure,
            Err(w) => {
                let d = match w {
                    Wait::For(d) => d,
                    Wait::Never(_) => Duration::from_secs(60),
                };
                let mut blocked = self.lock_blocked();
                if blocked.len() > 100_000 {
                    let now = Instant::now();
                    blocked.retain(|_, until| *until > now);
                }
                blocked.insert(addr, Instant::now() + d);
                metrics::counter!("varsel_auth_rate_limited_total").increment(1);
                too_many_failures(d)
            }
        }
    }
}

fn too_many_failures(d: Duration) -> ApiError {
    ApiError::too_many(
        "rate_limited",
        "too many failed authentications from this address; retry after the time in Retry-After",
        seconds(d),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(f: impl FnOnce(&mut Config)) -> Limits {
        let mut c = Config::defaults();
        f(&mut c);
        Limits::from_config(&c)
    }

    #[test]
    fn events_are_counted_per_key_and_event() {
        let l = cfg(|c| {
            c.rate_events_per_second = 0.001;
            c.rate_events_burst = 5;
        });
        l.events("a", 3).unwrap();
        l.events("a", 2).unwrap();
        let e = l.events("a", 1).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (429, "rate_limited"));
        assert!(e.retry_after.is_some_and(|s| s >= 1));
        l.events("b", 5).unwrap();
        let e = l.events("c", 6).unwrap_err();
        assert!(e.message.contains("at most 5"), "{}", e.message);
    }

    #[test]
    fn zero_rate_is_no_limit() {
        let l = cfg(|c| c.rate_events_per_second = 0.0);
        for _ in 0..100 {
            l.events("a", 1000).unwrap();
        }
    }

    #[test]
    fn failures_block_the_address_then_every_credential() {
        let l = cfg(|c| {
            c.rate_auth_failures_per_minute = 0.01;
            c.rate_auth_failures_burst = 3;
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            l.auth_allowed(Some(ip)).unwrap();
            let e = l.auth_failed(Some(ip), ApiError::unauthorized("bad"));
            assert_eq!(e.status.as_u16(), 401);
        }
        let e = l.auth_failed(Some(ip), ApiError::unauthorized("bad"));
        assert_eq!(e.status.as_u16(), 429);
        assert_eq!(l.auth_allowed(Some(ip)).unwrap_err().status.as_u16(), 429);
        l.auth_allowed(Some(other)).unwrap();
        l.auth_allowed(None).unwrap();
    }
}
