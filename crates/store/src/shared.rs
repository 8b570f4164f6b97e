//! The queries both backends share. SQLite and PostgreSQL accept the same SQL here
//! (`$N` parameters, `ON CONFLICT`, `RETURNING`); only claiming differs, and each backend
//! module supplies that. The macro stamps one `Store` implementation per backend, so the
//! SQL is written once and each expansion is type-checked against its own driver.

/// Rows per multi-row statement: well under both backends' parameter limits.
pub(crate) const CHUNK: usize = 500;

/// Splits `0..sizes.len()` into runs of at most [`CHUNK`] rows whose sizes (estimated
/// bytes of their parameters) add up to at most `budget`; a row larger than the budget
/// is a run of its own (a backend may set a budget: `STATEMENT_BYTES`).
pub(crate) fn runs(sizes: &[usize], budget: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, &n) in sizes.iter().enumerate() {
        if i > start && (i - start >= CHUNK || bytes.saturating_add(n) > budget) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(n);
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    // Serializing plain data types to a string cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// The `actor_ids` column: a JSON list on grouped items, NULL otherwise.
pub(crate) fn actor_list(column: Option<String>) -> crate::Result<Vec<String>> {
    Ok(match column {
        Some(s) => serde_json::from_str(&s)?,
        None => Vec::new(),
    })
}

pub(crate) fn tier(s: &str) -> varsel_core::model::Tier {
    varsel_core::model::Tier::parse(s).unwrap_or_default()
}

/// The bell's list: feed items neither archived nor snoozed (a `WHERE` continuation).
pub(crate) const LISTED: &str = " AND in_feed AND archived_at IS NULL AND snoozed_until IS NULL";

pub(crate) const FEED_COLS: &str = "seq, id, account_id, user_id, type, section, title, body, url, count, actor_id, \
     popup_sound, browser, in_feed, created_at, seen_at, read_at, archived_at, snoozed_until, actor_ids";

macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use sqlx::{QueryBuilder, Row};
        // In scope for the job, user and channel stores too (`use super::*`).
        use $crate::BuildSized as _;
        use varsel_core::model::{Tier, User};
        use varsel_core::prefs::PrefLayer;

        use $crate::shared::{CHUNK, json, runs, tier};
        use $crate::{
            Account, ClaimedEvent, DecisionRow, FeedItem, Inserted, NewEvent, ProcessedBatch, Result, Store,
            Team, TeamMember, Trace, map_unique,
        };

        type DbRow = <$db as sqlx::Database>::Row;

        /// Enqueues jobs (multi-row statements), skipping dedupe keys that exist.
        async fn insert_jobs(
            conn: &mut <$db as sqlx::Database>::Connection,
            jobs: &[$crate::NewJob],
            now: i64,
        ) -> Result<()> {
            let sizes: Vec<usize> = jobs
                .iter()
                .map(|j| 120 + j.dedupe_key.len() + j.payload.to_string().len())
                .collect();
            for run in runs(&sizes, <$store>::STATEMENT_BYTES) {
                let mut q = QueryBuilder::<$db>::new(
                    "INSERT INTO jobs (id, kind, dedupe_key, account_id, payload, run_at, created_at, updated_at) ",
                );
                q.push_values(&jobs[run], |mut b, j| {
                    b.push_bind(j.id.clone())
                        .push_bind(j.kind.as_str())
                        .push_bind(j.dedupe_key.clone())
                        .push_bind(j.account_id.clone())
                        .push_bind(json(&j.payload))
                        .push_bind(j.run_at)
                        .push_bind(now)
                        .push_bind(now);
                });
                q.push(" ON CONFLICT (dedupe_key) DO NOTHING");
                q.build_sized().execute(&mut *conn).await?;
            }
            Ok(())
        }

        fn feed_item(r: &DbRow) -> Result<FeedItem> {
            $crate::rows::feed_item(r)
        }

        fn user_row(r: &DbRow) -> Result<User> {
            Ok(User {
                account_id: r.try_get("account_id")?,
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                name: r.try_get("name")?,
                locale: r.try_get("locale")?,
                timezone: r.try_get("timezone")?,
                roles: serde_json::from_str(&r.try_get::<String, _>("roles")?)?,
                permissions: serde_json::from_str(&r.try_get::<String, _>("permissions")?)?,
                flags: serde_json::from_str(&r.try_get::<String, _>("flags")?)?,
            })
        }

        /// A user row with the user's own preference layer.
        fn user_with_prefs(r: &DbRow) -> Result<(User, PrefLayer)> {
            let prefs: PrefLayer = serde_json::from_str(&r.try_get::<String, _>("prefs")?)?;
            Ok((user_row(r)?, prefs))
        }

        fn account_row(r: &DbRow) -> Result<Account> {
            Ok(Account {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                tier: tier(&r.try_get::<String, _>("tier")?),
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn decision_row(r: &DbRow) -> Result<DecisionRow> {
            Ok(DecisionRow {
                event_id: r.try_get("event_id")?,
                account_id: r.try_get("account_id")?,
                user_id: r.try_get("user_id")?,
                decisions: serde_json::from_str(&r.try_get::<String, _>("decisions")?)?,
            })
        }

        fn claimed_row(r: &DbRow) -> Result<ClaimedEvent> {
            Ok(ClaimedEvent {
                seq: r.try_get("seq")?,
                id: r.try_get("id")?,
                body: serde_json::from_str(&r.try_get::<String, _>("body")?)?,
                received_at: r.try_get("received_at")?,
                attempts: r.try_get("attempts")?,
            })
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                Self::BACKEND
            }

            fn bus(&self) -> Option<std::sync::Arc<dyn $crate::Bus>> {
                self.make_bus()
            }

            async fn upsert_account(&self, id: &str, name: &str, tier: Tier, now: i64) -> Result<Account> {
                let row = sqlx::query(
                    "INSERT INTO accounts (id, name, tier, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, tier = excluded.tier, \
                     updated_at = excluded.updated_at, facts_version = accounts.facts_version + 1 \
                     RETURNING id, name, tier, created_at, updated_at",
                )
                .bind(id.to_string())
                .bind(name.to_string())
                .bind(tier.as_str())
                .bind(now)
                .fetch_one(self.writer())
                .await?;
                account_row(&row)
            }

            async fn get_account(&self, id: &str) -> Result<Option<Account>> {
                let row = sqlx::query("SELECT id, name, tier, created_at, updated_at FROM accounts WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(account_row).transpose()
            }

            async fn facts_version(&self, id: &str) -> Result<Option<i64>> {
                let row = sqlx::query("SELECT facts_version FROM accounts WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.map(|r| r.try_get("facts_version")).transpose()?)
            }

            async fn upsert_user(&self, u: &User, now: i64) -> Result<()> {
                sqlx::query(
                    "INSERT INTO users (account_id, id, email, name, locale, timezone, roles, permissions, flags, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
                     ON CONFLICT (account_id, id) DO UPDATE SET email = excluded.email, name = excluded.name, \
                     locale = excluded.locale, timezone = excluded.timezone, roles = excluded.roles, \
                     permissions = excluded.permissions, flags = excluded.flags, updated_at = excluded.updated_at",
                )
                .bind(u.account_id.clone())
                .bind(u.id.clone())
                .bind(u.email.clone())
                .bind(u.name.clone())
                .bind(u.locale.clone())
                .bind(u.timezone.clone())
                .bind(json(&u.roles))
                .bind(json(&u.permissions))
                .bind(json(&u.flags))
                .bind(now)
                .execute(self.writer())
                .await
                .map_err(|e| map_unique(e, "user"))?;
                Ok(())
            }

            async fn set_user_locale(&self, account: &str, id: &str, locale: &str, now: i64) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE users SET locale = $3, updated_at = $4 WHERE account_id = $1 AND id = $2",
                )
                .bind(account.to_string())
                .bind(id.to_string())
                .bind(locale.to_string())
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn get_user(&self, account: &str, id: &str) -> Result<Option<User>> {
                let row = sqlx::query("SELECT * FROM users WHERE account_id = $1 AND id = $2")
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .fetch_optional(self.reader())
                    .await?;
                row.as_ref().map(user_row).transpose()
            }

            async fn get_users(&self, account: &str, ids: &[String]) -> Result<Vec<(User, PrefLayer)>> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("SELECT * FROM users WHERE account_id = ");
                    q.push_bind(account.to_string()).push(" AND id");
                    <$db as $crate::InList>::push_in(&mut q, chunk);
                    for r in q.build_sized().fetch_all(self.reader()).await? {
                        out.push(user_with_prefs(&r)?);
                    }
                }
                Ok(out)
            }

            async fn upsert_team(&self, team: &Team, now: i64) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "INSERT INTO teams (account_id, id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (account_id, id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at",
                )
                .bind(team.account_id.clone())
                .bind(team.id.clone())
                .bind(team.name.clone())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM team_members WHERE account_id = $1 AND team_id = $2")
                    .bind(team.account_id.clone())
                    .bind(team.id.clone())
                    .execute(&mut *tx)
                    .await?;
                for chunk in team.members.chunks(CHUNK) {
                    let mut q =
                        QueryBuilder::<$db>::new("INSERT INTO team_members (account_id, team_id, user_id, is_primary) ");
                    q.push_values(chunk, |mut b, m| {
                        b.push_bind(team.account_id.clone())
                            .push_bind(team.id.clone())
                            .push_bind(m.user_id.clone())
                            .push_bind(m.primary);
                    });
                    q.push(" ON CONFLICT (account_id, team_id, user_id) DO UPDATE SET is_primary = excluded.is_primary");
                    q.build_sized().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn get_team(&self, account: &str, id: &str) -> Result<Option<Team>> {
                let Some(row) = sqlx::query("SELECT name FROM teams WHERE account_id = $1 AND id = $2")
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .fetch_optional(self.reader())
                    .await?
                else {
                    return Ok(None);
                };
                let members = sqlx::query(
                    "SELECT user_id, is_primary FROM team_members WHERE account_id = $1 AND team_id = $2 ORDER BY user_id",
                )
                .bind(account.to_string())
                .bind(id.to_string())
                .fetch_all(self.reader())
                .await?
                .iter()
                .map(|r| Ok(TeamMember { user_id: r.try_get("user_id")?, primary: r.try_get("is_primary")? }))
                .collect::<Result<Vec<_>>>()?;
                Ok(Some(Team {
                    account_id: account.to_string(),
                    id: id.to_string(),
                    name: row.try_get("name")?,
                    members,
                }))
            }

            async fn insert_api_key(&self, hash: &str, name: &str, now: i64) -> Result<()> {
                sqlx::query(
                    "INSERT INTO api_keys (hash, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (hash) DO NOTHING",
                )
                .bind(hash.to_string())
                .bind(name.to_string())
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn api_key_exists(&self, hash: &str) -> Result<bool> {
                let row = sqlx::query("SELECT 1 AS one FROM api_keys WHERE hash = $1")
                    .bind(hash.to_string())
                    .fetch_optional(self.reader())
                    .await?;
                Ok(row.is_some())
            }

            async fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<Inserted>> {
                let mut events = Some(events.to_vec());
                self.insert_event_group(&mut move || events.take().unwrap_or_default()).await
            }

            async fn insert_events_gathered(
                &self,
                gather: &mut (dyn FnMut() -> Vec<NewEvent> + Send),
            ) -> Result<Vec<Inserted>> {
                self.insert_event_group(gather).await
            }

            async fn claim_events(&self, limit: i64, now: i64, lease_until: i64) -> Result<Vec<ClaimedEvent>> {
                let pool = if Self::CLAIM_ON_READER { self.reader() } else { self.writer() };
                let rows = sqlx::query(Self::CLAIM_EVENTS)
                    .bind(lease_until)
                    .bind(now)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                let mut out = rows.iter().map(claimed_row).collect::<Result<Vec<_>>>()?;
                out.sort_by_key(|e| e.seq);
                Ok(out)
            }

            async fn release_leases(&self) -> Result<()> {
                sqlx::query("UPDATE events SET lease_until = NULL WHERE state = 'pending' AND lease_until IS NOT NULL")
                    .execute(self.writer())
                    .await?;
                sqlx::query("UPDATE jobs SET lease_until = NULL WHERE state = 'scheduled' AND lease_until IS NOT NULL")
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn fail_event(&self, id: &str, error: &str, max_attempts: i64) -> Result<()> {
                sqlx::query(Self::FAIL_EVENT)
                .bind(id.to_string())
                .bind(error.to_string())
                .bind(max_attempts)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn complete_events(&self, batch: &ProcessedBatch) -> Result<Vec<FeedItem>> {
                self.complete_round(batch).await
            }

            async fn mentioned(&self, account: &str, activity: &str, users: &[String]) -> Result<Vec<String>> {
                let mut out = Vec::new();
                for chunk in users.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("SELECT user_id FROM mentions WHERE account_id = ");
                    q.push_bind(account.to_string()).push(" AND activity_id = ").push_bind(activity.to_string());
                    q.push(" AND user_id");
                    <$db as $crate::InList>::push_in(&mut q, chunk);
                    for r in q.build_sized().fetch_all(self.reader()).await? {
                        out.push(r.try_get("user_id")?);
                    }
                }
                Ok(out)
            }

            async fn get_trace(&self, event_id: &str) -> Result<Option<Trace>> {
                let Some(ev) = sqlx::query("SELECT id, account_id, state FROM events WHERE id = $1")
                    .bind(event_id.to_string())
                    .fetch_optional(self.reader())
                    .await?
                else {
                    return Ok(None);
                };
                let rows = sqlx::query("SELECT * FROM decisions WHERE event_id = $1 ORDER BY user_id")
                    .bind(event_id.to_string())
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(decision_row)
                    .collect::<Result<Vec<_>>>()?;
                Ok(Some(Trace {
                    event_id: ev.try_get("id")?,
                    account_id: ev.try_get("account_id")?,
                    state: ev.try_get("state")?,
                    rows,
                }))
            }

            async fn pending_events(&self) -> Result<i64> {
                let r = sqlx::query("SELECT COUNT(*) AS n FROM events WHERE state = 'pending'")
                    .fetch_one(self.reader())
                    .await?;
                Ok(r.try_get("n")?)
            }
        }
    };
}

pub(crate) use impl_store;
