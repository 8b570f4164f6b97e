//! What the processor and the batch firing share: the account facts, the preference
//! context of a user, and turning a decision into a notification, its deliveries, and
//! the email work it causes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use varsel_core::TypeDef;
use varsel_core::decide::{Connections, EventFacts, RecipientDecision, RecipientFacts, decide};
use varsel_core::model::{ObjectRef, User};
use varsel_core::plan::{BatchJoin, DeliveryState, EmailWork, PlanInput, RecipientPlan};
use varsel_core::prefs::{PrefContext, PrefLayer, profile_for};
use varsel_core::render::{Person, RenderContext};
use varsel_store::{Account, BatchAdd, BatchOp, NewJob, NewNotification, ProcessedBatch, Profile};

use crate::jobs::email::EmailJob;
use crate::state::AppState;

/// Account facts for one batch of work: each account's `facts_version` is read once
/// per batch, and its facts are taken from the node's [`FactsCache`] while that version
/// has not moved.
#[derive(Default)]
pub struct AccountCache {
    map: HashMap<String, Option<Arc<AccountFacts>>>,
}

/// The account facts this node loaded, each with the `facts_version` it was loaded at.
/// Any node's change of an account's name, tier, defaults, profiles or connections moves
/// the version in the database, so a stale entry is never used; it is replaced.
#[derive(Default)]
pub struct FactsCache(Mutex<HashMap<String, (i64, Arc<AccountFacts>)>>);

impl FactsCache {
    fn get(&self, id: &str, version: i64) -> Option<Arc<AccountFacts>> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id)
            .filter(|(v, _)| *v == version)
            .map(|(_, f)| f.clone())
    }

    fn put(&self, id: &str, version: i64, facts: Arc<AccountFacts>) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(id.to_string(), (version, facts));
    }
}

pub struct AccountFacts {
    pub account: Account,
    pub defaults: PrefLayer,
    pub profiles: Vec<Profile>,
    /// The account has connected Slack / Teams.
    pub slack: bool,
    pub teams: bool,
}

/// What a user has on the channels that need a connection or a device.
#[derive(Debug, Clone, Default)]
pub struct UserChannels {
    /// Matched to a Slack user: `Some(false)` when the lookup found nobody for the user's
    /// current email, `None` when not looked up yet (the delivery looks up).
    pub slack_matched: Option<bool>,
    /// The kinds of the user's devices (`webpush`, `fcm`, `apns`).
    pub device_kinds: Vec<String>,
}

/// Loads [`UserChannels`] of `users` (two queries, whatever their number).
pub async fn load_channels(
    state: &AppState,
    account: &AccountFacts,
    users: &[&User],
) -> anyhow::Result<HashMap<String, UserChannels>> {
    let mut out: HashMap<String, UserChannels> = HashMap::new();
    if users.is_empty() {
        return Ok(out);
    }
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let id = &account.account.id;
    for d in state.store.devices(id, &ids).await? {
        out.entry(d.user_id).or_default().device_kinds.push(d.kind);
    }
    if account.slack {
        let emails: HashMap<&str, &str> = users
            .iter()
            .map(|u| (u.id.as_str(), u.email.as_str()))
            .collect();
        for l in state.store.user_links(id, "slack", &ids).await? {
            // A link made for an older address does not count: the address is looked up again.
            if emails.get(l.user_id.as_str()).is_some_and(|e| l.is_for(e)) {
                out.entry(l.user_id).or_default().slack_matched = Some(l.external_id.is_some());
            }
        }
    }
    Ok(out)
}

impl AccountFacts {
    /// When the user's quiet hours (theirs, their profile's or the account's) are on at
    /// `now`, the window's end (Unix ms).
    pub fn quiet_until(&self, user: &User, own: &PrefLayer, now: i64) -> Option<i64> {
        let (hours, _) = self.prefs(user, own).quiet_hours()?;
        hours.until(&user.timezone, now)
    }

    /// The preference context of a user of this account (user, profile, account layers).
    pub fn prefs<'a>(&'a self, user: &'a User, own: &'a PrefLayer) -> PrefContext<'a> {
        let allowed = self.account.tier.allows_defaults();
        PrefContext {
            user: Some(user),
            own: Some(own),
            profile: if allowed {
                profile_for(&self.profiles, user).map(|p| &p.layer)
            } else {
                None
            },
            account: allowed.then_some(&self.defaults),
        }
    }
}

