//! The scheduling queries both backends share (see `shared.rs` for why a macro).

macro_rules! impl_job_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use sqlx::{QueryBuilder, Row};
        use varsel_core::model::User;
        use varsel_core::prefs::PrefLayer;

        use $crate::jobs::{
            Batch, BatchItem, CapTake, Delivery, Job, JobAttempt, JobOutcome,
            JobStore, NewJob, OutboxEmail, PendingOldest,
        };
        use $crate::shared::{CHUNK, FEED_COLS};
        use $crate::{FeedItem, Result};
        use super::feed_item;

        type DbRow = <$db as sqlx::Database>::Row;

        fn job_row(r: &DbRow) -> Result<Job> {
            $crate::rows::job_row(r)
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
                super::insert_jobs(&mut *tx, jobs, now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn claim_jobs(&self, limit: i64, now: i64, lease_until: i64, node: &str) -> Result<Vec<Job>> {
                if let Some(w) = self.direct() {
                    return w.claim_jobs(limit, now, lease_until, node).await;
                }
                let rows = sqlx::query(Self::CLAIM_JOBS)
                    .bind(lease_until)
                    .bind(now)
                    .bind(limit)
                    .bind(node.to_string())
                    .fetch_all(self.writer())
                    .await?;
                let mut out = rows.iter().map(job_row).collect::<Result<Vec<_>>>()?;
                out.sort_by_key(|j| j.run_at);
                Ok(out)
            }

            async fn extend_job_leases(&self, node: &str, ids: &[String], lease_until: i64) -> Result<()> {
                if ids.is_empty() {
                    return Ok(());
                }
                let mut tx = self.writer().begin().await?;
                for chunk in ids.chunks(CHUNK.min(Self::STATEMENT_BYTES / 40)) {
                    let mut q = QueryBuilder::<$db>::new("UPDATE jobs SET lease_until = ");
                    q.push_bind(lease_until)
                        .push(" WHERE state = 'scheduled' AND locked_by = ")
                        .push_bind(node.to_string())
                        .push(" AND id");
                    <$db as $crate::InList>::push_in(&mut q, chunk);
                    q.build_sized().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn release_job_leases(&self, node: &str) -> Result<u64> {
                let r = sqlx::query(
                    "UPDATE jobs SET lease_until = NULL, locked_by = NULL WHERE locked_by = $1 AND state = 'scheduled'",
                )
                .bind(node.to_string())
                .execute(self.writer())
                .await?;
                Ok(r.rows_affected())
            }

            async fn record_jobs(&self, outcomes: &[JobOutcome], now: i64) -> Result<()> {
                if outcomes.is_empty() {
                    return Ok(());
                }
                self.record_outcomes(outcomes, now).await
            }

            async fn take_email_caps(&self, takes: &[CapTake], now: i64) -> Result<Vec<bool>> {
                if takes.is_empty() {
                    return Ok(Vec::new());
                }
                self.take_caps(takes, now).await
            }

            async fn pending_oldest(&self) -> Result<PendingOldest> {
                let events = sqlx::query(
                    "SELECT received_at FROM events WHERE state = 'pending' ORDER BY seq LIMIT 1",
                )
                .fetch_optional(self.reader())
                .await?
                .map(|r| r.try_get::<i64, _>("received_at"))
                .transpose()?;
                let jobs = self.next_job_at().await?;
                Ok(PendingOldest { events, jobs })
            }

            async fn next_job_at(&self) -> Result<Option<i64>> {
                let r = sqlx::query("SELECT MIN(run_at) AS next FROM jobs WHERE state = 'scheduled'")
                    .fetch_one(self.reader())
                    .await?;
                Ok(r.try_get("next")?)
            }

            async fn jobs(&self, state: &str, limit: i64) -> Result<Vec<Job>> {
                // `waiting`: scheduled jobs whose destination is backed off.
                let (state, waiting) = match state {
                    "waiting" => ("scheduled", "waiting:%"),
                    other => (other, "%"),
                };
                sqlx::query(
                    "SELECT * FROM jobs WHERE state = $1 AND COALESCE(last_error, '') LIKE $3 \
                     ORDER BY updated_at DESC LIMIT $2",
                )
                    .bind(state.to_string())
                    .bind(limit)
                    .bind(waiting)
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

            async fn seal_batch(&self, id: &str) -> Result<()> {
                sqlx::query("UPDATE batches SET state = 'sealed' WHERE id = $1 AND state = 'open'")
                    .bind(id.to_string())
                    .execute(self.writer())
                    .await?;
                Ok(())
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
                q.build_sized().fetch_optional(self.reader()).await?.as_ref().map(feed_item).transpose()
            }

            async fn deliveries(&self, ids: &[String]) -> Result<Vec<Delivery>> {
                let mut out = Vec::new();
                for chunk in ids.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("SELECT * FROM deliveries WHERE notification_id");
                    <$db as $crate::InList>::push_in(&mut q, chunk);
                    q.push(" ORDER BY notification_id, channel");
                    for r in q.build_sized().fetch_all(self.reader()).await? {
                        out.push(delivery_row(&r)?);
                    }
                }
                Ok(out)
            }

            async fn event_deliveries(&self, event_id: &str) -> Result<Vec<(FeedItem, Vec<Delivery>)>> {
                let mut q = QueryBuilder::<$db>::new("SELECT ");
                q.push(FEED_COLS).push(
                    " FROM notifications WHERE id IN (SELECT notification_id FROM notification_events WHERE event_id = ",
                );
                q.push_bind(event_id.to_string()).push(") ORDER BY user_id, seq");
                let items = q.build_sized().fetch_all(self.reader()).await?.iter().map(feed_item).collect::<Result<Vec<_>>>()?;
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
