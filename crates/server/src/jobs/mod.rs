//! The job engine. Due jobs are claimed in batches under a lease (`engine.rs`), each runs
//! as a task under a deadline and its channel's concurrency limit, and the outcomes —
//! the attempt log, the job's next state, delivery states, outbox rows — are written
//! together by a group commit (`record.rs`). A destination that keeps failing is backed
//! off as a whole (`breaker.rs`). Each kind of job is a type implementing [`JobRun`].

pub mod batch;
pub mod breaker;
pub mod deliver;
pub mod email;
pub mod engine;
pub mod lookup;
pub mod quiet;
pub mod record;
pub mod wake;

use std::time::Duration;

use futures::FutureExt;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use varsel_store::{DeliveryUpdate, Job, JobAttempt, JobKind, JobNext, JobOutcome, OutboxEmail};

pub use engine::{run, run_due};

use crate::state::AppState;

/// How a failed attempt goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobErrorKind {
    /// Try again after the backoff.
    Retry,
    /// Try again, not before the provider's `Retry-After`.
    RetryAfter(Duration),
    /// Trying again cannot help: dead-lettered at once.
    Permanent,
    /// The address is gone (a device unregistered): nothing left to do, not a dead letter.
    Gone,
    /// Not tried: the destination is backed off until then (Unix ms). The attempt does
    /// not count.
    Wait(i64),
}

/// A failed attempt.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    pub kind: JobErrorKind,
    pub message: String,
}

impl JobError {
    pub fn retry(message: impl std::fmt::Display) -> JobError {
        JobError {
            kind: JobErrorKind::Retry,
            message: message.to_string(),
        }
    }
    pub fn permanent(message: impl std::fmt::Display) -> JobError {
        JobError {
            kind: JobErrorKind::Permanent,
            message: message.to_string(),
        }
    }
    /// Not before `after` (a provider's `Retry-After`), if given.
    pub fn after(mut self, after: Option<Duration>) -> JobError {
        if let (JobErrorKind::Retry, Some(a)) = (&self.kind, after) {
            self.kind = JobErrorKind::RetryAfter(a);
        }
        self
    }
    pub fn wait(until: i64, message: impl std::fmt::Display) -> JobError {
        JobError {
            kind: JobErrorKind::Wait(until),
            message: message.to_string(),
        }
    }
    fn retryable(&self) -> bool {
        matches!(self.kind, JobErrorKind::Retry | JobErrorKind::RetryAfter(_))
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

/// What a running job changes besides its own state; recorded with its outcome in one
/// transaction.
#[derive(Debug, Default)]
pub struct Effects {
    pub deliveries: Vec<DeliveryUpdate>,
    pub outbox: Vec<OutboxEmail>,
    /// Permits held until the outcome is committed (see `Recorder::unrecorded_sends`).
    pub hold: Vec<tokio::sync::OwnedSemaphorePermit>,
}

impl Effects {
    pub fn delivery(
        &mut self,
        notification_id: &str,
        channel: &str,
        state: &str,
        reason: Option<&str>,
    ) {
        self.deliveries.push(DeliveryUpdate {
            notification_id: notification_id.to_string(),
            channel: channel.to_string(),
            state: state.to_string(),
            reason: reason.map(str::to_string),
            cap_counted: false,
        });
    }
}

/// A kind of job: its payload type, how it runs, and what a failure records.
#[async_trait::async_trait]
pub trait JobRun: DeserializeOwned + Send + Sync + Sized {
    const KIND: JobKind;
    /// The notification and channel the job is about, for its span.
    fn about(&self) -> (Option<&str>, Option<&str>) {
        (None, None)
    }
    async fn run(&self, state: &AppState, job: &Job, fx: &mut Effects) -> Result<(), JobError>;
    /// Records a failed attempt on what the job delivers (`dead`: given up).
    fn failed(&self, _job: &Job, _error: &JobError, _dead: bool, _fx: &mut Effects) {}
}

/// Counts a send's outcome for the metrics: latency and outcome per channel.
pub fn observe_send(channel: &'static str, started: std::time::Instant, outcome: &'static str) {
    metrics::histogram!("varsel_send_seconds", "channel" => channel)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("varsel_sends_total", "channel" => channel, "outcome" => outcome)
        .increment(1);
}

fn jitter() -> f64 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    0.8 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) * 0.4
}

