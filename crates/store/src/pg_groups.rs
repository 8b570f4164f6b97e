//! PostgreSQL's grouped bell items in a processing round (`pg_round.rs`; SQLite's are in
//! `sqlite_round.rs`).

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::pg_round::column;
use crate::shared::json;
use crate::{FeedItem, ProcessedBatch, Result};

/// Writes a processed batch's grouped bell items inside its transaction: groups opened
/// by new items, open items that gathered more (returned, as updated feed items), and
/// the members. `seqs` holds the notifications this transaction inserted: an op whose
/// notifications were written before (the event processed twice) is left out. What
/// another node changed since planning read it is a `Conflict`, and the round is
/// planned again.
pub(crate) async fn write_groups(
    tx: &mut PgConnection,
    batch: &ProcessedBatch,
    seqs: &HashMap<String, i64>,
) -> Result<Vec<FeedItem>> {
    let mut updated: Vec<crate::FeedItem> = Vec::new();
    for op in batch.bell_groups.iter().filter(|op| op.applies(seqs)) {
        match op {
            crate::BellGroupOp::Open {
                account_id,
                user_id,
                group_key,
                notification_id,
                until,
                replaces,
            } => {
                let open = sqlx::query(match replaces {
                    None => crate::sql::OPEN_GROUP,
                    Some(_) => crate::sql::REPLACE_GROUP,
                })
                .bind(account_id.clone())
                .bind(user_id.clone())
                .bind(group_key.clone())
                .bind(notification_id.clone())
                .bind(*until);
                let open = match replaces {
                    None => open,
                    Some(old) => open.bind(old.clone()),
                };
                let opened = open.fetch_optional(&mut *tx).await?;
                if opened.is_none() {
                    return Err(crate::StoreError::Conflict(
                        "a bell group was opened by another node".into(),
                    ));
                }
            }
            crate::BellGroupOp::Join {
                notification_id,
                expect_count,
                count,
                actor_ids,
                title,
                body,
                ..
            } => {
                // Built from constants only.
                let join = crate::sql::join_group(crate::postgres::PgStore::WAKE_SEQ);
                let joined = sqlx::query(sqlx::AssertSqlSafe(join))
                    .bind(*count)
                    .bind(json(actor_ids))
                    .bind(actor_ids.first().cloned())
                    .bind(title.clone())
                    .bind(body.clone())
                    .bind(notification_id.clone())
                    .bind(*expect_count)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = joined else {
                    return Err(crate::StoreError::Conflict(
                        "a grouped bell item changed on another node".into(),
                    ));
                };
                let mut item = crate::rows::feed_item(&row)?;
                item.updated = true;
                updated.push(item);
            }
        }
    }
    let ms = &batch.members;
    if !ms.is_empty() {
        sqlx::query(
            "INSERT INTO notification_members (notification_id, event_id, actor_id, title, body, \
             created_at) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
             $6::bigint[]) \
             ON CONFLICT (notification_id, event_id) DO NOTHING",
        )
        .bind(column(ms, |m| m.notification_id.as_str()))
        .bind(column(ms, |m| m.event_id.as_str()))
        .bind(column(ms, |m| m.actor_id.as_deref()))
        .bind(column(ms, |m| m.title.as_str()))
        .bind(column(ms, |m| m.body.as_str()))
        .bind(column(ms, |m| m.created_at))
        .execute(&mut *tx)
        .await?;
    }
    Ok(updated)
}
