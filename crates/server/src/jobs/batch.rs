//! Firing a batch when its window closes: assignments become one notification with a
//! count (withdrawn ones left out, an empty batch sends nothing); grouped replies become
//! one email; a digest period becomes one summary email.

use serde::{Deserialize, Serialize};
use varsel_core::ObjectRef;
use varsel_core::plan::{BatchKind, PlanInput};
use varsel_store::{Job, JobKind, ProcessedBatch};

use super::email::EmailJob;
use super::{Effects, JobError, JobRun};
use crate::processor::shared::{
    AccountCache, Subject, decide_for, facts, load_channels, plan_for, write_plan,
};
use crate::state::AppState;

/// Fires one batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BatchJob {
    pub batch_id: String,
}

#[async_trait::async_trait]
impl JobRun for BatchJob {
    const KIND: JobKind = JobKind::Batch;

    async fn run(&self, state: &AppState, _job: &Job, fx: &mut Effects) -> Result<(), JobError> {
        fire(state, &self.batch_id, fx).await
    }
}

async fn fire(state: &AppState, id: &str, fx: &mut Effects) -> Result<(), JobError> {
    // Sealed first: an event joining at this moment (on any node) either commits its item
    // before the seal, and is read below, or finds the batch sealed and opens the next one.
    state.store.seal_batch(id).await?;
    let Some((b, items)) = state.store.batch(id).await? else {
        return Ok(());
    };
    if b.state != "sealed" {
        // Fired already (a retried job after a crash): nothing left to do.
        return Ok(());
    }
    let now = state.now();
    let mut work = ProcessedBatch {
        processed_at: now,
        ..Default::default()
    };
    let live: Vec<_> = items.iter().filter(|i| !i.withdrawn).collect();
    let state_after = if live.is_empty() { "empty" } else { "fired" };
    match BatchKind::parse(&b.kind) {
        Some(BatchKind::Assign) if !live.is_empty() => {
            let Some(kind) = state.catalog.get(&b.type_id) else {
                return Err(JobError::permanent("type left the catalog"));
            };
            let mut accounts = AccountCache::default();
            let Some(account) = accounts.get(state, &b.account_id).await? else {
                return Ok(());
            };
            let last = live.last().map(|i| &i.item).cloned().unwrap_or_default();
            let actor_id = last["actor_id"].as_str().map(str::to_string);
            let mut wanted = vec![b.user_id.clone()];
            wanted.extend(actor_id.clone());
            let users = state.store.get_users(&b.account_id, &wanted).await?;
            let Some((user, own)) = users.iter().find(|(u, _)| u.id == b.user_id) else {
                work.close_batches.push((b.id.clone(), "fired".into()));
                state.store.complete_events(&work).await?;
                return Ok(());
            };
            let actor_name = actor_id
                .as_ref()
                .and_then(|a| users.iter().find(|(u, _)| &u.id == a))
                .map(|(u, _)| u.name.clone());
            let objects: Vec<ObjectRef> = live
                .iter()
                .filter_map(|i| serde_json::from_value(i.item["object"].clone()).ok())
                .collect();
            let object = objects.last();
            let data = last.get("data").filter(|d| !d.is_null());
            // Preferences and presence as they are now, when the batch is delivered.
            let f = facts(kind, None, varsel_core::Source::Ui, object, true);
            let channels = load_channels(state, account, &[user]).await?;
            let decided = decide_for(state, &f, account, user, own, true, channels.get(&user.id));
            let event_ids: Vec<String> = live.iter().map(|i| i.event_id.clone()).collect();
            let last_event = event_ids.last().cloned().unwrap_or_default();
            let input = PlanInput {
                kind,
                now,
                received_at: now,
                timezone: &user.timezone,
                object_id: object.map(|o| o.id.as_str()),
                event_id: &last_event,
                firing: true,
                first_mention: true,
                quiet_until: account.quiet_until(user, own, now),
            };
            let planned = plan_for(&input, decided);
            let subject = Subject {
                kind,
                actor_id: actor_id.as_deref(),
                actor_name: actor_name.as_deref(),
                object,
                objects: objects.iter().collect(),
                data,
                count: live.len() as u32,
                event_id: &last_event,
                dedupe_key: format!("batch:{}", b.id),
                linked_events: &event_ids,
            };
            write_plan(
                state,
                &mut work,
                user,
                &planned,
                &subject,
                &mut Default::default(),
                serde_json::Value::default,
            );
        }
        Some(BatchKind::EmailGroup) if !live.is_empty() => {
            let ids = live
                .iter()
                .filter_map(|i| i.item["notification_id"].as_str().map(str::to_string))
                .collect();
            work.jobs
                .push(EmailJob::Notifications { ids, held: false }.job(
                    &b.account_id,
                    format!("email:batch:{}", b.id),
                    now,
                ));
        }
        Some(BatchKind::Quiet) if !live.is_empty() => {
            super::quiet::release(state, &b, &live, &mut work, fx).await?;
        }
        Some(BatchKind::Digest) if !live.is_empty() => {
            work.jobs.push(
                EmailJob::Digest {
                    batch_id: b.id.clone(),
                }
                .job(&b.account_id, format!("email:batch:{}", b.id), now),
            );
        }
        _ => {}
    }
    work.close_batches.push((b.id.clone(), state_after.into()));
    crate::processor::groups::resolve(state, &mut work).await?;
    let fresh = state.store.complete_events(&work).await?;
    if !work.jobs.is_empty() {
        state.jobs_wake.notify_one();
    }
    crate::fanout::push(state, fresh).await;
    Ok(())
}
