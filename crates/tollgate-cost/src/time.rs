//! Timestamps (RFC 3339, UTC) and UTC calendar days.
//!
//! A [`Timestamp`] is milliseconds since the Unix epoch: what CloudWatch EMF
//! wants, and exact to compare. It is written as RFC 3339 in UTC with
//! milliseconds (`2026-11-26T10:15:30.123Z`); any RFC 3339 offset is read and
//! converted to UTC. A [`Day`] is a whole UTC day, the unit of the ledger,
//! budgets, alerts and file rotation: no time zone ever decides which day
//! spend belongs to.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds in a day.
const MS_PER_DAY: i64 = 86_400_000;

/// A UTC instant, millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_ms: i64,
}

/// A text that is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an RFC 3339 timestamp")]
pub struct TimestampError {
    text: String,
}

impl Timestamp {
    /// Now, from the system clock (the epoch if the clock is before it).
    pub fn now() -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Timestamp { unix_ms: ms }
    }

    /// From milliseconds since the Unix epoch.
    pub const fn from_unix_ms(unix_ms: i64) -> Timestamp {
        Timestamp { unix_ms }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_ms(self) -> i64 {
        self.unix_ms
    }

    /// The UTC day this instant falls in (day 0 for instants before 1970).
    pub fn day(self) -> Day {
        let d = self.unix_ms.div_euclid(MS_PER_DAY);
        Day(u32::try_from(d.max(0)).unwrap_or(u32::MAX))
    }

    /// RFC 3339 in UTC with milliseconds: `2026-11-26T10:15:30.123Z`.
    pub fn to_rfc3339(self) -> String {
        if let Some(b) = self.rfc3339_bytes() {
            return String::from_utf8_lossy(&b).into_owned();
        }
        match DateTime::<Utc>::from_timestamp_millis(self.unix_ms) {
            Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            // Out of chrono's range (±262,000 years): show the raw number.
            None => format!("@{}ms", self.unix_ms),
        }
    }

    /// Appends [`Timestamp::to_rfc3339`]'s text to `buf`.
    pub fn write_rfc3339(self, buf: &mut Vec<u8>) {
        match self.rfc3339_bytes() {
            Some(b) => buf.extend_from_slice(&b),
            None => buf.extend_from_slice(self.to_rfc3339().as_bytes()),
        }
    }

    /// The RFC 3339 text for years 0 to 9999, formatted without `fmt`
    /// (call events write one per line; chrono's formatter costs ~90 ns).
    fn rfc3339_bytes(self) -> Option<[u8; 24]> {
        let days = self.unix_ms.div_euclid(MS_PER_DAY);
        let ms_of_day = self.unix_ms.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        if !(0..=9999).contains(&y) {
            return None;
        }
        let (h, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
        let (min, rest) = (rest / 60_000, rest % 60_000);
        let (sec, ms) = (rest / 1000, rest % 1000);
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, value: i64, width: usize| {
            let mut v = value;
            for i in (0..width).rev() {
                if let Some(slot) = out.get_mut(at + i) {
                    // INVARIANT: 0 <= v % 10 <= 9.
                    *slot = b'0' + (v % 10) as u8;
                }
                v /= 10;
            }
        };
        put(0, y, 4);
        put(5, m, 2);
        put(8, d, 2);
        put(11, h, 2);
        put(14, min, 2);
        put(17, sec, 2);
        put(20, ms, 3);
        Some(out)
    }

    /// Reads an RFC 3339 timestamp with any offset.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, TimestampError> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| Timestamp::from_unix_ms(t.timestamp_millis()))
            .map_err(|_| TimestampError {
                text: text.to_owned(),
            })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.rfc3339_bytes() {
            Some(b) => s.serialize_str(std::str::from_utf8(&b).unwrap_or_default()),
            None => s.serialize_str(&self.to_rfc3339()),
        }
    }
}

/// `(year, month, day)` of a day number since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// A UTC calendar day: days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Day(pub u32);

impl Day {
    /// Today, from the system clock.
    pub fn today() -> Day {
        Timestamp::now().day()
    }

    /// The day of a calendar date; `None` for an invalid date or one before 1970.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Day> {
        let date = chrono::NaiveDate::from_ymd_opt(year, month, day)?;
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
        u32::try_from(date.signed_duration_since(epoch).num_days())
            .ok()
            .map(Day)
    }

    /// The first millisecond of the day.
    pub fn start(self) -> Timestamp {
        Timestamp::from_unix_ms(i64::from(self.0) * MS_PER_DAY)
    }

    /// `n` days later (saturating).
    pub fn plus(self, n: u32) -> Day {
        Day(self.0.saturating_add(n))
    }

    /// `n` days earlier (saturating at 1970-01-01).
    pub fn minus(self, n: u32) -> Day {
        Day(self.0.saturating_sub(n))
    }
}

impl Day {
    /// Reads `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Day> {
        let d = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
        Day::from_ymd(d.year(), d.month(), d.day())
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Day::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a YYYY-MM-DD day")))
    }
}

impl fmt::Display for Day {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::<Utc>::from_timestamp(i64::from(self.0) * 86_400, 0) {
            Some(t) => write!(f, "{:04}-{:02}-{:02}", t.year(), t.month(), t.day()),
            None => write!(f, "day-{}", self.0),
        }
    }
}
