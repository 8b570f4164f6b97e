//! The queries of a signed-in user's own data — the bell feed and preferences — shared
//! by both backends (see `shared.rs` for why a macro).

macro_rules! impl_user_store {
    ($store:ty, $db:ty) => {
        use std::collections::HashMap;

        use async_trait::async_trait;
        use sqlx::{QueryBuilder, Row};
        use varsel_core::prefs::PrefLayer;

        use super::feed_item;
        use $crate::shared::{CHUNK, FEED_COLS, LISTED, json};
        use $crate::{FeedFilter, FeedItem, Profile, Result, UserStore};

        #[async_trait]
        impl UserStore for $store {
            async fn feed(
                &self,
                account: &str,
                user: &str,
                filter: FeedFilter,
                limit: i64,
                before: Option<i64>,
            ) -> Result<Vec<FeedItem>> {
                let mut q = QueryBuilder::<$db>::new("SELECT ");
                q.push(FEED_COLS).push(" FROM notifications WHERE account_id = ").push_bind(account.to_string());
                q.push(" AND user_id = ").push_bind(user.to_string());
                q.push(match (filter.archived, filter.snoozed) {
                    (true, _) => " AND in_feed AND archived_at IS NOT NULL",
                    (false, true) => " AND in_feed AND archived_at IS NULL AND snoozed_until IS NOT NULL",
                    (false, false) => LISTED,
                });
                if filter.unread {
                    q.push(" AND read_at IS NULL");
                }
                q.push(" AND seq < ").push_bind(before.unwrap_or(i64::MAX));
                q.push(" ORDER BY seq DESC LIMIT ").push_bind(limit);
                q.build_sized().fetch_all(self.reader()).await?.iter().map(feed_item).collect()
            }

            async fn feed_after(&self, account: &str, user: &str, after: i64, limit: i64) -> Result<Vec<FeedItem>> {
                let mut q = QueryBuilder::<$db>::new("SELECT ");
                q.push(FEED_COLS).push(" FROM notifications WHERE account_id = ").push_bind(account.to_string());
                q.push(" AND user_id = ").push_bind(user.to_string());
                q.push(LISTED).push(" AND seq > ").push_bind(after);
                q.push(" ORDER BY seq ASC LIMIT ").push_bind(limit);
                q.build_sized().fetch_all(self.reader()).await?.iter().map(feed_item).collect()
            }

            async fn feed_by_ids(&self, ids: &[String]) -> Result<Vec<FeedItem>> {
                let mut out = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("SELECT ");
                    q.push(FEED_COLS).push(" FROM notifications WHERE id");
                    <$db as $crate::InList>::push_in(&mut q, chunk);
                    q.push(" ORDER BY seq");
                    for r in q.build_sized().fetch_all(self.reader()).await? {
                        out.push(feed_item(&r)?);
                    }
                }
                Ok(out)
            }

            async fn bell_groups(&self, keys: &[(String, String, String)], now: i64) -> Result<Vec<$crate::BellGroup>> {
                let mut out = Vec::new();
                for chunk in keys.chunks(CHUNK / 3) {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT g.account_id, g.user_id, g.group_key, g.notification_id, g.until_at, \
                         n.count, n.actor_ids, n.archived_at, n.snoozed_until \
                         FROM bell_groups g LEFT JOIN notifications n ON n.id = g.notification_id \
                         WHERE (g.account_id, g.user_id, g.group_key) IN ",
                    );
                    q.push_tuples(chunk, |mut b, (a, u, k)| {
                        b.push_bind(a.clone()).push_bind(u.clone()).push_bind(k.clone());
                    });
                    for r in q.build_sized().fetch_all(self.reader()).await? {
                        let until: i64 = r.try_get("until_at")?;
                        let archived: Option<i64> = r.try_get("archived_at")?;
                        let snoozed: Option<i64> = r.try_get("snoozed_until")?;
                        // A group whose item is gone is replaced like an expired one.
                        let count: Option<i64> = r.try_get("count")?;
                        out.push($crate::BellGroup {
                            account_id: r.try_get("account_id")?,
                            user_id: r.try_get("user_id")?,
                            group_key: r.try_get("group_key")?,
                            notification_id: r.try_get("notification_id")?,
                            until,
                            count: count.unwrap_or(0),
                            actor_ids: $crate::shared::actor_list(r.try_get("actor_ids")?)?,
                            joinable: until > now && count.is_some() && archived.is_none() && snoozed.is_none(),
                        });
                    }
                }
                Ok(out)
            }

            async fn members(&self, account: &str, user: &str, id: &str) -> Result<Vec<$crate::NewMember>> {
                let rows = sqlx::query(
                    "SELECT m.* FROM notification_members m JOIN notifications n ON n.id = m.notification_id \
                     WHERE n.account_id = $1 AND n.user_id = $2 AND m.notification_id = $3 \
                     ORDER BY m.created_at DESC, m.event_id DESC",
                )
                .bind(account.to_string())
                .bind(user.to_string())
                .bind(id.to_string())
                .fetch_all(self.reader())
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::NewMember {
                            notification_id: r.try_get("notification_id")?,
                            event_id: r.try_get("event_id")?,
                            actor_id: r.try_get("actor_id")?,
                            title: r.try_get("title")?,
                            body: r.try_get("body")?,
                            created_at: r.try_get("created_at")?,
                        })
                    })
                    .collect()
            }

            async fn unread_count(&self, account: &str, user: &str) -> Result<i64> {
                let r = sqlx::query(
                    "SELECT COUNT(*) AS n FROM notifications \
                     WHERE account_id = $1 AND user_id = $2 AND in_feed AND read_at IS NULL \
                     AND archived_at IS NULL AND snoozed_until IS NULL",
                )
                .bind(account.to_string())
                .bind(user.to_string())
                .fetch_one(self.reader())
                .await?;
                Ok(r.try_get("n")?)
            }

            async fn unread_counts(&self, account: &str, users: &[String]) -> Result<HashMap<String, i64>> {
                let mut out: HashMap<String, i64> = users.iter().map(|u| (u.clone(), 0)).collect();
                for chunk in users.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT user_id, COUNT(*) AS n FROM notifications WHERE in_feed AND read_at IS NULL \
                         AND archived_at IS NULL AND snoozed_until IS NULL AND account_id = ",
                    );
                    q.push_bind(account.to_string()).push(" AND user_id");
                    <$db as $crate::InList>::push_in(&mut q, chunk);
                    q.push(" GROUP BY user_id");
                    for r in q.build_sized().fetch_all(self.reader()).await? {
                        out.insert(r.try_get("user_id")?, r.try_get("n")?);
                    }
                }
                Ok(out)
            }

            async fn mark_read(&self, account: &str, user: &str, id: &str, now: i64) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE notifications SET read_at = COALESCE(read_at, $4), seen_at = COALESCE(seen_at, $4) \
                     WHERE account_id = $1 AND user_id = $2 AND id = $3 AND in_feed",
                )
                .bind(account.to_string())
                .bind(user.to_string())
                .bind(id.to_string())
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn mark_all_read(&self, account: &str, user: &str, now: i64) -> Result<u64> {
                let r = sqlx::query(
                    "UPDATE notifications SET read_at = $3, seen_at = COALESCE(seen_at, $3) \
                     WHERE account_id = $1 AND user_id = $2 AND in_feed AND read_at IS NULL \
                     AND archived_at IS NULL AND snoozed_until IS NULL",
                )
                .bind(account.to_string())
                .bind(user.to_string())
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(r.rows_affected())
            }

            async fn mark_seen(&self, account: &str, user: &str, now: i64) -> Result<u64> {
                let r = sqlx::query(
                    "UPDATE notifications SET seen_at = $3 \
                     WHERE account_id = $1 AND user_id = $2 AND in_feed AND seen_at IS NULL",
                )
                .bind(account.to_string())
                .bind(user.to_string())
                .bind(now)
                .execute(self.writer())
                .await?;
                Ok(r.rows_affected())
            }

            async fn set_archived(&self, account: &str, user: &str, id: &str, at: Option<i64>) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE notifications SET archived_at = $4 \
                     WHERE account_id = $1 AND user_id = $2 AND id = $3 AND in_feed",
                )
                .bind(account.to_string())
                .bind(user.to_string())
                .bind(id.to_string())
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn snooze(
                &self,
                account: &str,
                user: &str,
                id: &str,
                until: i64,
                wake: &$crate::NewJob,
                now: i64,
            ) -> Result<bool> {
                let mut tx = self.writer().begin().await?;
                let r = sqlx::query(
                    "UPDATE notifications SET snoozed_until = $4 \
                     WHERE account_id = $1 AND user_id = $2 AND id = $3 AND in_feed",
                )
                .bind(account.to_string())
                .bind(user.to_string())
                .bind(id.to_string())
                .bind(until)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 0 {
                    return Ok(false);
                }
                super::insert_jobs(&mut *tx, std::slice::from_ref(wake), now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn wake(&self, account: &str, user: &str, id: &str, due: Option<i64>) -> Result<Option<FeedItem>> {
                let mut tx = self.writer().begin().await?;
                let mut q = QueryBuilder::<$db>::new("UPDATE notifications SET seq = ");
                q.push(Self::WAKE_SEQ);
                q.push(", snoozed_until = NULL, read_at = NULL, seen_at = NULL WHERE account_id = ")
                    .push_bind(account.to_string());
                q.push(" AND user_id = ").push_bind(user.to_string());
                q.push(" AND id = ").push_bind(id.to_string());
                q.push(" AND snoozed_until IS NOT NULL");
                if let Some(due) = due {
                    q.push(" AND snoozed_until <= ").push_bind(due);
                }
                if q.build_sized().execute(&mut *tx).await?.rows_affected() == 0 {
                    return Ok(None);
                }
                if let Some(counter) = Self::WAKE_COUNTER {
                    sqlx::query(counter).execute(&mut *tx).await?;
                }
                let mut q = QueryBuilder::<$db>::new("SELECT ");
                q.push(FEED_COLS).push(" FROM notifications WHERE id = ").push_bind(id.to_string());
                let row = q.build_sized().fetch_one(&mut *tx).await?;
                tx.commit().await?;
                Ok(Some(feed_item(&row)?))
            }

            async fn user_prefs(&self, account: &str, user: &str) -> Result<Option<(PrefLayer, i64)>> {
                let row = sqlx::query("SELECT prefs, prefs_version FROM users WHERE account_id = $1 AND id = $2")
                    .bind(account.to_string())
                    .bind(user.to_string())
                    .fetch_optional(self.reader())
                    .await?;
                match row {
                    None => Ok(None),
                    Some(r) => Ok(Some((
                        serde_json::from_str(&r.try_get::<String, _>("prefs")?)?,
                        r.try_get("prefs_version")?,
                    ))),
                }
            }

            async fn put_user_prefs(&self, account: &str, user: &str, layer: &PrefLayer, version: i64) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE users SET prefs = $3, prefs_version = prefs_version + 1 \
                     WHERE account_id = $1 AND id = $2 AND prefs_version = $4",
                )
                .bind(account.to_string())
                .bind(user.to_string())
                .bind(json(layer))
                .bind(version)
                .execute(self.writer())
                .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn account_defaults(&self, account: &str) -> Result<PrefLayer> {
                let row = sqlx::query("SELECT defaults FROM accounts WHERE id = $1")
                    .bind(account.to_string())
                    .fetch_optional(self.reader())
                    .await?;
                match row {
                    None => Ok(PrefLayer::default()),
                    Some(r) => Ok(serde_json::from_str(&r.try_get::<String, _>("defaults")?)?),
                }
            }

            async fn account_defaults_versioned(&self, account: &str) -> Result<(PrefLayer, i64)> {
                let row = sqlx::query("SELECT defaults, defaults_version FROM accounts WHERE id = $1")
                    .bind(account.to_string())
                    .fetch_optional(self.reader())
                    .await?;
                match row {
                    None => Ok((PrefLayer::default(), 0)),
                    Some(r) => Ok((
                        serde_json::from_str(&r.try_get::<String, _>("defaults")?)?,
                        r.try_get("defaults_version")?,
                    )),
                }
            }

            async fn put_account_defaults(&self, account: &str, layer: &PrefLayer, version: i64, now: i64) -> Result<bool> {
                let r = sqlx::query(
                    "UPDATE accounts SET defaults = $2, defaults_version = defaults_version + 1, updated_at = $3, \
                     facts_version = facts_version + 1 \
                     WHERE id = $1 AND defaults_version = $4",
                )
                .bind(account.to_string())
                .bind(json(layer))
                .bind(now)
                .bind(version)
                .execute(self.writer())
                .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn profiles(&self, account: &str) -> Result<Vec<Profile>> {
                sqlx::query("SELECT * FROM profiles WHERE account_id = $1 ORDER BY created_at, id")
                    .bind(account.to_string())
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(Profile {
                            account_id: r.try_get("account_id")?,
                            id: r.try_get("id")?,
                            name: r.try_get("name")?,
                            roles: serde_json::from_str(&r.try_get::<String, _>("roles")?)?,
                            user_ids: serde_json::from_str(&r.try_get::<String, _>("user_ids")?)?,
                            layer: serde_json::from_str(&r.try_get::<String, _>("layer")?)?,
                            created_at: r.try_get("created_at")?,
                        })
                    })
                    .collect()
            }

            async fn upsert_profile(&self, p: &Profile, now: i64) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query(
                    "INSERT INTO profiles (account_id, id, name, roles, user_ids, layer, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (account_id, id) DO UPDATE SET name = excluded.name, roles = excluded.roles, \
                     user_ids = excluded.user_ids, layer = excluded.layer, updated_at = excluded.updated_at",
                )
                .bind(p.account_id.clone())
                .bind(p.id.clone())
                .bind(p.name.clone())
                .bind(json(&p.roles))
                .bind(json(&p.user_ids))
                .bind(json(&p.layer))
                .bind(p.created_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query($crate::BUMP_FACTS).bind(p.account_id.clone()).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_profile(&self, account: &str, id: &str) -> Result<bool> {
                let mut tx = self.writer().begin().await?;
                let r = sqlx::query("DELETE FROM profiles WHERE account_id = $1 AND id = $2")
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($crate::BUMP_FACTS).bind(account.to_string()).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() > 0)
            }
        }
    };
}

pub(crate) use impl_user_store;
