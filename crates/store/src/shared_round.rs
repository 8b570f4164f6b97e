//! A processing round's rows, the queries both backends share (see `shared.rs` for why a
//! macro): decisions, new bell items, grouped items (`write_groups!`), deliveries, the
//! scheduling part (`write_schedule!`), first mentions and the events marked done.

/// Writes a processed batch inside the transaction `$tx`; `$docs` are its decisions,
/// serialized. Returns the new and the updated bell items, in `seq` order.
macro_rules! write_round {
    ($db:ty, $tx:ident, $batch:expr, $docs:expr) => {{
        let batch: &$crate::ProcessedBatch = $batch;
        let docs: &[String] = $docs;
        let sizes: Vec<usize> = docs.iter().map(|d| d.len() + 100).collect();
        for run in runs(&sizes, Self::STATEMENT_BYTES) {
            let mut q = QueryBuilder::<$db>::new(
                "INSERT INTO decisions (event_id, user_id, account_id, decisions) ",
            );
            q.push_values(
                batch.decisions[run.clone()].iter().zip(&docs[run]),
                |mut b, (d, doc)| {
                    b.push_bind(d.event_id.clone())
                        .push_bind(d.user_id.clone())
                        .push_bind(d.account_id.clone())
                        .push_bind(doc.clone());
                },
            );
            q.push(" ON CONFLICT (event_id, user_id) DO NOTHING");
            q.build_sized().execute(&mut *$tx).await?;
        }
        // Only `seq` and `id` come back: the rest of each new item is what was sent.
        let mut seqs: std::collections::HashMap<String, i64> =
            std::collections::HashMap::with_capacity(batch.notifications.len());
        let sizes: Vec<usize> = batch
            .notifications
            .iter()
            .map(|n| n.title.len() + n.body.len() + 300)
            .collect();
        for run in runs(&sizes, Self::STATEMENT_BYTES) {
            let chunk = &batch.notifications[run];
            let mut q = QueryBuilder::<$db>::new($crate::sql::NOTIFICATION_COLS);
            q.push_values(chunk, |mut b, n| {
                b.push_bind(n.id.clone())
                    .push_bind(n.account_id.clone())
                    .push_bind(n.user_id.clone())
                    .push_bind(n.dedupe_key.clone())
                    .push_bind(n.event_id.clone())
                    .push_bind(n.kind.clone())
                    .push_bind(n.section.clone())
                    .push_bind(n.title.clone())
                    .push_bind(n.body.clone())
                    .push_bind(n.url.clone())
                    .push_bind(n.count)
                    .push_bind(n.actor_id.clone())
                    .push_bind(n.popup_sound.clone())
                    .push_bind(n.browser)
                    .push_bind(n.in_feed)
                    .push_bind(n.created_at)
                    .push_bind((!n.actor_ids.is_empty()).then(|| json(&n.actor_ids)));
            });
            q.push(" ON CONFLICT (account_id, user_id, dedupe_key) DO NOTHING RETURNING seq, id");
            for r in q.build_sized().fetch_all(&mut *$tx).await? {
                seqs.insert(r.try_get("id")?, r.try_get("seq")?);
            }
        }
        let mut inserted: Vec<FeedItem> = batch
            .notifications
            .iter()
            .filter_map(|n| seqs.get(&n.id).map(|&seq| n.feed_item(seq)))
            .collect();
        let updated = $crate::shared_groups::write_groups!($db, $tx, batch, &seqs);
        inserted.extend(updated);
        inserted.sort_by_key(|i| i.seq);
        let fresh: std::collections::HashSet<&str> =
            inserted.iter().map(|i| i.id.as_str()).collect();
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
        for chunk in deliveries.chunks(CHUNK.min(Self::STATEMENT_BYTES / 80)) {
            let mut q = QueryBuilder::<$db>::new(
                "INSERT INTO deliveries (notification_id, channel, state, updated_at) ",
            );
            q.push_values(chunk, |mut b, (id, channel, state)| {
                b.push_bind(id.to_string())
                    .push_bind(channel.to_string())
                    .push_bind(state.to_string())
                    .push_bind(batch.processed_at);
            });
            q.push(" ON CONFLICT (notification_id, channel) DO NOTHING");
            q.build_sized().execute(&mut *$tx).await?;
        }
        $crate::shared_schedule::write_schedule!($db, $tx, batch, &fresh);
        // In one order on every node, so two transactions never wait on each
        // other's mentions in a cycle.
        let mut mentions = batch.mentions.clone();
        mentions.sort_unstable();
        for chunk in mentions.chunks(CHUNK) {
            let mut q = QueryBuilder::<$db>::new(
                "INSERT INTO mentions (account_id, activity_id, user_id) ",
            );
            q.push_values(chunk, |mut b, (a, act, u)| {
                b.push_bind(a.clone())
                    .push_bind(act.clone())
                    .push_bind(u.clone());
            });
            // First mention only: a mention another node wrote since this batch read
            // them means its decision is stale; nothing is written and the events
            // are processed again (the caller retries on `Conflict`).
            q.push(" ON CONFLICT (account_id, activity_id, user_id) DO NOTHING RETURNING user_id");
            let written = q.build_sized().fetch_all(&mut *$tx).await?.len();
            if written < chunk.len() {
                return Err($crate::StoreError::Conflict(
                    "a mention was written by another node".into(),
                ));
            }
        }
        for chunk in batch
            .event_ids
            .chunks(CHUNK.min(Self::STATEMENT_BYTES / 50))
        {
            let mut q = QueryBuilder::<$db>::new(
                "UPDATE events SET state = 'done', lease_until = NULL, processed_at = ",
            );
            q.push_bind(batch.processed_at).push(" WHERE id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.clone());
            }
            q.push(")");
            q.build_sized().execute(&mut *$tx).await?;
        }
        inserted
    }};
}

pub(crate) use write_round;
