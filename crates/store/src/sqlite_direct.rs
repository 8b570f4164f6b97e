//! The writes SQLite's writer thread applies (see `sqlite_writer.rs`): accepted events,
//! job claims, email caps and job outcomes. The same statements as the shared sqlx path,
//! one row at a time: on the thread's own connection a prepared statement costs no hand-off,
//! so multi-row statements would only add parsing. SQLite binds `$N` parameters by their
//! order of appearance, not their number, so every statement here numbers them in that
//! order (`sql.rs`); one that cannot (`CLAIM_JOBS`) uses `?N`, which SQLite binds by number.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use crate::jobs::{
    CapKey, CapTake, Job, JobNext, JobOutcome, cap_asks, cap_grants, last_deliveries, upsert_cap,
    upsert_cap_counted, upsert_delivery,
};
use crate::shared::json;
use crate::sqlite_writer::SqliteWriter;
use crate::{Inserted, NewEvent, Result, SqliteStore};

/// An event as its row: the body serialized before it is queued, off the thread.
struct EventRow {
    id: String,
    account_id: String,
    kind: String,
    key: String,
    body: String,
    received_at: i64,
    request_hash: Option<String>,
}

impl SqliteWriter {
    pub(crate) async fn insert_events(&self, events: Vec<NewEvent>) -> Result<Vec<Inserted>> {
        let rows: Vec<EventRow> = events
            .into_iter()
            .map(|e| EventRow {
                key: e
                    .body
                    .idempotency_key
                    .clone()
                    .unwrap_or_else(|| e.id.clone()),
                body: json(&e.body),
                account_id: e.body.account_id,
                kind: e.body.kind,
                id: e.id,
                received_at: e.received_at,
                request_hash: e.request_hash,
            })
            .collect();
        self.write(move |conn| {
            let mut insert = conn.prepare_cached(
                "INSERT INTO events (id, account_id, type, idempotency_key, body, received_at, request_hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (account_id, idempotency_key) DO NOTHING",
            )?;
            let mut first = conn.prepare_cached(crate::sql::FIRST_OF_KEY)?;
            let mut out = Vec::with_capacity(rows.len());
            // In order, so `seq` follows the order of the group.
            for e in &rows {
                let added = insert.execute(params![
                    e.id,
                    e.account_id,
                    e.kind,
                    e.key,
                    e.body,
                    e.received_at,
                    e.request_hash
                ])?;
                if added == 1 {
                    out.push(Inserted::fresh(&e.id));
                    continue;
                }
                let (id, stored): (String, Option<String>) =
                    first.query_row(params![e.account_id, e.key], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                out.push(Inserted::duplicate(id, stored, e.request_hash.as_deref()));
            }
            Ok(out)
        })
        .await
    }

    pub(crate) async fn claim_jobs(
        &self,
        limit: i64,
        now: i64,
        lease_until: i64,
        node: &str,
    ) -> Result<Vec<Job>> {
        let node = node.to_string();
        self.write(move |conn| {
            let mut claim = conn.prepare_cached(SqliteStore::CLAIM_JOBS)?;
            let mut rows = claim.query(params![lease_until, now, limit, node])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(crate::rows::job_row(r)?);
            }
            out.sort_by_key(|j| j.run_at);
            Ok(out)
        })
        .await
    }

    pub(crate) async fn record_jobs(&self, outcomes: Vec<JobOutcome>, now: i64) -> Result<()> {
        self.write(move |conn| record_jobs(conn, &outcomes, now))
            .await
    }

    pub(crate) async fn take_email_caps(&self, takes: Vec<CapTake>, now: i64) -> Result<Vec<bool>> {
        self.write(move |conn| take_email_caps(conn, &takes, now))
            .await
    }
}

fn record_jobs(conn: &Connection, outcomes: &[JobOutcome], now: i64) -> Result<()> {
    let mut attempt = conn.prepare_cached(
        "INSERT INTO job_attempts (job_id, attempt, started_at, finished_at, outcome, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (job_id, attempt) DO NOTHING",
    )?;
    let mut done = conn.prepare_cached(
        "UPDATE jobs SET state = 'done', lease_until = NULL, locked_by = NULL, last_error = NULL, \
         updated_at = ?2 WHERE id = ?1",
    )?;
    let mut update = conn.prepare_cached(crate::sql::UPDATE_JOB)?;
    for o in outcomes {
        // The attempt log, except for jobs that waited (not tried).
        if !matches!(o.next, JobNext::Wait { .. }) {
            let a = &o.attempt;
            attempt.execute(params![
                o.job_id,
                a.attempt,
                a.started_at,
                a.finished_at,
                a.outcome,
                a.error
            ])?;
        }
        match o.next.row() {
            None => done.execute(params![o.job_id, now])?,
            Some((state, run_at, uncount)) => update.execute(params![
                state,
                run_at,
                uncount,
                o.attempt.error,
                now,
                o.job_id
            ])?,
        };
    }
    let mut delivery = conn.prepare_cached(concat!(
        "INSERT INTO deliveries (notification_id, channel, state, reason, updated_at, attempts, cap_counted) \
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
        upsert_delivery!()
    ))?;
    for d in last_deliveries(outcomes) {
        delivery.execute(params![
            d.notification_id,
            d.channel,
            d.state,
            d.reason,
            now,
            d.cap_counted
        ])?;
    }
    // The outbox: the message id is unique, so a retried send keeps one copy.
    let mut outbox = conn.prepare_cached(
        "INSERT INTO outbox (id, account_id, user_id, to_address, subject, text_body, html_body, \
         message_id, type, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
         ON CONFLICT (message_id) DO NOTHING",
    )?;
    for e in outcomes.iter().flat_map(|o| &o.outbox) {
        outbox.execute(params![
            e.id,
            e.account_id,
            e.user_id,
            e.to,
            e.subject,
            e.text,
            e.html,
            e.message_id,
            e.type_id,
            e.created_at
        ])?;
    }
    Ok(())
}

/// The daily cap (see the shared path for the arithmetic): one upsert per key, then the
/// granted deliveries marked counted.
fn take_email_caps(conn: &Connection, takes: &[CapTake], now: i64) -> Result<Vec<bool>> {
    let mut upsert = conn.prepare_cached(concat!(
        "INSERT INTO email_caps (address, type, day, count) VALUES (?1, ?2, ?3, ?4)",
        upsert_cap!(),
        "?5 RETURNING count"
    ))?;
    let mut left: HashMap<CapKey, i64> = HashMap::new();
    for a in cap_asks(takes) {
        let mut rows = upsert.query(params![a.key.0, a.key.1, a.key.2, a.want, a.cap])?;
        if let Some(r) = rows.next()? {
            let count: i64 = r.get(0)?;
            left.insert(a.key.clone(), a.fits(count));
        }
    }
    let (out, granted) = cap_grants(takes, left);
    let mut counted = conn.prepare_cached(concat!(
        "INSERT INTO deliveries (notification_id, channel, state, reason, updated_at, attempts, cap_counted) \
         VALUES (?1, 'email', 'sending', NULL, ?2, 0, TRUE)",
        upsert_cap_counted!()
    ))?;
    for id in granted {
        counted.execute(params![id, now])?;
    }
    Ok(out)
}
