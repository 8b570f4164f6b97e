//! The scheduling queries both backends share (see `shared.rs` for why a macro).

/// Writes the scheduling part of a processed batch inside its transaction: withdrawals,
/// batch additions (opening a batch and its firing job when none is open), jobs, links
/// and closed batches.
macro_rules! write_schedule {
    ($db:ty, $tx:ident, $batch:expr, $fresh:expr) => {{
        let batch: &$crate::ProcessedBatch = $batch;
        for op in &batch.batch_ops {
            match op {
                $crate::BatchOp::Withdraw(w) => {
            sqlx::query(
                "UPDATE batch_items SET withdrawn_at = $1 WHERE account_id = $2 AND object_id = $3 \
                 AND withdrawn_at IS NULL AND batch_id IN (SELECT id FROM batches WHERE state = 'open' \
                 AND kind = 'assign' AND account_id = $2 AND type = $4 AND user_id <> $5)",
            )
            .bind(w.now)
            .bind(w.account_id.clone())
            .bind(w.object_id.clone())
            .bind(w.type_id.clone())
            .bind(w.keep_user.clone())
            .execute(&mut *$tx)
            .await?;
                }
                $crate::BatchOp::Add(a) => {
            let open = sqlx::query(
                "SELECT id, size, max_items FROM batches WHERE state = 'open' AND kind = $1 AND account_id = $2 \
                 AND user_id = $3 AND type = $4 AND group_key = $5 AND due_at > $6 AND size < max_items \
                 ORDER BY due_at LIMIT 1",
            )
            .bind(a.kind.clone())
            .bind(a.account_id.clone())
            .bind(a.user_id.clone())
            .bind(a.type_id.clone())
            .bind(a.group_key.clone())
            .bind(a.now)
            .fetch_optional(&mut *$tx)
            .await?;
            let batch_id = match open {
                Some(r) => {
                    let id: String = r.try_get("id")?;
                    let size: i64 = r.try_get("size")?;
                    let max: i64 = r.try_get("max_items")?;
                    if size + 1 >= max {
                        // Full: fire now.
                        sqlx::query("UPDATE jobs SET run_at = $1 WHERE dedupe_key = $2 AND state = 'scheduled'")
                            .bind(a.now)
                            .bind(format!("batch:{id}"))
                            .execute(&mut *$tx)
                            .await?;
                    }
                    id
                }
                None => {
                    let id = format!("bat_{}", ulid::Ulid::new());
                    let due = if a.max_items <= 1 { a.now } else { a.due_at };
                    sqlx::query(
                        "INSERT INTO batches (id, kind, account_id, user_id, type, group_key, due_at, max_items, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(id.clone())
                    .bind(a.kind.clone())
                    .bind(a.account_id.clone())
                    .bind(a.user_id.clone())
                    .bind(a.type_id.clone())
                    .bind(a.group_key.clone())
                    .bind(due)
                    .bind(a.max_items)
                    .bind(a.now)
                    .execute(&mut *$tx)
                    .await?;
                    insert_job(
                        &mut *$tx,
                        &$crate::NewJob {
                            id: format!("job_{}", ulid::Ulid::new()),
                            kind: "batch".into(),
                            dedupe_key: format!("batch:{id}"),
                            account_id: Some(a.account_id.clone()),
                            payload: serde_json::json!({ "batch_id": id }),
                            run_at: due,
                        },
                        a.now,
                    )
                    .await?;
                    id
                }
            };
            let added = sqlx::query(
                "INSERT INTO batch_items (batch_id, event_id, account_id, object_id, item, added_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (batch_id, event_id) DO NOTHING",
            )
            .bind(batch_id.clone())
            .bind(a.event_id.clone())
            .bind(a.account_id.clone())
            .bind(a.object_id.clone())
            .bind(json(&a.item))
            .bind(a.now)
            .execute(&mut *$tx)
            .await?;
            if added.rows_affected() > 0 {
                sqlx::query("UPDATE batches SET size = size + 1 WHERE id = $1")
                    .bind(batch_id)
                    .execute(&mut *$tx)
                    .await?;
            }
                }
            }
        }
        for j in &batch.jobs {
            insert_job(&mut *$tx, j, batch.processed_at).await?;
        }
        let fresh: &std::collections::HashSet<&str> = $fresh;
        for (event_id, ntf) in batch.links.iter().filter(|(_, n)| fresh.contains(n.as_str())) {
            sqlx::query(
                "INSERT INTO notification_events (event_id, notification_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(event_id.clone())
            .bind(ntf.clone())
            .execute(&mut *$tx)
            .await?;
        }
        for (id, state) in &batch.close_batches {
            sqlx::query("UPDATE batches SET state = $2 WHERE id = $1 AND state = 'open'")
                .bind(id.clone())
                .bind(state.clone())
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

macro_rules! impl_job_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use sqlx::{QueryBuilder, Row};
        use varsel_core::model::User;
        use varsel_core::prefs::PrefLayer;

        use $crate::jobs::{
            Batch, BatchItem, Delivery, Job, JobAttempt, JobNext, JobStore, NewJob, OutboxEmail,
        };
        use $crate::shared::{CHUNK, FEED_COLS};
        use $crate::{FeedItem, Result};
        use super::feed_item;

        type DbRow = <$db as sqlx::Database>::Row;

        fn job_row(r: &DbRow) -> Result<Job> {
            Ok(Job {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                dedupe_key: r.try_get("dedupe_key")?,
                account_id: r.try_get("account_id")?,
                payload: serde_json::from_str(&r.try_get::<String, _>("payload")?)?,
                run_at: r.try_get("run_at")?,
                state: r.try_get("state")?,
                attempts: r.try_get("attempts")?,
                last_error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn delivery_row(r: &DbRow) -> Result<Delivery> {
            Ok(Delivery {
                notification_id: r.try_get("notification_id")?,
                channel: r.try_get("channel")?,
                state: r.try_get("state")?,
                reason: r.try_get("reason")?,
                attempts: r.try_get("attempts")?,
                cap_counted: r.try_get("cap_counted")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn outbox_row(r: &DbRow) -> Result<OutboxEmail> {
            Ok(OutboxEmail {
                id: r.try_get("id")?,
                account_id: r.try_get("account_id")?,
                user_id: r.try_get("user_id")?,
                to: r.try_get("to_address")?,
                subject: r.try_get("subject")?,
                text: r.try_get("text_body")?,
                html: r.try_get("html_body")?,
                message_id: r.try_get("message_id")?,
                type_id: r.try_get("type")?,
                created_at: r.try_get("created_at")?,
            })
        }

        #[async_trait]
        impl JobStore for $store {
            async fn enqueue_jobs(&self, jobs: &[NewJob], now: i64) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                for j in jobs {
                    super::insert_job(&mut *tx, j, now).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn claim_jobs(&self, limit: i64, now: i64, lease_until: i64) -> Result<Vec<Job>> {
                let rows = sqlx::query(Self::CLAIM_JOBS)
                    .bind(lease_until)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(self.writer())
                    .await?;
                let mut out = rows.iter().map(job_row).collect::<Result<Vec<_>>>()?;
                out.sort_by_key(|j| j.run_at);
                Ok(out)
            }

            async fn finish_job(&self, id: &str, a: &JobAttempt, next: &JobNext) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "INSERT INTO job_attempts (job_id, attempt, started_at, finished_at, outcome, error) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (job_id, attempt) DO NOTHING",
                )
                .bind(id.to_string())
                .bind(a.attempt)
                .bind(a.started_at)
                .bind(a.finished_at)
                .bind(a.outcome.clone())
                .bind(a.error.clone())
                .execute(&mut *tx)
                .await?;
                let (state, run_at) = match next {
                    JobNext::Done => ("done", None),
                    JobNext::Retry { run_at } => ("scheduled", Some(*run_at)),
                    JobNext::Dead => ("dead", None),
                };
                sqlx::query(
                    "UPDATE jobs SET state = $2, run_at = COALESCE($3, run_at), lease_until = NULL, \
                     last_error = $4, updated_at = $5 WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(state)
                .bind(run_at)
                .bind(a.error.clone())
                .bind(a.finished_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn next_job_at(&self) -> Result<Option<i64>> {
                let r = sqlx::query("SELECT MIN(run_at) AS next FROM jobs WHERE state = 'scheduled'")
                    .fetch_one(self.reader())
                    .await?;
                Ok(r.try_get("next")?)
            }

            async fn jobs(&self, state: &str, limit: i64) -> Result<Vec<Job>> {
                sqlx::query("SELECT * FROM jobs WHERE state = $1 ORDER BY updated_at DESC LIMIT $2")
                    .bind(state.to_string())
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(job_row)
                    .collect()
            }

            async fn job(&self, id: &str) -> Result<Option<(Job, Vec<JobAttempt>)>> {
                let Some(row) = sqlx::query("SELECT * FROM jobs WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(self.reader())
                    .await?
                else {
                    return Ok(None);
                };
                let attempts = sqlx::query("SELECT * FROM job_attempts WHERE job_id = $1 ORDER BY attempt")
                    .bind(id.to_string())
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(JobAttempt {
                            attempt: r.try_get("attempt")?,
                            started_at: r.try_get("started_at")?,
                            finished_at: r.try_get("finished_at")?,
                            outcome: r.try_get("outcome")?,
                            error: r.try_get("error")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Some((job_row(&row)?, attempts)))
            }

            async fn requeue_job(&self, id: &str, now: i64) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE jobs SET state = 'scheduled', run_at = $2, updated_at = $2, lease_until = NULL \
                     WHERE id = $1 AND state = 'dead'",
                )
                .bind(id.to_string())
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn batch(&self, id: &str) -> Result<Option<(Batch, Vec<BatchItem>)>> {
                let Some(r) = sqlx::query("SELECT * FROM batches WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(self.reader())
                    .await?
                else {
                    return Ok(None);
                };
                let batch = Batch {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    account_id: r.try_get("account_id")?,
                    user_id: r.try_get("user_id")?,
                    type_id: r.try_get("type")?,
                    group_key: r.try_get("group_key")?,
                    due_at: r.try_get("due_at")?,
                    state: r.try_get("state")?,
                };
                let items = sqlx::query("SELECT * FROM batch_items WHERE batch_id = $1 ORDER BY added_at, event_id")
                    .bind(id.to_string())
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(BatchItem {
                            event_id: r.try_get("event_id")?,
                            item: serde_json::from_str(&r.try_get::<String, _>("item")?)?,
                            added_at: r.try_get("added_at")?,
                            withdrawn: r.try_get::<Option<i64>, _>("withdrawn_at")?.is_some(),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Some((batch, items)))
            }

            async fn take_email_cap(&self, address: &str, type_id: &str, day: &str, cap: i64) -> Result<bool> {
                let row = sqlx::query(
                    "INSERT INTO email_caps (address, type, day, count) VALUES ($1, $2, $3, 1) \
                     ON CONFLICT (address, type, day) DO UPDATE SET count = email_caps.count + 1 \
                     WHERE email_caps.count < $4 RETURNING count",
                )
                .bind(address.to_lowercase())
                .bind(type_id.to_string())
                .bind(day.to_string())
                .bind(cap)
                .fetch_optional(self.writer())
                .await?;
                Ok(row.is_some())
            }

            async fn insert_outbox(&self, e: &OutboxEmail) -> Result<()> {
                sqlx::query(
                    "INSERT INTO outbox (id, account_id, user_id, to_address, subject, text_body, html_body, \
                     message_id, type, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (message_id) DO NOTHING",
                )
                .bind(e.id.clone())
                .bind(e.account_id.clone())
                .bind(e.user_id.clone())
                .bind(e.to.clone())
                .bind(e.subject.clone())
                .bind(e.text.clone())
                .bind(e.html.clone())
                .bind(e.message_id.clone())
                .bind(e.type_id.clone())
                .bind(e.created_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn outbox(&self, limit: i64, before: Option<(i64, String)>) -> Result<Vec<OutboxEmail>> {
                let (at, id) = before.unwrap_or((i64::MAX, String::new()));
                sqlx::query(
                    "SELECT * FROM outbox WHERE created_at < $1 OR (created_at = $1 AND id < $2) \
                     ORDER BY created_at DESC, id DESC LIMIT $3",
                )
                .bind(at)
                .bind(id)
                .bind(limit)
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(outbox_row)
                    .collect()
            }

            async fn notification(&self, id: &str) -> Result<Option<FeedItem>> {
                let mut q = QueryBuilder::<$db>::new("SELECT ");
                q.push(FEED_COLS).push(" FROM notifications WHERE id = ").push_bind(id.to_string());
                q.build().fetch_optional(self.reader()).await?.as_ref().map(feed_item).transpose()
            }

            async fn deliveries(&self, ids: &[String]) -> Result<Vec<Delivery>> {
                let mut out = Vec::new();
                for chunk in ids.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("SELECT * FROM deliveries WHERE notification_id IN (");
                    let mut list = q.separated(", ");
                    for id in chunk {
                        list.push_bind(id.clone());
                    }
                    q.push(") ORDER BY notification_id, channel");
                    for r in q.build().fetch_all(self.reader()).await? {
                        out.push(delivery_row(&r)?);
                    }
                }
                Ok(out)
            }

            async fn set_delivery(
                &self,
                notification_id: &str,
                channel: &str,
                state: &str,
                reason: Option<&str>,
                cap_counted: bool,
                now: i64,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO deliveries (notification_id, channel, state, reason, updated_at, attempts, cap_counted) \
                     VALUES ($1, $2, $3, $4, $5, 1, $6) ON CONFLICT (notification_id, channel) DO UPDATE SET \
                     state = excluded.state, reason = excluded.reason, updated_at = excluded.updated_at, \
                     attempts = deliveries.attempts + 1, cap_counted = excluded.cap_counted",
                )
                .bind(notification_id.to_string())
                .bind(channel.to_string())
                .bind(state.to_string())
                .bind(reason.map(str::to_string))
                .bind(now)
                .bind(cap_counted)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn event_deliveries(&self, event_id: &str) -> Result<Vec<(FeedItem, Vec<Delivery>)>> {
                let mut q = QueryBuilder::<$db>::new("SELECT ");
                q.push(FEED_COLS).push(
                    " FROM notifications WHERE id IN (SELECT notification_id FROM notification_events WHERE event_id = ",
                );
                q.push_bind(event_id.to_string()).push(") ORDER BY user_id, seq");
                let items = q.build().fetch_all(self.reader()).await?.iter().map(feed_item).collect::<Result<Vec<_>>>()?;
                let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
                let all = self.deliveries(&ids).await?;
                Ok(items
                    .into_iter()
                    .map(|i| {
                        let d = all.iter().filter(|d| d.notification_id == i.id).cloned().collect();
                        (i, d)
                    })
                    .collect())
            }

            async fn account_users(&self, account: &str) -> Result<Vec<(User, PrefLayer)>> {
                let rows = sqlx::query("SELECT * FROM users WHERE account_id = $1 ORDER BY id")
                    .bind(account.to_string())
                    .fetch_all(self.reader())
                    .await?;
                rows.iter().map(super::user_with_prefs).collect()
            }
        }
    };
}

pub(crate) use impl_job_store;
pub(crate) use write_schedule;
