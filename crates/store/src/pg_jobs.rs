//! PostgreSQL's side of the job engine's group commits (SQLite's run on its writer thread,
//! `sqlite_direct.rs`): each table's rows in one statement whose text does not depend on
//! the row count (`UNNEST`, `= ANY`), so it stays prepared (see `pg_round.rs`).

use std::collections::HashMap;

use sqlx::{PgPool, Row};

use crate::Result;
use crate::jobs::{
    CapAsk, CapKey, CapTake, JobNext, JobOutcome, OutboxEmail, cap_asks, cap_grants,
    last_deliveries, upsert_cap, upsert_cap_counted, upsert_delivery,
};
use crate::pg_round::column;

/// Writes the outcomes of the jobs that finished meanwhile in one transaction: the
/// attempt log, the jobs' next states, their deliveries' states and the outbox.
pub(crate) async fn record_jobs(pool: &PgPool, outcomes: &[JobOutcome], now: i64) -> Result<()> {
    let mut tx = pool.begin().await?;
    // The attempt log, except for jobs that waited (not tried).
    let tried: Vec<&JobOutcome> = outcomes
        .iter()
        .filter(|o| !matches!(o.next, JobNext::Wait { .. }))
        .collect();
    if !tried.is_empty() {
        sqlx::query(
            "INSERT INTO job_attempts (job_id, attempt, started_at, finished_at, outcome, error) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[]) \
             ON CONFLICT (job_id, attempt) DO NOTHING",
        )
        .bind(column(&tried, |o| o.job_id.as_str()))
        .bind(column(&tried, |o| o.attempt.attempt))
        .bind(column(&tried, |o| o.attempt.started_at))
        .bind(column(&tried, |o| o.attempt.finished_at))
        .bind(column(&tried, |o| o.attempt.outcome.as_str()))
        .bind(column(&tried, |o| o.attempt.error.as_deref()))
        .execute(&mut *tx)
        .await?;
    }
    // Done jobs together; the others one by one (they are few).
    let done: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.next == JobNext::Done)
        .map(|o| o.job_id.as_str())
        .collect();
    if !done.is_empty() {
        sqlx::query(
            "UPDATE jobs SET state = 'done', lease_until = NULL, locked_by = NULL, last_error = NULL, \
             updated_at = $1 WHERE id = ANY($2)",
        )
        .bind(now)
        .bind(&done)
        .execute(&mut *tx)
        .await?;
    }
    for o in outcomes {
        let Some((state, run_at, uncount)) = o.next.row() else {
            continue;
        };
        sqlx::query(crate::sql::UPDATE_JOB)
            .bind(state)
            .bind(run_at)
            .bind(uncount)
            .bind(o.attempt.error.clone())
            .bind(now)
            .bind(o.job_id.clone())
            .execute(&mut *tx)
            .await?;
    }
    let updates = last_deliveries(outcomes);
    if !updates.is_empty() {
        sqlx::query(concat!(
            "INSERT INTO deliveries (notification_id, channel, state, reason, updated_at, attempts, cap_counted) \
             SELECT n, c, s, r, $5, 1, k FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $6::bool[]) \
             AS t(n, c, s, r, k)",
            upsert_delivery!()
        ))
        .bind(column(&updates, |d| d.notification_id.as_str()))
        .bind(column(&updates, |d| d.channel.as_str()))
        .bind(column(&updates, |d| d.state.as_str()))
        .bind(column(&updates, |d| d.reason.as_deref()))
        .bind(now)
        .bind(column(&updates, |d| d.cap_counted))
        .execute(&mut *tx)
        .await?;
    }
    // The outbox: the message id is unique, so a retried send keeps one copy.
    let mail: Vec<&OutboxEmail> = outcomes.iter().flat_map(|o| &o.outbox).collect();
    if !mail.is_empty() {
        sqlx::query(
            "INSERT INTO outbox (id, account_id, user_id, to_address, subject, text_body, html_body, \
             message_id, type, created_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::bigint[]) \
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(column(&mail, |e| e.id.as_str()))
        .bind(column(&mail, |e| e.account_id.as_str()))
        .bind(column(&mail, |e| e.user_id.as_str()))
        .bind(column(&mail, |e| e.to.as_str()))
        .bind(column(&mail, |e| e.subject.as_str()))
        .bind(column(&mail, |e| e.text.as_str()))
        .bind(column(&mail, |e| e.html.as_str()))
        .bind(column(&mail, |e| e.message_id.as_str()))
        .bind(column(&mail, |e| e.type_id.as_str()))
        .bind(column(&mail, |e| e.created_at))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Counts a group of emails toward their daily caps; `true` for each that fits.
///
/// One upsert for the whole group: each (address, type, day) asks for its n emails at
/// once. The row is locked while it is updated, so nodes never pass the cap together:
/// with `count` after the update, n - (count - cap) of the n fit when it went past, all n
/// when it did not, none when the row was full before (no row comes back). `count` may
/// end above the cap by the part that did not fit; what is sent never does.
pub(crate) async fn take_email_caps(
    pool: &PgPool,
    takes: &[CapTake],
    now: i64,
) -> Result<Vec<bool>> {
    let asks = cap_asks(takes);
    let at: HashMap<&CapKey, &CapAsk> = asks.iter().map(|a| (&a.key, a)).collect();
    let mut tx = pool.begin().await?;
    let mut left: HashMap<CapKey, i64> = HashMap::new();
    // The cap is per configuration, the same for every row of a group.
    let cap = asks.first().map_or(0, |a| a.cap);
    let rows = sqlx::query(concat!(
        "INSERT INTO email_caps (address, type, day, count) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[])",
        upsert_cap!(),
        "$5 RETURNING address, type, day, count"
    ))
    .bind(column(&asks, |a| a.key.0.as_str()))
    .bind(column(&asks, |a| a.key.1.as_str()))
    .bind(column(&asks, |a| a.key.2.as_str()))
    .bind(column(&asks, |a| a.want))
    .bind(cap)
    .fetch_all(&mut *tx)
    .await?;
    for r in rows {
        let k: CapKey = (r.try_get("address")?, r.try_get("type")?, r.try_get("day")?);
        let count: i64 = r.try_get("count")?;
        if let Some(a) = at.get(&k) {
            left.insert(k, a.fits(count));
        }
    }
    let (out, granted) = cap_grants(takes, left);
    if !granted.is_empty() {
        sqlx::query(concat!(
            "INSERT INTO deliveries (notification_id, channel, state, reason, updated_at, attempts, cap_counted) \
             SELECT n, 'email', 'sending', NULL, $2, 0, TRUE FROM UNNEST($1::text[]) AS t(n)",
            upsert_cap_counted!()
        ))
        .bind(&granted)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(out)
}
