//! Varsel's storage. [`Store`] is the one interface the server uses; [`connect`] picks
//! the SQLite or PostgreSQL implementation from the URL. Both run the same queries
//! (written once in `shared.rs`) and keep their own migrations.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use varsel_core::model::{ObjectRef, Source, Tier, User};
use varsel_core::prefs::{PrefLayer, ProfileLike};

pub mod backup;
pub mod bus;
pub mod channels;
pub mod jobs;
mod pg_groups;
mod pg_jobs;
mod pg_round;
mod pg_schedule;
mod postgres;
mod round;
mod rows;
mod shared;
mod shared_channels;
mod shared_jobs;
mod shared_user;
mod sql;
mod sqlite;
mod sqlite_direct;
mod sqlite_round;
mod sqlite_writer;

pub use bus::{Bus, BusMsg, FeedChange, FeedChangeKind, UserPresence};
pub use channels::{ChannelStore, Connection, Device, MatchLock, UserLink};
pub use jobs::{
    Batch, BatchAdd, BatchItem, BatchOp, CapTake, Delivery, DeliveryUpdate, Job, JobAttempt,
    JobKind, JobNext, JobOutcome, JobStore, NewJob, OutboxEmail, PendingOldest, Withdrawal,
};
pub use postgres::PgStore;
pub use round::{
    BellCandidate, BellGroup, BellGroupOp, DecisionRow, NewMember, NewNotification, ProcessedBatch,
};
pub use sqlite::SqliteStore;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("unsupported database url: {0}")]
    BadUrl(String),
    /// The database server did not answer or refused: where, and why.
    #[error("cannot reach {0}")]
    Unreachable(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// An error of SQLite's writer thread (see `sqlite_writer.rs`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A write whose cycle could not start or commit (SQLite): nothing of it was kept.
    #[error("write failed: {0}")]
    Write(String),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt stored document: {0}")]
    Json(#[from] serde_json::Error),
    #[error("corrupt stored row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A write that lost a race with another node's (a "once" rule taken meanwhile, a
    /// deadlock or serialization failure PostgreSQL broke): doing the work again, from
    /// fresh reads, succeeds.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Conflict(_) => true,
            // 40001 serialization_failure, 40P01 deadlock_detected.
            StoreError::Db(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("40001" | "40P01"))
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whether a statement built at run time (multi-row, sized by its batch or list) stays
/// prepared on its connection. SQLite: no. Each size is a statement of its own, and the
/// connections' caches of them held 14 MiB at the peak of an ingest run; preparing one
/// again is a parse in this process. PostgreSQL: yes, since preparing costs a round trip
/// to the server.
pub(crate) trait Built: sqlx::Database + sqlx::database::HasStatementCache {
    const PERSISTENT: bool;
}

impl Built for sqlx::Sqlite {
    const PERSISTENT: bool = false;
}

impl Built for sqlx::Postgres {
    const PERSISTENT: bool = true;
}

/// `IN` a list of ids, in a statement built at run time. PostgreSQL binds the list as one
/// array (`= ANY($n)`), so the statement's text is the same for every length and stays
/// prepared (a new text costs a round trip to prepare); SQLite, which prepares in this
/// process, binds each id (`IN (?, ?, …)`).
pub(crate) trait InList: sqlx::Database {
    fn push_in<S: AsRef<str>>(q: &mut sqlx::QueryBuilder<Self>, ids: &[S]);
}

impl InList for sqlx::Sqlite {
    fn push_in<S: AsRef<str>>(q: &mut sqlx::QueryBuilder<Self>, ids: &[S]) {
        q.push(" IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.as_ref().to_string());
        }
        q.push(")");
    }
}

impl InList for sqlx::Postgres {
    fn push_in<S: AsRef<str>>(q: &mut sqlx::QueryBuilder<Self>, ids: &[S]) {
        let ids: Vec<String> = ids.iter().map(|id| id.as_ref().to_string()).collect();
        q.push(" = ANY(").push_bind(ids).push(")");
    }
}

/// Builds a statement made at run time, kept prepared as [`Built`] says for its backend.
pub(crate) trait BuildSized<DB: Built> {
    fn build_sized(&mut self) -> sqlx::query::Query<'_, DB, <DB as sqlx::Database>::Arguments>;
}

impl<DB: Built> BuildSized<DB> for sqlx::QueryBuilder<DB> {
    fn build_sized(&mut self) -> sqlx::query::Query<'_, DB, <DB as sqlx::Database>::Arguments> {
        self.build().persistent(DB::PERSISTENT)
    }
}

/// Marks an account's facts changed (see [`Store::facts_version`]); run in the transaction
/// of the change.
pub(crate) const BUMP_FACTS: &str =
    "UPDATE accounts SET facts_version = facts_version + 1 WHERE id = $1";

/// A customer of the host app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub tier: Tier,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A team member as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    pub user_id: String,
    pub primary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub account_id: String,
    pub id: String,
    pub name: String,
    pub members: Vec<TeamMember>,
}

