//! Property tests: the effective setting follows the seven precedence steps, first match wins,
//! and the decision applies the master switches and §4 rules on top.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use varsel_core::decide::{Connections, EventFacts, Presence, RecipientFacts, decide};
use varsel_core::prefs::{Hidden, PrefContext, PrefLayer, PrefSource};
use varsel_core::{Catalog, Channel, Outcome, Source, Tab, User};

fn catalog() -> &'static Catalog {
    static C: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    C.get_or_init(Catalog::builtin)
}

fn user(roles: &[&str], perms: &[&str], flag: bool) -> User {
    let mut u = User {
        id: "u1".into(),
        locale: "en".into(),
        ..Default::default()
    };
    u.roles = roles.iter().map(|s| s.to_string()).collect();
    u.permissions = perms.iter().map(|s| s.to_string()).collect();
    if flag {
        u.flags
            .insert("visited_inbox".into(), serde_json::json!(true));
    }
    u
}

fn layer(tab: Tab, id: &str, v: Option<bool>) -> PrefLayer {
    let mut l = PrefLayer::default();
    if let Some(v) = v {
        l.set(tab, id, v);
    }
    l
}

/// The reference: the precedence rules written out as plainly as possible.
fn expected(
    t: &varsel_core::TypeDef,
    tab: Tab,
    u: &User,
    own: Option<bool>,
    profile: Option<bool>,
    account: Option<bool>,
) -> Result<(bool, PrefSource), &'static str> {
    if !t.channels.contains(&tab) {
        return Err("channel");
    }
    if t.mandatory {
        return Ok((true, PrefSource::Mandatory));
    }
    let a = &t.audience;
    let passes = a.role.as_ref().is_none_or(|r| u.roles.contains(r))
        && a.permission
            .as_ref()
            .is_none_or(|p| u.permissions.contains(p))
        && a.flag.as_ref().is_none_or(|f| u.flags.contains_key(f));
    if !passes {
        return Err("audience");
    }
    if let Some(v) = own {
        return Ok((v, PrefSource::User));
    }
    if let Some(v) = profile {
        return Ok((v, PrefSource::Profile));
    }
    if let Some(v) = account {
        return Ok((v, PrefSource::Account));
    }
    Ok((tab != Tab::Mobile, PrefSource::Catalog))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn effective_follows_the_seven_steps(
        type_index in 0usize..200,
        tab_index in 0usize..4,
        own in proptest::option::of(any::<bool>()),
        profile in proptest::option::of(any::<bool>()),
        account in proptest::option::of(any::<bool>()),
        admin in any::<bool>(),
        forms in any::<bool>(),
        flag in any::<bool>(),
    ) {
        let types: Vec<_> = catalog().types().collect();
        let t = types[type_index % types.len()];
        let tab = Tab::ALL[tab_index];
        let roles: &[&str] = if admin { &["super_admin"] } else { &[] };
        let perms: &[&str] = if forms { &["forms"] } else { &[] };
        let u = user(roles, perms, flag);
        let (lo, lp, la) = (layer(tab, &t.id, own), layer(tab, &t.id, profile), layer(tab, &t.id, account));
        let ctx = PrefContext { user: Some(&u), own: Some(&lo), profile: Some(&lp), account: Some(&la) };
        let got = ctx.effective(t, tab);
        match expected(t, tab, &u, own, profile, account) {
            Err("channel") => prop_assert_eq!(got, Err(Hidden::ChannelNotAllowed)),
            Err(_) => prop_assert!(matches!(got, Err(Hidden::Audience(_)))),
            Ok((on, source)) => {
                let e = got.unwrap();
                prop_assert_eq!((e.on, e.source, e.locked), (on, source, source == PrefSource::Mandatory));
            }
        }
    }

    #[test]
    fn decision_matches_effective_and_switches(
        type_index in 0usize..200,
        own_on in any::<bool>(),
        email_switch in any::<bool>(),
        bell_switch in any::<bool>(),
        popup_switch in any::<bool>(),
        active in any::<bool>(),
        open in any::<bool>(),
    ) {
        let types: Vec<_> = catalog().types().collect();
        let t = types[type_index % types.len()];
        let u = user(&["super_admin"], &["forms"], true);
        let mut own = PrefLayer::default();
        for tab in Tab::ALL { own.set(tab, &t.id, own_on); }
        own.switches.email = Some(email_switch);
        own.switches.bell = Some(bell_switch);
        own.switches.popup = Some(popup_switch);
        let ctx = PrefContext { user: Some(&u), own: Some(&own), profile: None, account: None };
        let presence = Presence { open_tabs: usize::from(open || active), active_tabs: usize::from(active) };
        let facts = EventFacts { kind: t, actor_id: Some("someone-else"), source: Source::Ui, object: None, due: false };
        let r = RecipientFacts { user: &u, prefs: ctx, first_mention: true, presence, connections: Connections::default() };
        let d = decide(catalog(), &facts, &r);
        prop_assert_eq!(d.decisions.len(), 7);
        let on = |tab| t.channels.contains(&tab) && (own_on || t.mandatory);
        let delivered = |c| matches!(d.outcome(c), Some(Outcome::Sent | Outcome::Scheduled));
        // Mandatory email ignores the email switch; everything else obeys its switch.
        prop_assert_eq!(delivered(Channel::Email), on(Tab::Email) && (email_switch || t.mandatory));
        prop_assert_eq!(delivered(Channel::Bell), on(Tab::Desktop) && bell_switch);
        let later = t.batch.is_some();
        prop_assert_eq!(delivered(Channel::Popup), on(Tab::Desktop) && popup_switch && (active || later));
        prop_assert_eq!(delivered(Channel::Browser), on(Tab::Desktop) && ((open && !active) || later));
        // Nothing reaches Slack or Teams while they are not connected.
        prop_assert!(!delivered(Channel::Slack) && !delivered(Channel::Teams));
        // Mobile is off unless the user switched it on.
        prop_assert!(!delivered(Channel::Mobile));
    }
}

