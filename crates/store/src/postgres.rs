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
    /// A woken (un-snoozed) item's new place at the top: the identity's next value.
    pub(crate) const WAKE_SEQ: &'static str = "DEFAULT";
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

mod round {
    use super::*;
    use crate::pg_round::column;

    impl PgStore {
        /// A group of accepted events in one transaction and one statement; `gather` is
        /// called once the transaction has its connection, so requests that arrived
        /// meanwhile join the group. Rows go in the group's order, so `seq` follows it.
        pub(super) async fn insert_event_group(
            &self,
            gather: &mut (dyn FnMut() -> Vec<NewEvent> + Send),
        ) -> Result<Vec<Inserted>> {
            let mut tx = self.pool.begin().await?;
            let events = gather();
            let key = |e: &NewEvent| {
                e.body
                    .idempotency_key
                    .clone()
                    .unwrap_or_else(|| e.id.clone())
            };
            let rows = sqlx::query(
                "INSERT INTO events (id, account_id, type, idempotency_key, body, received_at, request_hash) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                 $6::bigint[], $7::text[]) \
                 ON CONFLICT (account_id, idempotency_key) DO NOTHING RETURNING id",
            )
            .bind(column(&events, |e| e.id.as_str()))
            .bind(column(&events, |e| e.body.account_id.as_str()))
            .bind(column(&events, |e| e.body.kind.as_str()))
            .bind(column(&events, key))
            .bind(column(&events, |e| json(&e.body)))
            .bind(column(&events, |e| e.received_at))
            .bind(column(&events, |e| e.request_hash.as_deref()))
            .fetch_all(&mut *tx)
            .await?;
            let mut fresh = std::collections::HashSet::with_capacity(rows.len());
            for r in rows {
                fresh.insert(r.try_get::<String, _>("id")?);
            }
            let mut out = Vec::with_capacity(events.len());
            for e in &events {
                if fresh.contains(&e.id) {
                    out.push(Inserted::fresh(&e.id));
                } else {
                    let first = sqlx::query(crate::sql::FIRST_OF_KEY)
                        .bind(e.body.account_id.clone())
                        .bind(key(e))
                        .fetch_one(&mut *tx)
                        .await?;
                    out.push(Inserted::duplicate(
                        first.try_get("id")?,
                        first.try_get("request_hash")?,
                        e.request_hash.as_deref(),
                    ));
                }
            }
            tx.commit().await?;
            Ok(out)
        }

        /// The job engine's outcomes in one transaction (`pg_jobs.rs`).
        pub(super) async fn record_outcomes(
            &self,
            outcomes: &[crate::JobOutcome],
            now: i64,
        ) -> Result<()> {
            crate::pg_jobs::record_jobs(&self.pool, outcomes, now).await
        }

        /// Daily-cap counts in one transaction (`pg_jobs.rs`).
        pub(super) async fn take_caps(
            &self,
            takes: &[crate::CapTake],
            now: i64,
        ) -> Result<Vec<bool>> {
            crate::pg_jobs::take_email_caps(&self.pool, takes, now).await
        }

        /// A processing round in one transaction (`pg_round.rs`).
        pub(super) async fn complete_round(&self, batch: &ProcessedBatch) -> Result<Vec<FeedItem>> {
            // Serialized before the transaction: the connection is held only for the SQL.
            let docs: Vec<String> = batch.decisions.iter().map(|d| json(&d.decisions)).collect();
            let mut tx = self.pool.begin().await?;
            let inserted = crate::pg_round::write_round(&mut tx, batch, &docs).await?;
            tx.commit().await?;
            Ok(inserted)
        }
    }
}

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
