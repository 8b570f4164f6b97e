//! The end of a user's quiet hours: what the window held goes out. Per channel, one
//! held notification goes as it is and several go as one summary ("3 notifications
//! while quiet hours were on"). Pop-ups and browser notifications are one desktop
//! interruption, routed by where the user is at the window's end (`plan::desktop_route`);
//! all held emails go in one email. What the user already read in the bell is not sent
//! again elsewhere.
//!
//! A release is a notification of its own, not listed in the bell (its items are there
//! already), whose deliveries are the held channels; each held event is linked to it,
//! so the event's trace shows how the release went. The held deliveries say which
//! release carried them.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use varsel_core::plan::{Route, desktop_route};
use varsel_store::{Batch, BatchItem, FeedItem, NewNotification, ProcessedBatch};

use super::deliver::DeliverJob;
use super::email::EmailJob;
use super::{Effects, JobError};
use crate::processor::shared::{AccountCache, connections, load_channels};
use crate::state::AppState;

/// What the quiet batch keeps of a held notification.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HeldItem {
    pub notification_id: String,
    /// The type's sound for the user, decided with the notification.
    pub sound: String,
}

/// Where a held delivery goes at the window's end: the desktop (pop-up or browser,
/// routed then) or its own channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Held {
    Desktop,
    Channel(Route),
}

fn held(channel: &str) -> Option<Held> {
    match Route::parse(channel)? {
        Route::Popup | Route::Browser => Some(Held::Desktop),
        r @ (Route::Slack | Route::Teams | Route::Mobile | Route::Email) => Some(Held::Channel(r)),
        Route::Bell | Route::WebPush => None,
    }
}

