//! Timestamps, durations and time zones, as CEL defines them.
//!
//! - A [`Timestamp`] is an instant between `0001-01-01T00:00:00Z` and
//!   `9999-12-31T23:59:59.999999999Z` with nanosecond precision, written in
//!   RFC 3339 (`2026-01-01T09:30:00Z`, `2026-01-01T10:30:00+01:00`).
//! - A [`Duration`] is a signed count of nanoseconds that fits an `i64`
//!   (about ±292 years, as in cel-go), written in Go's syntax: a sequence
//!   of decimal numbers, each with an optional fraction and a unit out of
//!   `h m s ms us ns` (`1h30m`, `1.5s`, `-90m`). There is no `d`.
//! - A [`Zone`] is an IANA time-zone name (`Europe/Berlin`, from the
//!   database compiled into `chrono-tz`), `UTC`, or a fixed offset
//!   (`+05:30`, `-08:00`).
//!
//! Nothing here allocates: the calendar fields of a timestamp in a zone
//! are read from static tables.

use chrono::{DateTime, Datelike, Offset, TimeZone, Timelike};
use std::fmt;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// An instant, as seconds and nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before).
    secs: i64,
    /// Nanoseconds past `secs`, below one second.
    nanos: u32,
}

/// A signed span of time in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    nanos: i64,
}

impl Timestamp {
    /// `1970-01-01T00:00:00Z`.
    pub const EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// The system clock's reading (the epoch when it reads before it).
    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(d.as_secs())
            .ok()
            .and_then(|s| Timestamp::new(s, d.subsec_nanos()))
            .unwrap_or(Timestamp::EPOCH)
    }

    /// `0001-01-01T00:00:00Z`, the earliest timestamp.
    pub const MIN_SECS: i64 = -62_135_596_800;
    /// `9999-12-31T23:59:59Z`, the last second of the latest timestamp.
    pub const MAX_SECS: i64 = 253_402_300_799;

    /// The instant `secs` seconds and `nanos` nanoseconds after the epoch
    /// (`None` outside CEL's range or with `nanos` of a second or more).
    pub fn new(secs: i64, nanos: u32) -> Option<Timestamp> {
        ((Self::MIN_SECS..=Self::MAX_SECS).contains(&secs) && i64::from(nanos) < NANOS_PER_SEC)
            .then_some(Timestamp { secs, nanos })
    }

    /// Whole seconds since the epoch.
    pub fn secs(self) -> i64 {
        self.secs
    }

    /// Nanoseconds past [`Timestamp::secs`].
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Read an RFC 3339 timestamp (`None` when it is not one, or lies
    /// outside the range).
    pub fn parse(s: &str) -> Option<Timestamp> {
        let t = DateTime::parse_from_rfc3339(s).ok()?;
        Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos())
    }

    /// The instant plus a duration (`None` outside the range).
    pub fn checked_add(self, d: Duration) -> Option<Timestamp> {
        let total = i128::from(self.secs) * i128::from(NANOS_PER_SEC)
            + i128::from(self.nanos)
            + i128::from(d.nanos);
        Self::of_nanos(total)
    }

    /// The instant minus a duration (`None` outside the range).
    pub fn checked_sub(self, d: Duration) -> Option<Timestamp> {
        let total = i128::from(self.secs) * i128::from(NANOS_PER_SEC) + i128::from(self.nanos)
            - i128::from(d.nanos);
        Self::of_nanos(total)
    }

    /// The time from `other` to `self` (`None` when it does not fit a
    /// duration).
    pub fn since(self, other: Timestamp) -> Option<Duration> {
        let a = i128::from(self.secs) * i128::from(NANOS_PER_SEC) + i128::from(self.nanos);
        let b = i128::from(other.secs) * i128::from(NANOS_PER_SEC) + i128::from(other.nanos);
        i64::try_from(a - b).ok().map(Duration::from_nanos)
    }

    fn of_nanos(total: i128) -> Option<Timestamp> {
        let secs = i64::try_from(total.div_euclid(i128::from(NANOS_PER_SEC))).ok()?;
        let nanos = u32::try_from(total.rem_euclid(i128::from(NANOS_PER_SEC))).ok()?;
        Timestamp::new(secs, nanos)
    }

    /// A calendar or clock field of the instant, read in `zone`.
    pub fn field(self, field: TimeField, zone: Zone) -> i64 {
        // Every timestamp lies in chrono's range (years 1 to 9999), so
        // `from_timestamp` succeeds; the fallback is never taken.
        let Some(utc) = DateTime::from_timestamp(self.secs, self.nanos) else {
            return 0;
        };
        let naive = utc.naive_utc();
        let offset = match zone {
            Zone::Utc => 0,
            Zone::Fixed(secs) => secs,
            Zone::Iana(tz) => tz.offset_from_utc_datetime(&naive).fix().local_minus_utc(),
        };
        let local = naive
            .checked_add_signed(chrono::TimeDelta::seconds(i64::from(offset)))
            .unwrap_or(naive);
        i64::from(match field {
            TimeField::FullYear => return i64::from(local.year()),
            TimeField::Month => local.month0(),
            TimeField::Date => local.day(),
            TimeField::DayOfMonth => local.day0(),
            TimeField::DayOfWeek => local.weekday().num_days_from_sunday(),
            TimeField::DayOfYear => local.ordinal0(),
            TimeField::Hours => local.hour(),
            TimeField::Minutes => local.minute(),
            TimeField::Seconds => local.second(),
            TimeField::Milliseconds => self.nanos / 1_000_000,
        })
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with a fraction only when there is one
    /// (`2026-01-01T09:30:00Z`, `2026-01-01T09:30:00.25Z`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(t) = DateTime::from_timestamp(self.secs, 0) else {
            return write!(f, "{}s", self.secs);
        };
        write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%S"))?;
        write_fraction(self.nanos, f)?;
        f.write_str("Z")
    }
}

