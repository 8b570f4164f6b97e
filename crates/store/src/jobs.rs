//! Scheduled work in the database: jobs (claimed under a lease, retried with backoff,
//! dead-lettered), batches that group events until a due time, the daily email cap and
//! the local outbox.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use varsel_core::model::User;
use varsel_core::plan::BatchKind;
use varsel_core::prefs::PrefLayer;

use crate::{FeedItem, Result};

/// What a job does. Stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Fires a batch whose window closed.
    Batch,
    /// Sends one email (a notification, a group of replies, a digest, a notice).
    Email,
    /// Sends one notification to Slack, Teams, mobile push or Web Push.
    Deliver,
    /// Matches an account's users to their Slack users.
    SlackMatch,
    /// Brings a snoozed bell item back when its snooze ends.
    Wake,
}

impl JobKind {
    pub const ALL: [JobKind; 5] = [
        JobKind::Batch,
        JobKind::Email,
        JobKind::Deliver,
        JobKind::SlackMatch,
        JobKind::Wake,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Batch => "batch",
            JobKind::Email => "email",
            JobKind::Deliver => "deliver",
            JobKind::SlackMatch => "slack_match",
            JobKind::Wake => "wake",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job to enqueue. `dedupe_key` is unique: enqueueing the same key twice keeps the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub id: String,
    pub kind: JobKind,
    pub dedupe_key: String,
    pub account_id: Option<String>,
    pub payload: serde_json::Value,
    pub run_at: i64,
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
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
    Retry {
        run_at: i64,
    },
    Dead,
    /// Not tried: its destination is backed off (circuit open). Runs again at `run_at`
    /// and the attempt does not count.
    Wait {
        run_at: i64,
    },
}

/// A delivery state a job records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    pub notification_id: String,
    pub channel: String,
    pub state: String,
    pub reason: Option<String>,
    pub cap_counted: bool,
}

/// Everything one job attempt changes, written with the other outcomes of its round in
/// one transaction: the attempt log, the job's next state, its deliveries' states and the
/// emails it put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub job_id: String,
    pub attempt: JobAttempt,
    pub next: JobNext,
    pub deliveries: Vec<DeliveryUpdate>,
    pub outbox: Vec<OutboxEmail>,
}

/// One email counted toward the daily cap of (address, type, day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapTake {
    pub address: String,
    pub type_id: String,
    pub day: String,
    pub cap: i64,
    /// The email delivery that carries the "counted" flag (`notification_id`, `email`).
    pub delivery: String,
}

/// The daily cap's key: (address in lower case, type, day).
pub(crate) type CapKey = (String, String, String);

/// What a group of [`CapTake`]s asks of one cap row: each key once, in the order first
/// asked, with its cap and how many emails it wants.
pub(crate) struct CapAsk {
    pub key: CapKey,
    pub cap: i64,
    pub want: i64,
}

pub(crate) fn cap_asks(takes: &[CapTake]) -> Vec<CapAsk> {
    let mut asks: Vec<CapAsk> = Vec::new();
    let mut at: std::collections::HashMap<CapKey, usize> = Default::default();
    for t in takes {
        let key = (t.address.to_lowercase(), t.type_id.clone(), t.day.clone());
        match at.get(&key) {
            Some(&i) => asks[i].want += 1,
            None => {
                at.insert(key.clone(), asks.len());
                asks.push(CapAsk {
                    key,
                    cap: t.cap,
                    want: 1,
                });
            }
        }
    }
    asks
}

impl CapAsk {
    /// How many of the wanted emails fit, given the row's `count` after the upsert added
    /// them all (the part past the cap does not).
    pub fn fits(&self, count: i64) -> i64 {
        self.want - (count - self.cap).max(0)
    }
}

/// Which takes fit, given how many each key may still send (`left`; a key missing was
/// full), and the email deliveries of those that did, sorted and once each.
pub(crate) fn cap_grants(
    takes: &[CapTake],
    mut left: std::collections::HashMap<CapKey, i64>,
) -> (Vec<bool>, Vec<&str>) {
    let mut out = Vec::with_capacity(takes.len());
    let mut granted: Vec<&str> = Vec::new();
    for t in takes {
        let key = (t.address.to_lowercase(), t.type_id.clone(), t.day.clone());
        let ok = match left.get_mut(&key) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        if ok {
            granted.push(&t.delivery);
        }
        out.push(ok);
    }
    granted.sort_unstable();
    granted.dedup();
    (out, granted)
}

/// The delivery states a group of outcomes records: the last one per (notification,
/// channel) wins; sorted, so that writers take rows in one order.
pub(crate) fn last_deliveries(outcomes: &[JobOutcome]) -> Vec<&DeliveryUpdate> {
    let mut last: std::collections::HashMap<(&str, &str), &DeliveryUpdate> = Default::default();
    for d in outcomes.iter().flat_map(|o| &o.deliveries) {
        last.insert((d.notification_id.as_str(), d.channel.as_str()), d);
    }
    let mut updates: Vec<&DeliveryUpdate> = last.into_values().collect();
    updates.sort_by(|a, b| (&a.notification_id, &a.channel).cmp(&(&b.notification_id, &b.channel)));
    updates
}

impl JobNext {
    /// The job's row after an attempt that did not finish it: (state, next run, attempts
    /// to give back). `None` for `Done`.
    pub(crate) fn row(&self) -> Option<(&'static str, Option<i64>, i64)> {
        match *self {
            JobNext::Done => None,
            JobNext::Retry { run_at } => Some(("scheduled", Some(run_at), 0)),
            JobNext::Dead => Some(("dead", None, 0)),
            JobNext::Wait { run_at } => Some(("scheduled", Some(run_at), 1)),
        }
    }
}

