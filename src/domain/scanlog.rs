//! The scan log's rules: coarse client fingerprints, daily salts and the
//! estimate of distinct scanners that feeds the suspect verdict. No I/O.
//!
//! Privacy: a scan is stored as `hash(salt_of_day, fingerprint)`, never as an
//! IP address. The fingerprint is coarse (network prefix plus user agent), and
//! the salt is random per day and deleted once the day is over, so a stored
//! hash cannot be tested against guessed addresses later, and scans of one
//! device on two days cannot be linked.

use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// Seconds in a (UTC) day.
pub const SECS_PER_DAY: i64 = 86_400;

/// Longest user agent that goes into a fingerprint; the rest adds nothing.
const MAX_AGENT: usize = 200;

/// One scan to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRecord {
    /// Canonical Digital Link path of the unit.
    pub unit: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix day whose salt made `scanner`.
    pub day: i64,
    /// Salted hash of the coarse fingerprint.
    pub scanner: String,
}

/// What the log knows about a unit's scans.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Scans recorded, all time.
    pub count: u64,
    /// Unix seconds of the first recorded scan.
    pub first: Option<i64>,
    /// Distinct scanners on each day with scans since the point asked about (the sale).
    pub per_day_since: Vec<u32>,
}

/// One scanner's scans of a unit on one day, as the log groups them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannerDay {
    /// Unix day.
    pub day: i64,
    /// Salted scanner hash.
    pub scanner: String,
    /// Scans.
    pub count: u64,
    /// Unix seconds of the first scan.
    pub first: i64,
    /// Unix seconds of the last scan.
    pub last: i64,
}

/// A unit's scan log folded to one [`ScannerDay`] per day and scanner: enough
/// to answer [`ScanStats`] for any sale time, and to add scans in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitScans {
    /// Sorted by day, then scanner.
    groups: Vec<ScannerDay>,
}

impl UnitScans {
    /// From groups in any order (one per day and scanner).
    pub fn from_groups(mut groups: Vec<ScannerDay>) -> Self {
        groups.sort_by(|a, b| (a.day, &a.scanner).cmp(&(b.day, &b.scanner)));
        UnitScans { groups }
    }

    /// Counts one more scan.
    pub fn add(&mut self, rec: &ScanRecord) {
        let key = (rec.day, rec.scanner.as_str());
        match self
            .groups
            .binary_search_by(|g| (g.day, g.scanner.as_str()).cmp(&key))
        {
            Ok(i) => {
                let g = &mut self.groups[i];
                g.count += 1;
                g.first = g.first.min(rec.time);
                g.last = g.last.max(rec.time);
            }
            Err(i) => self.groups.insert(
                i,
                ScannerDay {
                    day: rec.day,
                    scanner: rec.scanner.clone(),
                    count: 1,
                    first: rec.time,
                    last: rec.time,
                },
            ),
        }
    }

    /// The statistics, with distinct scanners per day counted over the
    /// scanners seen at or after `since` (the sale), if given.
    pub fn stats(&self, since: Option<i64>) -> ScanStats {
        let since = since.unwrap_or(i64::MAX);
        let mut per_day_since: Vec<u32> = Vec::new();
        let mut day = None;
        for g in self.groups.iter().filter(|g| g.last >= since) {
            match per_day_since.last_mut() {
                Some(n) if day == Some(g.day) => *n = n.saturating_add(1),
                _ => {
                    day = Some(g.day);
                    per_day_since.push(1);
                }
            }
        }
        ScanStats {
            count: self.groups.iter().map(|g| g.count).sum(),
            first: self.groups.iter().map(|g| g.first).min(),
            per_day_since,
        }
    }
}

/// The unix day a time falls on.
pub fn day_of(unix: i64) -> i64 {
    unix.div_euclid(SECS_PER_DAY)
}

/// Whether a salt made on `salt_day` must be forgotten on `today`.
pub fn salt_expired(salt_day: i64, today: i64) -> bool {
    salt_day < today
}

