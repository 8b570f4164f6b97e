//! Quiet hours: a daily window, in the user's local time, in which notifications that
//! interrupt (pop-up sounds, browser notifications, Web Push, mobile push, Slack, Teams)
//! and email are held until the window ends. Pure: the caller passes the time in.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

use crate::model::{is_norwegian, parse_weekday};
use crate::schedule::local_ms;

/// A local time of day, `HH:MM` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ToSchema)]
#[schema(value_type = String, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "22:00")]
pub struct ClockTime(NaiveTime);

impl ClockTime {
    pub fn hm(hour: u32, minute: u32) -> Option<ClockTime> {
        NaiveTime::from_hms_opt(hour, minute, 0).map(ClockTime)
    }

    pub fn parse(s: &str) -> Option<ClockTime> {
        let (h, m) = s.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        ClockTime::hm(h.parse().ok()?, m.parse().ok()?)
    }
}

impl std::fmt::Display for ClockTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ClockTime::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a time HH:MM")))
    }
}

/// A day of the week, `mon` … `sun` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, example = "mon")]
pub struct Day(Weekday);

impl Day {
    pub const ALL: [&'static str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

    pub fn weekday(self) -> Weekday {
        self.0
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(Day::ALL[self.0.num_days_from_monday() as usize])
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_weekday(&s).map(Day).ok_or_else(|| {
            serde::de::Error::custom(format!("{s:?} is not a day (mon, tue, … sun)"))
        })
    }
}

/// A user's quiet hours: from `start` to `end` local time (across midnight when `end` is
/// not after `start`), on the days the window starts on (every day when empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub enabled: bool,
    pub start: ClockTime,
    pub end: ClockTime,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<Day>,
    /// IANA timezone of the window; the user's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl QuietHours {
    /// Why the window cannot be used, if it cannot.
    pub fn invalid(&self) -> Option<String> {
        if self.start == self.end {
            return Some("quiet hours must end at another time than they start".into());
        }
        if let Some(tz) = &self.timezone
            && tz.parse::<Tz>().is_err()
        {
            return Some(format!("{tz:?} is not an IANA timezone"));
        }
        None
    }

    fn starts_on(&self, day: NaiveDate) -> bool {
        self.days.is_empty() || self.days.iter().any(|d| d.0 == day.weekday())
    }

    /// When `now_ms` falls inside the window, the window's end (Unix ms); `None` outside
    /// it or when quiet hours are off. `user_tz` is used when the window names no
    /// timezone; unknown timezones are read as UTC. Local times that a DST change skips
    /// move forward an hour; repeated ones take the first.
    pub fn until(&self, user_tz: &str, now_ms: i64) -> Option<i64> {
        if !self.enabled || self.start == self.end {
            return None;
        }
        let tz: Tz = self
            .timezone
            .as_deref()
            .unwrap_or(user_tz)
            .parse()
            .unwrap_or(chrono_tz::UTC);
        let today = DateTime::<Utc>::from_timestamp_millis(now_ms)?
            .with_timezone(&tz)
            .date_naive();
        let overnight = self.end <= self.start;
        // A window that crosses midnight may have started yesterday.
        for start_day in [today.checked_sub_days(Days::new(1))?, today] {
            if !self.starts_on(start_day) {
                continue;
            }
            let end_day = if overnight {
                start_day.checked_add_days(Days::new(1))?
            } else {
                start_day
            };
            let from = local_ms(tz, start_day, self.start.0);
            let to = local_ms(tz, end_day, self.end.0);
            if from <= now_ms && now_ms < to {
                return Some(to);
            }
        }
        None
    }
}

/// The title of what several held notifications become when quiet hours end, in the
/// user's language (English unless Norwegian).
pub fn summary_title(locale: &str, count: usize) -> String {
    if is_norwegian(locale) {
        format!("{count} varsler mens stille timer var på")
    } else {
        format!("{count} notifications while quiet hours were on")
    }
}

/// The body of the summary: the newest titles first, at most `SUMMARY_LINES`, then how
/// many more.
pub fn summary_body(locale: &str, newest_first: &[&str]) -> String {
    let mut lines: Vec<String> = newest_first
        .iter()
        .take(SUMMARY_LINES)
        .map(|t| format!("• {t}"))
        .collect();
    let more = newest_first.len().saturating_sub(SUMMARY_LINES);
    if more > 0 {
        lines.push(if is_norwegian(locale) {
            format!("… og {more} til")
        } else {
            format!("… and {more} more")
        });
    }
    lines.join("\n")
}

