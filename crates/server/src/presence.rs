//! One presence truth across nodes. Each node knows its own tabs (the [`Hub`]) and keeps a
//! copy of every other node's: a node announces a user's tab counts on the bus whenever
//! they change, says it is alive every third of `presence_ttl_seconds`, and sends all its
//! presence to a node that (re)appears or asks. A node not heard from within the TTL is
//! forgotten with its tabs, so a node that dies takes its presence with it.
//!
//! Decisions (pop-up, browser notification, Web Push) and the routing of frames read the
//! sum over live nodes, so a user's tabs behave the same whichever nodes hold them.
//!
//! [`Hub`]: crate::hub::Hub

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use varsel_core::decide::Presence;
use varsel_store::{Bus, BusMsg, UserPresence};

use crate::state::AppState;

type Key = (String, String);

/// What one other node said about its tabs.
struct Node {
    instance: String,
    seen: Instant,
    users: HashMap<Key, Presence>,
}

/// The other nodes' presence, and which of this node's users changed since the last
/// announcement.
pub struct Cluster {
    nodes: Mutex<HashMap<String, Node>>,
    ttl: Duration,
    /// This node's users whose tabs changed and are not announced yet (bounded by the
    /// users with streams here).
    dirty: Mutex<HashSet<Key>>,
    changed: tokio::sync::Notify,
}

