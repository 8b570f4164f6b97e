//! What happens after the decision, for one recipient of one event: whether a
//! notification is made now or the event waits in a batch (an assignment window, the
//! weekly digest), which delivery each channel gets and in which state, and how the
//! email goes (a job of its own, or grouped with the other replies of its thread).
//!
//! Inside the recipient's quiet hours the channels that interrupt (pop-up, browser
//! notification, Web Push, Slack, Teams, mobile push) and email are held: the bell records
//! the item silently, the rest waits in the user's quiet batch, sent when the window ends.
//! Mandatory types pierce quiet hours.
//!
//! Pure: the processor (for an event) and the batch firing (for a closed window) feed it
//! the decision and the type; every node applies the same rules.

use chrono::Weekday;

use crate::catalog::TypeDef;
use crate::decide::{Presence, RecipientDecision};
use crate::model::{Channel, parse_weekday};
use crate::{Outcome, schedule};

/// The kinds of batches: an assignment window, a thread's replies grouped into one
/// email, a weekly digest period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BatchKind {
    Assign,
    EmailGroup,
    Digest,
    /// What a user's quiet hours held, sent when the window ends.
    Quiet,
}

impl BatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BatchKind::Assign => "assign",
            BatchKind::EmailGroup => "email_group",
            BatchKind::Digest => "digest",
            BatchKind::Quiet => "quiet",
        }
    }

    pub const ALL: [BatchKind; 4] = [
        BatchKind::Assign,
        BatchKind::EmailGroup,
        BatchKind::Digest,
        BatchKind::Quiet,
    ];

    /// Whether a batch gathers one type's events (one open batch per type), or a user's
    /// whatever their type (the quiet batch: one per user and window).
    pub fn per_type(self) -> bool {
        self != BatchKind::Quiet
    }

    pub fn parse(s: &str) -> Option<BatchKind> {
        BatchKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a delivery goes: a channel, with the browser channel sent by Web Push when no
/// tab is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    Bell,
    Popup,
    Browser,
    WebPush,
    Email,
    Slack,
    Teams,
    Mobile,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Bell => "bell",
            Route::Popup => "popup",
            Route::Browser => "browser",
            Route::WebPush => "webpush",
            Route::Email => "email",
            Route::Slack => "slack",
            Route::Teams => "teams",
            Route::Mobile => "mobile",
        }
    }

    pub const ALL: [Route; 8] = [
        Route::Bell,
        Route::Popup,
        Route::Browser,
        Route::WebPush,
        Route::Email,
        Route::Slack,
        Route::Teams,
        Route::Mobile,
    ];

    pub fn parse(s: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The route of a channel: the browser channel goes by Web Push when no tab is open.
    pub fn of(channel: Channel, web_push: bool) -> Route {
        match channel {
            Channel::Bell => Route::Bell,
            Channel::Popup => Route::Popup,
            Channel::Browser if web_push => Route::WebPush,
            Channel::Browser => Route::Browser,
            Channel::Email => Route::Email,
            Channel::Slack => Route::Slack,
            Channel::Teams => Route::Teams,
            Channel::Mobile => Route::Mobile,
        }
    }

    /// The state a delivery sent now starts in: the bell is done when written, pop-ups
    /// and browser notifications go with the item's frame, the rest is a job's.
    fn first_state(self) -> DeliveryState {
        match self {
            Route::Bell => DeliveryState::Delivered,
            Route::Popup | Route::Browser => DeliveryState::Sent,
            _ => DeliveryState::Pending,
        }
    }

    /// Slack, Teams, mobile and Web Push go out as jobs of their own, retried apart.
    pub fn is_job(self) -> bool {
        matches!(
            self,
            Route::Slack | Route::Teams | Route::Mobile | Route::WebPush
        )
    }
}

/// The state a delivery starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Done when written (the bell: the item is in the feed).
    Delivered,
    /// Handed to the open tabs with the item's frame (pop-up, browser notification).
    Sent,
    /// A job will send it.
    Pending,
    /// Waits for a batch (grouped email).
    Scheduled,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Delivered => "delivered",
            DeliveryState::Sent => "sent",
            DeliveryState::Pending => "pending",
            DeliveryState::Scheduled => "scheduled",
        }
    }
}