/// `.5`, `.25`, ... for a nanosecond count; nothing for zero.
fn write_fraction(nanos: u32, f: &mut impl fmt::Write) -> fmt::Result {
    if nanos == 0 {
        return Ok(());
    }
    let (mut n, mut width) = (nanos, 9usize);
    while n % 10 == 0 {
        n /= 10;
        width -= 1;
    }
    write!(f, ".{n:0width$}")
}

impl Duration {
    /// A duration of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: i64) -> Duration {
        Duration { nanos }
    }

    /// The length in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// `a + b` (`None` on overflow).
    pub fn checked_add(self, other: Duration) -> Option<Duration> {
        self.nanos
            .checked_add(other.nanos)
            .map(Duration::from_nanos)
    }

    /// `a - b` (`None` on overflow).
    pub fn checked_sub(self, other: Duration) -> Option<Duration> {
        self.nanos
            .checked_sub(other.nanos)
            .map(Duration::from_nanos)
    }

    /// Whole hours, minutes, seconds or milliseconds in the duration
    /// (truncated toward zero, as CEL's duration accessors are); `None`
    /// for a field durations do not have.
    pub fn field(self, field: TimeField) -> Option<i64> {
        let unit = match field {
            TimeField::Hours => 3_600 * NANOS_PER_SEC,
            TimeField::Minutes => 60 * NANOS_PER_SEC,
            TimeField::Seconds => NANOS_PER_SEC,
            TimeField::Milliseconds => 1_000_000,
            _ => return None,
        };
        Some(self.nanos / unit)
    }

    /// Read Go's duration syntax: `1h30m`, `1.5s`, `-90m`, `300ms`, `0`
    /// (`None` when it is not one or overflows).
    pub fn parse(s: &str) -> Option<Duration> {
        let (neg, mut rest) = match s.as_bytes().first() {
            Some(b'-') => (true, s.get(1..)?),
            Some(b'+') => (false, s.get(1..)?),
            _ => (false, s),
        };
        if rest == "0" {
            return Some(Duration::default());
        }
        if rest.is_empty() {
            return None;
        }
        let mut total: i128 = 0;
        while !rest.is_empty() {
            let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (int, after) = rest.split_at(int_len);
            let (frac, after) = match after.strip_prefix('.') {
                Some(a) => {
                    let n = a.bytes().take_while(u8::is_ascii_digit).count();
                    a.split_at(n)
                }
                None => ("", after),
            };
            if int.is_empty() && frac.is_empty() {
                return None;
            }
            let unit_len = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, after) = after.split_at(unit_len);
            let per: i128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                _ => return None,
            };
            let mut whole: i128 = 0;
            for d in int.bytes() {
                whole = whole.checked_mul(10)?.checked_add(i128::from(d - b'0'))?;
                if whole > i128::from(i64::MAX) + 1 {
                    return None;
                }
            }
            total = total.checked_add(whole.checked_mul(per)?)?;
            // The fraction, digit by digit, truncated below a nanosecond.
            let mut scale = per;
            for d in frac.bytes() {
                scale /= 10;
                if scale == 0 {
                    break;
                }
                total += i128::from(d - b'0') * scale;
            }
            if total > i128::from(i64::MAX) + 1 {
                return None;
            }
            rest = after;
        }
        let total = if neg { -total } else { total };
        i64::try_from(total).ok().map(Duration::from_nanos)
    }
}