impl Cluster {
    pub fn new(ttl: Duration) -> Cluster {
        Cluster {
            nodes: Mutex::new(HashMap::new()),
            ttl,
            dirty: Mutex::new(HashSet::new()),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn nodes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Node>> {
        // Single inserts and removes: a poisoned lock still holds a consistent map.
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The user's tabs on the other live nodes.
    pub fn remote(&self, account: &str, user: &str) -> Presence {
        let nodes = self.nodes();
        if nodes.is_empty() {
            return Presence::default();
        }
        let key = (account.to_string(), user.to_string());
        let now = Instant::now();
        let mut sum = Presence::default();
        for n in nodes.values() {
            if now.duration_since(n.seen) > self.ttl {
                continue;
            }
            if let Some(p) = n.users.get(&key) {
                sum.open_tabs += p.open_tabs;
                sum.active_tabs += p.active_tabs;
            }
        }
        sum
    }

    /// Notes a message from `origin`; true when it is a node (or an instance of it) not
    /// known before, whose earlier presence is dropped.
    fn heard(nodes: &mut HashMap<String, Node>, origin: &str, instance: &str) -> bool {
        let now = Instant::now();
        match nodes.get_mut(origin) {
            Some(n) if n.instance == instance => {
                n.seen = now;
                false
            }
            _ => {
                nodes.insert(
                    origin.to_string(),
                    Node {
                        instance: instance.to_string(),
                        seen: now,
                        users: HashMap::new(),
                    },
                );
                true
            }
        }
    }

    /// Another node's tabs of some users; true when that node is new to this one.
    pub fn apply(&self, origin: &str, instance: &str, users: Vec<UserPresence>) -> bool {
        let mut nodes = self.nodes();
        let new = Self::heard(&mut nodes, origin, instance);
        if let Some(n) = nodes.get_mut(origin) {
            for u in users {
                let key = (u.account, u.user);
                if u.open_tabs == 0 {
                    n.users.remove(&key);
                } else {
                    n.users.insert(
                        key,
                        Presence {
                            open_tabs: u.open_tabs as usize,
                            active_tabs: u.active_tabs as usize,
                        },
                    );
                }
            }
        }
        new
    }

    /// Another node is alive; true when it is new to this one.
    pub fn alive(&self, origin: &str, instance: &str) -> bool {
        Self::heard(&mut self.nodes(), origin, instance)
    }

    /// Forgets the nodes not heard from within the TTL.
    pub fn expire(&self) {
        let now = Instant::now();
        self.nodes()
            .retain(|_, n| now.duration_since(n.seen) <= self.ttl);
    }

    /// Forgets every other node (their presence comes again when they answer a sync).
    pub fn forget_all(&self) {
        self.nodes().clear();
    }

    /// Notes that a local user's tabs changed.
    pub fn touch(&self, key: &Key) {
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        if dirty.insert(key.clone()) && dirty.len() == 1 {
            self.changed.notify_one();
        }
    }

    /// Marks every given user to be announced (another node wants all of them).
    pub fn touch_all(&self, keys: impl IntoIterator<Item = Key>) {
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        dirty.extend(keys);
        self.changed.notify_one();
    }

    fn take_dirty(&self) -> Vec<Key> {
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        dirty.drain().collect()
    }
}

/// This process's instance id: a node restarted with the same `node_id` is a new instance,
/// so the others drop what they knew of the old one.
pub fn new_instance() -> String {
    crate::auth::random_hex(8)
}

/// Announces this node's presence and heartbeats until the process ends.
pub async fn run(state: AppState, bus: Arc<dyn Bus>) {
    let cluster = &state.hub.cluster;
    let origin = state.node_id.clone();
    let instance = state.instance.clone();
    let beat = cluster.ttl / 3;
    // Ask the others for theirs; they see this instance as new and send all of it.
    publish(
        &*bus,
        &BusMsg::PresenceSync {
            origin: origin.clone(),
            instance: instance.clone(),
        },
    )
    .await;
    let mut ticker = tokio::time::interval(beat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cluster.changed.notified() => {}
            _ = ticker.tick() => {
                cluster.expire();
                publish(&*bus, &BusMsg::Alive { origin: origin.clone(), instance: instance.clone() }).await;
            }
        }
        let keys = cluster.take_dirty();
        if keys.is_empty() {
            continue;
        }
        let users = keys
            .into_iter()
            .map(|(account, user)| {
                let p = state.hub.local_presence(&account, &user);
                UserPresence {
                    account,
                    user,
                    open_tabs: u32::try_from(p.open_tabs).unwrap_or(u32::MAX),
                    active_tabs: u32::try_from(p.active_tabs).unwrap_or(u32::MAX),
                }
            })
            .collect();
        publish(
            &*bus,
            &BusMsg::Presence {
                origin: origin.clone(),
                instance: instance.clone(),
                users,
            },
        )
        .await;
    }
}

async fn publish(bus: &dyn Bus, msg: &BusMsg) {
    if let Err(e) = bus.publish(msg).await {
        tracing::warn!(error = %e, "could not tell other nodes of presence");
    }
}

/// Acts on another node's presence message.
pub fn follow(state: &AppState, msg: BusMsg) {
    let cluster = &state.hub.cluster;
    let resend = match msg {
        BusMsg::Presence {
            origin,
            instance,
            users,
        } => cluster.apply(&origin, &instance, users),
        BusMsg::Alive { origin, instance } => cluster.alive(&origin, &instance),
        BusMsg::PresenceSync { origin, instance } => {
            cluster.alive(&origin, &instance);
            true
        }
        BusMsg::Reconnected => {
            // Messages were lost: start over from what every node says now.
            cluster.forget_all();
            let bus = state.bus.clone();
            let (origin, instance) = (state.node_id.clone(), state.instance.clone());
            tokio::spawn(async move {
                if let Some(bus) = bus {
                    publish(&*bus, &BusMsg::PresenceSync { origin, instance }).await;
                }
            });
            true
        }
        _ => false,
    };
    if resend {
        cluster.touch_all(state.hub.local_users());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(user: &str, open: u32, active: u32) -> UserPresence {
        UserPresence {
            account: "acme".into(),
            user: user.into(),
            open_tabs: open,
            active_tabs: active,
        }
    }

    #[test]
    fn sums_live_nodes_and_forgets_a_restarted_one() {
        let c = Cluster::new(Duration::from_secs(6));
        assert!(c.apply("b", "1", vec![up("ada", 1, 1)]));
        assert!(c.apply("c", "1", vec![up("ada", 2, 0)]));
        let p = c.remote("acme", "ada");
        assert_eq!((p.open_tabs, p.active_tabs), (3, 1));
        // b closed its tab.
        assert!(!c.apply("b", "1", vec![up("ada", 0, 0)]));
        assert_eq!(c.remote("acme", "ada").active_tabs, 0);
        // c restarted: what it said before is gone.
        assert!(c.alive("c", "2"));
        assert_eq!(c.remote("acme", "ada"), Presence::default());
    }

    #[test]
    fn a_silent_node_is_forgotten_after_the_ttl() {
        let c = Cluster::new(Duration::from_millis(30));
        c.apply("b", "1", vec![up("ada", 1, 1)]);
        assert_eq!(c.remote("acme", "ada").open_tabs, 1);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(c.remote("acme", "ada").open_tabs, 0, "ignored once stale");
        c.expire();
        assert!(c.nodes().is_empty());
    }

    #[test]
    fn changes_are_coalesced_per_user() {
        let c = Cluster::new(Duration::from_secs(6));
        let k: Key = ("acme".into(), "ada".into());
        c.touch(&k);
        c.touch(&k);
        c.touch_all([("acme".into(), "bo".into())]);
        let mut keys = c.take_dirty();
        keys.sort();
        assert_eq!(keys.len(), 2);
        assert!(c.take_dirty().is_empty());
    }
}