/// A batch the event (or its email) joins, or opens when none is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchJoin {
    pub kind: BatchKind,
    /// Further grouping inside (account, user, type): the thread, the digest period.
    pub group_key: String,
    /// When a batch opened by this event fires (Unix ms).
    pub due_at: i64,
    /// A batch holding this many items fires at once.
    pub max_items: i64,
}

/// How the notification's email goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailWork {
    /// An email job of its own.
    Job,
    /// Into the thread's group (one email per window).
    Group(BatchJoin),
    /// Held by quiet hours: the quiet batch sends it when the window ends.
    Held,
}

/// The notification made now, with its deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationPlan {
    /// Every channel that gets a delivery, with its first state; email last.
    pub deliveries: Vec<(Route, DeliveryState)>,
    pub email: Option<EmailWork>,
    /// Listed in the bell feed (the bell channel was sent).
    pub in_feed: bool,
    /// Quiet hours held some channels (their deliveries are `scheduled`): the
    /// notification joins the user's quiet batch, which sends them when the window ends.
    pub quiet: Option<BatchJoin>,
}

/// The plan for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecipientPlan {
    /// The event waits in this batch (an assignment window, a digest period).
    pub batch: Option<BatchJoin>,
    pub notification: Option<NotificationPlan>,
    /// The first mention of the activity is recorded for this user.
    pub mention: bool,
}

/// What the plan needs besides the type and the decision.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    pub kind: &'a TypeDef,
    /// When the work happens (Unix ms).
    pub now: i64,
    /// When the event was accepted: an assignment window starts then.
    pub received_at: i64,
    /// The recipient's timezone (the digest is sent in their local time).
    pub timezone: &'a str,
    /// The activity or thread the event is about.
    pub object_id: Option<&'a str>,
    pub event_id: &'a str,
    /// A closed window is being delivered: no batch again.
    pub firing: bool,
    /// The decision saw no earlier mention of the activity for this user.
    pub first_mention: bool,
    /// The recipient's quiet hours are on now and end then (Unix ms).
    pub quiet_until: Option<i64>,
}

/// The channels quiet hours hold (the bell records silently).
pub const HELD_BY_QUIET_HOURS: [Channel; 6] = [
    Channel::Popup,
    Channel::Browser,
    Channel::Slack,
    Channel::Teams,
    Channel::Mobile,
    Channel::Email,
];

/// Plans one recipient. `decided` is updated where the plan defers a channel: an email
/// fed into a digest or a thread's group becomes `scheduled`, with the reason.
pub fn plan(input: &PlanInput<'_>, decided: &mut RecipientDecision) -> RecipientPlan {
    let kind = input.kind;
    let mention = kind.first_mention_only
        && input.object_id.is_some()
        && input.first_mention
        && decided.delivers();
    if let (Some(rule), false) = (&kind.batch, input.firing) {
        // Delivered when the window closes (the batch firing plans it again).
        let batch = decided.delivers().then(|| BatchJoin {
            kind: BatchKind::Assign,
            group_key: String::new(),
            due_at: input.received_at + i64::from(rule.delay_seconds) * 1000,
            max_items: if rule.group { i64::MAX } else { 1 },
        });
        return RecipientPlan {
            batch,
            notification: None,
            mention,
        };
    }
    let mut batch = None;
    if let (Some(digest), false) = (&kind.digest, input.firing)
        && let Some(line) = sent_line(decided, Channel::Email)
    {
        // Fed into the weekly summary instead of an email of its own.
        line.outcome = Outcome::Scheduled;
        line.reason.push_str(";digest");
        let weekday = parse_weekday(&digest.weekday).unwrap_or(Weekday::Fri);
        let due = schedule::next_weekly_ms(input.now, input.timezone, weekday, digest.hour);
        batch = Some(BatchJoin {
            kind: BatchKind::Digest,
            group_key: due.to_string(),
            due_at: due,
            max_items: i64::MAX,
        });
    }
    let notification = decided
        .decisions
        .iter()
        .any(|d| d.outcome == Outcome::Sent)
        .then(|| notification(input, decided));
    RecipientPlan {
        batch,
        notification,
        mention,
    }
}

