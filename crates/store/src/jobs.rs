//! Scheduled work in the database: jobs (claimed under a lease, retried with backoff,
//! dead-lettered), batches that group events until a due time, the daily email cap and
//! the local outbox.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use varsel_core::model::User;
use varsel_core::prefs::PrefLayer;

use crate::{FeedItem, Result};

/// A job to enqueue. `dedupe_key` is unique: enqueueing the same key twice keeps the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub id: String,
    pub kind: String,
    pub dedupe_key: String,
    pub account_id: Option<String>,
    pub payload: serde_json::Value,
    pub run_at: i64,
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub kind: String,
    pub dedupe_key: String,
    pub account_id: Option<String>,
    pub payload: serde_json::Value,
    pub run_at: i64,
    pub state: String,
    /// Attempts so far, including the one just claimed.
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What happens to a job after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobNext {
    Done,
    Retry { run_at: i64 },
    Dead,
}

/// One line of a job's attempt log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAttempt {
    pub attempt: i64,
    pub started_at: i64,
    pub finished_at: i64,
    /// `done`, `retry` or `dead`.
    pub outcome: String,
    pub error: Option<String>,
}

/// An event added to a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAdd {
    /// `assign`, `email_group` or `digest`.
    pub kind: String,
    pub account_id: String,
    pub user_id: String,
    pub type_id: String,
    /// Further grouping inside (account, user, type): the thread, the digest period.
    pub group_key: String,
    pub event_id: String,
    pub object_id: Option<String>,
    /// What the batch needs of the event when it fires.
    pub item: serde_json::Value,
    /// Due time of a new batch.
    pub due_at: i64,
    /// A batch holding this many items fires at once.
    pub max_items: i64,
    pub now: i64,
}

/// A change to batches, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    Withdraw(Withdrawal),
    Add(BatchAdd),
}

/// Withdraws an object's assignment from other users' open batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    pub account_id: String,
    pub type_id: String,
    pub object_id: String,
    /// The user the object is now assigned to.
    pub keep_user: String,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub id: String,
    pub kind: String,
    pub account_id: String,
    pub user_id: String,
    pub type_id: String,
    pub group_key: String,
    pub due_at: i64,
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItem {
    pub event_id: String,
    pub item: serde_json::Value,
    pub added_at: i64,
    pub withdrawn: bool,
}

/// An email kept in the local outbox (no SMTP configured).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEmail {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub type_id: String,
    pub created_at: i64,
}

/// A delivery of a notification on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub notification_id: String,
    pub channel: String,
    pub state: String,
    pub reason: Option<String>,
    pub attempts: i64,
    pub cap_counted: bool,
    pub updated_at: i64,
}

/// The scheduling half of the storage interface.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    async fn enqueue_jobs(&self, jobs: &[NewJob], now: i64) -> Result<()>;
    /// Leases up to `limit` due jobs until `lease_until` and counts the attempt.
    async fn claim_jobs(&self, limit: i64, now: i64, lease_until: i64) -> Result<Vec<Job>>;
    /// Records an attempt and moves the job on.
    async fn finish_job(&self, id: &str, attempt: &JobAttempt, next: &JobNext) -> Result<()>;
    /// The earliest due time of a scheduled job.
    async fn next_job_at(&self) -> Result<Option<i64>>;
    async fn jobs(&self, state: &str, limit: i64) -> Result<Vec<Job>>;
    async fn job(&self, id: &str) -> Result<Option<(Job, Vec<JobAttempt>)>>;
    /// Puts a dead job back in the queue; false when it is not dead.
    async fn requeue_job(&self, id: &str, now: i64) -> Result<bool>;

    async fn batch(&self, id: &str) -> Result<Option<(Batch, Vec<BatchItem>)>>;

    /// Counts one email toward the daily cap; false when the cap is reached.
    async fn take_email_cap(
        &self,
        address: &str,
        type_id: &str,
        day: &str,
        cap: i64,
    ) -> Result<bool>;
    async fn insert_outbox(&self, email: &OutboxEmail) -> Result<()>;
    /// Newest first; `before` is the (created_at, id) of the last email of the previous page.
    async fn outbox(&self, limit: i64, before: Option<(i64, String)>) -> Result<Vec<OutboxEmail>>;

    async fn notification(&self, id: &str) -> Result<Option<FeedItem>>;
    async fn deliveries(&self, notification_ids: &[String]) -> Result<Vec<Delivery>>;
    async fn set_delivery(
        &self,
        notification_id: &str,
        channel: &str,
        state: &str,
        reason: Option<&str>,
        cap_counted: bool,
        now: i64,
    ) -> Result<()>;
    /// The notifications an event fed, and their deliveries (for the trace).
    async fn event_deliveries(&self, event_id: &str) -> Result<Vec<(FeedItem, Vec<Delivery>)>>;
    /// Every user of an account with their own preference layer.
    async fn account_users(&self, account: &str) -> Result<Vec<(User, PrefLayer)>>;
}