impl fmt::Display for Duration {
    /// Seconds with a fraction when there is one, as CEL prints durations
    /// (`5400s`, `1.5s`, `-0.25s`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos < 0 {
            f.write_str("-")?;
        }
        let n = self.nanos.unsigned_abs();
        write!(f, "{}", n / NANOS_PER_SEC as u64)?;
        write_fraction((n % NANOS_PER_SEC as u64) as u32, f)?;
        f.write_str("s")
    }
}

/// The calendar and clock fields CEL reads from a timestamp (and, for
/// hours to milliseconds, from a duration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeField {
    /// `getFullYear()`
    FullYear,
    /// `getMonth()`: 0 for January.
    Month,
    /// `getDate()`: the day of the month from 1.
    Date,
    /// `getDayOfMonth()`: the day of the month from 0.
    DayOfMonth,
    /// `getDayOfWeek()`: 0 for Sunday.
    DayOfWeek,
    /// `getDayOfYear()`: 0 for January 1st.
    DayOfYear,
    /// `getHours()`
    Hours,
    /// `getMinutes()`
    Minutes,
    /// `getSeconds()`
    Seconds,
    /// `getMilliseconds()`
    Milliseconds,
}

impl TimeField {
    /// Every accessor, by name.
    pub const ALL: [(&'static str, TimeField); 10] = [
        ("getFullYear", TimeField::FullYear),
        ("getMonth", TimeField::Month),
        ("getDate", TimeField::Date),
        ("getDayOfMonth", TimeField::DayOfMonth),
        ("getDayOfWeek", TimeField::DayOfWeek),
        ("getDayOfYear", TimeField::DayOfYear),
        ("getHours", TimeField::Hours),
        ("getMinutes", TimeField::Minutes),
        ("getSeconds", TimeField::Seconds),
        ("getMilliseconds", TimeField::Milliseconds),
    ];

    /// The accessor's name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("", |(n, _)| n)
    }

    /// Does a duration have this field?
    pub fn on_duration(self) -> bool {
        matches!(
            self,
            TimeField::Hours | TimeField::Minutes | TimeField::Seconds | TimeField::Milliseconds
        )
    }
}

/// A time zone to read calendar fields in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Zone {
    /// UTC.
    Utc,
    /// A fixed offset east of UTC, in seconds.
    Fixed(i32),
    /// An IANA zone, with its daylight-saving rules.
    Iana(chrono_tz::Tz),
}