/// A notification profile: a named default set for users by role or by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub account_id: String,
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub user_ids: Vec<String>,
    pub layer: PrefLayer,
    pub created_at: i64,
}

impl ProfileLike for Profile {
    fn user_ids(&self) -> &[String] {
        &self.user_ids
    }
    fn roles(&self) -> &[String] {
        &self.roles
    }
}

/// An event as accepted from the host (the stored `body`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub account_id: String,
    #[serde(default)]
    pub actor_id: Option<String>,
    #[serde(default)]
    pub recipients: Vec<String>,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub object: Option<ObjectRef>,
    #[serde(default)]
    pub source: Source,
    /// Unix milliseconds.
    pub occurred_at: i64,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
}

/// An event to insert.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub body: EventBody,
    pub received_at: i64,
    /// A hash of the request as the host sent it: the same idempotency key with another
    /// hash is a conflict, not a duplicate. `None`: not compared.
    pub request_hash: Option<String>,
}

/// What inserting one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    /// The id of the stored event (the earlier one for a duplicate).
    pub id: String,
    pub duplicate: bool,
    /// A duplicate whose request differs from the stored one (nothing was stored).
    pub conflict: bool,
}

impl Inserted {
    pub(crate) fn fresh(id: &str) -> Inserted {
        Inserted {
            id: id.to_string(),
            duplicate: false,
            conflict: false,
        }
    }

    /// A duplicate of the stored event `id` (of an earlier event, or of one earlier in its
    /// group); with another request behind the same key, a conflict.
    pub(crate) fn duplicate(
        id: String,
        stored_hash: Option<String>,
        hash: Option<&str>,
    ) -> Inserted {
        let conflict = matches!((stored_hash.as_deref(), hash), (Some(a), Some(b)) if a != b);
        Inserted {
            id,
            duplicate: true,
            conflict,
        }
    }
}

/// An event claimed for processing.
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    pub seq: i64,
    pub id: String,
    pub body: EventBody,
    pub received_at: i64,
    pub attempts: i64,
}

/// One item of a user's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedItem {
    pub seq: i64,
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub kind: String,
    pub section: String,
    pub title: String,
    pub body: String,
    pub url: Option<String>,
    pub count: i64,
    pub actor_id: Option<String>,
    pub popup_sound: Option<String>,
    pub browser: bool,
    /// Whether the item is in the bell feed (a pop-up can exist without it).
    pub in_feed: bool,
    pub created_at: i64,
    pub seen_at: Option<i64>,
    pub read_at: Option<i64>,
    pub archived_at: Option<i64>,
    /// Hidden until then (Unix ms); back unread at the top when it passes.
    pub snoozed_until: Option<i64>,
    /// A grouped item's people, newest first (empty otherwise).
    pub actor_ids: Vec<String>,
    /// Written as an update of a grouped item (not read from storage).
    pub updated: bool,
}

/// Which of a user's bell items a feed page lists. The default is the bell's list: items
/// neither archived nor snoozed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedFilter {
    /// Only unread items.
    pub unread: bool,
    /// The archived items instead of the list.
    pub archived: bool,
    /// The snoozed items instead of the list.
    pub snoozed: bool,
}

