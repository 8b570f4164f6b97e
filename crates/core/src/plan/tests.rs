//! The plan of each kind of type, and quiet hours.

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
