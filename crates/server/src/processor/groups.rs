//! Grouped bell items: a new bell item of a type with `bell_grouping` either opens the
//! group of its (user, type, object) or, while the group's window is open, joins the
//! group's item — the item's count, people and title change, it is unread at the top
//! again, and the new notification stays out of the list (it still carries the pop-up,
//! email and other channels). Resolved for a whole round against the stored groups in
//! one query; the write checks nothing changed since (see `BellGroupOp`).

use std::collections::HashMap;

use varsel_store::{BellCandidate, BellGroup, BellGroupOp, NewMember, ProcessedBatch};

use crate::state::AppState;

/// A group as this round leaves it.
enum Group {
    /// Opened in this round by the notification at this index of the batch.
    New { index: usize },
    /// Stored; its `Join` op (if any yet) at this index of `bell_groups`.
    Stored {
        group: BellGroup,
        join: Option<usize>,
    },
}

type Key = (String, String, String);

/// Turns the round's candidates into group ops, members and updated notifications.
pub async fn resolve(state: &AppState, batch: &mut ProcessedBatch) -> anyhow::Result<()> {
    let candidates = std::mem::take(&mut batch.bell_candidates);
    if candidates.is_empty() {
        return Ok(());
    }
    let now = batch.processed_at;
    let mut keys: Vec<Key> = candidates.iter().map(key).collect();
    keys.sort_unstable();
    keys.dedup();
    let mut stored: HashMap<Key, BellGroup> = state
        .store
        .bell_groups(&keys, now)
        .await?
        .into_iter()
        .map(|g| {
            (
                (g.account_id.clone(), g.user_id.clone(), g.group_key.clone()),
                g,
            )
        })
        .collect();
    let index: HashMap<String, usize> = batch
        .notifications
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.clone(), i))
        .collect();
    let mut groups: HashMap<Key, Group> = HashMap::new();
    for c in candidates {
        let Some(&at) = index.get(&c.notification_id) else {
            continue;
        };
        let k = key(&c);
        let (title, body) = {
            let n = &batch.notifications[at];
            (n.title.clone(), n.body.clone())
        };
        let group = match groups.remove(&k) {
            Some(g) => g,
            None => match stored.remove(&k) {
                Some(g) if g.joinable => Group::Stored {
                    group: g,
                    join: None,
                },
                other => {
                    // Opens the group (over one that cannot be joined any more).
                    let n = &mut batch.notifications[at];
                    n.actor_ids = c.actor_id.iter().cloned().collect();
                    batch.bell_groups.push(BellGroupOp::Open {
                        account_id: c.account_id.clone(),
                        user_id: c.user_id.clone(),
                        group_key: c.group_key.clone(),
                        notification_id: c.notification_id.clone(),
                        until: now + c.window_ms,
                        replaces: other.map(|g| g.notification_id),
                    });
                    batch
                        .members
                        .push(member(&c, &c.notification_id, title, body, now));
                    groups.insert(k, Group::New { index: at });
                    continue;
                }
            },
        };
        // Joins: the new notification stays out of the list.
        batch.notifications[at].in_feed = false;
        let group = match group {
            Group::New { index } => {
                let item = &mut batch.notifications[index];
                item.count += 1;
                item.actor_ids = newest_first(&item.actor_ids, c.actor_id.as_deref());
                let text = render(state, &c, item.count, &item.actor_ids);
                item.title = text.title;
                item.body = text.body;
                item.actor_id = c.actor_id.clone().or(item.actor_id.take());
                batch.members.push(member(&c, &item.id, title, body, now));
                Group::New { index }
            }
            Group::Stored { group, join } => {
                let join = join.unwrap_or_else(|| {
                    batch.bell_groups.push(BellGroupOp::Join {
                        notification_id: group.notification_id.clone(),
                        expect_count: group.count,
                        count: group.count,
                        actor_ids: group.actor_ids.clone(),
                        title: String::new(),
                        body: String::new(),
                        carriers: Vec::new(),
                    });
                    batch.bell_groups.len() - 1
                });
                if let BellGroupOp::Join {
                    count,
                    actor_ids,
                    title: t,
                    body: b,
                    carriers,
                    ..
                } = &mut batch.bell_groups[join]
                {
                    *count += 1;
                    *actor_ids = newest_first(actor_ids, c.actor_id.as_deref());
                    let text = render(state, &c, *count, actor_ids);
                    *t = text.title;
                    *b = text.body;
                    carriers.push(c.notification_id.clone());
                }
                batch
                    .members
                    .push(member(&c, &group.notification_id, title, body, now));
                Group::Stored {
                    group,
                    join: Some(join),
                }
            }
        };
        groups.insert(k, group);
    }
    Ok(())
}

fn key(c: &BellCandidate) -> Key {
    (c.account_id.clone(), c.user_id.clone(), c.group_key.clone())
}

/// The group's people with `actor` first, each once.
fn newest_first(actors: &[String], actor: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = actor.map(str::to_string).into_iter().collect();
    out.extend(actors.iter().filter(|a| Some(a.as_str()) != actor).cloned());
    out
}

/// The group's text in the recipient's language: the newest notification's variables
/// with the group's count and how many others than its actor.
fn render(
    state: &AppState,
    c: &BellCandidate,
    count: i64,
    actors: &[String],
) -> varsel_core::render::Rendered {
    let mut vars = c.vars.clone();
    vars["count"] = count.into();
    vars["others"] = (actors.len().saturating_sub(1)).into();
    state.renderer.render_any(&c.kind, &c.locale, &vars)
}

fn member(c: &BellCandidate, item: &str, title: String, body: String, now: i64) -> NewMember {
    NewMember {
        notification_id: item.to_string(),
        event_id: c.event_id.clone(),
        actor_id: c.actor_id.clone(),
        title,
        body,
        created_at: now,
    }
}
