//! SQLite: one file in WAL mode with `synchronous=FULL`. One writer connection (SQLite
//! allows one writer at a time; the server groups commits in front of it) and a small pool
//! of readers. One Varsel process owns the file.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sqlite_writer::SqliteWriter;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// The SQLite implementation of [`crate::Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// The match locks held in this process (the only one on the file).
    match_locks: Arc<Mutex<HashSet<i64>>>,
    /// The thread that applies the hot writes (accepted events, the job engine's).
    direct: SqliteWriter,
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";

    /// Bytes of parameters per multi-row statement: no limit (see `PgStore`).
    const STATEMENT_BYTES: usize = usize::MAX;

    /// One process owns the file and runs one processor, so claiming is a read: no
    /// lease is written (a write transaction and an fsync per processing round, on the
    /// one writer the ingest needs). Leases of an earlier process are freed at start;
    /// attempts are counted when an event fails (`FAIL_EVENT`). `$1` (the lease) is
    /// unused here but keeps the parameters in the shared order.
    const CLAIM_EVENTS: &'static str = "SELECT seq, id, body, received_at, attempts + 1 AS attempts \
         FROM events WHERE $1 IS NOT NULL AND state = 'pending' \
         AND (lease_until IS NULL OR lease_until < $2) ORDER BY seq LIMIT $3";
    /// A woken (un-snoozed) item's new place at the top: the next value of the table's
    /// AUTOINCREMENT counter, which `WAKE_COUNTER` then moves past it so that no later
    /// item takes it again.
    pub(crate) const WAKE_SEQ: &'static str =
        "(SELECT seq FROM sqlite_sequence WHERE name = 'notifications') + 1";
    pub(crate) const WAKE_COUNTER: Option<&'static str> = Some(
        "UPDATE sqlite_sequence SET seq = (SELECT MAX(seq) FROM notifications) \
         WHERE name = 'notifications' AND seq < (SELECT MAX(seq) FROM notifications)",
    );
    const CLAIM_ON_READER: bool = true;
    const FAIL_EVENT: &'static str = "UPDATE events SET lease_until = NULL, last_error = $2, attempts = attempts + 1, \
         state = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE 'pending' END WHERE id = $1";

    pub(crate) const CLAIM_JOBS: &'static str = "UPDATE jobs SET lease_until = ?1, attempts = attempts + 1, updated_at = ?2, locked_by = ?4 \
         WHERE id IN (SELECT id FROM jobs WHERE state = 'scheduled' AND run_at <= ?2 \
         AND (lease_until IS NULL OR lease_until < ?2) ORDER BY run_at LIMIT ?3) \
         RETURNING *";

    /// Opens `sqlite://path` (created if missing, readable by its owner only) and runs
    /// the migrations.
    pub async fn open(url: &str) -> crate::Result<SqliteStore> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let path = opts.get_filename().to_path_buf();
        let name = path.to_string_lossy();
        if name.is_empty() || name.starts_with(':') {
            return Err(crate::StoreError::BadUrl(format!(
                "{url}: SQLite needs a file (events are kept durably)"
            )));
        }
        create_private(&path)?;
        // A local file: a connection is never lost, so none is tested before it is
        // lent (a ping is a hand-off to its worker thread).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(opts.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(opts.read_only(true))
            .await?;
        let direct = SqliteWriter::start(&path, writer.clone())?;
        Ok(SqliteStore {
            writer,
            reader,
            match_locks: Arc::default(),
            direct,
        })
    }

    /// One process owns the file: no other node to tell.
    fn make_bus(&self) -> Option<std::sync::Arc<dyn crate::Bus>> {
        None
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn direct(&self) -> Option<&SqliteWriter> {
        Some(&self.direct)
    }

    /// A group of accepted events, inserted by the writer thread (`sqlite_direct.rs`);
    /// `gather` is called once the thread takes the group.
    async fn insert_event_group(
        &self,
        gather: &mut (dyn FnMut() -> Vec<crate::NewEvent> + Send),
    ) -> crate::Result<Vec<crate::Inserted>> {
        self.direct.insert_events(gather()).await
    }

    /// The job engine's outcomes, written by the writer thread.
    async fn record_outcomes(&self, outcomes: &[crate::JobOutcome], now: i64) -> crate::Result<()> {
        self.direct.record_jobs(outcomes.to_vec(), now).await
    }

    /// Daily-cap counts, taken by the writer thread.
    async fn take_caps(&self, takes: &[crate::CapTake], now: i64) -> crate::Result<Vec<bool>> {
        self.direct.take_email_caps(takes.to_vec(), now).await
    }

    /// A processing round, applied by the writer thread (`sqlite_round.rs`).
    async fn complete_round(
        &self,
        batch: &crate::ProcessedBatch,
    ) -> crate::Result<Vec<crate::FeedItem>> {
        self.direct.complete_events(batch.clone()).await
    }

    /// The lock on `key` in this process, or `None` when it is held.
    async fn try_lock_key(&self, key: i64) -> crate::Result<Option<crate::MatchLock>> {
        let fresh = self
            .match_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
        Ok(fresh.then(|| {
            crate::MatchLock(crate::channels::MatchHold::Local(
                crate::channels::LocalKey {
                    held: self.match_locks.clone(),
                    key,
                },
            ))
        }))
    }

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

crate::shared::impl_store!(SqliteStore, sqlx::Sqlite);

mod jobs {
    use super::*;
    crate::shared_jobs::impl_job_store!(SqliteStore, sqlx::Sqlite);
}

mod user {
    use super::*;
    crate::shared_user::impl_user_store!(SqliteStore, sqlx::Sqlite);
}

mod channels {
    use super::*;
    crate::shared_channels::impl_channel_store!(SqliteStore, sqlx::Sqlite);
}

/// Creates a missing database file with mode 0600: it holds sealed secrets, API key
/// hashes and users' emails. SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(path: &std::path::Path) -> crate::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        // Another process created it meanwhile: SQLite opens it as it is.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(sqlx::Error::Io(e).into()),
    }
}