/// Writes the release of quiet batch `b` into `work` (and the held deliveries' new
/// states into `fx`).
pub async fn release(
    state: &AppState,
    b: &Batch,
    live: &[&BatchItem],
    work: &mut ProcessedBatch,
    fx: &mut Effects,
) -> Result<(), JobError> {
    let now = work.processed_at;
    // Notification id → (the type's sound for the user, the held event).
    let held_items: HashMap<String, (String, &str)> = live
        .iter()
        .filter_map(|i| {
            serde_json::from_value::<HeldItem>(i.item.clone())
                .ok()
                .map(|h| (h.notification_id, (h.sound, i.event_id.as_str())))
        })
        .collect();
    let ids: Vec<String> = held_items.keys().cloned().collect();
    // Newest first: a summary lists the newest titles first and takes the newest sound.
    let mut items = state.store.feed_by_ids(&ids).await?;
    items.reverse();
    let deliveries = state.store.deliveries(&ids).await?;
    let mut accounts = AccountCache::default();
    let Some(account) = accounts.get(state, &b.account_id).await? else {
        return Ok(());
    };
    let users = state
        .store
        .get_users(&b.account_id, std::slice::from_ref(&b.user_id))
        .await?;
    let Some((user, _)) = users.first() else {
        return Ok(());
    };

    let mut by_route: BTreeMap<Held, Vec<&FeedItem>> = BTreeMap::new();
    // (notification, channel, where it goes): the held deliveries, to say what became of them.
    let mut rows: Vec<(&str, &str, Held)> = Vec::new();
    for item in &items {
        for d in deliveries
            .iter()
            .filter(|d| d.notification_id == item.id && d.state == "scheduled")
        {
            let Some(h) = held(&d.channel) else {
                continue;
            };
            if item.read_at.is_some() {
                fx.delivery(
                    &item.id,
                    &d.channel,
                    "dropped",
                    Some("read_during_quiet_hours"),
                );
                continue;
            }
            rows.push((&item.id, &d.channel, h));
            let list = by_route.entry(h).or_default();
            if !list.iter().any(|i| i.id == item.id) {
                list.push(item);
            }
        }
    }

    if let Some(list) = by_route.remove(&Held::Channel(Route::Email)) {
        // Oldest first, like a thread's grouped email.
        let ids = list.iter().rev().map(|i| i.id.clone()).collect();
        work.jobs
            .push(EmailJob::Notifications { ids, held: true }.job(
                &b.account_id,
                format!("email:batch:{}", b.id),
                now,
            ));
    }

    // Channels that held the same notifications share one release.
    let mut groups: BTreeMap<Vec<&str>, Vec<Held>> = BTreeMap::new();
    for (h, list) in &by_route {
        groups
            .entry(list.iter().map(|i| i.id.as_str()).collect())
            .or_default()
            .push(*h);
    }
    let channels = load_channels(state, account, &[user]).await?;
    let web_push = connections(state, account, user, channels.get(&user.id)).web_push;
    let presence = state.hub.presence(&b.account_id, &b.user_id);
    let sound_of = |id: &str| {
        held_items
            .get(id)
            .map(|(s, _)| s.clone())
            .unwrap_or_default()
    };
    let event_of = |id: &str| {
        held_items
            .get(id)
            .map(|(_, e)| e.to_string())
            .unwrap_or_default()
    };
    for (n, (group, routes)) in groups.into_iter().enumerate() {
        let list: Vec<&FeedItem> = group
            .iter()
            .filter_map(|id| items.iter().find(|i| i.id == *id))
            .collect();
        let Some(newest) = list.first() else {
            continue;
        };
        let release_id = format!("ntf_{}", ulid::Ulid::new());
        let sound = sound_of(&newest.id);
        let mut out: Vec<(String, String)> = Vec::new();
        let mut popup_sound = None;
        let mut browser = false;
        for h in routes {
            let route = match h {
                Held::Desktop => match desktop_route(presence, web_push) {
                    Ok(r) => r,
                    Err(why) => {
                        mark(fx, &rows, &group, h, "dropped", why);
                        continue;
                    }
                },
                Held::Channel(r) => r,
            };
            match route {
                Route::Popup => popup_sound = Some(sound.clone()),
                Route::Browser => browser = true,
                _ => {}
            }
            let first = if route.is_job() {
                work.jobs.push(DeliverJob::job(
                    &b.account_id,
                    &release_id,
                    route.as_str(),
                    &sound,
                    now,
                ));
                "pending"
            } else {
                "sent"
            };
            out.push((route.as_str().to_string(), first.to_string()));
            let why = format!("quiet_hours:released:{release_id}");
            mark(fx, &rows, &group, h, "sent", &why);
        }
        if out.is_empty() {
            continue;
        }
        let (title, body, url) = if let [only] = list.as_slice() {
            (only.title.clone(), only.body.clone(), only.url.clone())
        } else {
            let titles: Vec<&str> = list.iter().map(|i| i.title.as_str()).collect();
            (
                varsel_core::quiet::summary_title(&user.locale, list.len()),
                varsel_core::quiet::summary_body(&user.locale, &titles),
                None,
            )
        };
        for i in &list {
            work.links.push((event_of(&i.id), release_id.clone()));
        }
        work.notifications.push(NewNotification {
            id: release_id,
            account_id: b.account_id.clone(),
            user_id: b.user_id.clone(),
            dedupe_key: format!("quiet:{}:{n}", b.id),
            event_id: event_of(&newest.id),
            kind: newest.kind.clone(),
            section: newest.section.clone(),
            title,
            body,
            url,
            count: list.len() as i64,
            actor_id: (list.len() == 1).then(|| newest.actor_id.clone()).flatten(),
            popup_sound,
            browser,
            in_feed: false,
            created_at: now,
            deliveries: out,
            actor_ids: Vec::new(),
        });
    }
    Ok(())
}

/// Sets the state of the held deliveries of `ids` that went to `h`.
fn mark(
    fx: &mut Effects,
    rows: &[(&str, &str, Held)],
    ids: &[&str],
    h: Held,
    state: &str,
    reason: &str,
) {
    for (id, channel, _) in rows
        .iter()
        .filter(|(id, _, held)| *held == h && ids.contains(id))
    {
        fx.delivery(id, channel, state, Some(reason));
    }
}
