//! Grouped bell items, the queries both backends share (see `shared.rs` for why a macro).

/// Writes a processed batch's grouped bell items inside its transaction: groups opened
/// by new items, open items that gathered more (returned, as updated feed items), and
/// the members. `$seqs` holds the notifications this transaction inserted: an op whose
/// notifications were written before (the event processed twice) is left out. What
/// another node changed since planning read it is a `Conflict`, and the round is
/// planned again.
macro_rules! write_groups {
    ($db:ty, $tx:ident, $batch:expr, $seqs:expr) => {{
        let batch: &$crate::ProcessedBatch = $batch;
        let seqs: &std::collections::HashMap<String, i64> = $seqs;
        let mut updated: Vec<$crate::FeedItem> = Vec::new();
        for op in &batch.bell_groups {
            match op {
                $crate::BellGroupOp::Open {
                    account_id,
                    user_id,
                    group_key,
                    notification_id,
                    until,
                    replaces,
                } => {
                    if !seqs.contains_key(notification_id) {
                        continue;
                    }
                    let mut q = QueryBuilder::<$db>::new(
                        "INSERT INTO bell_groups (account_id, user_id, group_key, notification_id, until_at) VALUES (",
                    );
                    let mut v = q.separated(", ");
                    v.push_bind(account_id.clone())
                        .push_bind(user_id.clone())
                        .push_bind(group_key.clone())
                        .push_bind(notification_id.clone())
                        .push_bind(*until);
                    q.push(") ON CONFLICT (account_id, user_id, group_key) ");
                    match replaces {
                        None => {
                            q.push("DO NOTHING");
                        }
                        Some(old) => {
                            q.push(
                                "DO UPDATE SET notification_id = excluded.notification_id, \
                                 until_at = excluded.until_at WHERE bell_groups.notification_id = ",
                            )
                            .push_bind(old.clone());
                        }
                    }
                    q.push(" RETURNING notification_id");
                    if q.build_sized().fetch_optional(&mut *$tx).await?.is_none() {
                        return Err($crate::StoreError::Conflict(
                            "a bell group was opened by another node".into(),
                        ));
                    }
                }
                $crate::BellGroupOp::Join {
                    notification_id,
                    expect_count,
                    count,
                    actor_ids,
                    title,
                    body,
                    carriers,
                } => {
                    if !carriers.iter().any(|c| seqs.contains_key(c)) {
                        continue;
                    }
                    let mut q = QueryBuilder::<$db>::new("UPDATE notifications SET seq = ");
                    q.push(Self::WAKE_SEQ);
                    q.push(", count = ").push_bind(*count);
                    q.push(", actor_ids = ").push_bind($crate::shared::json(actor_ids));
                    q.push(", actor_id = ").push_bind(actor_ids.first().cloned());
                    q.push(", title = ").push_bind(title.clone());
                    q.push(", body = ").push_bind(body.clone());
                    q.push(", read_at = NULL, seen_at = NULL WHERE id = ")
                        .push_bind(notification_id.clone());
                    q.push(" AND count = ").push_bind(*expect_count);
                    q.push(" RETURNING ").push($crate::shared::FEED_COLS);
                    let Some(row) = q.build_sized().fetch_optional(&mut *$tx).await? else {
                        return Err($crate::StoreError::Conflict(
                            "a grouped bell item changed on another node".into(),
                        ));
                    };
                    if let Some(counter) = Self::WAKE_COUNTER {
                        sqlx::query(counter).execute(&mut *$tx).await?;
                    }
                    let mut item = feed_item(&row)?;
                    item.updated = true;
                    updated.push(item);
                }
            }
        }
        for chunk in batch.members.chunks(CHUNK) {
            let mut q = QueryBuilder::<$db>::new(
                "INSERT INTO notification_members (notification_id, event_id, actor_id, title, body, created_at) ",
            );
            q.push_values(chunk, |mut b, m| {
                b.push_bind(m.notification_id.clone())
                    .push_bind(m.event_id.clone())
                    .push_bind(m.actor_id.clone())
                    .push_bind(m.title.clone())
                    .push_bind(m.body.clone())
                    .push_bind(m.created_at);
            });
            q.push(" ON CONFLICT (notification_id, event_id) DO NOTHING");
            q.build_sized().execute(&mut *$tx).await?;
        }
        updated
    }};
}

pub(crate) use write_groups;