impl Zone {
    /// Read a zone name: an IANA name, `UTC`, or `+HH:MM` / `-HH:MM`.
    pub fn parse(s: &str) -> Option<Zone> {
        if s == "UTC" {
            return Some(Zone::Utc);
        }
        if let Some(sign) = s.strip_prefix(['+', '-']).map(|_| s.starts_with('-')) {
            let b = s.as_bytes();
            let digit = |i: usize| {
                b.get(i)
                    .filter(|c| c.is_ascii_digit())
                    .map(|c| i32::from(c - b'0'))
            };
            if b.len() != 6 || b.get(3) != Some(&b':') {
                return None;
            }
            let hours = digit(1)? * 10 + digit(2)?;
            let minutes = digit(4)? * 10 + digit(5)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let secs = hours * 3600 + minutes * 60;
            return Some(Zone::Fixed(if sign { -secs } else { secs }));
        }
        s.parse::<chrono_tz::Tz>().ok().map(Zone::Iana)
    }

    /// Every IANA zone name (for suggestions).
    pub fn names() -> impl Iterator<Item = &'static str> {
        chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_go_syntax() {
        let d = |s: &str| Duration::parse(s).map(Duration::as_nanos);
        assert_eq!(d("1h30m"), Some(5_400 * NANOS_PER_SEC));
        assert_eq!(d("1.5s"), Some(1_500_000_000));
        assert_eq!(d("-90m"), Some(-5_400 * NANOS_PER_SEC));
        assert_eq!(d("300ms"), Some(300_000_000));
        assert_eq!(d("1us2ns"), Some(1_002));
        assert_eq!(d(".5h"), Some(1_800 * NANOS_PER_SEC));
        assert_eq!(d("0"), Some(0));
        assert_eq!(d("1d"), None);
        assert_eq!(d("1"), None);
        assert_eq!(d(""), None);
        assert_eq!(d("h"), None);
        assert_eq!(d("3000000h"), None);
        // As Go reads them: no white space, a bare fraction point is fine.
        assert_eq!(d(" 1h"), None);
        assert_eq!(d("1.h"), Some(3_600 * NANOS_PER_SEC));
        assert_eq!(d("-9223372036854775808ns"), Some(i64::MIN));
        assert_eq!(d("9223372036854775808ns"), None);
    }

    #[test]
    fn timestamps_read_rfc3339_within_range() {
        let t = Timestamp::parse("2026-01-01T10:30:00+01:00");
        assert_eq!(
            t.map(|t| t.to_string()).as_deref(),
            Some("2026-01-01T09:30:00Z")
        );
        assert_eq!(
            Timestamp::parse("2026-01-01T09:30:00.250Z")
                .map(|t| t.to_string())
                .as_deref(),
            Some("2026-01-01T09:30:00.25Z")
        );
        assert_eq!(Timestamp::parse("2026-01-01"), None);
        assert_eq!(Timestamp::parse(" 2026-01-01T09:30:00Z"), None);
        assert_eq!(Timestamp::parse("0000-12-31T23:59:59Z"), None);
        assert!(Timestamp::parse("9999-12-31T23:59:59.999999999Z").is_some());
    }

    #[test]
    fn zones_read_names_and_offsets() {
        assert_eq!(Zone::parse("+05:30"), Some(Zone::Fixed(19_800)));
        assert_eq!(Zone::parse("-08:00"), Some(Zone::Fixed(-28_800)));
        assert_eq!(Zone::parse("UTC"), Some(Zone::Utc));
        assert_eq!(
            Zone::parse("Europe/Berlin"),
            Some(Zone::Iana(chrono_tz::Tz::Europe__Berlin))
        );
        assert_eq!(Zone::parse("Mars/Olympus"), None);
        assert_eq!(Zone::parse("+5:30"), None);
    }
}
