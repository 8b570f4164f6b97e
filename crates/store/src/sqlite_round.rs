//! A processing round's writes on SQLite's writer thread (see `sqlite_writer.rs`): the same
//! rows as PostgreSQL's round (`pg_round.rs`, `pg_groups.rs`,
//! `pg_schedule.rs`), one statement per row, the single-row statements taken from `sql.rs`.
//! One process owns the file, so none of the other nodes' races the shared path guards
//! against can happen here; the checks stay, as they cost nothing.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, OptionalExtension, params};

use crate::jobs::{BatchAdd, BatchOp, NewJob};
use crate::shared::json;
use crate::sql;
use crate::sqlite_writer::SqliteWriter;
use crate::{BellGroupOp, FeedItem, ProcessedBatch, Result, SqliteStore, StoreError};

impl SqliteWriter {
    pub(crate) async fn complete_events(&self, batch: ProcessedBatch) -> Result<Vec<FeedItem>> {
        // Serialized before the write is queued: the thread is held only for the SQL.
        let docs: Vec<String> = batch.decisions.iter().map(|d| json(&d.decisions)).collect();
        self.write(move |conn| complete_events(conn, &batch, &docs))
            .await
    }
}

fn complete_events(
    conn: &Connection,
    batch: &ProcessedBatch,
    docs: &[String],
) -> Result<Vec<FeedItem>> {
    let mut decision = conn.prepare_cached(
        "INSERT INTO decisions (event_id, user_id, account_id, decisions) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (event_id, user_id) DO NOTHING",
    )?;
    for (d, doc) in batch.decisions.iter().zip(docs) {
        decision.execute(params![d.event_id, d.user_id, d.account_id, doc])?;
    }
    let mut notification = conn.prepare_cached(&format!(
        "{}VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (account_id, user_id, dedupe_key) DO NOTHING RETURNING seq",
        sql::NOTIFICATION_COLS
    ))?;
    let mut seqs: HashMap<String, i64> = HashMap::with_capacity(batch.notifications.len());
    let mut inserted: Vec<FeedItem> = Vec::with_capacity(batch.notifications.len());
    for n in &batch.notifications {
        let actor_ids = (!n.actor_ids.is_empty()).then(|| json(&n.actor_ids));
        let seq: Option<i64> = notification
            .query_row(
                params![
                    n.id,
                    n.account_id,
                    n.user_id,
                    n.dedupe_key,
                    n.event_id,
                    n.kind,
                    n.section,
                    n.title,
                    n.body,
                    n.url,
                    n.count,
                    n.actor_id,
                    n.popup_sound,
                    n.browser,
                    n.in_feed,
                    n.created_at,
                    actor_ids
                ],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(seq) = seq {
            seqs.insert(n.id.clone(), seq);
            inserted.push(n.feed_item(seq));
        }
    }
    inserted.extend(write_groups(conn, batch, &seqs)?);
    inserted.sort_by_key(|i| i.seq);
    let fresh: HashSet<&str> = inserted.iter().map(|i| i.id.as_str()).collect();
    let mut delivery = conn.prepare_cached(
        "INSERT INTO deliveries (notification_id, channel, state, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (notification_id, channel) DO NOTHING",
    )?;
    for n in batch
        .notifications
        .iter()
        .filter(|n| fresh.contains(n.id.as_str()))
    {
        for (channel, state) in &n.deliveries {
            delivery.execute(params![n.id, channel, state, batch.processed_at])?;
        }
    }
    write_schedule(conn, batch, &fresh)?;
    let mut mention = conn.prepare_cached(
        "INSERT INTO mentions (account_id, activity_id, user_id) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id, activity_id, user_id) DO NOTHING",
    )?;
    for (account, activity, user) in &batch.mentions {
        // First mention only: one already written means the decision is stale.
        if mention.execute(params![account, activity, user])? == 0 {
            return Err(StoreError::Conflict(
                "a mention was written meanwhile".into(),
            ));
        }
    }
    let mut done = conn.prepare_cached(
        "UPDATE events SET state = 'done', lease_until = NULL, processed_at = $1 WHERE id = $2",
    )?;
    for id in &batch.event_ids {
        done.execute(params![batch.processed_at, id])?;
    }
    Ok(inserted)
}

/// Grouped bell items: see `pg_groups.rs`. Returns the items that gathered more.
fn write_groups(
    conn: &Connection,
    batch: &ProcessedBatch,
    seqs: &HashMap<String, i64>,
) -> Result<Vec<FeedItem>> {
    let mut updated = Vec::new();
    for op in batch.bell_groups.iter().filter(|op| op.applies(seqs)) {
        match op {
            BellGroupOp::Open {
                account_id,
                user_id,
                group_key,
                notification_id,
                until,
                replaces,
            } => {
                let opened = match replaces {
                    None => conn.prepare_cached(sql::OPEN_GROUP)?.exists(params![
                        account_id,
                        user_id,
                        group_key,
                        notification_id,
                        until
                    ])?,
                    Some(old) => conn.prepare_cached(sql::REPLACE_GROUP)?.exists(params![
                        account_id,
                        user_id,
                        group_key,
                        notification_id,
                        until,
                        old
                    ])?,
                };
                if !opened {
                    return Err(StoreError::Conflict(
                        "a bell group was opened meanwhile".into(),
                    ));
                }
            }
            BellGroupOp::Join {
                notification_id,
                expect_count,
                count,
                actor_ids,
                title,
                body,
                ..
            } => {
                let mut join = conn.prepare_cached(&sql::join_group(SqliteStore::WAKE_SEQ))?;
                let mut rows = join.query(params![
                    count,
                    json(actor_ids),
                    actor_ids.first(),
                    title,
                    body,
                    notification_id,
                    expect_count
                ])?;
                let Some(row) = rows.next()? else {
                    return Err(StoreError::Conflict(
                        "a grouped bell item changed meanwhile".into(),
                    ));
                };
                let mut item = crate::rows::feed_item(row)?;
                drop(rows);
                if let Some(counter) = SqliteStore::WAKE_COUNTER {
                    conn.prepare_cached(counter)?.execute([])?;
                }
                item.updated = true;
                updated.push(item);
            }
        }
    }
    let mut member = conn.prepare_cached(
        "INSERT INTO notification_members (notification_id, event_id, actor_id, title, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (notification_id, event_id) DO NOTHING",
    )?;
    for m in &batch.members {
        member.execute(params![
            m.notification_id,
            m.event_id,
            m.actor_id,
            m.title,
            m.body,
            m.created_at
        ])?;
    }
    Ok(updated)
}

/// The scheduling part: see `pg_schedule.rs`.
fn write_schedule(conn: &Connection, batch: &ProcessedBatch, fresh: &HashSet<&str>) -> Result<()> {
    for op in &batch.batch_ops {
        match op {
            BatchOp::Withdraw(w) => {
                conn.prepare_cached(sql::WITHDRAW)?.execute(params![
                    w.now,
                    w.account_id,
                    w.object_id,
                    w.type_id,
                    w.keep_user
                ])?;
            }
            BatchOp::Add(a) => add_to_batch(conn, a)?,
        }
    }
    for j in &batch.jobs {
        insert_job(conn, j, batch.processed_at)?;
    }
    let mut link = conn.prepare_cached(
        "INSERT INTO notification_events (event_id, notification_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )?;
    for (event_id, ntf) in batch
        .links
        .iter()
        .filter(|(_, n)| fresh.contains(n.as_str()))
    {
        link.execute(params![event_id, ntf])?;
    }
    let mut close = conn.prepare_cached(sql::CLOSE_BATCH)?;
    for (id, state) in &batch.close_batches {
        close.execute(params![state, id])?;
    }
    Ok(())
}

/// Adds an event to its key's open batch, opening one (and its firing job) when none is.
fn add_to_batch(conn: &Connection, a: &BatchAdd) -> Result<()> {
    let key = params![
        a.kind.as_str(),
        a.account_id,
        a.user_id,
        a.type_id,
        a.group_key
    ];
    conn.prepare_cached(sql::SEAL_DUE_BATCH)?.execute(params![
        a.kind.as_str(),
        a.account_id,
        a.user_id,
        a.type_id,
        a.group_key,
        a.now
    ])?;
    let mut take = conn.prepare_cached(sql::TAKE_OPEN_BATCH)?;
    let taken = match take
        .query_row(key, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .optional()?
    {
        Some(t) => t,
        None => {
            let id = format!("bat_{}", ulid::Ulid::new());
            conn.prepare_cached(sql::OPEN_BATCH)?.execute(params![
                id,
                a.kind.as_str(),
                a.account_id,
                a.user_id,
                a.type_id,
                a.group_key,
                a.opened_due(),
                a.max_items,
                a.now
            ])?;
            insert_job(conn, &a.firing_job(&id), a.now)?;
            take.query_row(key, |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        }
    };
    let (batch_id, size, max) = taken;
    let added = conn.prepare_cached(sql::ADD_BATCH_ITEM)?.execute(params![
        batch_id,
        a.event_id,
        a.account_id,
        a.object_id,
        json(&a.item),
        a.now
    ])?;
    if added == 0 {
        // The event was processed before (a retry): its item is already counted.
        conn.prepare_cached(sql::UNCOUNT_BATCH_ITEM)?
            .execute(params![batch_id])?;
    } else if size >= max {
        // Full: sealed, and fired now.
        conn.prepare_cached(sql::SEAL_BATCH)?
            .execute(params![batch_id])?;
        conn.prepare_cached(sql::FIRE_BATCH_NOW)?
            .execute(params![a.now, format!("batch:{batch_id}")])?;
    }
    Ok(())
}

pub(crate) fn insert_job(conn: &Connection, j: &NewJob, now: i64) -> Result<()> {
    conn.prepare_cached(sql::INSERT_JOB)?.execute(params![
        j.id,
        j.kind.as_str(),
        j.dedupe_key,
        j.account_id,
        json(&j.payload),
        j.run_at,
        now
    ])?;
    Ok(())
}
