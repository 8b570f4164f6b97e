//! Time arithmetic of scheduled work: retry backoff, digest times in the recipient's
//! timezone, and the day of the email cap. Pure: the caller passes the time in.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// Exponential backoff: `base · 2^(attempt−1)`, capped at `max`, then scaled by `jitter`
/// (a factor the caller draws, e.g. from 0.8 to 1.2). Milliseconds.
pub fn backoff_ms(attempt: i64, base_ms: i64, max_ms: i64, jitter: f64) -> i64 {
    let exp = (attempt.max(1) - 1).min(30) as u32;
    let raw = base_ms.saturating_mul(1i64 << exp).min(max_ms);
    ((raw as f64) * jitter.clamp(0.5, 1.5)).round() as i64
}

/// The next `weekday` at `hour`:00 local time in `tz`, strictly after `now_ms`.
/// Unknown timezones are read as UTC. Local times skipped by a DST change move forward.
pub fn next_weekly_ms(now_ms: i64, tz: &str, weekday: Weekday, hour: u32) -> i64 {
    let tz: Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz);
    let at = NaiveTime::from_hms_opt(hour.min(23), 0, 0).unwrap_or_default();
    let mut day = now.date_naive();
    for _ in 0..15 {
        if day.weekday() == weekday {
            let local = day.and_time(at);
            let resolved = tz.from_local_datetime(&local).earliest().or_else(|| {
                tz.from_local_datetime(&(local + Duration::hours(1)))
                    .earliest()
            });
            if let Some(t) = resolved
                && t.timestamp_millis() > now_ms
            {
                return t.timestamp_millis();
            }
        }
        day = day.succ_opt().unwrap_or(day);
    }
    now_ms + 7 * 24 * 3600 * 1000
}

/// The UTC calendar day of a time, `YYYY-MM-DD` (the email cap's day).
pub fn utc_day(now_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(1, 1000, 60_000, 1.0), 1000);
        assert_eq!(backoff_ms(3, 1000, 60_000, 1.0), 4000);
        assert_eq!(backoff_ms(20, 1000, 60_000, 1.0), 60_000);
        assert_eq!(backoff_ms(2, 1000, 60_000, 1.2), 2400);
    }

    #[test]
    fn friday_nine_in_two_timezones() {
        // Wednesday 2026-11-25 12:00 UTC.
        let now = ms("2026-11-25T12:00:00Z");
        assert_eq!(
            next_weekly_ms(now, "Europe/Oslo", Weekday::Fri, 9),
            ms("2026-11-27T08:00:00Z")
        );
        assert_eq!(
            next_weekly_ms(now, "America/New_York", Weekday::Fri, 9),
            ms("2026-11-27T14:00:00Z")
        );
        // Exactly at the time: the next week.
        let at = ms("2026-11-27T08:00:00Z");
        assert_eq!(
            next_weekly_ms(at, "Europe/Oslo", Weekday::Fri, 9),
            ms("2026-12-04T08:00:00Z")
        );
        // Summer time in Oslo.
        assert_eq!(
            next_weekly_ms(ms("2026-06-01T00:00:00Z"), "Europe/Oslo", Weekday::Fri, 9),
            ms("2026-06-05T07:00:00Z")
        );
    }

    #[test]
    fn cap_day_is_utc() {
        assert_eq!(utc_day(ms("2026-11-26T23:59:59Z")), "2026-11-26");
        assert_eq!(utc_day(ms("2026-11-27T00:00:00Z")), "2026-11-27");
    }
}
