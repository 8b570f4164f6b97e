//! The decision: for one event and one candidate recipient, what happens on every
//! channel, and why. Pure: no I/O, no clock.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::{Catalog, TypeDef};
use crate::model::{Channel, ObjectRef, Source, Tab, User};
use crate::prefs::{EffectiveSwitches, PrefContext};
use crate::sound::Sound;

/// What was decided for one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Sent,
    Scheduled,
    Skipped,
    Dropped,
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub tab: Tab,
    pub channel: Channel,
    pub outcome: Outcome,
    /// A stable code: `preference:user`, `mandatory`, `self_notification`, `source:import`, …
    pub reason: String,
    /// Held by quiet hours: when the window ends and the channel is sent (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

/// The facts of an event the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub kind: &'a TypeDef,
    pub actor_id: Option<&'a str>,
    pub source: Source,
    pub object: Option<&'a ObjectRef>,
    /// True when a batch's window has closed and its notification goes out now; false
    /// when the event arrives (batched types are then `scheduled`).
    pub due: bool,
}

/// Where the user is right now (the tabs that reported presence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Presence {
    pub open_tabs: usize,
    pub active_tabs: usize,
}

/// The connections of the user's account and the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Connections {
    pub slack: bool,
    pub teams: bool,
    pub mobile_devices: bool,
    /// The user has a browser subscribed to Web Push (Desktop → Browser, no tab open).
    pub web_push: bool,
}

/// The facts about one candidate recipient.
#[derive(Debug, Clone, Copy)]
pub struct RecipientFacts<'a> {
    pub user: &'a User,
    pub prefs: PrefContext<'a>,
    /// False when the user was already mentioned in this activity.
    pub first_mention: bool,
    pub presence: Presence,
    pub connections: Connections,
}

/// Every channel's decision for one recipient, plus what a pop-up needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientDecision {
    pub decisions: Vec<Decision>,
    /// The pop-up sound when the user wants pop-ups for this event (type and switch on),
    /// whether or not a tab is active right now: the node holding the user's streams
    /// routes by its own presence when it pushes.
    pub popup_sound: Option<Sound>,
    /// The type's sound for this user (their choice, else the type's, else the default
    /// pop-up sound): what a pop-up plays, and what mobile push and Web Push ask for.
    pub sound: Sound,
    /// Whether the user wants a browser notification when no tab is active.
    pub browser_wanted: bool,
    /// The browser notification goes by Web Push: no tab is open and the user has a
    /// subscribed browser.
    pub web_push: bool,
}

impl RecipientDecision {
    pub fn outcome(&self, channel: Channel) -> Option<Outcome> {
        self.decisions
            .iter()
            .find(|d| d.channel == channel)
            .map(|d| d.outcome)
    }

    /// Whether anything is delivered at all (now or later).
    pub fn delivers(&self) -> bool {
        self.decisions
            .iter()
            .any(|d| matches!(d.outcome, Outcome::Sent | Outcome::Scheduled))
    }

    /// Whether `channel` is delivered (now or later).
    pub fn delivers_on(&self, channel: Channel) -> bool {
        matches!(
            self.outcome(channel),
            Some(Outcome::Sent | Outcome::Scheduled)
        )
    }
}

/// A reason that applies to every channel of the recipient.
fn blanket(facts: &EventFacts<'_>, r: &RecipientFacts<'_>) -> Option<String> {
    if facts.actor_id.is_some_and(|a| a == r.user.id) {
        return Some("self_notification".into());
    }
    if facts.kind.suppress_sources.contains(&facts.source) {
        return Some(format!("source:{}", facts.source.as_str()));
    }
    if facts.kind.first_mention_only && !r.first_mention {
        return Some("repeat_mention".into());
    }
    None
}

/// Why a sub-channel is off, when its master switch or connection says so.
fn switch_off(
    channel: Channel,
    mandatory: bool,
    s: &EffectiveSwitches,
    c: &Connections,
) -> Option<&'static str> {
    match channel {
        Channel::Email if !s.email && !mandatory => Some("switch_off:email"),
        Channel::Bell if !s.bell => Some("switch_off:bell"),
        Channel::Popup if !s.popup => Some("switch_off:popup"),
        Channel::Browser if !s.browser => Some("switch_off:browser"),
        Channel::Slack if !c.slack => Some("not_connected:slack"),
        Channel::Slack if !s.slack => Some("switch_off:slack"),
        Channel::Teams if !c.teams => Some("not_connected:teams"),
        Channel::Teams if !s.teams => Some("switch_off:teams"),
        Channel::Mobile if !s.mobile => Some("switch_off:mobile"),
        Channel::Mobile if !c.mobile_devices => Some("no_device:mobile"),
        _ => None,
    }
}

/// Pop-up goes to an active tab; a browser notification to open tabs when none is active,
/// or by Web Push when no tab is open and the user has a subscribed browser.
fn presence_miss(channel: Channel, p: Presence, c: &Connections) -> Option<&'static str> {
    match channel {
        Channel::Popup if p.active_tabs == 0 => Some("presence:not_active"),
        Channel::Browser if p.open_tabs == 0 && !c.web_push => Some("presence:no_open_tab"),
        Channel::Browser if p.active_tabs > 0 => Some("presence:active"),
        _ => None,
    }
}

/// Decides every channel for one recipient of one event.
pub fn decide(
    catalog: &Catalog,
    facts: &EventFacts<'_>,
    r: &RecipientFacts<'_>,
) -> RecipientDecision {
    let kind = facts.kind;
    let blanket = blanket(facts, r);
    let switches = r.prefs.switches();
    let later = kind.is_batched() && !facts.due;
    let mut decisions = Vec::with_capacity(Channel::ALL.len());
    let sound = r.prefs.sound(kind, r.prefs.default_sound(catalog));
    let mut popup_sound = None;
    let mut browser_wanted = false;
    let mut web_push = false;
    for tab in Tab::ALL {
        let effective = r.prefs.effective(kind, tab);
        for &channel in tab.channels() {
            let (outcome, reason) = if let Some(reason) = &blanket {
                (Outcome::Skipped, reason.clone())
            } else {
                match &effective {
                    Err(hidden) => (Outcome::Skipped, hidden.code()),
                    Ok(e) if !e.on => (
                        Outcome::Skipped,
                        format!("preference:{}", e.source.as_str()),
                    ),
                    Ok(e) => {
                        let why = if e.source == crate::prefs::PrefSource::Mandatory {
                            "mandatory".to_string()
                        } else {
                            format!("preference:{}", e.source.as_str())
                        };
                        if let Some(off) =
                            switch_off(channel, kind.mandatory, &switches, &r.connections)
                        {
                            (Outcome::Skipped, off.to_string())
                        } else {
                            match channel {
                                Channel::Popup => popup_sound = Some(sound),
                                Channel::Browser => browser_wanted = true,
                                _ => {}
                            }
                            if later {
                                // Presence is judged when the batch is delivered.
                                (Outcome::Scheduled, format!("{why};batched"))
                            } else if let Some(miss) =
                                presence_miss(channel, r.presence, &r.connections)
                            {
                                (Outcome::Skipped, miss.to_string())
                            } else if channel == Channel::Browser && r.presence.open_tabs == 0 {
                                web_push = true;
                                (Outcome::Sent, format!("{why};web_push"))
                            } else {
                                (Outcome::Sent, why)
                            }
                        }
                    }
                }
            };
            decisions.push(Decision {
                tab,
                channel,
                outcome,
                reason,
                until: None,
            });
        }
    }
    RecipientDecision {
        decisions,
        popup_sound,
        sound,
        browser_wanted,
        web_push,
    }
}
