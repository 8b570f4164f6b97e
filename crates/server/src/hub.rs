//! The real-time hub of one node: the open streams of every user's tabs, their presence,
//! and the routing of a new notification to a pop-up (the active tab) or a browser
//! notification (open tabs, none active on any node). The other nodes' tabs come from
//! [`Cluster`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;
use tokio::sync::mpsc;
use varsel_core::decide::Presence;
use varsel_store::FeedItem;

use crate::dto::FeedItemDto;
use crate::presence::Cluster;

/// What a stream sends to its tab.
#[derive(Debug, Clone)]
pub enum StreamMsg {
    Notification {
        seq: i64,
        item: Box<NotificationFrame>,
        /// A grouped item updated in place (`notification_updated`).
        updated: bool,
    },
    UnreadCount(i64),
    /// An item left or rejoined the list on another tab (`feed_changed`).
    FeedChanged(varsel_store::FeedChange),
}

/// The `notification` frame: the feed item plus the instruction for this tab.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationFrame {
    #[serde(flatten)]
    pub item: FeedItemDto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub popup: Option<PopupFrame>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub browser: bool,
    /// False when the user's bell is off: show the pop-up or browser notification only,
    /// do not add the item to the bell list.
    pub bell: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct PopupFrame {
    pub sound: String,
}

struct Conn {
    tab: String,
    tx: mpsc::Sender<StreamMsg>,
}

/// One tab of a user: its open streams and whether it said it is active.
#[derive(Default)]
struct Tab {
    streams: usize,
    active: bool,
}

#[derive(Default)]
struct UserStreams {
    /// Connection id → connection: opening and closing a stream is O(1).
    conns: HashMap<u64, Conn>,
    /// Tab id → its streams and presence. Tabs with a stream, plus at most
    /// [`MAX_TABS_PER_USER`] that reported presence before connecting.
    tabs: HashMap<String, Tab>,
}

impl UserStreams {
    fn is_active(&self, tab: &str) -> bool {
        self.tabs.get(tab).is_some_and(|t| t.active)
    }

    /// Bounded by the per-user stream cap plus [`MAX_TABS_PER_USER`].
    fn presence(&self) -> Presence {
        let open = self.tabs.values().filter(|t| t.streams > 0);
        let (mut open_tabs, mut active_tabs) = (0, 0);
        for t in open {
            open_tabs += 1;
            active_tabs += usize::from(t.active);
        }
        Presence {
            open_tabs,
            active_tabs,
        }
    }
}

type Key = (String, String);

/// Most tabs whose presence is remembered per user without an open stream.
const MAX_TABS_PER_USER: usize = 32;

/// Why a stream was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefused {
    /// The user has `max_streams_per_user` open streams.
    User(usize),
    /// This node has `max_streams` open streams.
    Node(usize),
}

/// Streams and presence of this node.
pub struct Hub {
    users: Mutex<HashMap<Key, UserStreams>>,
    next_id: AtomicU64,
    /// Open streams on this node (changed under the `users` lock).
    open: AtomicUsize,
    max_per_user: usize,
    max_total: usize,
    /// The other nodes' tabs, and this node's changes to announce to them.
    pub cluster: Cluster,
    /// Whether changes are announced (there are other nodes to tell).
    announce: bool,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub::new(20, 10_000)
    }
}

/// Unregisters its connection when the stream ends.
pub struct ConnGuard<'a> {
    hub: &'a Hub,
    key: Key,
    id: u64,
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.hub.remove(&self.key, self.id);
    }
}

/// A registered connection, owned by the stream.
pub struct Registration {
    pub key: Key,
    pub id: u64,
}

impl Hub {
    /// A hub that holds at most `max_per_user` streams per user and `max_total` in all.
    pub fn new(max_per_user: usize, max_total: usize) -> Hub {
        Hub {
            users: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            max_per_user,
            max_total,
            cluster: Cluster::new(std::time::Duration::from_secs(6)),
            announce: false,
        }
    }

    /// A hub that tells other nodes of its tabs' changes and counts theirs, forgetting a
    /// node not heard from within `ttl`.
    pub fn clustered(mut self, ttl: std::time::Duration) -> Hub {
        self.cluster = Cluster::new(ttl);
        self.announce = true;
        self
    }

