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
    let held = |c: Channel| {
        quiet.is_some()
            && decided
                .decisions
                .iter()
                .any(|d| d.channel == c && d.outcome == Outcome::Scheduled && d.until.is_some())
    };
    let held_email = held(Channel::Email);
    let web_push = decided.web_push;
    let mut deliveries: Vec<(Route, DeliveryState)> = decided
        .decisions
        .iter()
        .filter(|d| d.channel != Channel::Email)
        .filter_map(|d| match d.outcome {
            Outcome::Sent => Some(match d.channel {
                Channel::Bell => (Route::Bell, DeliveryState::Delivered),
                Channel::Browser if web_push => (Route::WebPush, DeliveryState::Pending),
                Channel::Browser => (Route::Browser, DeliveryState::Sent),
                Channel::Popup => (Route::Popup, DeliveryState::Sent),
                Channel::Slack => (Route::Slack, DeliveryState::Pending),
                Channel::Teams => (Route::Teams, DeliveryState::Pending),
                Channel::Mobile => (Route::Mobile, DeliveryState::Pending),
                Channel::Email => unreachable!("filtered out above"),
            }),
            // Held: whether a tab is open is judged when the window ends.
            Outcome::Scheduled if quiet.is_some() && d.until.is_some() => Some((
                match d.channel {
                    Channel::Popup => Route::Popup,
                    Channel::Browser => Route::Browser,
                    Channel::Slack => Route::Slack,
                    Channel::Teams => Route::Teams,
                    _ => Route::Mobile,
                },
                DeliveryState::Scheduled,
            )),
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
mod tests {
    use super::*;
    use crate::decide::Decision;
    use crate::{Catalog, Sound, Tab};

    fn catalog() -> &'static Catalog {
        static C: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        C.get_or_init(Catalog::builtin)
    }

    fn kind(id: &str) -> &'static TypeDef {
        catalog().get(id).expect("a built-in type")
    }

    /// A decision sending `sent` and skipping every other channel.
    fn decision(sent: &[Channel], web_push: bool) -> RecipientDecision {
        let decisions = Tab::ALL
            .iter()
            .flat_map(|tab| tab.channels().iter().map(move |c| (*tab, *c)))
            .map(|(tab, channel)| Decision {
                tab,
                channel,
                outcome: if sent.contains(&channel) {
                    Outcome::Sent
                } else {
                    Outcome::Skipped
                },
                reason: "preference:catalog".into(),
                until: None,
            })
            .collect();
        RecipientDecision {
            decisions,
            popup_sound: None,
            sound: Sound::default(),
            browser_wanted: sent.contains(&Channel::Browser),
            web_push,
        }
    }

    fn input(kind: &'static TypeDef) -> PlanInput<'static> {
        PlanInput {
            kind,
            // Monday 2026-11-30 10:00 UTC.
            now: 1_796_032_800_000,
            received_at: 1_796_032_799_000,
            timezone: "Europe/Oslo",
            object_id: Some("deal_1"),
            event_id: "evt_1",
            firing: false,
            first_mention: true,
            quiet_until: None,
        }
    }

    fn line(d: &RecipientDecision, c: Channel) -> &Decision {
        d.decisions.iter().find(|x| x.channel == c).unwrap()
    }

    #[test]
    fn an_immediate_type_maps_each_channel_to_its_first_state() {
        let mut d = decision(
            &[
                Channel::Bell,
                Channel::Popup,
                Channel::Slack,
                Channel::Mobile,
                Channel::Email,
            ],
            false,
        );
        let p = plan(&input(kind("crm.duplicate_found")), &mut d);
        assert_eq!(p.batch, None);
        let n = p.notification.unwrap();
        assert!(n.in_feed);
        assert_eq!(n.email, Some(EmailWork::Job));
        assert_eq!(
            n.deliveries,
            vec![
                (Route::Bell, DeliveryState::Delivered),
                (Route::Popup, DeliveryState::Sent),
                (Route::Slack, DeliveryState::Pending),
                (Route::Mobile, DeliveryState::Pending),
                (Route::Email, DeliveryState::Pending),
            ]
        );
    }

    #[test]
    fn the_browser_channel_goes_by_web_push_when_no_tab_is_open() {
        let mut open = decision(&[Channel::Browser], false);
        let p = plan(&input(kind("crm.duplicate_found")), &mut open);
        assert_eq!(
            p.notification.unwrap().deliveries,
            vec![(Route::Browser, DeliveryState::Sent)]
        );
        let mut closed = decision(&[Channel::Browser], true);
        let p = plan(&input(kind("crm.duplicate_found")), &mut closed);
        let n = p.notification.unwrap();
        assert_eq!(n.deliveries, vec![(Route::WebPush, DeliveryState::Pending)]);
        assert!(!n.in_feed, "the bell was not sent");
        assert!(Route::WebPush.is_job() && !Route::Browser.is_job());
    }

    #[test]
    fn an_assignment_waits_in_its_window_and_is_planned_again_when_it_fires() {
        let k = kind("crm.contact_assigned");
        let mut d = decision(&[Channel::Bell, Channel::Email], false);
        let i = input(k);
        let p = plan(&i, &mut d);
        assert_eq!(p.notification, None);
        assert_eq!(
            p.batch,
            Some(BatchJoin {
                kind: BatchKind::Assign,
                group_key: String::new(),
                due_at: i.received_at + 300_000,
                max_items: i64::MAX,
            })
        );
        let firing = PlanInput { firing: true, ..i };
        let p = plan(&firing, &mut d);
        assert_eq!(p.batch, None);
        assert!(p.notification.is_some());
        // Nothing delivered: nothing waits.
        let mut none = decision(&[], false);
        assert_eq!(plan(&i, &mut none), RecipientPlan::default());
    }

    #[test]
    fn replies_in_a_thread_group_their_email_and_say_so_in_the_trace() {
        let k = kind("comments.activity");
        let mut d = decision(&[Channel::Bell, Channel::Email], false);
        let p = plan(&input(k), &mut d);
        let n = p.notification.unwrap();
        let Some(EmailWork::Group(join)) = n.email else {
            panic!("grouped: {n:?}");
        };
        assert_eq!(join.kind, BatchKind::EmailGroup);
        assert_eq!(join.group_key, "deal_1");
        assert_eq!(join.max_items, 3);
        assert_eq!(join.due_at, input(k).now + 60_000);
        assert_eq!(
            n.deliveries.last(),
            Some(&(Route::Email, DeliveryState::Scheduled))
        );
        let email = line(&d, Channel::Email);
        assert_eq!(email.outcome, Outcome::Scheduled);
        assert!(email.reason.ends_with(";grouped"), "{}", email.reason);
        // No thread: the event is its own group.
        let mut d = decision(&[Channel::Email], false);
        let lone = PlanInput {
            object_id: None,
            ..input(k)
        };
        let Some(EmailWork::Group(join)) = plan(&lone, &mut d).notification.unwrap().email else {
            panic!("grouped");
        };
        assert_eq!(join.group_key, "evt_1");
    }

    #[test]
    fn a_digest_type_feeds_the_weekly_summary_at_the_users_local_hour() {
        let k = kind("workflows.enrollment_changed");
        let mut d = decision(&[Channel::Bell, Channel::Email], false);
        let p = plan(&input(k), &mut d);
        let join = p.batch.unwrap();
        assert_eq!(join.kind, BatchKind::Digest);
        // Friday 2026-12-04 09:00 in Oslo is 08:00 UTC.
        assert_eq!(join.due_at, 1_796_371_200_000);
        assert_eq!(join.group_key, join.due_at.to_string());
        let email = line(&d, Channel::Email);
        assert_eq!(email.outcome, Outcome::Scheduled);
        assert!(email.reason.ends_with(";digest"));
        // The bell still gets its item now; the email is not sent on its own.
        let n = p.notification.unwrap();
        assert_eq!(n.email, None);
        assert_eq!(n.deliveries, vec![(Route::Bell, DeliveryState::Delivered)]);
        // Email off: no digest.
        let mut bell_only = decision(&[Channel::Bell], false);
        assert_eq!(plan(&input(k), &mut bell_only).batch, None);
    }

    #[test]
    fn a_first_mention_is_recorded_only_when_something_is_delivered() {
        let k = kind("crm.mention");
        let mut d = decision(&[Channel::Bell], false);
        assert!(plan(&input(k), &mut d).mention);
        let again = PlanInput {
            first_mention: false,
            ..input(k)
        };
        assert!(!plan(&again, &mut d).mention);
        let mut nothing = decision(&[], false);
        assert!(!plan(&input(k), &mut nothing).mention);
        let no_activity = PlanInput {
            object_id: None,
            ..input(k)
        };
        assert!(!plan(&no_activity, &mut d).mention);
        // Types without the rule never record.
        assert!(!plan(&input(kind("crm.duplicate_found")), &mut d).mention);
    }

    #[test]
    fn quiet_hours_hold_what_interrupts_and_the_bell_records_silently() {
        let k = kind("crm.duplicate_found");
        let until = input(k).now + 3_600_000;
        let quiet = PlanInput {
            quiet_until: Some(until),
            ..input(k)
        };
        let mut d = decision(
            &[
                Channel::Bell,
                Channel::Popup,
                Channel::Browser,
                Channel::Slack,
                Channel::Mobile,
                Channel::Email,
            ],
            false,
        );
        d.popup_sound = Some(Sound::default());
        let n = plan(&quiet, &mut d).notification.unwrap();
        assert!(n.in_feed);
        assert_eq!(n.email, Some(EmailWork::Held));
        assert_eq!(
            n.deliveries,
            vec![
                (Route::Bell, DeliveryState::Delivered),
                (Route::Popup, DeliveryState::Scheduled),
                (Route::Browser, DeliveryState::Scheduled),
                (Route::Slack, DeliveryState::Scheduled),
                (Route::Mobile, DeliveryState::Scheduled),
                (Route::Email, DeliveryState::Scheduled),
            ]
        );
        assert_eq!(
            n.quiet,
            Some(BatchJoin {
                kind: BatchKind::Quiet,
                group_key: until.to_string(),
                due_at: until,
                max_items: i64::MAX,
            })
        );
        // No pop-up, no sound, no browser notification now.
        assert_eq!(d.popup_sound, None);
        assert!(!d.browser_wanted);
        for c in HELD_BY_QUIET_HOURS
            .into_iter()
            .filter(|c| *c != Channel::Teams)
        {
            let l = line(&d, c);
            assert_eq!(l.outcome, Outcome::Scheduled, "{c:?}");
            assert!(l.reason.ends_with(";quiet_hours"), "{}", l.reason);
            assert_eq!(l.until, Some(until));
        }
        assert_eq!(line(&d, Channel::Bell).outcome, Outcome::Sent);
        assert_eq!(line(&d, Channel::Bell).until, None);
        assert_eq!(
            line(&d, Channel::Teams).outcome,
            Outcome::Skipped,
            "not sent, not held"
        );
    }

    #[test]
    fn quiet_hours_hold_a_grouped_email_and_web_push_but_not_the_bell_alone() {
        let k = kind("comments.activity");
        let quiet = PlanInput {
            quiet_until: Some(input(k).now + 60_000),
            ..input(k)
        };
        let mut d = decision(&[Channel::Email, Channel::Browser], true);
        let n = plan(&quiet, &mut d).notification.unwrap();
        assert_eq!(n.email, Some(EmailWork::Held), "held, not grouped");
        assert_eq!(
            n.deliveries,
            vec![
                (Route::Browser, DeliveryState::Scheduled),
                (Route::Email, DeliveryState::Scheduled),
            ]
        );
        assert!(!d.web_push, "the window's end judges the tabs again");
        // Only the bell: nothing is held, no quiet batch.
        let mut bell = decision(&[Channel::Bell], false);
        let n = plan(&quiet, &mut bell).notification.unwrap();
        assert_eq!(n.quiet, None);
        assert_eq!(n.deliveries, vec![(Route::Bell, DeliveryState::Delivered)]);
    }

    #[test]
    fn held_desktop_notifications_go_where_the_user_is_when_the_window_ends() {
        let p = |open_tabs, active_tabs| Presence {
            open_tabs,
            active_tabs,
        };
        assert_eq!(desktop_route(p(2, 1), true), Ok(Route::Popup));
        assert_eq!(desktop_route(p(1, 0), true), Ok(Route::Browser));
        assert_eq!(desktop_route(p(0, 0), true), Ok(Route::WebPush));
        assert_eq!(desktop_route(p(0, 0), false), Err("presence:no_open_tab"));
        for r in Route::ALL {
            assert_eq!(Route::parse(r.as_str()), Some(r));
        }
    }

    #[test]
    fn mandatory_types_pierce_quiet_hours() {
        let k = kind("account.billing");
        assert!(k.mandatory);
        let quiet = PlanInput {
            quiet_until: Some(input(k).now + 60_000),
            ..input(k)
        };
        let mut d = decision(&[Channel::Bell, Channel::Email], false);
        let n = plan(&quiet, &mut d).notification.unwrap();
        assert_eq!(n.quiet, None);
        assert_eq!(n.email, Some(EmailWork::Job));
        assert_eq!(line(&d, Channel::Email).outcome, Outcome::Sent);
    }

    #[test]
    fn batch_kinds_round_trip_their_names() {
        for k in BatchKind::ALL {
            assert_eq!(BatchKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(BatchKind::parse("weekly"), None);
    }
}