/// A coarse client fingerprint: the network (/24 for IPv4, /48 for IPv6) and the
/// user agent. Coarse on purpose: it counts devices, it does not identify people.
pub fn coarse_fingerprint(ip: Option<IpAddr>, user_agent: &str) -> String {
    let net = match ip.map(canonical_ip) {
        Some(IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        None => "-".to_owned(),
    };
    let agent: String = user_agent.chars().take(MAX_AGENT).collect();
    format!("{net}|{agent}")
}

// An IPv4 client seen through an IPv6 socket counts as IPv4.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The stored scanner id: hex SHA-256 over salt and fingerprint, first 128 bits.
pub fn scanner_hash(salt: &str, fingerprint: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"suyuan/scanner\n");
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(fingerprint.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Estimate of distinct devices from per-day distinct counts.
///
/// Salts rotate daily, so one phone scanning on five days looks like five
/// hashes. Taking the plain sum would call an honest buyer who checks the tin
/// every morning a copied label; so the estimate assumes one device recurs on
/// every day (the buyer's) and counts only the others: `sum - (days - 1)`.
/// Copies show up as several devices within a day.
pub fn scanners_estimate(per_day: &[u32]) -> u32 {
    let sum: u32 = per_day.iter().fold(0u32, |a, &n| a.saturating_add(n));
    let days = per_day.iter().filter(|&&n| n > 0).count() as u32;
    sum.saturating_sub(days.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(day: i64, time: i64, scanner: &str) -> ScanRecord {
        ScanRecord {
            unit: "01/x".into(),
            time,
            day,
            scanner: scanner.into(),
        }
    }

    #[test]
    fn unit_scans_count_distinct_scanners_per_day_since_the_sale() {
        let mut u = UnitScans::default();
        assert_eq!(u.stats(None), ScanStats::default());
        // Day 1: a before the sale (t=100), a again and b after it; day 2: a, c, c.
        for r in [
            rec(1, 100, "a"),
            rec(1, 300, "b"),
            rec(1, 250, "a"),
            rec(2, 90_000, "c"),
            rec(2, 90_100, "a"),
            rec(2, 90_200, "c"),
        ] {
            u.add(&r);
        }
        let all = u.stats(None);
        assert_eq!(all.count, 6);
        assert_eq!(all.first, Some(100));
        // With no sale, nobody counts as "after the sale".
        assert!(all.per_day_since.is_empty());
        let after = u.stats(Some(200));
        assert_eq!(after.per_day_since, vec![2, 2]);
        assert_eq!(scanners_estimate(&after.per_day_since), 3);
        // Only the second day's scanners are after t=80,000.
        assert_eq!(u.stats(Some(80_000)).per_day_since, vec![2]);
        // Folding from grouped rows in any order gives the same answers.
        let again = UnitScans::from_groups(u.groups.iter().rev().cloned().collect());
        assert_eq!(again, u);
    }

    #[test]
    fn fingerprints_are_coarse() {
        let a = coarse_fingerprint("203.0.113.7".parse().ok(), "Phone/1");
        let b = coarse_fingerprint("203.0.113.200".parse().ok(), "Phone/1");
        let c = coarse_fingerprint("203.0.114.7".parse().ok(), "Phone/1");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(!a.contains(".7"), "{a}");
        let v6 = coarse_fingerprint("2001:db8:1:2:3::9".parse().ok(), "x");
        assert_eq!(v6, "2001:db8:1::/48|x");
        let mapped = coarse_fingerprint("::ffff:203.0.113.7".parse().ok(), "Phone/1");
        assert_eq!(mapped, a);
        assert_eq!(coarse_fingerprint(None, "x"), "-|x");
        let long = "a".repeat(5000);
        assert!(coarse_fingerprint(None, &long).len() < 300);
    }

    #[test]
    fn hashes_change_with_the_salt_and_hide_the_address() {
        let fp = coarse_fingerprint("198.51.100.1".parse().ok(), "UA");
        let h1 = scanner_hash("salt-day-1", &fp);
        let h2 = scanner_hash("salt-day-2", &fp);
        assert_ne!(h1, h2);
        assert_eq!(h1, scanner_hash("salt-day-1", &fp));
        assert_eq!(h1.len(), 32);
        assert!(!h1.contains("198"));
    }

    #[test]
    fn salts_rotate_daily() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(SECS_PER_DAY - 1), 0);
        assert_eq!(day_of(SECS_PER_DAY), 1);
        assert_eq!(day_of(-1), -1);
        assert!(!salt_expired(10, 10));
        assert!(salt_expired(9, 10));
    }

    #[test]
    fn estimate_forgives_one_returning_device_but_not_many_at_once() {
        assert_eq!(scanners_estimate(&[]), 0);
        assert_eq!(scanners_estimate(&[1]), 1);
        // One buyer, every day for a week.
        assert_eq!(scanners_estimate(&[1, 1, 1, 1, 1, 1, 1]), 1);
        // Buyer plus spouse on three days.
        assert_eq!(scanners_estimate(&[2, 2, 2]), 4);
        // A copied label: eight phones on one day.
        assert_eq!(scanners_estimate(&[8]), 8);
        assert_eq!(scanners_estimate(&[1, 0, 7]), 7);
        assert_eq!(scanners_estimate(&[u32::MAX, u32::MAX]), u32::MAX - 1);
    }
}