    fn touch(&self, key: &Key) {
        if self.announce {
            self.cluster.touch(key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, UserStreams>> {
        // A panic while holding this lock cannot leave the map inconsistent (single
        // inserts and removes), so a poisoned lock is still usable.
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open streams on this node.
    pub fn open_streams(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Registers a tab's stream, unless the user or the node is at its cap.
    pub fn register(
        &self,
        account: &str,
        user: &str,
        tab: &str,
        active: Option<bool>,
        tx: mpsc::Sender<StreamMsg>,
    ) -> Result<Registration, StreamRefused> {
        let key = (account.to_string(), user.to_string());
        let mut users = self.lock();
        if self.open.load(Ordering::Relaxed) >= self.max_total {
            return Err(StreamRefused::Node(self.max_total));
        }
        let entry = users.entry(key.clone()).or_default();
        if entry.conns.len() >= self.max_per_user {
            return Err(StreamRefused::User(self.max_per_user));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        entry.conns.insert(
            id,
            Conn {
                tab: tab.to_string(),
                tx,
            },
        );
        let t = entry.tabs.entry(tab.to_string()).or_default();
        t.streams += 1;
        if let Some(a) = active {
            t.active = a;
        }
        self.open.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!("varsel_sse_connections").increment(1.0);
        self.touch(&key);
        Ok(Registration { key, id })
    }

    pub fn guard(&self, reg: Registration) -> ConnGuard<'_> {
        ConnGuard {
            hub: self,
            key: reg.key,
            id: reg.id,
        }
    }

    /// O(1): one map removal and one tab counter.
    fn remove(&self, key: &Key, id: u64) {
        let mut users = self.lock();
        let Some(entry) = users.get_mut(key) else {
            return;
        };
        let Some(conn) = entry.conns.remove(&id) else {
            return;
        };
        self.open.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!("varsel_sse_connections").decrement(1.0);
        if let Some(t) = entry.tabs.get_mut(&conn.tab) {
            t.streams = t.streams.saturating_sub(1);
            // A closed tab forgets its presence, as one that never connected.
            if t.streams == 0 {
                entry.tabs.remove(&conn.tab);
            }
        }
        if entry.conns.is_empty() && entry.tabs.is_empty() {
            users.remove(key);
        }
        self.touch(key);
    }

    /// A tab reports whether it is active.
    pub fn set_active(&self, account: &str, user: &str, tab: &str, active: bool) {
        let mut users = self.lock();
        let entry = users
            .entry((account.to_string(), user.to_string()))
            .or_default();
        entry.tabs.entry(tab.to_string()).or_default().active = active;
        // Presence of tabs without a stream is kept only for the few that are about to
        // connect; reports for made-up tab ids cannot grow the map.
        let waiting = entry.tabs.values().filter(|t| t.streams == 0).count();
        if waiting > MAX_TABS_PER_USER {
            entry.tabs.retain(|t, s| s.streams > 0 || t == tab);
        }
        if !active && entry.tabs.get(tab).is_some_and(|t| t.streams == 0) {
            entry.tabs.remove(tab);
        }
        let key = (account.to_string(), user.to_string());
        if entry.conns.is_empty() && entry.tabs.is_empty() {
            users.remove(&key);
        }
        drop(users);
        self.touch(&key);
    }

    /// The user's tabs on every live node.
    pub fn presence(&self, account: &str, user: &str) -> Presence {
        let local = self.local_presence(account, user);
        let remote = self.cluster.remote(account, user);
        Presence {
            open_tabs: local.open_tabs + remote.open_tabs,
            active_tabs: local.active_tabs + remote.active_tabs,
        }
    }

    /// The user's tabs on this node.
    pub fn local_presence(&self, account: &str, user: &str) -> Presence {
        self.lock()
            .get(&(account.to_string(), user.to_string()))
            .map(UserStreams::presence)
            .unwrap_or_default()
    }

    /// The users with tabs on this node.
    pub fn local_users(&self) -> Vec<Key> {
        self.lock().keys().cloned().collect()
    }

    /// Sends new notifications to the user's open tabs, routing pop-ups to the active tab
    /// and browser notifications to open tabs when none is active; returns the users
    /// whose unread count changed and who have streams.
    pub fn publish(&self, items: &[FeedItem]) -> Vec<Key> {
        let users = self.lock();
        let mut reached = Vec::new();
        for item in items {
            let key = (item.account_id.clone(), item.user_id.clone());
            let Some(entry) = users.get(&key) else {
                continue;
            };
            // A browser notification only when no tab is active on any node.
            let active_tabs =
                entry.presence().active_tabs + self.cluster.remote(&key.0, &key.1).active_tabs;
            let dto = FeedItemDto::from(item);
            for conn in entry.conns.values() {
                let active = entry.is_active(&conn.tab);
                // A grouped item's update is not news of its own: the notification that
                // joined it brought its own pop-up or browser notification.
                let popup = match &item.popup_sound {
                    Some(sound) if active && !item.updated => Some(PopupFrame {
                        sound: sound.clone(),
                    }),
                    _ => None,
                };
                let browser = item.browser && active_tabs == 0 && !item.updated;
                if !item.in_feed && popup.is_none() && !browser {
                    continue;
                }
                let frame = NotificationFrame {
                    item: dto.clone(),
                    popup,
                    browser,
                    bell: item.in_feed,
                };
                if conn
                    .tx
                    .try_send(StreamMsg::Notification {
                        seq: item.seq,
                        item: Box::new(frame),
                        updated: item.updated,
                    })
                    .is_err()
                {
                    tracing::warn!(notification.id = %item.id, "stream buffer full or closed; the tab resumes from Last-Event-ID");
                }
            }
            if item.in_feed && !reached.contains(&key) {
                reached.push(key);
            }
        }
        reached
    }

    /// Sends the unread count to every tab of a user.
    pub fn send_unread(&self, account: &str, user: &str, unread: i64) {
        if let Some(entry) = self.lock().get(&(account.to_string(), user.to_string())) {
            for conn in entry.conns.values() {
                let _ = conn.tx.try_send(StreamMsg::UnreadCount(unread));
            }
        }
    }

    pub fn send_feed_changed(&self, account: &str, user: &str, change: &varsel_store::FeedChange) {
        if let Some(entry) = self.lock().get(&(account.to_string(), user.to_string())) {
            for conn in entry.conns.values() {
                let _ = conn.tx.try_send(StreamMsg::FeedChanged(change.clone()));
            }
        }
    }

    pub fn has_streams(&self, account: &str, user: &str) -> bool {
        self.lock()
            .get(&(account.to_string(), user.to_string()))
            .is_some_and(|e| !e.conns.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx() -> mpsc::Sender<StreamMsg> {
        mpsc::channel(1).0
    }

    #[test]
    fn caps_per_user_and_per_node() {
        let hub = Hub::new(2, 3);
        let a1 = hub.register("acme", "a", "t1", None, tx()).unwrap();
        let _a2 = hub.register("acme", "a", "t2", None, tx()).unwrap();
        assert_eq!(
            hub.register("acme", "a", "t3", None, tx()).err(),
            Some(StreamRefused::User(2))
        );
        let _b1 = hub.register("acme", "b", "t1", None, tx()).unwrap();
        assert_eq!(
            hub.register("acme", "c", "t1", None, tx()).err(),
            Some(StreamRefused::Node(3))
        );
        drop(hub.guard(a1));
        assert_eq!(hub.open_streams(), 2);
        assert!(hub.register("acme", "c", "t1", None, tx()).is_ok());
    }

    #[test]
    fn presence_counts_tabs_not_streams() {
        let hub = Hub::new(20, 100);
        let r1 = hub.register("acme", "a", "t1", Some(true), tx()).unwrap();
        let r2 = hub.register("acme", "a", "t1", None, tx()).unwrap();
        let r3 = hub.register("acme", "a", "t2", Some(false), tx()).unwrap();
        let p = hub.presence("acme", "a");
        assert_eq!((p.open_tabs, p.active_tabs), (2, 1));
        drop(hub.guard(r1));
        let p = hub.presence("acme", "a");
        assert_eq!(
            (p.open_tabs, p.active_tabs),
            (2, 1),
            "t1 still has a stream"
        );
        drop(hub.guard(r2));
        let p = hub.presence("acme", "a");
        assert_eq!((p.open_tabs, p.active_tabs), (1, 0));
        drop(hub.guard(r3));
        assert!(!hub.has_streams("acme", "a"));
        assert!(hub.lock().is_empty(), "nothing left behind");
    }

    #[test]
    fn presence_reports_without_streams_are_bounded() {
        let hub = Hub::new(20, 100);
        for i in 0..1000 {
            hub.set_active("acme", "a", &format!("made-up-{i}"), true);
        }
        let tabs = hub
            .lock()
            .get(&("acme".into(), "a".into()))
            .map(|u| u.tabs.len());
        assert!(tabs.is_some_and(|n| n <= MAX_TABS_PER_USER + 1), "{tabs:?}");
        // An active report before the stream connects is kept.
        hub.set_active("acme", "a", "real", true);
        let _r = hub.register("acme", "a", "real", None, tx()).unwrap();
        assert_eq!(hub.presence("acme", "a").active_tabs, 1);
    }

    #[test]
    fn many_streams_open_and_close() {
        let hub = Hub::new(100_000, 100_000);
        let regs: Vec<_> = (0..20_000)
            .map(|i| {
                hub.register("acme", "a", &format!("t{}", i % 50), None, tx())
                    .unwrap()
            })
            .collect();
        assert_eq!(hub.open_streams(), 20_000);
        for r in regs {
            drop(hub.guard(r));
        }
        assert_eq!(hub.open_streams(), 0);
        assert!(hub.lock().is_empty());
    }
}
