//! The event processor: claims accepted events, decides for every candidate recipient
//! and channel, renders, and writes decisions, notifications, deliveries and the jobs
//! they cause in one transaction per batch; then pushes the new items to open streams.
//!
//! An event stays `pending` until that transaction commits, so a crash at any point
//! means it is processed again; notifications are unique per (user, event), so a
//! reprocessed event never shows twice in a feed.

pub mod groups;
pub mod shared;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::FutureExt;

use varsel_core::model::User;
use varsel_core::plan::PlanInput;
use varsel_core::prefs::PrefLayer;
use varsel_core::{Outcome, TypeDef};
use varsel_store::{BatchOp, ClaimedEvent, DecisionRow, ProcessedBatch, Withdrawal};

use crate::state::AppState;
use shared::{
    AccountCache, AccountFacts, Subject, UserChannels, decide_for, facts, load_channels, plan_for,
    write_plan,
};

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
        // A panic while processing must not end the processor for the rest of the
        // process: it counts as a failed round, and the events are claimed again.
        let round = std::panic::AssertUnwindSafe(process_once(&state))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("event processing panicked")));
        match round {
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
    let started = std::time::Instant::now();
    let events = state
        .store
        .claim_events(
            cfg.process_batch,
            now,
            now + cfg.process_lease_seconds * 1000,
        )
        .await?;
    if events.is_empty() {
        return Ok(0);
    }
    let n = events.len();
    phase_seconds("claim", started.elapsed());
    // Processed again when the write lost a race with another node (a mention it did not
    // read, a deadlock PostgreSQL broke): the next pass reads what the other node wrote.
    let mut attempt = 0;
    let (batch, fresh) = loop {
        attempt += 1;
        let planning = std::time::Instant::now();
        let batch = plan_batch(state, &events, now).await?;
        phase_seconds("plan", planning.elapsed());
        let writing = std::time::Instant::now();
        let written = state.store.complete_events(&batch).await;
        phase_seconds("write", writing.elapsed());
        match written {
            Ok(fresh) => break (batch, fresh),
            Err(e) if e.is_transient() && attempt < 3 => {
                tracing::info!(error = %e, "processing again after a concurrent write");
            }
            Err(e) => return Err(e.into()),
        }
    };
    // Counted per outcome, then recorded once each: a metric call per decision costs a
    // registry lookup each (70,000 for a fan-out to 10,000 users).
    let mut outcomes = [0u64; 4];
    for d in &batch.decisions {
        for x in &d.decisions {
            outcomes[x.outcome as usize] += 1;
        }
    }
    for o in [
        Outcome::Sent,
        Outcome::Scheduled,
        Outcome::Skipped,
        Outcome::Dropped,
    ] {
        if outcomes[o as usize] > 0 {
            metrics::counter!("varsel_decisions_total", "outcome" => outcome_label(o))
                .increment(outcomes[o as usize]);
        }
    }
    if !batch.jobs.is_empty() || !batch.batch_ops.is_empty() {
        state.jobs_wake.notify_one();
    }
    crate::fanout::push(state, fresh).await;
    phase_seconds("round", started.elapsed());
    metrics::histogram!("varsel_process_round_events").record(n as f64);
    Ok(n)
}

/// How long a phase of a processing round took: `claim` (rounds that found events),
/// `plan` and `write` (each attempt), and the whole `round` until its new items are
/// queued for open streams.
fn phase_seconds(phase: &'static str, took: Duration) {
    metrics::histogram!("varsel_process_round_seconds", "phase" => phase)
        .record(took.as_secs_f64());
}

/// Decides and plans every claimed event into one batch of writes; an event that fails is
/// marked failed on its own and left out.
async fn plan_batch(
    state: &AppState,
    events: &[ClaimedEvent],
    now: i64,
) -> anyhow::Result<ProcessedBatch> {
    let cfg = &state.config;
    let mut accounts = AccountCache::default();
    let mut users = UserCache::default();
    users.prefetch(state, &mut accounts, events).await?;
    let mut batch = ProcessedBatch {
        processed_at: now,
        ..Default::default()
    };
    for ev in events {
        // Each event plans into writes of its own, joined to the batch when it succeeds:
        // one that fails is reported on its own and retried later.
        let mut writes = ProcessedBatch {
            processed_at: now,
            ..Default::default()
        };
        match process_event(state, ev, &mut accounts, &mut users, &batch, &mut writes).await {
            Ok(()) => batch.append(writes),
            Err(e) => {
                tracing::error!(event.id = %ev.id, error = %e, "event failed");
                state
                    .store
                    .fail_event(&ev.id, &e.to_string(), cfg.process_max_attempts)
                    .await?;
            }
        }
    }
    groups::resolve(state, &mut batch).await?;
    Ok(batch)
}

