//! The worker loop. It keeps up to `job_concurrency` jobs running: when at most half are
//! left it claims the next due ones (up to `job_batch` in one statement, leased to this
//! node), runs each as a task, and a task ends once its outcome is recorded. A heartbeat
//! extends the leases of the jobs still running here, so a lease runs out only when its
//! node is gone; then any node, this one included, claims the job again. A node starting
//! again frees its own leases at once. It wakes on an in-process signal (new jobs), on
//! other nodes' news, at the next due time, and otherwise every 5 s.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use varsel_store::Job;

use crate::state::AppState;

/// Longest sleep without a wake-up.
const POLL: Duration = Duration::from_secs(5);

fn lease_until(state: &AppState) -> i64 {
    state.now() + state.config.job_lease_seconds * 1000
}

/// Runs one claimed job and records its outcome (retrying the write a few times; if it
/// cannot be written the lease runs out and the job runs again).
async fn run_one(state: AppState, job: Job) {
    // Permits the job holds (an email handed to the SMTP server) go back once its outcome
    // is written, when `_hold` drops.
    let super::Executed {
        outcome,
        hold: _hold,
    } = super::execute(&state, &job).await;
    for attempt in 0..5u32 {
        match state.recorder.outcomes.call(outcome.clone()).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(job.id = %job.id, error = %e, "could not record the job's outcome");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
}

/// Claims the jobs due now and runs them all to their recorded outcome; returns how many
/// ran. The tests drive the engine with it.
pub async fn run_due(state: &AppState) -> anyhow::Result<usize> {
    let jobs = state
        .store
        .claim_jobs(
            state.config.job_batch,
            state.now(),
            lease_until(state),
            &state.node_id,
        )
        .await?;
    let n = jobs.len();
    let mut set = JoinSet::new();
    for job in jobs {
        set.spawn(run_one(state.clone(), job));
    }
    while set.join_next().await.is_some() {}
    Ok(n)
}

/// Runs until the process ends.
pub async fn run(state: AppState) {
    match state.store.release_job_leases(&state.node_id).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "freed this node's leases from before its restart"),
        Err(e) => tracing::warn!(error = %e, "could not free this node's earlier leases"),
    }
    let running: Arc<Mutex<HashSet<String>>> = Arc::default();
    tokio::spawn(heartbeat(state.clone(), running.clone()));
    let max = state.config.job_concurrency.max(1);
    let mut tasks: JoinSet<String> = JoinSet::new();
    let mut maybe_due = true;
    let mut sleep_until = tokio::time::Instant::now();
    loop {
        if maybe_due && tasks.len() <= max / 2 {
            let room = (max - tasks.len()).min(state.config.job_batch as usize);
            match state
                .store
                .claim_jobs(
                    room as i64,
                    state.now(),
                    lease_until(&state),
                    &state.node_id,
                )
                .await
            {
                Ok(jobs) => {
                    maybe_due = jobs.len() == room;
                    let mut ids = running.lock().unwrap_or_else(|p| p.into_inner());
                    for job in jobs {
                        // Claimed again after its lease ran out while it still runs here.
                        if !ids.insert(job.id.clone()) {
                            continue;
                        }
                        let st = state.clone();
                        tasks.spawn(async move {
                            let id = job.id.clone();
                            run_one(st, job).await;
                            id
                        });
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not claim jobs");
                    maybe_due = false;
                }
            }
            if !maybe_due {
                let now = state.now();
                let wait = match state.store.next_job_at().await {
                    Ok(Some(at)) => {
                        Duration::from_millis((at - now).clamp(20, POLL.as_millis() as i64) as u64)
                    }
                    _ => POLL,
                };
                sleep_until = tokio::time::Instant::now() + wait;
            }
            if maybe_due && tasks.len() <= max / 2 {
                continue;
            }
        }
        tokio::select! {
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                let mut ids = running.lock().unwrap_or_else(|p| p.into_inner());
                if let Ok(id) = done {
                    ids.remove(&id);
                }
                while let Some(done) = tasks.try_join_next() {
                    if let Ok(id) = done {
                        ids.remove(&id);
                    }
                }
            }
            _ = state.jobs_wake.notified() => maybe_due = true,
            _ = tokio::time::sleep_until(sleep_until), if !maybe_due => maybe_due = true,
        }
    }
}

/// Extends the leases of the jobs running here, every third of the lease.
async fn heartbeat(state: AppState, running: Arc<Mutex<HashSet<String>>>) {
    let every = Duration::from_millis((state.config.job_lease_seconds * 1000 / 3).max(500) as u64);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ids: Vec<String> = running
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        if ids.is_empty() {
            continue;
        }
        if let Err(e) = state
            .store
            .extend_job_leases(&state.node_id, &ids, lease_until(&state))
            .await
        {
            tracing::warn!(error = %e, "could not extend the leases of running jobs");
        }
    }
}
