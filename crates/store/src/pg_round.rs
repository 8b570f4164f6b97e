//! PostgreSQL's processing round (SQLite's is `sqlite_round.rs`, on its writer thread):
//! decisions, new bell items, grouped items (`pg_groups.rs`), deliveries, the scheduling
//! part (`pg_schedule.rs`), first mentions and the events marked done.
//!
//! The rows of a table go in one statement whose text does not depend on how many there
//! are (`UNNEST` of one array per column, `= ANY` of an array): PostgreSQL prepares it
//! once per connection. A multi-row `VALUES` list is a new statement for every row
//! count, and each new statement costs a round trip to prepare (and one more to close
//! the statement it pushes out of the connection's cache).

use std::collections::{HashMap, HashSet};

use sqlx::{PgConnection, Row};

use crate::shared::json;
use crate::{FeedItem, ProcessedBatch, Result};

/// One column of `rows`, bound as one array parameter (`UNNEST($n::type[])`).
pub(crate) fn column<'a, T, U>(rows: &'a [T], f: impl FnMut(&'a T) -> U) -> Vec<U> {
    rows.iter().map(f).collect()
}

/// Writes a processed batch inside the transaction `tx`; `docs` are its decisions,
/// serialized. Returns the new and the updated bell items, in `seq` order.
pub(crate) async fn write_round(
    tx: &mut PgConnection,
    batch: &ProcessedBatch,
    docs: &[String],
) -> Result<Vec<FeedItem>> {
    let d = &batch.decisions;
    if !d.is_empty() {
        sqlx::query(
            "INSERT INTO decisions (event_id, user_id, account_id, decisions) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
             ON CONFLICT (event_id, user_id) DO NOTHING",
        )
        .bind(column(d, |x| x.event_id.as_str()))
        .bind(column(d, |x| x.user_id.as_str()))
        .bind(column(d, |x| x.account_id.as_str()))
        .bind(docs)
        .execute(&mut *tx)
        .await?;
    }
    // Only `seq` and `id` come back: the rest of each new item is what was sent.
    let mut seqs: HashMap<String, i64> = HashMap::with_capacity(batch.notifications.len());
    let ns = &batch.notifications;
    if !ns.is_empty() {
        let q = sqlx::query(
            "INSERT INTO notifications (id, account_id, user_id, dedupe_key, event_id, type, \
             section, title, body, url, count, actor_id, popup_sound, browser, in_feed, \
             created_at, actor_ids) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], \
             $12::text[], $13::text[], $14::bool[], $15::bool[], $16::bigint[], $17::text[]) \
             ON CONFLICT (account_id, user_id, dedupe_key) DO NOTHING RETURNING seq, id",
        )
        .bind(column(ns, |n| n.id.as_str()))
        .bind(column(ns, |n| n.account_id.as_str()))
        .bind(column(ns, |n| n.user_id.as_str()))
        .bind(column(ns, |n| n.dedupe_key.as_str()))
        .bind(column(ns, |n| n.event_id.as_str()))
        .bind(column(ns, |n| n.kind.as_str()))
        .bind(column(ns, |n| n.section.as_str()))
        .bind(column(ns, |n| n.title.as_str()))
        .bind(column(ns, |n| n.body.as_str()))
        .bind(column(ns, |n| n.url.as_deref()))
        .bind(column(ns, |n| n.count))
        .bind(column(ns, |n| n.actor_id.as_deref()))
        .bind(column(ns, |n| n.popup_sound.as_deref()))
        .bind(column(ns, |n| n.browser))
        .bind(column(ns, |n| n.in_feed))
        .bind(column(ns, |n| n.created_at))
        .bind(column(ns, |n| {
            (!n.actor_ids.is_empty()).then(|| json(&n.actor_ids))
        }));
        for r in q.fetch_all(&mut *tx).await? {
            seqs.insert(r.try_get("id")?, r.try_get("seq")?);
        }
    }
    let mut inserted: Vec<FeedItem> = batch
        .notifications
        .iter()
        .filter_map(|n| seqs.get(&n.id).map(|&seq| n.feed_item(seq)))
        .collect();
    let updated = crate::pg_groups::write_groups(tx, batch, &seqs).await?;
    inserted.extend(updated);
    inserted.sort_by_key(|i| i.seq);
    let fresh: HashSet<&str> = inserted.iter().map(|i| i.id.as_str()).collect();
    let deliveries: Vec<(&str, &str, &str)> = batch
        .notifications
        .iter()
        .filter(|n| fresh.contains(n.id.as_str()))
        .flat_map(|n| {
            n.deliveries
                .iter()
                .map(move |(c, s)| (n.id.as_str(), c.as_str(), s.as_str()))
        })
        .collect();
    if !deliveries.is_empty() {
        sqlx::query(
            "INSERT INTO deliveries (notification_id, channel, state, updated_at) \
             SELECT n, c, s, $4 FROM UNNEST($1::text[], $2::text[], $3::text[]) AS t(n, c, s) \
             ON CONFLICT (notification_id, channel) DO NOTHING",
        )
        .bind(column(&deliveries, |x| x.0))
        .bind(column(&deliveries, |x| x.1))
        .bind(column(&deliveries, |x| x.2))
        .bind(batch.processed_at)
        .execute(&mut *tx)
        .await?;
    }
    crate::pg_schedule::write_schedule(tx, batch, &fresh).await?;
    // In one order on every node, so two transactions never wait on each
    // other's mentions in a cycle.
    let mut mentions = batch.mentions.clone();
    mentions.sort_unstable();
    if !mentions.is_empty() {
        // First mention only: a mention another node wrote since this batch read
        // them means its decision is stale; nothing is written and the events
        // are processed again (the caller retries on `Conflict`).
        let written = sqlx::query(
            "INSERT INTO mentions (account_id, activity_id, user_id) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) \
             ON CONFLICT (account_id, activity_id, user_id) DO NOTHING RETURNING user_id",
        )
        .bind(column(&mentions, |m| m.0.as_str()))
        .bind(column(&mentions, |m| m.1.as_str()))
        .bind(column(&mentions, |m| m.2.as_str()))
        .fetch_all(&mut *tx)
        .await?
        .len();
        if written < mentions.len() {
            return Err(crate::StoreError::Conflict(
                "a mention was written by another node".into(),
            ));
        }
    }
    if !batch.event_ids.is_empty() {
        sqlx::query(
            "UPDATE events SET state = 'done', lease_until = NULL, processed_at = $1 \
             WHERE id = ANY($2)",
        )
        .bind(batch.processed_at)
        .bind(&batch.event_ids)
        .execute(&mut *tx)
        .await?;
    }
    Ok(inserted)
}