fn facts_for<'a>(t: &'a varsel_core::TypeDef, actor: &'a str, source: Source) -> EventFacts<'a> {
    EventFacts {
        kind: t,
        actor_id: Some(actor),
        source,
        object: None,
        due: false,
    }
}

fn decide_for(
    type_id: &str,
    actor: &str,
    source: Source,
    first_mention: bool,
) -> varsel_core::decide::RecipientDecision {
    let t = catalog().get(type_id).unwrap();
    let u = user(&[], &[], true);
    let ctx = PrefContext {
        user: Some(&u),
        own: None,
        profile: None,
        account: None,
    };
    let r = RecipientFacts {
        user: &u,
        prefs: ctx,
        first_mention,
        presence: Presence::default(),
        connections: Connections::default(),
    };
    decide(catalog(), &facts_for(t, actor, source), &r)
}

fn all_skipped_with(d: &varsel_core::decide::RecipientDecision, reason: &str) -> bool {
    d.decisions
        .iter()
        .all(|x| x.outcome == Outcome::Skipped && x.reason == reason)
}

#[test]
fn the_actor_is_never_notified() {
    assert!(all_skipped_with(
        &decide_for("deals.mention", "u1", Source::Ui, true),
        "self_notification"
    ));
}

#[test]
fn imports_and_api_sources_are_suppressed_where_the_catalog_says() {
    assert!(all_skipped_with(
        &decide_for("deals.assigned", "x", Source::Import, true),
        "source:import"
    ));
    assert!(all_skipped_with(
        &decide_for("tasks.assigned", "x", Source::Api, true),
        "source:api"
    ));
    assert!(all_skipped_with(
        &decide_for("comments.mention", "x", Source::Api, true),
        "source:api"
    ));
    // An API-created deal assignment does notify (only tasks are suppressed).
    assert!(decide_for("deals.assigned", "x", Source::Api, true).delivers());
}

#[test]
fn only_the_first_mention_notifies() {
    assert!(decide_for("crm.mention", "x", Source::Ui, true).delivers_on(Channel::Bell));
    assert!(all_skipped_with(
        &decide_for("crm.mention", "x", Source::Ui, false),
        "repeat_mention"
    ));
}