/// The tails of the upserts both write paths share.
macro_rules! upsert_delivery {
    () => {
        " ON CONFLICT (notification_id, channel) DO UPDATE SET state = excluded.state, \
         reason = excluded.reason, updated_at = excluded.updated_at, \
         attempts = deliveries.attempts + 1, \
         cap_counted = (deliveries.cap_counted OR excluded.cap_counted)"
    };
}
macro_rules! upsert_cap_counted {
    () => {
        " ON CONFLICT (notification_id, channel) DO UPDATE SET state = 'sending', reason = NULL, \
         updated_at = excluded.updated_at, cap_counted = TRUE"
    };
}
/// A cap row takes a group's emails while it is below the cap (bound after this).
macro_rules! upsert_cap {
    () => {
        " ON CONFLICT (address, type, day) DO UPDATE SET count = email_caps.count + excluded.count \
         WHERE email_caps.count < "
    };
}
pub(crate) use {upsert_cap, upsert_cap_counted, upsert_delivery};

/// The oldest work not yet done, as Unix milliseconds (`None`: nothing pending).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingOldest {
    /// When the oldest pending event was accepted.
    pub events: Option<i64>,
    /// The due time of the oldest due job.
    pub jobs: Option<i64>,
}

/// One line of a job's attempt log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobAttempt {
    pub attempt: i64,
    pub started_at: i64,
    pub finished_at: i64,
    /// `done`, `retry`, `dead` or `wait`.
    pub outcome: String,
    pub error: Option<String>,
}

/// An event added to a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAdd {
    pub kind: BatchKind,
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

impl BatchAdd {
    /// The batch's key as a number, the same on every node and version (FNV-1a over its
    /// parts): the advisory lock nodes take before adding to the batch.
    pub fn lock_key(&self) -> i64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for part in [
            self.kind.as_str(),
            self.account_id.as_str(),
            self.user_id.as_str(),
            self.type_id.as_str(),
            self.group_key.as_str(),
        ] {
            for b in part.bytes().chain(std::iter::once(0)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        i64::from_ne_bytes(h.to_ne_bytes())
    }
    /// The due time of a batch this addition opens: at once when one item fills it.
    pub(crate) fn opened_due(&self) -> i64 {
        if self.max_items <= 1 {
            self.now
        } else {
            self.due_at
        }
    }

    /// The job that fires the batch `batch_id` this addition opened.
    pub(crate) fn firing_job(&self, batch_id: &str) -> NewJob {
        NewJob {
            id: format!("job_{}", ulid::Ulid::new()),
            kind: JobKind::Batch,
            dedupe_key: format!("batch:{batch_id}"),
            account_id: Some(self.account_id.clone()),
            payload: serde_json::json!({ "batch_id": batch_id }),
            run_at: self.opened_due(),
        }
    }
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
    /// Leases up to `limit` due jobs to `node` until `lease_until` and counts the attempt.
    /// A job whose lease ran out is due again, whoever held it.
    async fn claim_jobs(
        &self,
        limit: i64,
        now: i64,
        lease_until: i64,
        node: &str,
    ) -> Result<Vec<Job>>;
    /// Extends `node`'s leases of the jobs `ids` (still running there) to `lease_until`.
    async fn extend_job_leases(&self, node: &str, ids: &[String], lease_until: i64) -> Result<()>;
    /// Frees every lease `node` holds (a node starting again); returns how many.
    async fn release_job_leases(&self, node: &str) -> Result<u64>;
    /// Records the outcomes of a round of jobs in one transaction.
    async fn record_jobs(&self, outcomes: &[JobOutcome], now: i64) -> Result<()>;
    /// Counts emails toward their daily caps in one transaction; `true` for each one the
    /// cap allows, whose delivery is then marked `sending` and counted.
    async fn take_email_caps(&self, takes: &[CapTake], now: i64) -> Result<Vec<bool>>;
    /// The oldest pending event and the oldest due job.
    async fn pending_oldest(&self) -> Result<PendingOldest>;
    /// The earliest due time of a scheduled job.
    async fn next_job_at(&self) -> Result<Option<i64>>;
    async fn jobs(&self, state: &str, limit: i64) -> Result<Vec<Job>>;
    async fn job(&self, id: &str) -> Result<Option<(Job, Vec<JobAttempt>)>>;
    /// Puts a dead job back in the queue; false when it is not dead.
    async fn requeue_job(&self, id: &str, now: i64) -> Result<bool>;

    async fn batch(&self, id: &str) -> Result<Option<(Batch, Vec<BatchItem>)>>;
    /// Closes an open batch to new items (it is about to fire). Waits for a transaction
    /// adding an item to it, so the item is in the batch when it is read next.
    async fn seal_batch(&self, id: &str) -> Result<()>;

    /// Newest first; `before` is the (created_at, id) of the last email of the previous page.
    async fn outbox(&self, limit: i64, before: Option<(i64, String)>) -> Result<Vec<OutboxEmail>>;

    async fn notification(&self, id: &str) -> Result<Option<FeedItem>>;
    async fn deliveries(&self, notification_ids: &[String]) -> Result<Vec<Delivery>>;
    /// The notifications an event fed, and their deliveries (for the trace).
    async fn event_deliveries(&self, event_id: &str) -> Result<Vec<(FeedItem, Vec<Delivery>)>>;
    /// Every user of an account with their own preference layer.
    async fn account_users(&self, account: &str) -> Result<Vec<(User, PrefLayer)>>;
}
