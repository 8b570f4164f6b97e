//! The event processor: claims accepted events, decides for every candidate recipient
//! and channel, renders, and writes decisions, notifications and deliveries in one
//! transaction per batch; then pushes the new feed items to open streams.
//!
//! An event stays `pending` until that transaction commits, so a crash at any point
//! means it is processed again; notifications are unique per (user, event), so a
//! reprocessed event never shows twice in a feed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use varsel_core::decide::{Connections, EventFacts, RecipientFacts, decide};
use varsel_core::model::{Channel, User};
use varsel_core::prefs::{PrefContext, PrefLayer, profile_for};
use varsel_core::render::{Person, RenderContext};
use varsel_core::{Outcome, TypeDef};
use tokio::sync::mpsc;
use varsel_store::{Account, BusMsg, ClaimedEvent, DecisionRow, NewNotification, ProcessedBatch, Profile};

use crate::state::AppState;

/// Fallback poll when no wake-up arrives (events from other nodes, retries).
const IDLE_POLL: Duration = Duration::from_millis(1000);

/// Runs until the process ends.
pub async fn run(state: AppState) {
    if state.store.backend() == "sqlite"
        && let Err(e) = state.store.release_leases().await
    {
        tracing::error!(error = %e, "could not release old leases");
    }
    loop {
        match process_once(&state).await {
            Ok(0) => {
                tokio::select! {
                    _ = state.wake.notified() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "event processing failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Claims and processes one batch; returns how many events it handled.
pub async fn process_once(state: &AppState) -> anyhow::Result<usize> {
    let now = state.now();
    let cfg = &state.config;
    let events =
        state.store.claim_events(cfg.process_batch, now, now + cfg.process_lease_seconds * 1000).await?;
    if events.is_empty() {
        return Ok(0);
    }
    let n = events.len();
    let mut accounts = AccountCache::default();
    let mut batch = ProcessedBatch { processed_at: now, ..Default::default() };
    for ev in &events {
        let marks = (batch.event_ids.len(), batch.decisions.len(), batch.notifications.len(), batch.mentions.len());
        if let Err(e) = process_event(state, ev, &mut accounts, &mut batch).await {
            // Drop what this event added; it is retried on its own later.
            batch.event_ids.truncate(marks.0);
            batch.decisions.truncate(marks.1);
            batch.notifications.truncate(marks.2);
            batch.mentions.truncate(marks.3);
            tracing::error!(event.id = %ev.id, error = %e, "event failed");
            state.store.fail_event(&ev.id, &e.to_string(), cfg.process_max_attempts).await?;
        }
    }
    let fresh = state.store.complete_events(&batch).await?;
    for d in &batch.decisions {
        for x in &d.decisions {
            metrics::counter!("varsel_decisions_total", "outcome" => outcome_label(x.outcome)).increment(1);
        }
    }
    push(state, &fresh).await;
    Ok(n)
}

fn outcome_label(o: Outcome) -> &'static str {
    match o {
        Outcome::Sent => "sent",
        Outcome::Scheduled => "scheduled",
        Outcome::Skipped => "skipped",
        Outcome::Dropped => "dropped",
    }
}

/// Pushes new items to this node's streams and tells the other nodes (if any) to do the same.
pub async fn push(state: &AppState, items: &[varsel_store::FeedItem]) {
    if items.is_empty() {
        return;
    }
    push_local(state, items).await;
    if let Some(bus) = &state.bus {
        let ids = items.iter().map(|i| i.id.clone()).collect();
        if let Err(e) = bus.publish(&BusMsg::Feed { origin: state.node_id.clone(), ids }).await {
            tracing::warn!(error = %e, "could not tell other nodes of new feed items");
        }
    }
}

/// Pushes items to this node's streams, then each reached user's unread count.
async fn push_local(state: &AppState, items: &[varsel_store::FeedItem]) {
    let reached = state.hub.publish(items);
    let mut by_account: HashMap<&str, Vec<String>> = HashMap::new();
    for (account, user) in &reached {
        by_account.entry(account).or_default().push(user.clone());
    }
    for (account, users) in by_account {
        match state.store.unread_counts(account, &users).await {
            Ok(counts) => {
                for (user, n) in counts {
                    state.hub.send_unread(account, &user, n);
                }
            }
            Err(e) => tracing::warn!(error = %e, "unread counts for the stream failed"),
        }
    }
}

/// Account facts loaded once per batch.
#[derive(Default)]
struct AccountCache {
    map: HashMap<String, Option<(Account, PrefLayer, Vec<Profile>)>>,
}

impl AccountCache {
    async fn get(
        &mut self,
        state: &AppState,
        id: &str,
    ) -> anyhow::Result<Option<&(Account, PrefLayer, Vec<Profile>)>> {
        if !self.map.contains_key(id) {
            let loaded = match state.store.get_account(id).await? {
                None => None,
                Some(a) => {
                    let defaults = state.store.account_defaults(id).await?;
                    let profiles = state.store.profiles(id).await?;
                    Some((a, defaults, profiles))
                }
            };
            self.map.insert(id.to_string(), loaded);
        }
        Ok(self.map.get(id).and_then(Option::as_ref))
    }
}

/// The candidate recipients of an event, by the type's resolution rule.
async fn candidates(state: &AppState, kind: &TypeDef, ev: &ClaimedEvent) -> anyhow::Result<Vec<String>> {
    use varsel_core::catalog::Resolution;
    let b = &ev.body;
    let mut ids = match kind.audience.recipients {
        Resolution::Explicit => b.recipients.clone(),
        Resolution::OwnerOnly => b.owner_id.clone().into_iter().collect(),
        Resolution::TeamPrimary => match &b.team_id {
            Some(team) => state
                .store
                .get_team(&b.account_id, team)
                .await?
                .map(|t| t.members.into_iter().filter(|m| m.primary).map(|m| m.user_id).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        },
    };
    let mut seen = HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    Ok(ids)
}

fn skipped_everywhere(reason: &str) -> Vec<varsel_core::Decision> {
    varsel_core::Tab::ALL
        .iter()
        .flat_map(|tab| {
            tab.channels().iter().map(move |&channel| varsel_core::Decision {
                tab: *tab,
                channel,
                outcome: Outcome::Skipped,
                reason: reason.to_string(),
            })
        })
        .collect()
}

async fn process_event(
    state: &AppState,
    ev: &ClaimedEvent,
    accounts: &mut AccountCache,
    batch: &mut ProcessedBatch,
) -> anyhow::Result<()> {
    let b = &ev.body;
    batch.event_ids.push(ev.id.clone());
    let Some(kind) = state.catalog.get(&b.kind) else {
        // The catalog changed since the event was accepted: nothing to decide.
        tracing::warn!(event.id = %ev.id, event.type = %b.kind, "event type no longer in the catalog");
        return Ok(());
    };
    let Some((account, defaults, profiles)) = accounts.get(state, &b.account_id).await? else {
        tracing::warn!(event.id = %ev.id, "account no longer exists");
        return Ok(());
    };
    let recipients = candidates(state, kind, ev).await?;
    let mut wanted = recipients.clone();
    if let Some(actor) = &b.actor_id {
        wanted.push(actor.clone());
    }
    let users: HashMap<String, (User, PrefLayer)> = state
        .store
        .get_users(&b.account_id, &wanted)
        .await?
        .into_iter()
        .map(|(u, p)| (u.id.clone(), (u, p)))
        .collect();
    let actor_name = b.actor_id.as_ref().and_then(|a| users.get(a)).map(|(u, _)| u.name.clone());

    let activity = b.object.as_ref().map(|o| o.id.clone()).filter(|id| !id.is_empty());
    let already: HashSet<String> = match (&activity, kind.first_mention_only) {
        (Some(act), true) => {
            let mut set: HashSet<String> =
                state.store.mentioned(&b.account_id, act, &recipients).await?.into_iter().collect();
            // Mentions of the same activity earlier in this batch count too.
            set.extend(batch.mentions.iter().filter(|(a, x, _)| a == &b.account_id && x == act).map(|(_, _, u)| u.clone()));
            set
        }
        _ => HashSet::new(),
    };

    let account_layer = account.tier.allows_defaults().then_some(defaults);
    let facts = EventFacts { kind, actor_id: b.actor_id.as_deref(), source: b.source, object: b.object.as_ref() };
    let objects: Vec<&varsel_core::ObjectRef> = b.object.iter().collect();
    for uid in &recipients {
        let Some((user, own)) = users.get(uid) else {
            batch.decisions.push(DecisionRow {
                event_id: ev.id.clone(),
                account_id: b.account_id.clone(),
                user_id: uid.clone(),
                decisions: skipped_everywhere("unknown_user"),
            });
            continue;
        };
        let profile = if account.tier.allows_defaults() { profile_for(profiles, user).map(|p| &p.layer) } else { None };
        let prefs = PrefContext { user: Some(user), own: Some(own), profile, account: account_layer };
        let first_mention = !already.contains(uid);
        let r = RecipientFacts {
            user,
            prefs,
            first_mention,
            presence: state.hub.presence(&b.account_id, uid),
            connections: Connections::default(),
        };
        let decided = decide(&state.catalog, &facts, &r);
        if let (Some(act), true) = (&activity, kind.first_mention_only)
            && first_mention
            && decided.delivers()
        {
            batch.mentions.push((b.account_id.clone(), act.clone(), uid.clone()));
        }
        // Batched types are delivered by the scheduler when their window closes.
        if decided.delivers() && !kind.is_batched() {
            let ctx = RenderContext {
                actor: b.actor_id.as_deref().map(|id| Person { id, name: actor_name.as_deref() }),
                object: b.object.as_ref(),
                objects: objects.clone(),
                data: b.data.as_ref(),
                count: 1,
                recipient: Person { id: &user.id, name: Some(&user.name) },
            };
            let text = state.renderer.render(&kind.id, &user.locale, &ctx);
            let deliveries = decided
                .decisions
                .iter()
                .filter(|d| d.outcome == Outcome::Sent)
                .map(|d| {
                    let s = match d.channel {
                        Channel::Bell => "delivered",
                        Channel::Popup | Channel::Browser => "sent",
                        _ => "pending",
                    };
                    (d.channel.as_str().to_string(), s.to_string())
                })
                .collect();
            batch.notifications.push(NewNotification {
                id: format!("ntf_{}", ulid::Ulid::new()),
                account_id: b.account_id.clone(),
                user_id: uid.clone(),
                dedupe_key: format!("event:{}", ev.id),
                event_id: ev.id.clone(),
                kind: kind.id.clone(),
                section: kind.section.clone(),
                title: text.title,
                body: text.body,
                url: b.object.as_ref().and_then(|o| o.url.clone()),
                count: 1,
                actor_id: b.actor_id.clone(),
                popup_sound: decided.popup_sound.map(|s| s.as_str().to_string()),
                browser: decided.browser_wanted,
                in_feed: decided.outcome(Channel::Bell) == Some(Outcome::Sent),
                created_at: batch.processed_at,
                deliveries,
            });
        }
        batch.decisions.push(DecisionRow {
            event_id: ev.id.clone(),
            account_id: b.account_id.clone(),
            user_id: uid.clone(),
            decisions: decided.decisions,
        });
    }
    Ok(())
}

/// Acts on what other nodes say: push their new feed items and unread counts to this
/// node's streams, and wake the processor for events they accepted.
pub async fn follow_bus(state: AppState, mut rx: mpsc::Receiver<BusMsg>) {
    while let Some(msg) = rx.recv().await {
        if msg.origin() == state.node_id {
            continue;
        }
        match msg {
            BusMsg::Events { .. } => state.wake.notify_one(),
            BusMsg::Unread { account, user, .. } => {
                if state.hub.has_streams(&account, &user) {
                    match state.store.unread_count(&account, &user).await {
                        Ok(n) => state.hub.send_unread(&account, &user, n),
                        Err(e) => tracing::warn!(error = %e, "unread count for the stream failed"),
                    }
                }
            }
            BusMsg::Feed { ids, .. } => match state.store.feed_by_ids(&ids).await {
                Ok(items) => push_local(&state, &items).await,
                Err(e) => tracing::warn!(error = %e, "loading feed items from another node failed"),
            },
        }
    }
}
