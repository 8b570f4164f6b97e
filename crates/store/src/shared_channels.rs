//! The queries of connections, user matches, devices and server keys, shared by both
//! backends (see `shared.rs` for why a macro).

macro_rules! impl_channel_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use sqlx::{QueryBuilder, Row};

        use $crate::shared::{CHUNK, json};
        use $crate::{ChannelStore, Connection, Device, Result, UserLink};

        fn connection_row(r: &<$db as sqlx::Database>::Row) -> Result<Connection> {
            let settings: String = r.try_get("settings")?;
            Ok(Connection {
                account_id: r.try_get("account_id")?,
                provider: r.try_get("provider")?,
                secret: r.try_get("secret")?,
                settings: serde_json::from_str(&settings)?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        fn device_row(r: &<$db as sqlx::Database>::Row) -> Result<Device> {
            let data: String = r.try_get("data")?;
            Ok(Device {
                id: r.try_get("id")?,
                account_id: r.try_get("account_id")?,
                user_id: r.try_get("user_id")?,
                kind: r.try_get("kind")?,
                token: r.try_get("token")?,
                app_id: r.try_get("app_id")?,
                data: serde_json::from_str(&data)?,
                created_at: r.try_get("created_at")?,
                updated_at: r.try_get("updated_at")?,
            })
        }

        const CONNECTION_COLS: &str = "account_id, provider, secret, settings, created_at, updated_at";
        const DEVICE_COLS: &str = "id, account_id, user_id, kind, token, app_id, data, created_at, updated_at";

        #[async_trait]
        impl ChannelStore for $store {
            async fn put_connection(&self, c: &Connection) -> Result<Connection> {
                let sql = format!(
                    "INSERT INTO connections ({CONNECTION_COLS}) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (account_id, provider) DO UPDATE SET secret = excluded.secret, \
                     settings = excluded.settings, updated_at = excluded.updated_at RETURNING {CONNECTION_COLS}"
                );
                let mut tx = self.writer().begin().await?;
                let r = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(c.account_id.clone())
                    .bind(c.provider.clone())
                    .bind(c.secret.clone())
                    .bind(json(&c.settings))
                    .bind(c.created_at)
                    .bind(c.updated_at)
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query($crate::BUMP_FACTS).bind(c.account_id.clone()).execute(&mut *tx).await?;
                tx.commit().await?;
                connection_row(&r)
            }

            async fn connection(&self, account: &str, provider: &str) -> Result<Option<Connection>> {
                let sql = format!("SELECT {CONNECTION_COLS} FROM connections WHERE account_id = $1 AND provider = $2");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(account.to_string())
                    .bind(provider.to_string())
                    .fetch_optional(self.reader())
                    .await?
                    .as_ref()
                    .map(connection_row)
                    .transpose()
            }

            async fn connections(&self, account: &str) -> Result<Vec<Connection>> {
                let sql = format!("SELECT {CONNECTION_COLS} FROM connections WHERE account_id = $1 ORDER BY provider");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(account.to_string())
                    .fetch_all(self.reader())
                    .await?
                    .iter()
                    .map(connection_row)
                    .collect()
            }

            async fn delete_connection(&self, account: &str, provider: &str) -> Result<bool> {
                let mut tx = self.writer().begin().await?;
                let n = sqlx::query("DELETE FROM connections WHERE account_id = $1 AND provider = $2")
                    .bind(account.to_string())
                    .bind(provider.to_string())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM user_links WHERE account_id = $1 AND provider = $2")
                    .bind(account.to_string())
                    .bind(provider.to_string())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query($crate::BUMP_FACTS).bind(account.to_string()).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn put_user_link(&self, account: &str, link: &UserLink) -> Result<()> {
                sqlx::query(
                    "INSERT INTO user_links (account_id, user_id, provider, email, external_id, checked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, user_id, provider) DO UPDATE SET \
                     email = excluded.email, external_id = excluded.external_id, checked_at = excluded.checked_at",
                )
                .bind(account.to_string())
                .bind(link.user_id.clone())
                .bind(link.provider.clone())
                .bind(link.email.clone())
                .bind(link.external_id.clone())
                .bind(link.checked_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn try_lock_match(&self, account: &str, user: &str, provider: &str) -> Result<Option<$crate::MatchLock>> {
                self.try_lock_key($crate::MatchLock::key(account, user, provider)).await
            }

            async fn user_links(&self, account: &str, provider: &str, users: &[String]) -> Result<Vec<UserLink>> {
                let mut out = Vec::new();
                for chunk in users.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT user_id, provider, email, external_id, checked_at FROM user_links WHERE account_id = ",
                    );
                    q.push_bind(account.to_string()).push(" AND provider = ").push_bind(provider.to_string());
                    q.push(" AND user_id");
                    <$db as $crate::InList>::push_in(&mut q, chunk);
                    for r in q.build_sized().fetch_all(self.reader()).await? {
                        out.push(UserLink {
                            user_id: r.try_get("user_id")?,
                            provider: r.try_get("provider")?,
                            email: r.try_get("email")?,
                            external_id: r.try_get("external_id")?,
                            checked_at: r.try_get("checked_at")?,
                        });
                    }
                }
                Ok(out)
            }

            async fn put_device(&self, d: &Device) -> Result<Device> {
                let sql = format!(
                    "INSERT INTO devices ({DEVICE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (kind, token) DO UPDATE SET account_id = excluded.account_id, \
                     user_id = excluded.user_id, app_id = excluded.app_id, data = excluded.data, \
                     updated_at = excluded.updated_at RETURNING {DEVICE_COLS}"
                );
                let r = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(d.id.clone())
                    .bind(d.account_id.clone())
                    .bind(d.user_id.clone())
                    .bind(d.kind.clone())
                    .bind(d.token.clone())
                    .bind(d.app_id.clone())
                    .bind(json(&d.data))
                    .bind(d.created_at)
                    .bind(d.updated_at)
                    .fetch_one(self.writer())
                    .await?;
                device_row(&r)
            }

            async fn devices(&self, account: &str, users: &[String]) -> Result<Vec<Device>> {
                let mut out = Vec::new();
                for chunk in users.chunks(CHUNK) {
                    let mut q = QueryBuilder::<$db>::new("SELECT ");
                    q.push(DEVICE_COLS).push(" FROM devices WHERE account_id = ").push_bind(account.to_string());
                    q.push(" AND user_id");
                    <$db as $crate::InList>::push_in(&mut q, chunk);
                    q.push(" ORDER BY created_at, id");
                    for r in q.build_sized().fetch_all(self.reader()).await? {
                        out.push(device_row(&r)?);
                    }
                }
                Ok(out)
            }

            async fn delete_device(&self, account: &str, user: &str, id: &str) -> Result<bool> {
                let n = sqlx::query("DELETE FROM devices WHERE account_id = $1 AND user_id = $2 AND id = $3")
                    .bind(account.to_string())
                    .bind(user.to_string())
                    .bind(id.to_string())
                    .execute(self.writer())
                    .await?
                    .rows_affected();
                Ok(n > 0)
            }

            async fn delete_device_token(&self, kind: &str, token: &str) -> Result<bool> {
                let n = sqlx::query("DELETE FROM devices WHERE kind = $1 AND token = $2")
                    .bind(kind.to_string())
                    .bind(token.to_string())
                    .execute(self.writer())
                    .await?
                    .rows_affected();
                Ok(n > 0)
            }

            async fn server_key(&self, name: &str, fresh: &str, now: i64) -> Result<String> {
                sqlx::query(
                    "INSERT INTO server_keys (name, value, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name.to_string())
                .bind(fresh.to_string())
                .bind(now)
                .execute(self.writer())
                .await?;
                let r = sqlx::query("SELECT value FROM server_keys WHERE name = $1")
                    .bind(name.to_string())
                    .fetch_one(self.writer())
                    .await?;
                Ok(r.try_get("value")?)
            }
        }
    };
}

pub(crate) use impl_channel_store;
