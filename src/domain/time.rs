//! Statement times (RFC 3339 UTC, whole seconds, `Z`) and calendar dates.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const STAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
const DAY: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// A point in time as statements carry it: `2026-11-28T14:02:25Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Parses the one accepted spelling, naming what is wrong otherwise.
    pub fn parse(text: &str) -> Result<Self, String> {
        PrimitiveDateTime::parse(text, STAMP)
            .map(|t| Timestamp(t.assume_utc()))
            .map_err(|_| {
                format!("time \"{text}\" must be RFC 3339 UTC with whole seconds, like 2026-11-28T14:02:25Z")
            })
    }

    /// The current time, truncated to whole seconds.
    pub fn now() -> Self {
        Self::from_unix(OffsetDateTime::now_utc().unix_timestamp())
    }

    /// From seconds since the Unix epoch (clamped to the representable range).
    pub fn from_unix(secs: i64) -> Self {
        Timestamp(OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH))
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// The UTC calendar day.
    pub fn date(self) -> Date {
        Date(self.0.date())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // Formatting with a fixed description over a valid date cannot fail.
        f.write_str(&self.0.format(STAMP).unwrap_or_default())
    }
}

/// A calendar day `YYYY-MM-DD` (production and expiry dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(time::Date);

impl Date {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Self, String> {
        time::Date::parse(text, DAY)
            .map(Date)
            .map_err(|_| format!("date \"{text}\" must be YYYY-MM-DD, like 2026-11-28"))
    }

    /// Year, month (1–12) and day.
    pub fn ymd(self) -> (i32, u8, u8) {
        (self.0.year(), self.0.month() as u8, self.0.day())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0.format(DAY).unwrap_or_default())
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                <$t>::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(Timestamp);
string_serde!(Date);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_refuse_other_spellings() {
        let t = Timestamp::parse("2026-11-28T14:02:25Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-28T14:02:25Z");
        assert_eq!(Timestamp::from_unix(t.unix()), t);
        for bad in [
            "2026-11-28T14:02:25+08:00",
            "2026-11-28T14:02:25.5Z",
            "2026-11-28 14:02:25Z",
            "2026-13-01T00:00:00Z",
            "yesterday",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_parse_and_order() {
        let a = Date::parse("2026-02-28").unwrap();
        let b = Date::parse("2026-03-01").unwrap();
        assert!(a < b);
        assert_eq!(b.to_string(), "2026-03-01");
        assert!(Date::parse("2026-02-30").is_err());
        assert_eq!(Timestamp::parse("2026-03-01T23:59:59Z").unwrap().date(), b);
    }
}