/// An event's stored trace.
#[derive(Debug, Clone)]
pub struct Trace {
    pub event_id: String,
    pub account_id: String,
    pub state: String,
    pub rows: Vec<DecisionRow>,
}

/// Varsel's storage interface. Every query that touches account data is scoped by account.
#[async_trait]
pub trait Store: JobStore + UserStore + ChannelStore + Send + Sync + 'static {
    /// Which backend this is: `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// The bus to other nodes sharing this database (PostgreSQL), if any.
    fn bus(&self) -> Option<Arc<dyn Bus>>;

    // --- directory ---
    async fn upsert_account(&self, id: &str, name: &str, tier: Tier, now: i64) -> Result<Account>;
    async fn get_account(&self, id: &str) -> Result<Option<Account>>;
    /// How often what processing reads of the account (name, tier, defaults, profiles,
    /// connections) has changed; `None` for an unknown account. A cache of those facts
    /// is current while this has not moved.
    async fn facts_version(&self, id: &str) -> Result<Option<i64>>;
    async fn upsert_user(&self, user: &User, now: i64) -> Result<()>;
    async fn get_user(&self, account: &str, id: &str) -> Result<Option<User>>;
    /// Sets a user's locale (their pick on the settings page); false when there is no
    /// such user.
    async fn set_user_locale(
        &self,
        account: &str,
        id: &str,
        locale: &str,
        now: i64,
    ) -> Result<bool>;
    /// The users among `ids` that exist, with their own preference layer.
    async fn get_users(&self, account: &str, ids: &[String]) -> Result<Vec<(User, PrefLayer)>>;
    async fn upsert_team(&self, team: &Team, now: i64) -> Result<()>;
    async fn get_team(&self, account: &str, id: &str) -> Result<Option<Team>>;

    // --- api keys ---
    async fn insert_api_key(&self, hash: &str, name: &str, now: i64) -> Result<()>;
    async fn api_key_exists(&self, hash: &str) -> Result<bool>;

    // --- events ---
    /// Inserts events in one transaction (one commit for the whole group).
    async fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<Inserted>>;
    /// Group commit: waits until the writer is free, then calls `gather` once for the
    /// group (everything queued meanwhile) and inserts it in one transaction. Gathering
    /// after the wait, not before, lets requests that arrive while another transaction
    /// holds the writer join this commit instead of waiting for the next one. (SQLite
    /// gathers at once: its writer thread applies the group in its next cycle, together
    /// with whatever else was queued.)
    async fn insert_events_gathered(
        &self,
        gather: &mut (dyn FnMut() -> Vec<NewEvent> + Send),
    ) -> Result<Vec<Inserted>> {
        let events = gather();
        self.insert_events(&events).await
    }
    /// Leases up to `limit` pending events until `lease_until`.
    async fn claim_events(
        &self,
        limit: i64,
        now: i64,
        lease_until: i64,
    ) -> Result<Vec<ClaimedEvent>>;
    /// Frees every lease of events and jobs (SQLite at start: one process owns the file).
    async fn release_leases(&self) -> Result<()>;
    /// Marks an event failed for this attempt; after `max_attempts` it is given up.
    async fn fail_event(&self, id: &str, error: &str, max_attempts: i64) -> Result<()>;
    /// Writes decisions, notifications, deliveries and mentions and marks the events done,
    /// in one transaction. Returns the notifications actually inserted (not duplicates),
    /// in the feed or not.
    async fn complete_events(&self, batch: &ProcessedBatch) -> Result<Vec<FeedItem>>;
    /// The users among `users` already mentioned in `activity`.
    async fn mentioned(
        &self,
        account: &str,
        activity: &str,
        users: &[String],
    ) -> Result<Vec<String>>;
    async fn get_trace(&self, event_id: &str) -> Result<Option<Trace>>;
    async fn pending_events(&self) -> Result<i64>;
}

