//! Per-client-address token buckets, in memory.
//!
//! Each `serve` process limits on its own: behind a load balancer with N
//! processes a client gets up to N times the rate. That is enough to keep one
//! abusive client from starving the rest; a shared limit would cost a database
//! round trip per scan.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests per second and burst size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens added per second.
    pub per_sec: f64,
    /// Bucket size: requests allowed at once after a quiet spell.
    pub burst: f64,
}

impl Rate {
    /// Reads `RATE` or `RATE,BURST` (e.g. `10` or `10,40`); burst defaults to 4×rate.
    pub fn parse(s: &str) -> Option<Rate> {
        let mut it = s.split(',').map(|p| p.trim().parse::<f64>());
        let per_sec = it.next()?.ok().filter(|r| r.is_finite() && *r > 0.0)?;
        let burst = match it.next() {
            None => (per_sec * 4.0).max(1.0),
            Some(b) => b.ok().filter(|b| b.is_finite() && *b >= 1.0)?,
        };
        it.next().is_none().then_some(Rate { per_sec, burst })
    }
}

/// One client's bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(rate: Rate, now: Instant) -> Self {
        Bucket {
            tokens: rate.burst,
            last: now,
        }
    }

    /// Refills for the time passed and takes one token if there is one.
    pub fn take(&mut self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_sec).min(rate.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has refilled completely (so forgetting it changes nothing).
    fn idle(&self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * rate.per_sec >= rate.burst
    }
}

const SHARDS: usize = 16;
/// Clients remembered per shard before idle buckets are swept.
const SWEEP_AT: usize = 4096;

/// Buckets by client address, sharded so concurrent requests rarely share a lock.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
}

impl RateLimiter {
    /// A limiter allowing `rate` per address.
    pub fn new(rate: Rate) -> Self {
        RateLimiter {
            rate,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    /// Whether `ip` may make a request now.
    pub fn check(&self, ip: IpAddr) -> bool {
        self.check_at(ip, Instant::now())
    }

    /// [`RateLimiter::check`] at a given instant (for tests).
    pub fn check_at(&self, ip: IpAddr, now: Instant) -> bool {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        ip.hash(&mut h);
        let shard = &self.shards[(h.finish() as usize) % SHARDS];
        // A poisoned lock means a panic mid-update of plain numbers: keep going.
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= SWEEP_AT {
            let rate = self.rate;
            map.retain(|_, b| !b.idle(rate, now));
            // Still full: a flood from many addresses. Forgetting them all only
            // hands each a fresh bucket; memory stays bounded.
            if map.len() >= SWEEP_AT {
                map.clear();
            }
        }
        map.entry(ip)
            .or_insert_with(|| Bucket::full(self.rate, now))
            .take(self.rate, now)
    }

    /// Seconds until a refused client may try again.
    pub fn retry_after(&self) -> Duration {
        Duration::from_secs_f64((1.0 / self.rate.per_sec).clamp(1.0, 3600.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rates() {
        assert_eq!(
            Rate::parse("10"),
            Some(Rate {
                per_sec: 10.0,
                burst: 40.0
            })
        );
        assert_eq!(
            Rate::parse("0.5,3"),
            Some(Rate {
                per_sec: 0.5,
                burst: 3.0
            })
        );
        for bad in ["", "0", "-1", "x", "1,0", "1,2,3", "NaN", "inf"] {
            assert_eq!(Rate::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn bucket_allows_burst_then_rate() {
        let rate = Rate {
            per_sec: 2.0,
            burst: 3.0,
        };
        let t0 = Instant::now();
        let mut b = Bucket::full(rate, t0);
        assert!(b.take(rate, t0));
        assert!(b.take(rate, t0));
        assert!(b.take(rate, t0));
        assert!(!b.take(rate, t0));
        // Half a second later: one token at 2/s.
        let t1 = t0 + Duration::from_millis(500);
        assert!(b.take(rate, t1));
        assert!(!b.take(rate, t1));
        // Long quiet: refills only to the burst.
        let t2 = t1 + Duration::from_secs(100);
        for _ in 0..3 {
            assert!(b.take(rate, t2));
        }
        assert!(!b.take(rate, t2));
        // A clock that goes backwards adds nothing.
        assert!(!b.take(rate, t0));
    }

    #[test]
    fn limiter_is_per_address_and_forgets_idle_clients() {
        let rate = Rate {
            per_sec: 1.0,
            burst: 2.0,
        };
        let l = RateLimiter::new(rate);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(l.check_at(a, t0));
        assert!(l.check_at(a, t0));
        assert!(!l.check_at(a, t0));
        assert!(l.check_at(b, t0));
        for i in 0..(SWEEP_AT * SHARDS * 2) as u32 {
            l.check_at(IpAddr::from(i.to_be_bytes()), t0 + Duration::from_secs(10));
        }
        let held: usize = l.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= SWEEP_AT * SHARDS + SHARDS, "{held}");
        assert!(l.retry_after() >= Duration::from_secs(1));
    }
}
