//! PostgreSQL: any number of Varsel nodes share one database. Pending events are claimed
//! with `FOR UPDATE SKIP LOCKED`, so each is processed by one node.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// The PostgreSQL implementation of [`crate::Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Match locks held at once by this node: each holds a connection while its lookup
    /// runs, so a few leave the pool to the rest.
    match_locks: std::sync::Arc<tokio::sync::Semaphore>,
}

impl PgStore {
    const BACKEND: &'static str = "postgres";

    /// Bytes of parameters per multi-row statement: no limit but the rows per statement
    /// (`CHUNK`). This needs `TCP_NODELAY` on the connection, which the vendored
    /// sqlx-core sets (vendor/README.md): without it a statement too large for one write
    /// waits ~40 ms for PostgreSQL's delayed ACK, and statements were kept under 12 KiB.
    const STATEMENT_BYTES: usize = usize::MAX;

    const CLAIM_EVENTS: &'static str = "UPDATE events SET lease_until = $1, attempts = attempts + 1 \
         WHERE seq IN (SELECT seq FROM events WHERE state = 'pending' \
         AND (lease_until IS NULL OR lease_until < $2) ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING seq, id, body, received_at, attempts";
    /// Claims are leases written under `FOR UPDATE SKIP LOCKED` (several nodes).
    /// Whether batch additions take advisory locks on their keys first.
    const LOCK_BATCH_KEYS: bool = true;
    /// A woken (un-snoozed) item's new place at the top: the identity's next value.
    const WAKE_SEQ: &'static str = "DEFAULT";
    const WAKE_COUNTER: Option<&'static str> = None;
    const CLAIM_ON_READER: bool = false;
    const FAIL_EVENT: &'static str = "UPDATE events SET lease_until = NULL, last_error = $2, \
         state = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'pending' END WHERE id = $1";

    const CLAIM_JOBS: &'static str = "UPDATE jobs SET lease_until = $1, attempts = attempts + 1, updated_at = $2, locked_by = $4 \
         WHERE id IN (SELECT id FROM jobs WHERE state = 'scheduled' AND run_at <= $2 \
         AND (lease_until IS NULL OR lease_until < $2) ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
         RETURNING *";

    /// Connects to `postgres://…` and runs the migrations.
    pub async fn open(url: &str) -> crate::Result<PgStore> {
        let opts = PgConnectOptions::from_str(url)?;
        // One connection first: a server that is down or refuses says so at once, with
        // where and why, instead of the pool's silent retries until its timeout.
        let at = format!(
            "PostgreSQL at {}:{} (database `{}`)",
            opts.get_host(),
            opts.get_port(),
            opts.get_database().unwrap_or("postgres")
        );
        match tokio::time::timeout(
            std::time::Duration::from_secs(10),
            <sqlx::PgConnection as sqlx::Connection>::connect_with(&opts),
        )
        .await
        {
            Err(_) => {
                return Err(crate::StoreError::Unreachable(format!(
                    "{at}: no answer within 10 s"
                )));
            }
            Ok(Err(e)) => return Err(crate::StoreError::Unreachable(format!("{at}: {e}"))),
            Ok(Ok(conn)) => {
                let _ = sqlx::Connection::close(conn).await;
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(PgStore {
            pool,
            match_locks: std::sync::Arc::new(tokio::sync::Semaphore::new(Self::MATCH_LOCKS)),
        })
    }

    /// The pool, for the cross-node listener.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn make_bus(&self) -> Option<std::sync::Arc<dyn crate::Bus>> {
        Some(std::sync::Arc::new(crate::bus::PgBus::new(
            self.pool.clone(),
        )))
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// Every write runs on the pool (SQLite's writer thread is SQLite's own).
    fn direct(&self) -> Option<&crate::sqlite_writer::SqliteWriter> {
        None
    }

    /// Match locks this node holds at once (of the pool's 16 connections).
    const MATCH_LOCKS: usize = 4;

    /// A transaction holding the advisory lock on `key`, or `None` when another holds it
    /// or this node holds its most locks (neither is waited for: a waiter would hold a
    /// connection meanwhile).
    async fn try_lock_key(&self, key: i64) -> crate::Result<Option<crate::MatchLock>> {
        let Ok(permit) = self.match_locks.clone().try_acquire_owned() else {
            return Ok(None);
        };
        let mut tx = self.pool.begin().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(key)
            .fetch_one(&mut *tx)
            .await?;
        if !got {
            tx.rollback().await?;
            return Ok(None);
        }
        Ok(Some(crate::MatchLock(crate::channels::MatchHold::Pg(
            tx, permit,
        ))))
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }
}

crate::shared::impl_store!(PgStore, sqlx::Postgres);

mod jobs {
    use super::*;
    crate::shared_jobs::impl_job_store!(PgStore, sqlx::Postgres);
}

mod user {
    use super::*;
    crate::shared_user::impl_user_store!(PgStore, sqlx::Postgres);
}

mod channels {
    use super::*;
    crate::shared_channels::impl_channel_store!(PgStore, sqlx::Postgres);
}
