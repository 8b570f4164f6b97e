//! Batched reads for running jobs. The engine starts a claimed batch of jobs together, and
//! each first reads its notification and its recipient. Asked one by one, that is two
//! statements per job (on SQLite, each a hand-off to a connection's thread and back);
//! here the reads asked for meanwhile are answered by one statement per kind, the same
//! way `record.rs` groups the writes.

use std::collections::HashMap;
use std::sync::Arc;

use varsel_core::model::User;
use varsel_store::{FeedItem, Store};

use super::JobError;
use super::record::Group;

/// A user as the store keys them: (account, id).
type UserKey = (String, String);

/// The job engine's batched reads; a failed read is a failed attempt, retried.
#[derive(Clone)]
pub struct Lookups {
    notifications: Group<String, Option<FeedItem>>,
    users: Group<UserKey, Option<User>>,
}

impl Lookups {
    pub fn start(store: Arc<dyn Store>) -> Lookups {
        let s = store.clone();
        let notifications = Group::start(move |ids: Vec<String>| {
            let store = s.clone();
            async move {
                let found: HashMap<String, FeedItem> = store
                    .feed_by_ids(&distinct(&ids))
                    .await
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|n| (n.id.clone(), n))
                    .collect();
                // Asked twice in one group (two jobs of one notification): both get it.
                Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
            }
        });
        let users = Group::start(move |keys: Vec<UserKey>| {
            let store = store.clone();
            async move {
                let mut per_account: HashMap<&str, Vec<String>> = HashMap::new();
                for (account, id) in &keys {
                    per_account.entry(account).or_default().push(id.clone());
                }
                let mut found: HashMap<UserKey, User> = HashMap::new();
                for (account, ids) in per_account {
                    for (u, _) in store
                        .get_users(account, &distinct(&ids))
                        .await
                        .map_err(|e| e.to_string())?
                    {
                        found.insert((u.account_id.clone(), u.id.clone()), u);
                    }
                }
                Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
            }
        });
        Lookups {
            notifications,
            users,
        }
    }

    /// The notification `id`, if it exists.
    pub async fn notification(&self, id: &str) -> Result<Option<FeedItem>, JobError> {
        let found = self.notifications.call(id.to_string()).await;
        found.map_err(JobError::retry)
    }

    /// The notifications of `ids` that exist, in the order asked.
    pub async fn notifications(&self, ids: &[String]) -> Result<Vec<FeedItem>, JobError> {
        let found =
            futures::future::try_join_all(ids.iter().map(|id| self.notification(id))).await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// The user `id` of `account`, if known.
    pub async fn user(&self, account: &str, id: &str) -> Result<Option<User>, JobError> {
        let found = self.users.call((account.to_string(), id.to_string())).await;
        found.map_err(JobError::retry)
    }
}

/// `ids` without repeats, in their first order.
fn distinct(ids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.iter().filter(|id| seen.insert(*id)).cloned().collect()
}