impl AccountCache {
    pub async fn get(
        &mut self,
        state: &AppState,
        id: &str,
    ) -> anyhow::Result<Option<&AccountFacts>> {
        if !self.map.contains_key(id) {
            // The version is read before the facts: a change that lands in between moves
            // it past what is cached here, and the next batch loads again.
            let loaded = match state.store.facts_version(id).await? {
                None => None,
                Some(version) => match state.facts.get(id, version) {
                    Some(facts) => Some(facts),
                    None => load_facts(state, id).await?.map(|facts| {
                        let facts = Arc::new(facts);
                        state.facts.put(id, version, facts.clone());
                        facts
                    }),
                },
            };
            self.map.insert(id.to_string(), loaded);
        }
        Ok(self.map.get(id).and_then(Option::as_deref))
    }
}

/// Reads an account's facts (four queries, at once).
async fn load_facts(state: &AppState, id: &str) -> anyhow::Result<Option<AccountFacts>> {
    let store = &state.store;
    let (account, conns, defaults, profiles) = futures::try_join!(
        store.get_account(id),
        store.connections(id),
        store.account_defaults(id),
        store.profiles(id),
    )?;
    let has = |p: &str| conns.iter().any(|c| c.provider == p);
    Ok(account.map(|account| AccountFacts {
        slack: has("slack"),
        teams: has("teams"),
        account,
        defaults,
        profiles,
    }))
}

/// The connections that open Slack, Teams, mobile and Web Push for a user.
pub fn connections(
    state: &AppState,
    account: &AccountFacts,
    user: &User,
    channels: Option<&UserChannels>,
) -> Connections {
    let has_email = !user.email.is_empty();
    let kinds = channels
        .map(|c| c.device_kinds.as_slice())
        .unwrap_or_default();
    let has = |k: &str| kinds.iter().any(|x| x == k) && state.providers.accepts(k);
    Connections {
        slack: account.slack && has_email && channels.and_then(|c| c.slack_matched) != Some(false),
        teams: account.teams && has_email,
        mobile_devices: has("fcm") || has("apns"),
        web_push: has("webpush"),
    }
}

/// Decides for one user with the presence this node knows.
pub fn decide_for(
    state: &AppState,
    facts: &EventFacts<'_>,
    account: &AccountFacts,
    user: &User,
    own: &PrefLayer,
    first_mention: bool,
    channels: Option<&UserChannels>,
) -> RecipientDecision {
    let r = RecipientFacts {
        user,
        prefs: account.prefs(user, own),
        first_mention,
        presence: state.hub.presence(&user.account_id, &user.id),
        connections: connections(state, account, user, channels),
    };
    decide(&state.catalog, facts, &r)
}

/// What a notification is about.
pub struct Subject<'a> {
    pub kind: &'a TypeDef,
    pub actor_id: Option<&'a str>,
    pub actor_name: Option<&'a str>,
    pub object: Option<&'a ObjectRef>,
    pub objects: Vec<&'a ObjectRef>,
    pub data: Option<&'a serde_json::Value>,
    pub count: u32,
    /// The event the notification stems from (the latest one for a batch).
    pub event_id: &'a str,
    /// Unique per user: `event:<id>` or `batch:<id>`.
    pub dedupe_key: String,
    /// The events that fed the notification (linked to it for their traces).
    pub linked_events: &'a [String],
}

impl Subject<'_> {
    /// The activity or thread the subject is about.
    pub fn object_id(&self) -> Option<&str> {
        self.object
            .map(|o| o.id.as_str())
            .filter(|id| !id.is_empty())
    }
}

/// One recipient's work, planned: the decision (as the plan left it, for the trace) and
/// the plan.
pub struct Planned {
    pub decided: RecipientDecision,
    pub plan: RecipientPlan,
}

/// Plans a decided recipient with the rules every node shares (`varsel_core::plan`).
pub fn plan_for(input: &PlanInput<'_>, mut decided: RecipientDecision) -> Planned {
    let plan = varsel_core::plan::plan(input, &mut decided);
    Planned { decided, plan }
}

/// The texts of one subject rendered so far, by locale.
pub type Texts = HashMap<String, varsel_core::render::Rendered>;

