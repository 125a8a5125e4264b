//! Sign-in limits for the dock: per client address, per user name, and a cap
//! on argon2 checks running at once.
//!
//! argon2 is deliberately slow (~20 MiB and tens of ms per check), so a flood
//! of sign-ins would otherwise take both cores and the memory with it. The
//! address limit stops one client; the name limit stops guessing one user's
//! password from many addresses; the cap bounds the work whatever the mix.
//! Limits are per process and in memory, like the scan page's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::http::ratelimit::{Bucket, Rate, RateLimiter};

/// Sign-ins per client address: a burst of 10, then one every 2 s.
const PER_ADDRESS: Rate = Rate {
    per_sec: 0.5,
    burst: 10.0,
};
/// Sign-ins per user name: a burst of 5, then one every 10 s.
const PER_NAME: Rate = Rate {
    per_sec: 0.1,
    burst: 5.0,
};
/// argon2 checks at once; more wait for none and are told to retry.
const CONCURRENT_CHECKS: usize = 4;
/// Names remembered before the map is cleared (bounded memory under a flood).
const MAX_NAMES: usize = 10_000;

/// Why a sign-in was not even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Too many from this address.
    Address,
    /// Too many for this user name.
    Name,
    /// Too many argon2 checks running.
    Busy,
}

impl Refusal {
    /// What the sign-in form says.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Address => {
                "Too many sign-in attempts from this device. Wait a minute, then try again. 登录尝试过多，请稍后再试。"
            }
            Refusal::Name => {
                "Too many sign-in attempts for this user. Wait a minute, then try again, or ask your admin. 该用户登录尝试过多，请稍后再试。"
            }
            Refusal::Busy => {
                "The server is busy checking other sign-ins. Try again in a few seconds. 服务器繁忙，请稍后再试。"
            }
        }
    }

    /// Seconds the client should wait.
    pub fn retry_after(self) -> u64 {
        match self {
            Refusal::Address => (1.0 / PER_ADDRESS.per_sec) as u64,
            Refusal::Name => (1.0 / PER_NAME.per_sec) as u64,
            Refusal::Busy => 2,
        }
    }
}

/// The dock's sign-in limits.
#[derive(Debug)]
pub struct SignInLimits {
    addresses: RateLimiter,
    names: Mutex<HashMap<String, Bucket>>,
    checks: tokio::sync::Semaphore,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            addresses: RateLimiter::new(PER_ADDRESS),
            names: Mutex::default(),
            checks: tokio::sync::Semaphore::new(CONCURRENT_CHECKS),
        }
    }
}

impl SignInLimits {
    /// Takes a token for the address and the name, or says which ran out.
    pub fn admit(&self, ip: Option<IpAddr>, party: &str, name: &str) -> Result<(), Refusal> {
        self.admit_at(ip, party, name, Instant::now())
    }

    fn admit_at(
        &self,
        ip: Option<IpAddr>,
        party: &str,
        name: &str,
        now: Instant,
    ) -> Result<(), Refusal> {
        if let Some(ip) = ip {
            if !self.addresses.check_at(ip, now) {
                return Err(Refusal::Address);
            }
        }
        let key = format!(
            "{}\u{0}{}",
            party.trim().to_lowercase(),
            name.trim().to_lowercase()
        );
        // A poisoned lock means a panic mid-update of plain numbers: keep going.
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.len() >= MAX_NAMES {
            names.clear();
        }
        let ok = names
            .entry(key)
            .or_insert_with(|| Bucket::full(PER_NAME, now))
            .take(PER_NAME, now);
        if ok {
            Ok(())
        } else {
            Err(Refusal::Name)
        }
    }

    /// A permit to run one argon2 check, if one is free within a moment.
    pub async fn check_permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Refusal> {
        tokio::time::timeout(Duration::from_secs(2), self.checks.acquire())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(Refusal::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_and_name_limits_are_separate() {
        let l = SignInLimits::default();
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        // One user, five tries: then the name is locked for everyone.
        for _ in 0..5 {
            assert_eq!(l.admit_at(Some(a), "north", "anna", t0), Ok(()));
        }
        assert_eq!(
            l.admit_at(Some("192.0.2.9".parse().unwrap()), "north", " ANNA", t0),
            Err(Refusal::Name)
        );
        // The same address may still sign in other users, up to its own limit.
        for i in 0..5 {
            assert_eq!(
                l.admit_at(Some(a), "north", &format!("u{i}"), t0),
                Ok(()),
                "{i}"
            );
        }
        assert_eq!(
            l.admit_at(Some(a), "north", "zed", t0),
            Err(Refusal::Address)
        );
        // Ten seconds later the name has one try again.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(l.admit_at(None, "north", "anna", t1), Ok(()));
        assert_eq!(l.admit_at(None, "north", "anna", t1), Err(Refusal::Name));
        assert!(Refusal::Name.message().contains("Wait"));
        assert!(Refusal::Address.retry_after() >= 1);
    }

    #[tokio::test]
    async fn checks_at_once_are_capped() {
        let l = SignInLimits::default();
        let mut held = Vec::new();
        for _ in 0..CONCURRENT_CHECKS {
            held.push(l.check_permit().await.unwrap());
        }
        assert_eq!(l.check_permit().await.unwrap_err(), Refusal::Busy);
        drop(held);
        assert!(l.check_permit().await.is_ok());
    }
}