/// How many titles a summary lists.
pub const SUMMARY_LINES: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn night(days: &[&str]) -> QuietHours {
        serde_json::from_value(serde_json::json!({
            "enabled": true, "start": "22:00", "end": "07:00", "days": days,
        }))
        .unwrap()
    }

    #[test]
    fn the_wire_format_is_checked() {
        let q = night(&["mon", "fri"]);
        assert_eq!(
            serde_json::to_value(&q).unwrap(),
            serde_json::json!({"enabled": true, "start": "22:00", "end": "07:00", "days": ["mon", "fri"]})
        );
        for bad in [
            serde_json::json!({"enabled": true, "start": "24:00", "end": "07:00"}),
            serde_json::json!({"enabled": true, "start": "7:00", "end": "07:00"}),
            serde_json::json!({"enabled": true, "start": "22:00", "end": "07:00", "days": ["monday"]}),
            serde_json::json!({"enabled": true, "start": "22:00", "end": "07:00", "sound": "off"}),
        ] {
            assert!(
                serde_json::from_value::<QuietHours>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        let mut same = night(&[]);
        same.end = same.start;
        assert!(same.invalid().is_some());
        let mut tz = night(&[]);
        tz.timezone = Some("Mars/Olympus".into());
        assert!(tz.invalid().is_some());
        assert!(night(&[]).invalid().is_none());
    }

    #[test]
    fn a_window_across_midnight() {
        let q = night(&[]);
        let oslo = "Europe/Oslo";
        // Wednesday 2026-11-25, Oslo is UTC+1.
        assert_eq!(q.until(oslo, ms("2026-11-25T20:59:00Z")), None);
        assert_eq!(
            q.until(oslo, ms("2026-11-25T21:00:00Z")),
            Some(ms("2026-11-26T06:00:00Z"))
        );
        assert_eq!(
            q.until(oslo, ms("2026-11-26T05:59:59Z")),
            Some(ms("2026-11-26T06:00:00Z"))
        );
        assert_eq!(q.until(oslo, ms("2026-11-26T06:00:00Z")), None);
        // The same instant is 16:00 in New York: not quiet there.
        assert_eq!(
            q.until("America/New_York", ms("2026-11-25T21:00:00Z")),
            None
        );
        // Off: never quiet.
        let mut off = q.clone();
        off.enabled = false;
        assert_eq!(off.until(oslo, ms("2026-11-25T23:00:00Z")), None);
    }

    #[test]
    fn days_name_the_night_the_window_starts() {
        // Friday nights only: Friday 22:00 to Saturday 07:00.
        let q = night(&["fri"]);
        let oslo = "Europe/Oslo";
        // Saturday 2026-11-28 06:00 local: still Friday's night.
        assert_eq!(
            q.until(oslo, ms("2026-11-28T05:00:00Z")),
            Some(ms("2026-11-28T06:00:00Z"))
        );
        // Saturday 23:00 local: no window starts on Saturday.
        assert_eq!(q.until(oslo, ms("2026-11-28T22:00:00Z")), None);
        // Thursday 23:00 local: none either.
        assert_eq!(q.until(oslo, ms("2026-11-26T22:00:00Z")), None);
    }

    #[test]
    fn a_daytime_window_in_its_own_timezone() {
        let mut q = night(&[]);
        q.start = ClockTime::parse("12:00").unwrap();
        q.end = ClockTime::parse("13:00").unwrap();
        q.timezone = Some("Asia/Tokyo".into());
        // 12:30 in Tokyo (UTC+9), whatever the user's own timezone.
        assert_eq!(
            q.until("Europe/Oslo", ms("2026-11-25T03:30:00Z")),
            Some(ms("2026-11-25T04:00:00Z"))
        );
        assert_eq!(q.until("Europe/Oslo", ms("2026-11-25T04:00:00Z")), None);
    }

    #[test]
    fn the_spring_change_shortens_the_night() {
        // Oslo moves from UTC+1 to UTC+2 at 02:00 on Sunday 2027-03-28: Saturday 22:00
        // is 21:00Z, Sunday 07:00 is 05:00Z — eight hours.
        let q = night(&[]);
        let oslo = "Europe/Oslo";
        assert_eq!(q.until(oslo, ms("2027-03-27T20:59:00Z")), None);
        assert_eq!(
            q.until(oslo, ms("2027-03-27T21:00:00Z")),
            Some(ms("2027-03-28T05:00:00Z"))
        );
        assert_eq!(
            q.until(oslo, ms("2027-03-28T04:59:00Z")),
            Some(ms("2027-03-28T05:00:00Z"))
        );
        assert_eq!(q.until(oslo, ms("2027-03-28T05:00:00Z")), None);
        // A window starting in the skipped hour (02:30) starts an hour later, 03:30 CEST.
        let mut gap = q.clone();
        gap.start = ClockTime::parse("02:30").unwrap();
        gap.end = ClockTime::parse("04:00").unwrap();
        assert_eq!(gap.until(oslo, ms("2027-03-28T01:15:00Z")), None);
        assert_eq!(
            gap.until(oslo, ms("2027-03-28T01:30:00Z")),
            Some(ms("2027-03-28T02:00:00Z"))
        );
    }

    #[test]
    fn the_autumn_change_lengthens_the_night() {
        // Oslo moves from UTC+2 to UTC+1 at 03:00 on Sunday 2026-10-25: Saturday 22:00
        // is 20:00Z, Sunday 07:00 is 06:00Z — ten hours.
        let q = night(&[]);
        let oslo = "Europe/Oslo";
        assert_eq!(q.until(oslo, ms("2026-10-24T19:59:00Z")), None);
        assert_eq!(
            q.until(oslo, ms("2026-10-24T20:00:00Z")),
            Some(ms("2026-10-25T06:00:00Z"))
        );
        // 02:30 happens twice; both are inside.
        assert_eq!(
            q.until(oslo, ms("2026-10-25T00:30:00Z")),
            Some(ms("2026-10-25T06:00:00Z"))
        );
        assert_eq!(
            q.until(oslo, ms("2026-10-25T01:30:00Z")),
            Some(ms("2026-10-25T06:00:00Z"))
        );
        assert_eq!(q.until(oslo, ms("2026-10-25T06:00:00Z")), None);
    }

    #[test]
    fn the_first_layer_that_sets_quiet_hours_decides_as_a_whole() {
        use crate::prefs::{PrefContext, PrefLayer, PrefSource};
        let account = PrefLayer {
            quiet_hours: Some(night(&["mon"])),
            ..PrefLayer::default()
        };
        let mut off = night(&[]);
        off.enabled = false;
        let own = PrefLayer {
            quiet_hours: Some(off.clone()),
            ..PrefLayer::default()
        };
        let none = PrefLayer::default();
        let ctx =
            |own: Option<&'static PrefLayer>, account: Option<&'static PrefLayer>| PrefContext {
                user: None,
                own,
                profile: None,
                account,
            };
        let (account, own, none) = (
            Box::leak(Box::new(account)),
            Box::leak(Box::new(own)),
            Box::leak(Box::new(none)),
        );
        assert_eq!(
            ctx(Some(none), Some(account))
                .quiet_hours()
                .map(|(q, s)| (q.clone(), s)),
            Some((night(&["mon"]), PrefSource::Account))
        );
        // The user's own window (here: switched off) replaces the account's whole.
        assert_eq!(
            ctx(Some(own), Some(account))
                .quiet_hours()
                .map(|(q, s)| (q.clone(), s)),
            Some((off, PrefSource::User))
        );
        assert_eq!(ctx(Some(none), None).quiet_hours(), None);
    }

    #[test]
    fn a_summary_lists_the_newest_titles_in_the_users_language() {
        assert_eq!(
            summary_title("nb-NO", 3),
            "3 varsler mens stille timer var på"
        );
        assert_eq!(
            summary_title("en", 2),
            "2 notifications while quiet hours were on"
        );
        let titles = ["g", "f", "e", "d", "c", "b", "a"];
        let body = summary_body("en", &titles);
        assert_eq!(body.lines().count(), SUMMARY_LINES + 1);
        assert!(body.starts_with("• g\n"));
        assert!(body.ends_with("… and 2 more"), "{body}");
        assert_eq!(summary_body("nb", &titles[..2]), "• g\n• f");
    }
}