/// The decision line of `channel` when it was sent.
fn sent_line(
    decided: &mut RecipientDecision,
    channel: Channel,
) -> Option<&mut crate::decide::Decision> {
    decided
        .decisions
        .iter_mut()
        .find(|d| d.channel == channel && d.outcome == Outcome::Sent)
}

/// How a pop-up or browser notification that quiet hours held reaches the user when the
/// window ends, judged by where they are then: a pop-up on the active tab, a browser
/// notification when tabs are open but none is active, Web Push when no tab is open and
/// a browser is subscribed; `Err` with the trace reason when there is no way.
pub fn desktop_route(p: Presence, web_push: bool) -> Result<Route, &'static str> {
    if p.active_tabs > 0 {
        Ok(Route::Popup)
    } else if p.open_tabs > 0 {
        Ok(Route::Browser)
    } else if web_push {
        Ok(Route::WebPush)
    } else {
        Err("presence:no_open_tab")
    }
}

/// Holds the interrupting channels and email until the quiet window ends: their lines
/// become `scheduled` with the reason `quiet_hours` and the time, and the pop-up and
/// browser notification are no longer asked of the open tabs. Whether any was held.
fn hold_for_quiet_hours(decided: &mut RecipientDecision, until: i64) -> bool {
    let mut held = false;
    for d in decided
        .decisions
        .iter_mut()
        .filter(|d| d.outcome == Outcome::Sent && HELD_BY_QUIET_HOURS.contains(&d.channel))
    {
        d.outcome = Outcome::Scheduled;
        d.reason.push_str(";quiet_hours");
        d.until = Some(until);
        held = true;
    }
    held
}

fn notification(input: &PlanInput<'_>, decided: &mut RecipientDecision) -> NotificationPlan {
    let quiet = input
        .quiet_until
        .filter(|_| !input.kind.mandatory)
        .filter(|&until| hold_for_quiet_hours(decided, until))
        .map(|until| BatchJoin {
            kind: BatchKind::Quiet,
            group_key: until.to_string(),
            due_at: until,
            max_items: i64::MAX,
        });
    // Only quiet hours give a decision line an `until`.
    let held_email = decided
        .decisions
        .iter()
        .any(|d| d.channel == Channel::Email && d.until.is_some());
    let web_push = decided.web_push;
    let mut deliveries: Vec<(Route, DeliveryState)> = decided
        .decisions
        .iter()
        .filter(|d| d.channel != Channel::Email)
        .filter_map(|d| match d.outcome {
            Outcome::Sent => {
                let r = Route::of(d.channel, web_push);
                Some((r, r.first_state()))
            }
            // Held: whether a tab is open is judged when the window ends.
            Outcome::Scheduled if d.until.is_some() => {
                Some((Route::of(d.channel, false), DeliveryState::Scheduled))
            }
            _ => None,
        })
        .collect();
    if quiet.is_some() {
        // The bell records silently: no pop-up, no browser notification now.
        decided.popup_sound = None;
        decided.browser_wanted = false;
        decided.web_push = false;
    }
    let in_feed = decided.outcome(Channel::Bell) == Some(Outcome::Sent);
    let email = if held_email {
        Some(EmailWork::Held)
    } else {
        sent_line(decided, Channel::Email).map(|line| match &input.kind.email_grouping {
            Some(g) => {
                line.outcome = Outcome::Scheduled;
                line.reason.push_str(";grouped");
                EmailWork::Group(BatchJoin {
                    kind: BatchKind::EmailGroup,
                    group_key: input.object_id.unwrap_or(input.event_id).to_string(),
                    due_at: input.now + i64::from(g.window_seconds) * 1000,
                    max_items: i64::from(g.max_items.max(1)),
                })
            }
            None => EmailWork::Job,
        })
    };
    match &email {
        Some(EmailWork::Job) => deliveries.push((Route::Email, DeliveryState::Pending)),
        Some(EmailWork::Group(_) | EmailWork::Held) => {
            deliveries.push((Route::Email, DeliveryState::Scheduled))
        }
        None => {}
    }
    NotificationPlan {
        deliveries,
        email,
        in_feed,
        quiet,
    }
}

#[cfg(test)]
mod tests;