/// Writes a recipient's plan into `batch`: the batch the event joins (with `item`, what
/// the batch needs of the event when it fires), the notification rendered in the user's
/// language with its deliveries and jobs, the first mention.
pub fn write_plan(
    state: &AppState,
    batch: &mut ProcessedBatch,
    user: &User,
    planned: &Planned,
    s: &Subject<'_>,
    texts: &mut Texts,
    item: impl FnOnce() -> serde_json::Value,
) {
    let now = batch.processed_at;
    let plan = &planned.plan;
    let add = |join: &BatchJoin, item: serde_json::Value| {
        BatchOp::Add(BatchAdd {
            kind: join.kind,
            account_id: user.account_id.clone(),
            user_id: user.id.clone(),
            type_id: if join.kind.per_type() {
                s.kind.id.clone()
            } else {
                String::new()
            },
            group_key: join.group_key.clone(),
            event_id: s.event_id.to_string(),
            object_id: s.object_id().map(str::to_string),
            item,
            due_at: join.due_at,
            max_items: join.max_items,
            now,
        })
    };
    if let Some(join) = &plan.batch {
        batch.batch_ops.push(add(join, item()));
    }
    if let (true, Some(activity)) = (plan.mention, s.object_id()) {
        batch.mentions.push((
            user.account_id.clone(),
            activity.to_string(),
            user.id.clone(),
        ));
    }
    let Some(n) = &plan.notification else {
        return;
    };
    let decided = &planned.decided;
    let ctx = RenderContext {
        actor: s.actor_id.map(|id| Person {
            id,
            name: s.actor_name,
        }),
        object: s.object,
        objects: s.objects.clone(),
        data: s.data,
        count: s.count,
        others: 0,
        recipient: Person {
            id: &user.id,
            name: Some(&user.name),
        },
    };
    // One event's recipients in one language read the same text unless it names them.
    let text = if state.renderer.is_personal(&s.kind.id) {
        state.renderer.render(&s.kind.id, &user.locale, &ctx)
    } else {
        texts
            .entry(user.locale.clone())
            .or_insert_with(|| state.renderer.render(&s.kind.id, &user.locale, &ctx))
            .clone()
    };
    let id = format!("ntf_{}", ulid::Ulid::new());
    for (route, _) in n
        .deliveries
        .iter()
        .filter(|(r, st)| r.is_job() && *st == DeliveryState::Pending)
    {
        batch.jobs.push(crate::jobs::deliver::DeliverJob::job(
            &user.account_id,
            &id,
            route.as_str(),
            decided.sound.as_str(),
            now,
        ));
    }
    match &n.email {
        Some(EmailWork::Job) => batch.jobs.push(
            EmailJob::Notifications {
                ids: vec![id.clone()],
                held: false,
            }
            .job(&user.account_id, format!("email:{id}"), now),
        ),
        Some(EmailWork::Group(join)) => batch
            .batch_ops
            .push(add(join, serde_json::json!({ "notification_id": id }))),
        Some(EmailWork::Held) | None => {}
    }
    if let Some(join) = &n.quiet {
        let item = crate::jobs::quiet::HeldItem {
            notification_id: id.clone(),
            sound: decided.sound.as_str().to_string(),
        };
        batch
            .batch_ops
            .push(add(join, serde_json::to_value(item).unwrap_or_default()));
    }
    for e in s.linked_events {
        batch.links.push((e.clone(), id.clone()));
    }
    if let (Some(g), Some(object), true) = (&s.kind.bell_grouping, s.object_id(), n.in_feed) {
        batch.bell_candidates.push(varsel_store::BellCandidate {
            notification_id: id.clone(),
            account_id: user.account_id.clone(),
            user_id: user.id.clone(),
            group_key: format!("{}:{object}", s.kind.id),
            window_ms: i64::from(g.window_seconds) * 1000,
            event_id: s.event_id.to_string(),
            actor_id: s.actor_id.map(str::to_string),
            kind: s.kind.id.clone(),
            locale: user.locale.clone(),
            vars: serde_json::to_value(&ctx).unwrap_or_default(),
        });
    }
    batch.notifications.push(NewNotification {
        id,
        account_id: user.account_id.clone(),
        user_id: user.id.clone(),
        dedupe_key: s.dedupe_key.clone(),
        event_id: s.event_id.to_string(),
        kind: s.kind.id.clone(),
        section: s.kind.section.clone(),
        title: text.title,
        body: text.body,
        url: s.object.and_then(|o| o.url.clone()),
        count: i64::from(s.count),
        actor_id: s.actor_id.map(str::to_string),
        popup_sound: decided.popup_sound.map(|x| x.as_str().to_string()),
        browser: decided.browser_wanted,
        in_feed: n.in_feed,
        created_at: now,
        actor_ids: Vec::new(),
        deliveries: n
            .deliveries
            .iter()
            .map(|(r, st)| (r.as_str().to_string(), st.as_str().to_string()))
            .collect(),
    });
}

/// A new job with a fresh id.
pub fn new_job(
    kind: varsel_store::JobKind,
    dedupe_key: String,
    account: &str,
    payload: serde_json::Value,
    run_at: i64,
) -> NewJob {
    NewJob {
        id: format!("job_{}", ulid::Ulid::new()),
        kind,
        dedupe_key,
        account_id: Some(account.to_string()),
        payload,
        run_at,
    }
}

/// Facts of an event for the decision (`due`: a batch being delivered now).
pub fn facts<'a>(
    kind: &'a TypeDef,
    actor: Option<&'a str>,
    source: varsel_core::Source,
    object: Option<&'a ObjectRef>,
    due: bool,
) -> EventFacts<'a> {
    EventFacts {
        kind,
        actor_id: actor,
        source,
        object,
        due,
    }
}
