//! SQLite's one writer: a thread that owns a connection of its own (rusqlite, prepared
//! statements kept) and applies every write queued while it was busy in one transaction,
//! a cycle. The hot writes go through it (accepted events, job claims, email caps and job
//! outcomes): a cycle is one hand-off to the thread and one commit, however many
//! statements it runs, where sqlx hands every statement to its connection's worker thread
//! and back.
//!
//! Each write runs inside a savepoint of the cycle: one that fails is rolled back alone
//! and answers with its error, the others commit. A write is answered only after the
//! commit, so what it was told is durable (WAL, `synchronous=FULL`).
//!
//! The other writes still run on the sqlx writer connection. SQLite allows one writer at
//! a time, and a deferred transaction of the other connection that read before the thread
//! committed could not write at all (`SQLITE_BUSY_SNAPSHOT`). So the thread holds the
//! sqlx writer pool's one connection for the length of each cycle: the two never write
//! at once, and neither waits in SQLite's busy handler.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;
use sqlx::SqlitePool;
use tokio::sync::oneshot;

use crate::{Result, StoreError};

/// Most writes applied in one cycle.
const MAX_CYCLE: usize = 1024;

/// Answers a write once its cycle has committed (or failed to).
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A queued write.
trait Queued: Send {
    /// Runs the write on the thread's connection: whether it succeeded, and how to answer
    /// once the cycle has committed.
    fn apply(self: Box<Self>, conn: &Connection) -> (bool, Reply);
    /// Answers without running: the cycle could not start.
    fn refuse(self: Box<Self>, error: String);
}

struct Pending<F, R> {
    write: F,
    answer: oneshot::Sender<Result<R>>,
}

impl<F, R> Queued for Pending<F, R>
where
    F: FnOnce(&Connection) -> Result<R> + Send + 'static,
    R: Send + 'static,
{
    fn apply(self: Box<Self>, conn: &Connection) -> (bool, Reply) {
        let Pending { write, answer } = *self;
        let result = write(conn);
        let ok = result.is_ok();
        let reply: Reply = Box::new(move |commit| {
            let _ = answer.send(match commit {
                Ok(()) => result,
                Err(e) => Err(StoreError::Write(e)),
            });
        });
        (ok, reply)
    }

    fn refuse(self: Box<Self>, error: String) {
        let _ = self.answer.send(Err(StoreError::Write(error)));
    }
}

/// The handle to the writer thread. The thread stops when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct SqliteWriter {
    queue: mpsc::Sender<Box<dyn Queued>>,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteWriter")
    }
}

impl SqliteWriter {
    /// Opens `path` (migrated already, in WAL mode) for the thread and starts it. `gate` is
    /// the sqlx writer pool, held for each cycle.
    pub(crate) fn start(path: &Path, gate: SqlitePool) -> Result<SqliteWriter> {
        let conn = Connection::open(path)?;
        // Per connection: the durability and integrity the sqlx connections have.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Each write's savepoint keeps the pages it changes in a sub-journal: in memory,
        // never spilled to a temporary file (created and deleted within the cycle).
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Checkpoint every 16 MiB of WAL rather than 4: a page changed in many cycles is
        // copied into the database once per checkpoint, so fewer times.
        conn.pragma_update(None, "wal_autocheckpoint", 4000)?;
        conn.set_prepared_statement_cache_capacity(64);
        let runtime = tokio::runtime::Handle::current();
        let (queue, rx) = mpsc::channel::<Box<dyn Queued>>();
        std::thread::Builder::new()
            .name("varsel-sqlite-writer".into())
            .spawn(move || run(conn, rx, gate, runtime))
            .map_err(|e| StoreError::Write(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteWriter { queue })
    }

    /// Runs `write` in the next cycle and answers once the cycle has committed.
    pub(crate) async fn write<R: Send + 'static>(
        &self,
        write: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (answer, rx) = oneshot::channel();
        self.queue
            .send(Box::new(Pending { write, answer }))
            .map_err(|_| StoreError::Write("the writer thread stopped".into()))?;
        rx.await.map_err(|_| {
            StoreError::Write("the write panicked or the writer thread stopped".into())
        })?
    }
}

fn run(
    conn: Connection,
    rx: mpsc::Receiver<Box<dyn Queued>>,
    gate: SqlitePool,
    runtime: tokio::runtime::Handle,
) {
    while let Ok(first) = rx.recv() {
        let _span = tracing::debug_span!("sqlite_write_cycle").entered();
        let asked = std::time::Instant::now();
        let held = runtime.block_on(gate.acquire());
        // Taken once the gate is held: writes queued while the sqlx connection was busy
        // join this cycle.
        let mut writes = vec![first];
        while writes.len() < MAX_CYCLE {
            match rx.try_recv() {
                Ok(w) => writes.push(w),
                Err(_) => break,
            }
        }
        let held = match held {
            Ok(held) => held,
            Err(e) => {
                let e = format!("cannot hold the writer: {e}");
                tracing::error!(error = %e, "sqlite write cycle");
                for w in writes {
                    w.refuse(e.clone());
                }
                continue;
            }
        };
        let began = std::time::Instant::now();
        metrics::histogram!("varsel_sqlite_gate_wait_seconds")
            .record((began - asked).as_secs_f64());
        metrics::histogram!("varsel_sqlite_cycle_writes").record(writes.len() as f64);
        let (commit, replies) = cycle(&conn, writes);
        metrics::histogram!("varsel_sqlite_cycle_seconds").record(began.elapsed().as_secs_f64());
        // Returned to the pool by a task of the runtime (sqlx spawns it on drop).
        runtime.block_on(async move { drop(held) });
        for reply in replies {
            reply(commit.clone());
        }
    }
}

