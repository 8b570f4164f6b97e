//! The job worker: claims due jobs under a lease, runs each (a panic counts as a failed
//! attempt), logs the attempt, and retries with exponential backoff and jitter until the
//! job is dead-lettered. It wakes on an in-process signal, on other nodes' news, and at
//! the next due time, with a fallback poll.

pub mod batch;
pub mod deliver;
pub mod email;

use std::time::Duration;

use futures::FutureExt;
use varsel_store::{Job, JobAttempt, JobNext};

use crate::state::AppState;

/// Longest sleep without a wake-up.
const POLL: Duration = Duration::from_secs(5);
/// Jobs claimed at once.
const CLAIM: i64 = 32;

/// A failed attempt: retry later, or give up at once.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    pub retryable: bool,
    pub message: String,
    /// The earliest next attempt a provider asked for (`Retry-After`).
    pub after: Option<Duration>,
}

impl JobError {
    pub fn retry(message: impl std::fmt::Display) -> JobError {
        JobError {
            retryable: true,
            message: message.to_string(),
            after: None,
        }
    }
    pub fn permanent(message: impl std::fmt::Display) -> JobError {
        JobError {
            retryable: false,
            message: message.to_string(),
            after: None,
        }
    }
    /// Not before `after` (a provider's `Retry-After`), if given.
    pub fn after(mut self, after: Option<Duration>) -> JobError {
        self.after = after;
        self
    }
}

impl From<varsel_store::StoreError> for JobError {
    fn from(e: varsel_store::StoreError) -> JobError {
        JobError::retry(e)
    }
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> JobError {
        JobError::retry(format!("{e:#}"))
    }
}

/// Runs until the process ends.
pub async fn run(state: AppState) {
    loop {
        let ran = match run_due(&state).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "job worker error");
                0
            }
        };
        if ran > 0 {
            continue;
        }
        let now = state.now();
        let wait = match state.store.next_job_at().await {
            Ok(Some(at)) => {
                Duration::from_millis((at - now).clamp(20, POLL.as_millis() as i64) as u64)
            }
            _ => POLL,
        };
        tokio::select! {
            _ = state.jobs_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Claims and runs the jobs due now; returns how many ran.
pub async fn run_due(state: &AppState) -> anyhow::Result<usize> {
    let now = state.now();
    let lease = now + state.config.job_lease_seconds * 1000;
    let jobs = state.store.claim_jobs(CLAIM, now, lease).await?;
    let n = jobs.len();
    futures::future::join_all(jobs.into_iter().map(|job| run_one(state, job))).await;
    Ok(n)
}

async fn dispatch(state: &AppState, job: &Job) -> Result<(), JobError> {
    match job.kind.as_str() {
        "batch" => batch::fire(state, job).await,
        "email" => email::send(state, job).await,
        "deliver" => deliver::send(state, job).await,
        "slack_match" => deliver::match_account(state, job).await,
        other => Err(JobError::permanent(format!("unknown job kind `{other}`"))),
    }
}

fn jitter() -> f64 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    0.8 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) * 0.4
}

async fn run_one(state: &AppState, job: Job) {
    let started = state.now();
    let span = tracing::info_span!("job", job.id = %job.id, job.kind = %job.kind, job.attempt = job.attempts);
    let result = std::panic::AssertUnwindSafe(dispatch(state, &job))
        .catch_unwind()
        .await;
    let result = result.unwrap_or_else(|_| Err(JobError::retry("the job panicked")));
    let finished = state.now();
    let cfg = &state.config;
    let (next, outcome, error) = match &result {
        Ok(()) => (JobNext::Done, "done", None),
        Err(e) if e.retryable && job.attempts < cfg.job_max_attempts => {
            let backoff = varsel_core::schedule::backoff_ms(
                job.attempts,
                (cfg.job_retry_base_seconds * 1000.0) as i64,
                (cfg.job_retry_max_seconds * 1000.0) as i64,
                jitter(),
            );
            // A provider's Retry-After wins when it asks for longer than the backoff.
            let asked = e.after.map_or(0, |a| a.as_millis() as i64);
            let delay = backoff.max(asked);
            (
                JobNext::Retry {
                    run_at: finished + delay,
                },
                "retry",
                Some(e.message.clone()),
            )
        }
        Err(e) => (JobNext::Dead, "dead", Some(e.message.clone())),
    };
    let _enter = span.enter();
    match &error {
        None => tracing::debug!("job done"),
        Some(msg) => tracing::warn!(outcome, error = %msg, "job attempt failed"),
    }
    metrics::counter!("varsel_jobs_total", "kind" => job.kind.clone(), "outcome" => outcome)
        .increment(1);
    drop(_enter);
    if next != JobNext::Done {
        let (msg, dead) = (error.as_deref().unwrap_or(""), next == JobNext::Dead);
        let recorded = match job.kind.as_str() {
            "email" => email::record_failure(state, &job, msg, dead).await,
            "deliver" => deliver::record_failure(state, &job, msg, dead).await,
            _ => Ok(()),
        };
        if let Err(e) = recorded {
            tracing::warn!(error = %e, "could not record the delivery failure");
        }
    }
    let attempt = JobAttempt {
        attempt: job.attempts,
        started_at: started,
        finished_at: finished,
        outcome: outcome.into(),
        error,
    };
    if let Err(e) = state.store.finish_job(&job.id, &attempt, &next).await {
        // The lease runs out and the job is tried again.
        tracing::error!(job.id = %job.id, error = %e, "could not record the job's attempt");
    }
}