pub fn outcome_label(o: Outcome) -> &'static str {
    match o {
        Outcome::Sent => "sent",
        Outcome::Scheduled => "scheduled",
        Outcome::Skipped => "skipped",
        Outcome::Dropped => "dropped",
    }
}

/// Users with their own preference layer and their channels, loaded once per batch: one
/// query per account for the recipients, owners and actors of all the batch's events
/// (and two for their devices and Slack matches), instead of queries per event. Team
/// members are loaded when their event resolves the team.
#[derive(Default)]
struct UserCache {
    /// account → user id → the user, or `None` when it does not exist.
    map: HashMap<String, HashMap<String, Option<(User, PrefLayer)>>>,
    /// account → user id → the user's devices and Slack match.
    channels: HashMap<String, HashMap<String, UserChannels>>,
}

impl UserCache {
    async fn prefetch(
        &mut self,
        state: &AppState,
        accounts: &mut AccountCache,
        events: &[ClaimedEvent],
    ) -> anyhow::Result<()> {
        let mut wanted: HashMap<&str, Vec<String>> = HashMap::new();
        for ev in events {
            let b = &ev.body;
            let ids = wanted.entry(b.account_id.as_str()).or_default();
            ids.extend(b.recipients.iter().cloned());
            ids.extend(b.owner_id.iter().cloned());
            ids.extend(b.actor_id.iter().cloned());
        }
        for (account, ids) in wanted {
            if let Some(facts) = accounts.get(state, account).await? {
                self.load(state, facts, &ids).await?;
            }
        }
        Ok(())
    }

    /// Loads the users among `ids` not loaded yet.
    async fn load(
        &mut self,
        state: &AppState,
        account: &AccountFacts,
        ids: &[String],
    ) -> anyhow::Result<()> {
        let id = account.account.id.as_str();
        let known = self.map.entry(id.to_string()).or_default();
        let mut missing: Vec<String> = ids
            .iter()
            .filter(|id| !known.contains_key(id.as_str()))
            .cloned()
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let found = state.store.get_users(id, &missing).await?;
        let users: Vec<&User> = found.iter().map(|(u, _)| u).collect();
        let channels = load_channels(state, account, &users).await?;
        self.channels
            .entry(id.to_string())
            .or_default()
            .extend(channels);
        for m in missing {
            known.insert(m, None);
        }
        for (u, p) in found {
            known.insert(u.id.clone(), Some((u, p)));
        }
        Ok(())
    }

    fn get(&self, account: &str, id: &str) -> Option<&(User, PrefLayer)> {
        self.map.get(account)?.get(id)?.as_ref()
    }

    fn channels(&self, account: &str, id: &str) -> Option<&UserChannels> {
        self.channels.get(account)?.get(id)
    }
}

/// The candidate recipients of an event, by the type's resolution rule.
async fn candidates(
    state: &AppState,
    kind: &TypeDef,
    ev: &ClaimedEvent,
) -> anyhow::Result<Vec<String>> {
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
                .map(|t| {
                    t.members
                        .into_iter()
                        .filter(|m| m.primary)
                        .map(|m| m.user_id)
                        .collect()
                })
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
            tab.channels()
                .iter()
                .map(move |&channel| varsel_core::Decision {
                    tab: *tab,
                    channel,
                    outcome: Outcome::Skipped,
                    reason: reason.to_string(),
                    until: None,
                })
        })
        .collect()
}