#[test]
fn assignments_are_scheduled_and_others_sent() {
    let d = decide_for("deals.assigned", "x", Source::Ui, true);
    assert_eq!(d.outcome(Channel::Bell), Some(Outcome::Scheduled));
    let d = decide_for("deals.mention", "x", Source::Ui, true);
    assert_eq!(d.outcome(Channel::Bell), Some(Outcome::Sent));
    assert_eq!(d.outcome(Channel::Email), Some(Outcome::Sent));
    assert_eq!(d.outcome(Channel::Mobile), Some(Outcome::Skipped));
}

#[test]
fn popup_carries_the_type_sound_or_the_users_choice() {
    let t = catalog().get("login_alert.risky_login").unwrap();
    let u = user(&[], &[], false);
    let presence = Presence {
        open_tabs: 1,
        active_tabs: 1,
    };
    let mut own = PrefLayer::default();
    let run = |own: &PrefLayer| {
        let ctx = PrefContext {
            user: Some(&u),
            own: Some(own),
            profile: None,
            account: None,
        };
        let r = RecipientFacts {
            user: &u,
            prefs: ctx,
            first_mention: true,
            presence,
            connections: Connections::default(),
        };
        decide(catalog(), &facts_for(t, "x", Source::System), &r).popup_sound
    };
    assert_eq!(run(&own), Some(varsel_core::Sound::Knock));
    own.sounds.insert(t.id.clone(), varsel_core::Sound::Pop);
    assert_eq!(run(&own), Some(varsel_core::Sound::Pop));
}

#[test]
fn browser_goes_by_web_push_only_when_no_tab_is_open_and_a_browser_is_subscribed() {
    let t = catalog().get("deals.mention").unwrap();
    let u = user(&[], &[], false);
    let own = PrefLayer::default();
    let run = |open: usize, active: usize, web_push: bool| {
        let ctx = PrefContext {
            user: Some(&u),
            own: Some(&own),
            profile: None,
            account: None,
        };
        let r = RecipientFacts {
            user: &u,
            prefs: ctx,
            first_mention: true,
            presence: Presence {
                open_tabs: open,
                active_tabs: active,
            },
            connections: Connections {
                web_push,
                ..Connections::default()
            },
        };
        let d = decide(catalog(), &facts_for(t, "x", Source::Ui), &r);
        let line = d
            .decisions
            .iter()
            .find(|l| l.channel == Channel::Browser)
            .unwrap()
            .clone();
        (line.outcome, line.reason, d.web_push)
    };
    // No tab open: Web Push when subscribed, otherwise nothing.
    let (o, reason, push) = run(0, 0, true);
    assert_eq!((o, push), (Outcome::Sent, true));
    assert!(reason.ends_with(";web_push"), "{reason}");
    assert_eq!(
        run(0, 0, false),
        (Outcome::Skipped, "presence:no_open_tab".into(), false)
    );
    // A tab open but not active: the tab shows it, not Web Push.
    let (o, _, push) = run(1, 0, true);
    assert_eq!((o, push), (Outcome::Sent, false));
    // An active tab gets a pop-up instead.
    assert_eq!(
        run(1, 1, true),
        (Outcome::Skipped, "presence:active".into(), false)
    );
}

#[test]
fn connected_apps_and_devices_open_their_channels() {
    let t = catalog().get("deals.mention").unwrap();
    let u = user(&[], &[], false);
    let mut own = PrefLayer::default();
    own.switches.mobile = Some(true);
    own.set(Tab::Mobile, &t.id, true);
    let run = |c: Connections| {
        let ctx = PrefContext {
            user: Some(&u),
            own: Some(&own),
            profile: None,
            account: None,
        };
        let r = RecipientFacts {
            user: &u,
            prefs: ctx,
            first_mention: true,
            presence: Presence::default(),
            connections: c,
        };
        decide(catalog(), &facts_for(t, "x", Source::Ui), &r)
    };
    let off = run(Connections::default());
    for c in [Channel::Slack, Channel::Teams, Channel::Mobile] {
        assert_eq!(off.outcome(c), Some(Outcome::Skipped), "{c:?}");
    }
    let on = run(Connections {
        slack: true,
        teams: true,
        mobile_devices: true,
        web_push: false,
    });
    for c in [Channel::Slack, Channel::Teams, Channel::Mobile] {
        assert_eq!(on.outcome(c), Some(Outcome::Sent), "{c:?}");
    }
}
