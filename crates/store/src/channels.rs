//! Other apps and mobile in the database: account connections (Slack, Teams) whose secret
//! the server seals before it reaches the store, users matched to their Slack user, the
//! users' devices, and keys the server generates once and shares between nodes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;

/// An account's connection to Slack or Teams. `secret` is sealed by the server (the store
/// never sees the bot token or webhook URL in the clear); `settings` are the non-secret
/// facts shown to admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub account_id: String,
    /// `slack` or `teams`.
    pub provider: String,
    pub secret: String,
    pub settings: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A user matched (or not) to their account on a provider, by email address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserLink {
    pub user_id: String,
    pub provider: String,
    /// The address looked up: a user whose email changed is looked up again.
    pub email: String,
    /// The provider's user id; `None` when the lookup found nobody.
    pub external_id: Option<String>,
    pub checked_at: i64,
}

impl UserLink {
    /// Whether the link was made for `email` (a user whose address changed is looked
    /// up again).
    pub fn is_for(&self, email: &str) -> bool {
        self.email.eq_ignore_ascii_case(email)
    }
}

/// The right to look one user up on a provider, held by one caller at a time on every
/// node: deliveries of a user not matched yet wait for one lookup instead of each asking
/// the provider. Ends with [`MatchLock::release`], or when dropped.
pub struct MatchLock(pub(crate) MatchHold);

pub(crate) enum MatchHold {
    /// PostgreSQL: a transaction holding a transaction advisory lock on the key; ending
    /// it (commit, or the rollback of a dropped transaction) releases the lock. The
    /// permit counts it among the node's match locks.
    Pg(
        sqlx::Transaction<'static, sqlx::Postgres>,
        tokio::sync::OwnedSemaphorePermit,
    ),
    /// SQLite (one process): the key in the process's set of held keys.
    Local(LocalKey),
}

pub(crate) struct LocalKey {
    pub(crate) held: Arc<Mutex<HashSet<i64>>>,
    pub(crate) key: i64,
}

impl Drop for LocalKey {
    fn drop(&mut self) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

impl MatchLock {
    pub async fn release(self) -> Result<()> {
        match self.0 {
            MatchHold::Pg(tx, _permit) => tx.commit().await?,
            MatchHold::Local(key) => drop(key),
        }
        Ok(())
    }

    /// The lock's key for (account, user, provider), the same on every node and version
    /// (FNV-1a over the parts, like the batch keys).
    pub fn key(account: &str, user: &str, provider: &str) -> i64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for part in ["user_link", account, user, provider] {
            for b in part.bytes().chain(std::iter::once(0)) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        i64::from_ne_bytes(h.to_ne_bytes())
    }
}

/// A device of a user: a browser's Web Push subscription, or an FCM / APNs token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    /// `webpush`, `fcm` or `apns`.
    pub kind: String,
    /// The push endpoint URL or the device token: unique per kind.
    pub token: String,
    pub app_id: Option<String>,
    /// What else delivery needs (a subscription's keys).
    pub data: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

#[async_trait]
pub trait ChannelStore: Send + Sync + 'static {
    /// Creates or replaces an account's connection (keeping its creation time).
    async fn put_connection(&self, c: &Connection) -> Result<Connection>;
    async fn connection(&self, account: &str, provider: &str) -> Result<Option<Connection>>;
    async fn connections(&self, account: &str) -> Result<Vec<Connection>>;
    /// Removes the connection and its user matches; false when there was none.
    async fn delete_connection(&self, account: &str, provider: &str) -> Result<bool>;

    async fn put_user_link(&self, account: &str, link: &UserLink) -> Result<()>;
    /// The right to look `user` up on `provider`; `None` while another caller (on any
    /// node) holds it.
    async fn try_lock_match(
        &self,
        account: &str,
        user: &str,
        provider: &str,
    ) -> Result<Option<MatchLock>>;
    async fn user_links(
        &self,
        account: &str,
        provider: &str,
        users: &[String],
    ) -> Result<Vec<UserLink>>;

    /// Registers a device. The same endpoint or token registered again (by this or
    /// another user: a shared browser, a re-installed app) keeps its id and moves to the
    /// registering user.
    async fn put_device(&self, d: &Device) -> Result<Device>;
    /// The devices of the users among `users`.
    async fn devices(&self, account: &str, users: &[String]) -> Result<Vec<Device>>;
    async fn delete_device(&self, account: &str, user: &str, id: &str) -> Result<bool>;
    /// Prunes a subscription or token the provider reported gone.
    async fn delete_device_token(&self, kind: &str, token: &str) -> Result<bool>;

    /// The key stored under `name`, storing `fresh` first when there is none (the first
    /// node to start wins; the others read its key).
    async fn server_key(&self, name: &str, fresh: &str, now: i64) -> Result<String>;
}
