//! The scheduling part of PostgreSQL's processing round (`pg_round.rs`; SQLite's is in
//! `sqlite_round.rs`).

use std::collections::HashSet;

use sqlx::{PgConnection, Row};

use crate::pg_round::column;
use crate::shared::json;
use crate::{NewJob, ProcessedBatch, Result};

/// Writes the scheduling part of a processed batch inside its transaction: withdrawals,
/// batch additions (opening a batch and its firing job when none is open), jobs, links
/// and closed batches.
pub(crate) async fn write_schedule(
    tx: &mut PgConnection,
    batch: &ProcessedBatch,
    fresh: &HashSet<&str>,
) -> Result<()> {
    // Nodes adding to the same batches at once take them in one order (transaction
    // advisory locks on the batch keys, sorted), so two transactions never wait for
    // each other's batches in a cycle.
    let mut keys: Vec<i64> = batch
        .batch_ops
        .iter()
        .filter_map(|op| match op {
            crate::BatchOp::Add(a) => Some(a.lock_key()),
            crate::BatchOp::Withdraw(_) => None,
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if !keys.is_empty() {
        sqlx::query("SELECT pg_advisory_xact_lock(k) FROM UNNEST($1::bigint[]) AS v(k) ORDER BY k")
            .bind(&keys)
            .execute(&mut *tx)
            .await?;
    }
    for op in &batch.batch_ops {
        match op {
            crate::BatchOp::Withdraw(w) => {
                sqlx::query(crate::sql::WITHDRAW)
                    .bind(w.now)
                    .bind(w.account_id.clone())
                    .bind(w.object_id.clone())
                    .bind(w.type_id.clone())
                    .bind(w.keep_user.clone())
                    .execute(&mut *tx)
                    .await?;
            }
            crate::BatchOp::Add(a) => {
                // One open batch per key, enforced by `batches_one_open`: a batch past its due
                // time is sealed first; then the open batch is taken (its row locked until this
                // transaction ends, so a firing node waits for the item), or one is opened. An
                // insert that loses to another node's opens nothing, and the next pass takes theirs.
                with_key(sqlx::query(crate::sql::SEAL_DUE_BATCH), a)
                    .bind(a.now)
                    .execute(&mut *tx)
                    .await?;
                let mut taken = None;
                for _ in 0..3 {
                    let open = with_key(sqlx::query(crate::sql::TAKE_OPEN_BATCH), a)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(r) = open {
                        let id: String = r.try_get("id")?;
                        let size: i64 = r.try_get("size")?;
                        let max: i64 = r.try_get("max_items")?;
                        taken = Some((id, size, max));
                        break;
                    }
                    let id = format!("bat_{}", ulid::Ulid::new());
                    let opened = sqlx::query(crate::sql::OPEN_BATCH)
                        .bind(id.clone())
                        .bind(a.kind.as_str())
                        .bind(a.account_id.clone())
                        .bind(a.user_id.clone())
                        .bind(a.type_id.clone())
                        .bind(a.group_key.clone())
                        .bind(a.opened_due())
                        .bind(a.max_items)
                        .bind(a.now)
                        .execute(&mut *tx)
                        .await?;
                    if opened.rows_affected() > 0 {
                        let j = a.firing_job(&id);
                        sqlx::query(crate::sql::INSERT_JOB)
                            .bind(j.id)
                            .bind(j.kind.as_str())
                            .bind(j.dedupe_key)
                            .bind(j.account_id)
                            .bind(json(&j.payload))
                            .bind(j.run_at)
                            .bind(a.now)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                let Some((batch_id, size, max)) = taken else {
                    return Err(crate::StoreError::Conflict(
                        "no open batch could be taken".into(),
                    ));
                };
                let added = sqlx::query(crate::sql::ADD_BATCH_ITEM)
                    .bind(batch_id.clone())
                    .bind(a.event_id.clone())
                    .bind(a.account_id.clone())
                    .bind(a.object_id.clone())
                    .bind(json(&a.item))
                    .bind(a.now)
                    .execute(&mut *tx)
                    .await?;
                if added.rows_affected() == 0 {
                    // The event was processed before (a retry): its item is already counted.
                    sqlx::query(crate::sql::UNCOUNT_BATCH_ITEM)
                        .bind(batch_id.clone())
                        .execute(&mut *tx)
                        .await?;
                } else if size >= max {
                    // Full: sealed, and fired now.
                    sqlx::query(crate::sql::SEAL_BATCH)
                        .bind(batch_id.clone())
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(crate::sql::FIRE_BATCH_NOW)
                        .bind(a.now)
                        .bind(format!("batch:{batch_id}"))
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
    }
    insert_jobs(tx, &batch.jobs, batch.processed_at).await?;
    let links: Vec<&(String, String)> = batch
        .links
        .iter()
        .filter(|(_, n)| fresh.contains(n.as_str()))
        .collect();
    if !links.is_empty() {
        sqlx::query(
            "INSERT INTO notification_events (event_id, notification_id) \
                 SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(column(&links, |(e, _)| e.as_str()))
        .bind(column(&links, |(_, n)| n.as_str()))
        .execute(&mut *tx)
        .await?;
    }
    for (id, state) in &batch.close_batches {
        sqlx::query(crate::sql::CLOSE_BATCH)
            .bind(state.clone())
            .bind(id.clone())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Enqueues jobs in one statement, skipping dedupe keys that exist.
async fn insert_jobs(tx: &mut PgConnection, jobs: &[NewJob], now: i64) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO jobs (id, kind, dedupe_key, account_id, payload, run_at, created_at, updated_at) \
         SELECT i, k, d, a, p, r, $7, $7 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
         AS t(i, k, d, a, p, r) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(column(jobs, |j| j.id.as_str()))
    .bind(column(jobs, |j| j.kind.as_str()))
    .bind(column(jobs, |j| j.dedupe_key.as_str()))
    .bind(column(jobs, |j| j.account_id.as_deref()))
    .bind(column(jobs, |j| json(&j.payload)))
    .bind(column(jobs, |j| j.run_at))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Binds a batch's key, `$1`–`$5` of the batch statements: kind, account, user, type and
/// group.
fn with_key<'q>(q: PgQuery<'q>, a: &crate::BatchAdd) -> PgQuery<'q> {
    q.bind(a.kind.as_str())
        .bind(a.account_id.clone())
        .bind(a.user_id.clone())
        .bind(a.type_id.clone())
        .bind(a.group_key.clone())
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;