/// What a signed-in user reads and changes: the bell feed and preferences.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    // --- feed ---
    /// Newest first, items with `seq < before` when given.
    async fn feed(
        &self,
        account: &str,
        user: &str,
        filter: FeedFilter,
        limit: i64,
        before: Option<i64>,
    ) -> Result<Vec<FeedItem>>;
    /// Oldest first, items in the list with `seq > after` (stream resume).
    async fn feed_after(
        &self,
        account: &str,
        user: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<FeedItem>>;
    async fn feed_by_ids(&self, ids: &[String]) -> Result<Vec<FeedItem>>;
    /// The groups of (account, user, group key) `keys`, with their items' count and actors.
    async fn bell_groups(
        &self,
        keys: &[(String, String, String)],
        now: i64,
    ) -> Result<Vec<BellGroup>>;
    /// The notifications grouped into a user's item, newest first.
    async fn members(&self, account: &str, user: &str, id: &str) -> Result<Vec<NewMember>>;
    async fn unread_count(&self, account: &str, user: &str) -> Result<i64>;
    async fn unread_counts(&self, account: &str, users: &[String]) -> Result<HashMap<String, i64>>;
    /// Returns false when the item does not exist for this user.
    async fn mark_read(&self, account: &str, user: &str, id: &str, now: i64) -> Result<bool>;
    async fn mark_all_read(&self, account: &str, user: &str, now: i64) -> Result<u64>;
    async fn mark_seen(&self, account: &str, user: &str, now: i64) -> Result<u64>;
    /// Archives (`Some(now)`) or unarchives (`None`) an item; false when the item does not
    /// exist for this user.
    async fn set_archived(
        &self,
        account: &str,
        user: &str,
        id: &str,
        at: Option<i64>,
    ) -> Result<bool>;
    /// Hides an item until `until` (Unix ms) and schedules `wake`, the job that brings it
    /// back, in one transaction; false (and no job) when the item does not exist for this
    /// user.
    async fn snooze(
        &self,
        account: &str,
        user: &str,
        id: &str,
        until: i64,
        wake: &NewJob,
        now: i64,
    ) -> Result<bool>;
    /// Brings a snoozed item back: unread, unseen, at the top of the list (a new `seq`).
    /// With `due`, only when its snooze ended by then (the wake job); without, at once
    /// (un-snooze). `None` when the item is not snoozed (or not yet due).
    async fn wake(
        &self,
        account: &str,
        user: &str,
        id: &str,
        due: Option<i64>,
    ) -> Result<Option<FeedItem>>;

    // --- preferences ---
    /// The user's own layer and its version.
    async fn user_prefs(&self, account: &str, user: &str) -> Result<Option<(PrefLayer, i64)>>;
    /// Stores the layer if the version is still `version`; false on a concurrent change.
    async fn put_user_prefs(
        &self,
        account: &str,
        user: &str,
        layer: &PrefLayer,
        version: i64,
    ) -> Result<bool>;
    async fn account_defaults(&self, account: &str) -> Result<PrefLayer>;
    /// The account defaults and their version.
    async fn account_defaults_versioned(&self, account: &str) -> Result<(PrefLayer, i64)>;
    /// Stores the defaults if their version is still `version`; false on a concurrent
    /// change.
    async fn put_account_defaults(
        &self,
        account: &str,
        layer: &PrefLayer,
        version: i64,
        now: i64,
    ) -> Result<bool>;
    /// Oldest first.
    async fn profiles(&self, account: &str) -> Result<Vec<Profile>>;
    async fn upsert_profile(&self, profile: &Profile, now: i64) -> Result<()>;
    async fn delete_profile(&self, account: &str, id: &str) -> Result<bool>;
}

/// Opens (creating if needed) and migrates the database at `url`:
/// `sqlite://path` (or `sqlite::memory:`) or `postgres://…`.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url).await?))
    } else {
        Err(StoreError::BadUrl(
            url.split(':').next().unwrap_or("").to_string(),
        ))
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
pub(crate) fn map_unique(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        _ => StoreError::Db(e),
    }
}
