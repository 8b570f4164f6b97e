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
    let mut day = now.date_naive();
    for _ in 0..15 {
        if day.weekday() == weekday {
            let t = local_ms(tz, day, self::hour(hour));
            if t > now_ms {
                return t;
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

/// The snooze choices of the bell's item menu, resolved in the user's timezone.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SnoozePreset {
    /// An hour from now.
    OneHour,
    /// Today at 14:00 (only before 13:00: later it is less than an hour away or gone).
    ThisAfternoon,
    /// Tomorrow at 09:00.
    Tomorrow,
    /// The first Monday after today, at 09:00.
    NextMonday,
}

/// `at` local time on `day` in `tz`, as Unix ms. A time that a DST change skips moves
/// forward an hour; a repeated one takes the first.
pub fn local_ms(tz: Tz, day: chrono::NaiveDate, at: NaiveTime) -> i64 {
    let local = day.and_time(at);
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(local + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| local.and_utc().timestamp_millis())
}

/// `hour`:00.
fn hour(h: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h.min(23), 0, 0).unwrap_or_default()
}

/// When a snooze chosen at `now_ms` ends, in Unix ms; `None` for "this afternoon" from
/// 13:00 on. Unknown timezones are read as UTC.
pub fn snooze_until(preset: SnoozePreset, now_ms: i64, tz: &str) -> Option<i64> {
    let tz: Tz = tz.parse().unwrap_or(chrono_tz::UTC);
    let now = DateTime::<Utc>::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz);
    let today = now.date_naive();
    match preset {
        SnoozePreset::OneHour => Some(now_ms + 3_600_000),
        SnoozePreset::ThisAfternoon => {
            let at = local_ms(tz, today, hour(14));
            (at - now_ms >= 3_600_000).then_some(at)
        }
        SnoozePreset::Tomorrow => Some(local_ms(tz, today.succ_opt()?, hour(9))),
        SnoozePreset::NextMonday => {
            // The first Monday after today (on a Sunday, tomorrow).
            let ahead = 7 - u64::from(today.weekday().num_days_from_monday());
            Some(local_ms(
                tz,
                today.checked_add_days(chrono::Days::new(ahead))?,
                hour(9),
            ))
        }
    }
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
    fn snooze_presets_in_the_users_timezone() {
        // Wednesday 2026-11-25, 09:30 in Oslo (UTC+1).
        let now = ms("2026-11-25T08:30:00Z");
        let oslo = "Europe/Oslo";
        assert_eq!(
            snooze_until(SnoozePreset::OneHour, now, oslo),
            Some(ms("2026-11-25T09:30:00Z"))
        );
        assert_eq!(
            snooze_until(SnoozePreset::ThisAfternoon, now, oslo),
            Some(ms("2026-11-25T13:00:00Z"))
        );
        assert_eq!(
            snooze_until(SnoozePreset::Tomorrow, now, oslo),
            Some(ms("2026-11-26T08:00:00Z"))
        );
        assert_eq!(
            snooze_until(SnoozePreset::NextMonday, now, oslo),
            Some(ms("2026-11-30T08:00:00Z"))
        );
        // 13:30 local: the afternoon is gone.
        assert_eq!(
            snooze_until(
                SnoozePreset::ThisAfternoon,
                ms("2026-11-25T12:30:00Z"),
                oslo
            ),
            None
        );
        // The same instant is 03:30 in New York: tomorrow 09:00 there.
        assert_eq!(
            snooze_until(SnoozePreset::Tomorrow, now, "America/New_York"),
            Some(ms("2026-11-26T14:00:00Z"))
        );
        // 20:00 on Tuesday in New York is already Wednesday in Oslo.
        assert_eq!(
            snooze_until(
                SnoozePreset::Tomorrow,
                ms("2026-11-25T01:00:00Z"),
                "America/New_York"
            ),
            Some(ms("2026-11-25T14:00:00Z"))
        );
        // On a Monday, next Monday is a week away; on a Sunday, tomorrow.
        assert_eq!(
            snooze_until(SnoozePreset::NextMonday, ms("2026-11-30T10:00:00Z"), oslo),
            Some(ms("2026-12-07T08:00:00Z"))
        );
        assert_eq!(
            snooze_until(SnoozePreset::NextMonday, ms("2026-11-29T10:00:00Z"), oslo),
            Some(ms("2026-11-30T08:00:00Z"))
        );
        // Across the spring change: Saturday 2027-03-27, tomorrow 09:00 is UTC+2.
        assert_eq!(
            snooze_until(SnoozePreset::Tomorrow, ms("2027-03-27T12:00:00Z"), oslo),
            Some(ms("2027-03-28T07:00:00Z"))
        );
    }

    #[test]
    fn cap_day_is_utc() {
        assert_eq!(utc_day(ms("2026-11-26T23:59:59Z")), "2026-11-26");
        assert_eq!(utc_day(ms("2026-11-27T00:00:00Z")), "2026-11-27");
    }
}