/// A job's outcome to record, and the permits to give back once it is recorded.
pub struct Executed {
    pub outcome: JobOutcome,
    pub hold: Vec<tokio::sync::OwnedSemaphorePermit>,
}

/// Runs one job of kind `J` under its span and deadline; returns its outcome to record.
async fn run_typed<J: JobRun>(state: &AppState, job: &Job) -> Executed {
    let started = state.now();
    let mut fx = Effects::default();
    let payload: Result<J, _> = serde_json::from_value(job.payload.clone());
    let (ntf, channel) = payload.as_ref().map(|p| p.about()).unwrap_or((None, None));
    let span = tracing::info_span!(
        "job",
        job.id = %job.id,
        job.kind = %job.kind,
        job.attempt = job.attempts,
        notification.id = ntf.unwrap_or(""),
        channel = channel.unwrap_or(""),
    );
    let deadline = Duration::from_secs(state.config.job_deadline_seconds);
    let result = async {
        let p = payload
            .as_ref()
            .map_err(|e| JobError::permanent(format!("bad {} job: {e}", J::KIND)))?;
        match tokio::time::timeout(
            deadline,
            std::panic::AssertUnwindSafe(p.run(state, job, &mut fx)).catch_unwind(),
        )
        .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(JobError::retry("the job panicked")),
            Err(_) => Err(JobError::retry(format!(
                "the job ran past its deadline ({} s)",
                deadline.as_secs()
            ))),
        }
    }
    .instrument(span.clone())
    .await;
    let finished = state.now();
    let cfg = &state.config;
    let (next, outcome) = match &result {
        Ok(()) => (JobNext::Done, "done"),
        Err(e) if matches!(e.kind, JobErrorKind::Gone) => (JobNext::Done, "gone"),
        Err(JobError {
            kind: JobErrorKind::Wait(until),
            ..
        }) => (JobNext::Wait { run_at: *until }, "wait"),
        Err(e) if e.retryable() && job.attempts < cfg.job_max_attempts => {
            let backoff = varsel_core::schedule::backoff_ms(
                job.attempts,
                (cfg.job_retry_base_seconds * 1000.0) as i64,
                (cfg.job_retry_max_seconds * 1000.0) as i64,
                jitter(),
            );
            // A provider's Retry-After wins when it asks for longer than the backoff.
            let asked = match e.kind {
                JobErrorKind::RetryAfter(a) => a.as_millis() as i64,
                _ => 0,
            };
            (
                JobNext::Retry {
                    run_at: finished + backoff.max(asked),
                },
                "retry",
            )
        }
        Err(_) => (JobNext::Dead, "dead"),
    };
    {
        let _enter = span.enter();
        match &result {
            Ok(()) => tracing::debug!("job done"),
            Err(e) if outcome == "wait" => tracing::debug!(reason = %e, "job waits"),
            Err(e) => tracing::warn!(outcome, error = %e, "job attempt failed"),
        }
    }
    metrics::counter!("varsel_jobs_total", "kind" => J::KIND.as_str(), "outcome" => outcome)
        .increment(1);
    let error = result.as_ref().err();
    if let (Some(e), Ok(p)) = (error, &payload)
        && (next != JobNext::Done || outcome == "gone")
    {
        p.failed(job, e, next == JobNext::Dead, &mut fx);
    }
    let message = error.map(|e| match &e.kind {
        JobErrorKind::Wait(_) => format!("waiting: {e}"),
        _ => e.message.clone(),
    });
    Executed {
        outcome: JobOutcome {
            job_id: job.id.clone(),
            attempt: JobAttempt {
                attempt: job.attempts,
                started_at: started,
                finished_at: finished,
                outcome: outcome.into(),
                error: message,
            },
            next,
            deliveries: fx.deliveries,
            outbox: fx.outbox,
        },
        hold: fx.hold,
    }
}

/// Runs a claimed job to its outcome.
pub async fn execute(state: &AppState, job: &Job) -> Executed {
    match job.kind {
        JobKind::Batch => run_typed::<batch::BatchJob>(state, job).await,
        JobKind::Email => run_typed::<email::EmailJob>(state, job).await,
        JobKind::Deliver => run_typed::<deliver::DeliverJob>(state, job).await,
        JobKind::SlackMatch => run_typed::<deliver::SlackMatchJob>(state, job).await,
        JobKind::Wake => run_typed::<wake::WakeJob>(state, job).await,
    }
}