/// Loads what one event's decision needs, then decides and plans each recipient into
/// `batch`. `earlier` is the work of the events before it in this round (their first
/// mentions count).
async fn process_event(
    state: &AppState,
    ev: &ClaimedEvent,
    accounts: &mut AccountCache,
    cache: &mut UserCache,
    earlier: &ProcessedBatch,
    batch: &mut ProcessedBatch,
) -> anyhow::Result<()> {
    let b = &ev.body;
    let now = batch.processed_at;
    batch.event_ids.push(ev.id.clone());
    let Some(kind) = state.catalog.get(&b.kind) else {
        // The catalog changed since the event was accepted: nothing to decide.
        tracing::warn!(event.id = %ev.id, event.type = %b.kind, "event type no longer in the catalog");
        return Ok(());
    };
    let Some(account) = accounts.get(state, &b.account_id).await? else {
        tracing::warn!(event.id = %ev.id, "account no longer exists");
        return Ok(());
    };
    let recipients = candidates(state, kind, ev).await?;
    let mut wanted = recipients.clone();
    if let Some(actor) = &b.actor_id {
        wanted.push(actor.clone());
    }
    cache.load(state, account, &wanted).await?;
    let cache = &*cache;
    let actor_name = b
        .actor_id
        .as_ref()
        .and_then(|a| cache.get(&b.account_id, a))
        .map(|(u, _)| u.name.clone());

    let activity = b
        .object
        .as_ref()
        .map(|o| o.id.clone())
        .filter(|id| !id.is_empty());
    let already: HashSet<String> = match (&activity, kind.first_mention_only) {
        (Some(act), true) => {
            let mut set: HashSet<String> = state
                .store
                .mentioned(&b.account_id, act, &recipients)
                .await?
                .into_iter()
                .collect();
            // Mentions of the same activity earlier in this round count too.
            set.extend(
                earlier
                    .mentions
                    .iter()
                    .filter(|(a, x, _)| a == &b.account_id && x == act)
                    .map(|(_, _, u)| u.clone()),
            );
            set
        }
        _ => HashSet::new(),
    };

    // An object assigned to one user is withdrawn from whoever had it in an open batch.
    if kind.is_batched()
        && let ([to], Some(obj)) = (recipients.as_slice(), &activity)
    {
        batch.batch_ops.push(BatchOp::Withdraw(Withdrawal {
            account_id: b.account_id.clone(),
            type_id: kind.id.clone(),
            object_id: obj.clone(),
            keep_user: to.clone(),
            now,
        }));
    }

    let facts = facts(
        kind,
        b.actor_id.as_deref(),
        b.source,
        b.object.as_ref(),
        false,
    );
    let mut texts = shared::Texts::new();
    for uid in &recipients {
        let Some((user, own)) = cache.get(&b.account_id, uid) else {
            batch.decisions.push(DecisionRow {
                event_id: ev.id.clone(),
                account_id: b.account_id.clone(),
                user_id: uid.clone(),
                decisions: skipped_everywhere("unknown_user"),
            });
            continue;
        };
        let first_mention = !already.contains(uid);
        let decided = decide_for(
            state,
            &facts,
            account,
            user,
            own,
            first_mention,
            cache.channels(&b.account_id, uid),
        );
        let input = PlanInput {
            kind,
            now,
            received_at: ev.received_at,
            timezone: &user.timezone,
            object_id: activity.as_deref(),
            event_id: &ev.id,
            firing: false,
            first_mention,
            quiet_until: account.quiet_until(user, own, now),
        };
        let planned = plan_for(&input, decided);
        let subject = Subject {
            kind,
            actor_id: b.actor_id.as_deref(),
            actor_name: actor_name.as_deref(),
            object: b.object.as_ref(),
            objects: b.object.iter().collect(),
            data: b.data.as_ref(),
            count: 1,
            event_id: &ev.id,
            dedupe_key: format!("event:{}", ev.id),
            linked_events: std::slice::from_ref(&ev.id),
        };
        write_plan(state, batch, user, &planned, &subject, &mut texts, || {
            serde_json::json!({
                "event_id": ev.id, "actor_id": b.actor_id, "object": b.object, "data": b.data,
            })
        });
        batch.decisions.push(DecisionRow {
            event_id: ev.id.clone(),
            account_id: b.account_id.clone(),
            user_id: uid.clone(),
            decisions: planned.decided.decisions,
        });
    }
    Ok(())
}
