//! Wall-clock time as a UTC calendar date and time of day, without a date crate.
//!
//! The conversion from days since the Unix epoch to a proleptic Gregorian date
//! is Howard Hinnant's `civil_from_days` algorithm
//! (<https://howardhinnant.github.io/date_algorithms.html#civil_from_days>).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: i64 = 86_400;

/// A point in time broken down into UTC calendar fields (seconds precision).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    /// The year (proleptic Gregorian; may be zero or negative for very old times).
    pub year: i64,
    /// The month, 1–12.
    pub month: u32,
    /// The day of the month, 1–31.
    pub day: u32,
    /// The hour, 0–23.
    pub hour: u32,
    /// The minute, 0–59.
    pub minute: u32,
    /// The second, 0–59.
    pub second: u32,
}

impl UtcDateTime {
    /// The UTC date and time `secs` seconds after (or, negative, before) the Unix epoch.
    pub fn from_unix_seconds(secs: i64) -> Self {
        let days = secs.div_euclid(SECONDS_PER_DAY);
        let of_day = secs.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        // `of_day` is in 0..86_400, so these all fit in a `u32`.
        let of_day = of_day as u32;
        Self {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
        }
    }

    /// The UTC date and time of `time`, rounded down to the second.
    pub fn from_system_time(time: SystemTime) -> Self {
        Self::from_unix_seconds(unix_seconds(time))
    }
}

impl fmt::Display for UtcDateTime {
    /// `YYYY-MM-DD HH:MM:SS UTC`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Whole seconds since the Unix epoch, negative (rounded towards the past) before it.
/// Saturates far outside the range of an `i64`.
fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            let partial = i64::from(before.subsec_nanos() > 0);
            whole.saturating_add(partial).saturating_neg()
        }
    }
}

/// The proleptic Gregorian `(year, month, day)` of the day `days` days after
/// 1970-01-01 (negative: before it).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01, so that leap days end a year, and split
    // into 400-year eras of 146 097 days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of (March-based) year, 0..=365
    let mp = (5 * doy + 2) / 153; // March-based month, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_epoch_is_1970_01_01_midnight() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(
            UtcDateTime::from_system_time(UNIX_EPOCH).to_string(),
            "1970-01-01 00:00:00 UTC"
        );
    }

    #[test]
    fn leap_days_are_counted() {
        // 2000 is a leap year although divisible by 100 (it is by 400 too).
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 23 * 3600 + 59 * 60 + 59);
        assert_eq!(
            UtcDateTime::from_system_time(t).to_string(),
            "2000-02-29 23:59:59 UTC"
        );
        // 1900 is not a leap year.
        assert_eq!(civil_from_days(-25_508), (1900, 3, 1));
        assert_eq!(civil_from_days(-25_509), (1900, 2, 28));
    }

    #[test]
    fn a_recent_timestamp_with_a_time_of_day() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_264_496);
        assert_eq!(
            UtcDateTime::from_system_time(t),
            UtcDateTime {
                year: 2026,
                month: 11,
                day: 21,
                hour: 12,
                minute: 34,
                second: 56
            }
        );
        assert_eq!(
            UtcDateTime::from_system_time(t).to_string(),
            "2026-11-21 12:34:56 UTC"
        );
        // Sub-second parts are dropped, not rounded.
        let later = t + Duration::from_millis(999);
        assert_eq!(
            UtcDateTime::from_system_time(later).to_string(),
            "2026-11-21 12:34:56 UTC"
        );
    }

    #[test]
    fn times_before_the_epoch_round_towards_the_past() {
        let t = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(
            UtcDateTime::from_system_time(t).to_string(),
            "1969-12-31 23:59:59 UTC"
        );
        assert_eq!(
            UtcDateTime::from_unix_seconds(-86_400).to_string(),
            "1969-12-31 00:00:00 UTC"
        );
    }

    #[test]
    fn year_ends() {
        assert_eq!(
            UtcDateTime::from_unix_seconds(1_767_225_599).to_string(),
            "2025-12-31 23:59:59 UTC"
        );
        assert_eq!(
            UtcDateTime::from_unix_seconds(1_767_225_600).to_string(),
            "2026-01-01 00:00:00 UTC"
        );
    }
}
