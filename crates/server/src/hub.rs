//! The real-time hub of one node: the open streams of every user's tabs, their presence,
//! and the routing of a new notification to a pop-up (the active tab) or a browser
//! notification (open tabs, none active) — SPEC §2.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::mpsc;
use varsel_core::decide::Presence;
use varsel_store::FeedItem;

use crate::dto::FeedItemDto;

/// What a stream sends to its tab.
#[derive(Debug, Clone)]
pub enum StreamMsg {
    Notification {
        seq: i64,
        item: Box<NotificationFrame>,
    },
    UnreadCount(i64),
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
    id: u64,
    tab: String,
    tx: mpsc::Sender<StreamMsg>,
}

#[derive(Default)]
struct UserStreams {
    conns: Vec<Conn>,
    /// tab id → active (focused and visible).
    active: HashMap<String, bool>,
}

impl UserStreams {
    fn open_tabs(&self) -> impl Iterator<Item = &str> {
        self.conns.iter().map(|c| c.tab.as_str())
    }

    fn is_active(&self, tab: &str) -> bool {
        self.active.get(tab).copied().unwrap_or(false)
    }

    fn presence(&self) -> Presence {
        let mut tabs: Vec<&str> = self.open_tabs().collect();
        tabs.sort_unstable();
        tabs.dedup();
        Presence {
            open_tabs: tabs.len(),
            active_tabs: tabs.iter().filter(|t| self.is_active(t)).count(),
        }
    }
}

type Key = (String, String);

/// Most tabs whose presence is remembered per user.
const MAX_TABS_PER_USER: usize = 32;

/// Streams and presence of this node.
#[derive(Default)]
pub struct Hub {
    users: Mutex<HashMap<Key, UserStreams>>,
    next_id: AtomicU64,
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
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, UserStreams>> {
        // A panic while holding this lock cannot leave the map inconsistent (single
        // inserts and removes), so a poisoned lock is still usable.
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a tab's stream.
    pub fn register(
        &self,
        account: &str,
        user: &str,
        tab: &str,
        active: Option<bool>,
        tx: mpsc::Sender<StreamMsg>,
    ) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let key = (account.to_string(), user.to_string());
        let mut users = self.lock();
        let entry = users.entry(key.clone()).or_default();
        entry.conns.push(Conn {
            id,
            tab: tab.to_string(),
            tx,
        });
        if let Some(a) = active {
            entry.active.insert(tab.to_string(), a);
        }
        metrics::gauge!("varsel_sse_connections").increment(1.0);
        Registration { key, id }
    }

    pub fn guard(&self, reg: Registration) -> ConnGuard<'_> {
        ConnGuard {
            hub: self,
            key: reg.key,
            id: reg.id,
        }
    }

    fn remove(&self, key: &Key, id: u64) {
        let mut users = self.lock();
        if let Some(entry) = users.get_mut(key) {
            let before = entry.conns.len();
            entry.conns.retain(|c| c.id != id);
            if entry.conns.len() < before {
                metrics::gauge!("varsel_sse_connections").decrement(1.0);
            }
            let open: Vec<String> = entry.open_tabs().map(str::to_string).collect();
            entry.active.retain(|t, _| open.contains(t));
            if entry.conns.is_empty() {
                users.remove(key);
            }
        }
    }

    /// A tab reports whether it is active.
    pub fn set_active(&self, account: &str, user: &str, tab: &str, active: bool) {
        let mut users = self.lock();
        let entry = users
            .entry((account.to_string(), user.to_string()))
            .or_default();
        entry.active.insert(tab.to_string(), active);
        // Presence of tabs without a stream is kept only for the few that are about to
        // connect; reports for made-up tab ids cannot grow the map.
        if entry.active.len() > MAX_TABS_PER_USER {
            let open: Vec<String> = entry.open_tabs().map(str::to_string).collect();
            entry.active.retain(|t, _| open.contains(t) || t == tab);
        }
        if entry.conns.is_empty() && !active {
            users.remove(&(account.to_string(), user.to_string()));
        }
    }

    pub fn presence(&self, account: &str, user: &str) -> Presence {
        self.lock()
            .get(&(account.to_string(), user.to_string()))
            .map(UserStreams::presence)
            .unwrap_or_default()
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
            let presence = entry.presence();
            let dto = FeedItemDto::from(item);
            for conn in &entry.conns {
                let active = entry.is_active(&conn.tab);
                let popup = match &item.popup_sound {
                    Some(sound) if active => Some(PopupFrame {
                        sound: sound.clone(),
                    }),
                    _ => None,
                };
                let browser = item.browser && presence.active_tabs == 0;
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
            for conn in &entry.conns {
                let _ = conn.tx.try_send(StreamMsg::UnreadCount(unread));
            }
        }
    }

    pub fn has_streams(&self, account: &str, user: &str) -> bool {
        self.lock()
            .get(&(account.to_string(), user.to_string()))
            .is_some_and(|e| !e.conns.is_empty())
    }
}
