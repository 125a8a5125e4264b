//! Who is scanning, as the scan log and the feedback limits know a device: a
//! salted daily hash of a coarse fingerprint (see [`crate::domain::scanlog`]),
//! never an address.

use std::net::IpAddr;
use std::sync::RwLock;

use super::ledger::Ledger;
use crate::domain::scanlog::{self, day_of};
use crate::domain::time::Timestamp;
use crate::store::StoreError;

/// A scanning device on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanner {
    /// Unix seconds of the scan.
    pub time: i64,
    /// Unix day of the salt.
    pub day: i64,
    /// Salted hash of the coarse fingerprint.
    pub hash: String,
}

/// (unix day, salt) of the current day, read once per day from the store.
#[derive(Debug, Default)]
pub struct DaySalt(RwLock<Option<(i64, String)>>);

impl Ledger {
    /// The device scanning now, from its address and user agent.
    pub async fn scanner(&self, ip: Option<IpAddr>, agent: &str) -> Result<Scanner, StoreError> {
        let now = Timestamp::now().unix();
        let day = day_of(now);
        let salt = self.day_salt(day).await?;
        let fp = scanlog::coarse_fingerprint(ip, agent);
        Ok(Scanner {
            time: now,
            day,
            hash: scanlog::scanner_hash(&salt, &fp),
        })
    }

    /// Today's salt, from memory, or from the store once a day.
    async fn day_salt(&self, day: i64) -> Result<String, StoreError> {
        if let Some((d, s)) = self.salt.0.read().ok().and_then(|g| g.clone()) {
            if d == day {
                return Ok(s);
            }
        }
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        let salt = self.store.day_salt(day, &candidate).await?;
        if let Ok(mut g) = self.salt.0.write() {
            *g = Some((day, salt.clone()));
        }
        Ok(salt)
    }
}
