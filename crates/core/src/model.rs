//! Plain domain types shared by every layer.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A settings tab. Types list the tabs they may be delivered on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Tab {
    Email,
    Desktop,
    OtherApps,
    Mobile,
}

impl Tab {
    pub const ALL: [Tab; 4] = [Tab::Email, Tab::Desktop, Tab::OtherApps, Tab::Mobile];

    pub fn as_str(self) -> &'static str {
        match self {
            Tab::Email => "email",
            Tab::Desktop => "desktop",
            Tab::OtherApps => "other_apps",
            Tab::Mobile => "mobile",
        }
    }

    pub fn parse(s: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The delivery channels a tab feeds.
    pub fn channels(self) -> &'static [Channel] {
        match self {
            Tab::Email => &[Channel::Email],
            Tab::Desktop => &[Channel::Bell, Channel::Popup, Channel::Browser],
            Tab::OtherApps => &[Channel::Slack, Channel::Teams],
            Tab::Mobile => &[Channel::Mobile],
        }
    }
}

impl fmt::Display for Tab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A delivery channel: a tab or one of its sub-channels.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Bell,
    Popup,
    Browser,
    Slack,
    Teams,
    Mobile,
}

impl Channel {
    pub const ALL: [Channel; 7] = [
        Channel::Email,
        Channel::Bell,
        Channel::Popup,
        Channel::Browser,
        Channel::Slack,
        Channel::Teams,
        Channel::Mobile,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Bell => "bell",
            Channel::Popup => "popup",
            Channel::Browser => "browser",
            Channel::Slack => "slack",
            Channel::Teams => "teams",
            Channel::Mobile => "mobile",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn tab(self) -> Tab {
        match self {
            Channel::Email => Tab::Email,
            Channel::Bell | Channel::Popup | Channel::Browser => Tab::Desktop,
            Channel::Slack | Channel::Teams => Tab::OtherApps,
            Channel::Mobile => Tab::Mobile,
        }
    }
}

/// Where an event came from.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Ui,
    Api,
    Import,
    Workflow,
    System,
    Integration,
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::Ui,
        Source::Api,
        Source::Import,
        Source::Workflow,
        Source::System,
        Source::Integration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Ui => "ui",
            Source::Api => "api",
            Source::Import => "import",
            Source::Workflow => "workflow",
            Source::System => "system",
            Source::Integration => "integration",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// An account's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    #[default]
    Free,
    Starter,
    Professional,
    Enterprise,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Starter => "starter",
            Tier::Professional => "professional",
            Tier::Enterprise => "enterprise",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        [
            Tier::Free,
            Tier::Starter,
            Tier::Professional,
            Tier::Enterprise,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// Only professional and enterprise accounts may set account defaults and profiles.
    pub fn allows_defaults(self) -> bool {
        matches!(self, Tier::Professional | Tier::Enterprise)
    }
}

/// A locale code such as `en` or `nb`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Locale(pub String);

impl Locale {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The object an event is about (a deal, a ticket, an activity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, ToSchema)]
pub struct ObjectRef {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// A user as the decision needs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct User {
    pub account_id: String,
    pub id: String,
    pub email: String,
    pub name: String,
    pub locale: String,
    pub timezone: String,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    pub flags: BTreeMap<String, serde_json::Value>,
}

impl User {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn is_super_admin(&self) -> bool {
        self.has_role("super_admin")
    }

    pub fn has_permission(&self, p: &str) -> bool {
        self.permissions.iter().any(|x| x == p)
    }

    /// A flag counts as set when present and neither `false`, `null`, `0` nor `""`.
    pub fn has_flag(&self, flag: &str) -> bool {
        match self.flags.get(flag) {
            None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => false,
            Some(serde_json::Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(serde_json::Value::String(s)) => !s.is_empty(),
            Some(_) => true,
        }
    }
}

/// Checks a host id: 1–128 characters of `[A-Za-z0-9._:@-]`.
pub fn valid_host_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'-'))
}

/// Whether a locale is Norwegian (`nb`, `nn`, `no`, with or without a region, any case):
/// the built-in texts outside the catalog come in Norwegian and English.
pub fn is_norwegian(locale: &str) -> bool {
    let lang = locale.split(['-', '_']).next().unwrap_or_default();
    ["nb", "nn", "no"]
        .iter()
        .any(|n| lang.eq_ignore_ascii_case(n))
}

/// `mon` … `sun` → chrono weekday.
pub fn parse_weekday(s: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday::*;
    Some(match s {
        "mon" => Mon,
        "tue" => Tue,
        "wed" => Wed,
        "thu" => Thu,
        "fri" => Fri,
        "sat" => Sat,
        "sun" => Sun,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ids() {
        assert!(valid_host_id("user:42@crm.example-1_x"));
        assert!(!valid_host_id(""));
        assert!(!valid_host_id("a b"));
        assert!(!valid_host_id("ø"));
        assert!(!valid_host_id(&"x".repeat(129)));
    }

    #[test]
    fn flags() {
        let mut u = User::default();
        u.flags.insert("a".into(), serde_json::json!(true));
        u.flags.insert("b".into(), serde_json::json!(false));
        u.flags.insert("c".into(), serde_json::json!("2024-01-01"));
        assert!(u.has_flag("a"));
        assert!(!u.has_flag("b"));
        assert!(u.has_flag("c"));
        assert!(!u.has_flag("d"));
    }
}
