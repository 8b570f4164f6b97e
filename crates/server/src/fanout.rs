//! Fan-out of new notifications to open streams: this node's directly, other nodes'
//! through the PostgreSQL bus.

use std::collections::HashMap;

use tokio::sync::mpsc;
use varsel_store::{BusMsg, FeedItem};

use crate::state::AppState;

/// Pushes waiting at most before a writer waits for the pusher.
const QUEUE: usize = 256;

/// New feed items waiting to be pushed, in the order they were written. One task pushes
/// them (to this node's streams, then the unread counts, then to the bus), so the event
/// processor starts its next round without waiting for the push's round trips.
pub struct Fanout {
    tx: mpsc::Sender<Vec<FeedItem>>,
}

impl Fanout {
    /// The queue and its receiving end, for [`run`].
    pub fn new() -> (Fanout, mpsc::Receiver<Vec<FeedItem>>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Fanout { tx }, rx)
    }
}

/// Pushes the queued items, for as long as the runtime runs.
pub async fn run(state: AppState, mut queue: mpsc::Receiver<Vec<FeedItem>>) {
    while let Some(items) = queue.recv().await {
        push_now(&state, &items).await;
    }
}

/// Queues new items for this node's streams and the other nodes (if any); waits only
/// while the queue is full.
pub async fn push(state: &AppState, items: Vec<FeedItem>) {
    if items.is_empty() {
        return;
    }
    if state.fanout.tx.send(items).await.is_err() {
        tracing::warn!("the push task has ended; new feed items were not pushed");
    }
}

/// Pushes new items to this node's streams and tells the other nodes to do the same.
async fn push_now(state: &AppState, items: &[FeedItem]) {
    push_local(state, items).await;
    if let Some(bus) = &state.bus {
        let ids = items.iter().map(|i| i.id.clone()).collect();
        let updated = items
            .iter()
            .filter(|i| i.updated)
            .map(|i| i.id.clone())
            .collect();
        if let Err(e) = bus
            .publish(&BusMsg::Feed {
                origin: state.node_id.clone(),
                ids,
                updated,
            })
            .await
        {
            tracing::warn!(error = %e, "could not tell other nodes of new feed items");
        }
    }
}

/// Pushes items to this node's streams, then each reached user's unread count.
async fn push_local(state: &AppState, items: &[FeedItem]) {
    let reached = state.hub.publish(items);
    let mut by_account: HashMap<&str, Vec<String>> = HashMap::new();
    for (account, user) in &reached {
        by_account.entry(account).or_default().push(user.clone());
    }
    for (account, users) in by_account {
        match state.store.unread_counts(account, &users).await {
            Ok(counts) => {
                for (user, n) in counts {
                    state.hub.send_unread(account, &user, n);
                }
            }
            Err(e) => tracing::warn!(error = %e, "unread counts for the stream failed"),
        }
    }
}

/// Acts on what other nodes say: push their new feed items and unread counts to this
/// node's streams, and wake the processor for events they accepted.
pub async fn follow_bus(state: AppState, mut rx: mpsc::Receiver<BusMsg>) {
    while let Some(msg) = rx.recv().await {
        if msg.origin() == state.node_id {
            continue;
        }
        match msg {
            BusMsg::Events { .. } => {
                state.wake.notify_one();
                state.jobs_wake.notify_one();
            }
            BusMsg::Unread {
                account,
                user,
                changed,
                ..
            } => {
                if let Some(c) = &changed {
                    state.hub.send_feed_changed(&account, &user, c);
                }
                if state.hub.has_streams(&account, &user) {
                    match state.store.unread_count(&account, &user).await {
                        Ok(n) => state.hub.send_unread(&account, &user, n),
                        Err(e) => tracing::warn!(error = %e, "unread count for the stream failed"),
                    }
                }
            }
            BusMsg::Feed { ids, updated, .. } => match state.store.feed_by_ids(&ids).await {
                Ok(mut items) => {
                    for i in &mut items {
                        i.updated = updated.contains(&i.id);
                    }
                    push_local(&state, &items).await
                }
                Err(e) => tracing::warn!(error = %e, "loading feed items from another node failed"),
            },
            presence @ (BusMsg::Presence { .. }
            | BusMsg::Alive { .. }
            | BusMsg::PresenceSync { .. }
            | BusMsg::Reconnected) => crate::presence::follow(&state, presence),
        }
    }
}