/// One transaction: each write in a savepoint, then the commit. Returns the commit's
/// outcome and the replies to give with it.
fn cycle(conn: &Connection, writes: Vec<Box<dyn Queued>>) -> (Result<(), String>, Vec<Reply>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        for w in writes {
            w.refuse(e.to_string());
        }
        return (Err(e.to_string()), Vec::new());
    }
    let mut replies = Vec::with_capacity(writes.len());
    for w in writes {
        if let Err(e) = exec(conn, "SAVEPOINT write") {
            w.refuse(e.to_string());
            continue;
        }
        // A panic drops the write's answer: its caller hears of it, the others go on.
        let (ok, reply) = std::panic::catch_unwind(AssertUnwindSafe(|| w.apply(conn)))
            .unwrap_or_else(|_| (false, Box::new(|_| ())));
        let released = if ok {
            exec(conn, "RELEASE write")
        } else {
            exec(conn, "ROLLBACK TO write").and_then(|()| exec(conn, "RELEASE write"))
        };
        if let Err(e) = released {
            tracing::error!(error = %e, "sqlite savepoint");
        }
        replies.push(reply);
    }
    let commit = exec(conn, "COMMIT").map_err(|e| {
        let _ = exec(conn, "ROLLBACK");
        e.to_string()
    });
    (commit, replies)
}

fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open() -> (tempfile::TempDir, SqlitePool, SqliteWriter) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .execute(&pool)
            .await
            .unwrap();
        let writer = SqliteWriter::start(&path, pool.clone()).unwrap();
        (dir, pool, writer)
    }

    async fn keys(pool: &SqlitePool) -> Vec<String> {
        sqlx::query_scalar("SELECT k FROM t ORDER BY k")
            .fetch_all(pool)
            .await
            .unwrap()
    }

    fn insert(conn: &Connection, k: &str) -> Result<()> {
        conn.execute("INSERT INTO t (k) VALUES (?1)", [k])?;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_write_is_undone_alone_and_the_others_of_its_cycle_commit() {
        let (_dir, pool, writer) = open().await;
        // Queued together, so they share cycles: the third writes a row, then fails.
        let writes = (0..20).map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |conn| {
                        insert(conn, &format!("k{i:02}"))?;
                        if i == 3 {
                            conn.execute("INSERT INTO missing (k) VALUES (1)", [])?;
                        }
                        Ok(i)
                    })
                    .await
            })
        });
        let results: Vec<_> = futures::future::join_all(writes).await;
        for (i, r) in results.into_iter().enumerate() {
            let r = r.unwrap();
            if i == 3 {
                assert!(r.is_err(), "a missing table fails the write");
            } else {
                assert_eq!(r.unwrap(), i);
            }
        }
        let kept = keys(&pool).await;
        assert_eq!(kept.len(), 19);
        assert!(
            !kept.contains(&"k03".to_string()),
            "k03 was rolled back with its write"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_answers_with_an_error_and_the_writer_goes_on() {
        let (_dir, pool, writer) = open().await;
        let failed = writer
            .write(|conn| -> Result<()> {
                insert(conn, "half")?;
                panic!("a bug in a write");
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Write(_))));
        writer.write(|conn| insert(conn, "next")).await.unwrap();
        assert_eq!(keys(&pool).await, ["next"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_other_connection_writes_between_cycles_without_waiting_on_sqlite() {
        let (_dir, pool, writer) = open().await;
        // A deferred transaction of the sqlx connection that reads, then writes, while the
        // thread writes: the gate keeps them apart, so neither is refused as busy.
        let thread_writes = (0..50).map(|i| {
            let writer = writer.clone();
            tokio::spawn(async move { writer.write(move |c| insert(c, &format!("w{i:02}"))).await })
        });
        let pool_writes = (0..50).map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut tx = pool.begin().await?;
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO t (k) VALUES (?1)")
                    .bind(format!("p{i:02}-{}", n >= 0))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            })
        });
        for r in futures::future::join_all(thread_writes).await {
            r.unwrap().unwrap();
        }
        for r in futures::future::join_all(pool_writes).await {
            r.unwrap().unwrap();
        }
        assert_eq!(keys(&pool).await.len(), 100);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_that_fails_answers_every_write_of_its_cycle_and_keeps_none() {
        let (_dir, pool, writer) = open().await;
        // A deferred foreign key is checked at COMMIT: the cycle's commit fails.
        sqlx::query("CREATE TABLE child (k TEXT REFERENCES t (k) DEFERRABLE INITIALLY DEFERRED)")
            .execute(&pool)
            .await
            .unwrap();
        let orphan = writer.clone();
        let good = writer.clone();
        // Queued together, so in one cycle (the first can only run once the gate is free).
        let held = pool.acquire().await.unwrap();
        let a = tokio::spawn(async move {
            orphan
                .write(|conn| {
                    conn.execute("INSERT INTO child (k) VALUES ('nobody')", [])?;
                    Ok(())
                })
                .await
        });
        let b = tokio::spawn(async move { good.write(|conn| insert(conn, "kept?")).await });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(held);
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert!(matches!(a, Err(StoreError::Write(_))), "{a:?}");
        assert!(matches!(b, Err(StoreError::Write(_))), "{b:?}");
        assert!(keys(&pool).await.is_empty(), "nothing of the cycle is kept");
        // The thread goes on with the next cycle.
        writer.write(|conn| insert(conn, "next")).await.unwrap();
        assert_eq!(keys(&pool).await, ["next"]);
    }
}
