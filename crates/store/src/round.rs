//! What a processing round writes, planned before its one transaction: decisions, bell
//! items (and the groups they open or join), batch changes, jobs and first mentions.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use varsel_core::decide::Decision;

use crate::FeedItem;
use crate::jobs::{BatchOp, NewJob};

/// A notification to store for one user.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub dedupe_key: String,
    pub event_id: String,
    pub kind: String,
    pub section: String,
    pub title: String,
    pub body: String,
    pub url: Option<String>,
    pub count: i64,
    pub actor_id: Option<String>,
    pub popup_sound: Option<String>,
    pub browser: bool,
    pub in_feed: bool,
    pub created_at: i64,
    /// Channel → initial delivery state (`delivered`, `pending`, `scheduled`).
    pub deliveries: Vec<(String, String)>,
    /// A grouped bell item's people, newest first (empty otherwise).
    pub actor_ids: Vec<String>,
}

impl NewNotification {
    /// The bell item it is once stored as `seq`.
    pub(crate) fn feed_item(&self, seq: i64) -> FeedItem {
        FeedItem {
            seq,
            id: self.id.clone(),
            account_id: self.account_id.clone(),
            user_id: self.user_id.clone(),
            kind: self.kind.clone(),
            section: self.section.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            url: self.url.clone(),
            count: self.count,
            actor_id: self.actor_id.clone(),
            popup_sound: self.popup_sound.clone(),
            browser: self.browser,
            in_feed: self.in_feed,
            created_at: self.created_at,
            seen_at: None,
            read_at: None,
            archived_at: None,
            snoozed_until: None,
            actor_ids: self.actor_ids.clone(),
            updated: false,
        }
    }
}

/// The decisions for one (event, user).
#[derive(Debug, Clone)]
pub struct DecisionRow {
    pub event_id: String,
    pub account_id: String,
    pub user_id: String,
    pub decisions: Vec<Decision>,
}

/// The result of processing a batch of events, written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct ProcessedBatch {
    pub event_ids: Vec<String>,
    pub decisions: Vec<DecisionRow>,
    pub notifications: Vec<NewNotification>,
    /// (account, activity, user) first mentions to remember.
    pub mentions: Vec<(String, String, String)>,
    /// Jobs caused by this batch (enqueued in the same transaction).
    pub jobs: Vec<NewJob>,
    /// Batch changes in event order: additions (delayed, grouped delivery) and
    /// assignments withdrawn from other users' open batches.
    pub batch_ops: Vec<BatchOp>,
    /// (event id, notification id): which events fed which notifications.
    pub links: Vec<(String, String)>,
    /// (batch id, new state): batches this work fired.
    pub close_batches: Vec<(String, String)>,
    /// Grouped bell items opened or updated, in order.
    pub bell_groups: Vec<BellGroupOp>,
    /// What each grouped notification said, under its group's item.
    pub members: Vec<NewMember>,
    /// New bell items of types that group, planned but not yet resolved into
    /// `bell_groups` (the processor does that against the stored groups before writing).
    pub bell_candidates: Vec<BellCandidate>,
    pub processed_at: i64,
}

/// A new bell item of a type that groups, before it is known whether it opens a group or
/// joins one.
#[derive(Debug, Clone, PartialEq)]
pub struct BellCandidate {
    pub notification_id: String,
    pub account_id: String,
    pub user_id: String,
    /// The type and the object: `<type>:<object id>`.
    pub group_key: String,
    pub window_ms: i64,
    pub event_id: String,
    pub actor_id: Option<String>,
    pub kind: String,
    pub locale: String,
    /// The template variables the item was rendered with (`count` and `others` change).
    pub vars: serde_json::Value,
}

/// A change to a grouped bell item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BellGroupOp {
    /// `notification_id`, new in this batch, opens the group of (account, user, key)
    /// until `until`. `replaces` is the group's item planning saw and could not join
    /// (its window over, archived or snoozed); `None` when it saw none. Another node
    /// having opened or replaced the group since is a [`crate::StoreError::Conflict`].
    Open {
        account_id: String,
        user_id: String,
        group_key: String,
        notification_id: String,
        until: i64,
        replaces: Option<String>,
    },
    /// The open item `notification_id`, read with `expect_count`, gathers the new
    /// notifications `carriers` (kept out of the list, they carry the other channels'
    /// deliveries): its count, actors and text change, and it is unread at the top
    /// again. A count changed since is a [`crate::StoreError::Conflict`].
    Join {
        notification_id: String,
        expect_count: i64,
        count: i64,
        actor_ids: Vec<String>,
        title: String,
        body: String,
        carriers: Vec<String>,
    },
}

impl BellGroupOp {
    /// Whether the op is written: its new item (`Open`) or one of its carriers (`Join`)
    /// was inserted by this transaction (`written`, ids to `seq`). An event processed
    /// twice inserted none, and its op is left out.
    pub(crate) fn applies(&self, written: &HashMap<String, i64>) -> bool {
        match self {
            BellGroupOp::Open {
                notification_id, ..
            } => written.contains_key(notification_id),
            BellGroupOp::Join { carriers, .. } => carriers.iter().any(|c| written.contains_key(c)),
        }
    }
}

/// One notification of a grouped bell item, as it would have read on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMember {
    /// The group's item.
    pub notification_id: String,
    pub event_id: String,
    pub actor_id: Option<String>,
    pub title: String,
    pub body: String,
    pub created_at: i64,
}

/// A grouped bell item's group as planning reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BellGroup {
    pub account_id: String,
    pub user_id: String,
    pub group_key: String,
    pub notification_id: String,
    pub until: i64,
    pub count: i64,
    pub actor_ids: Vec<String>,
    /// The window is open and the item is in the list (not archived or snoozed).
    pub joinable: bool,
}

impl ProcessedBatch {
    /// Adds `other`'s writes after this batch's (in order).
    pub fn append(&mut self, mut other: ProcessedBatch) {
        self.event_ids.append(&mut other.event_ids);
        self.decisions.append(&mut other.decisions);
        self.notifications.append(&mut other.notifications);
        self.mentions.append(&mut other.mentions);
        self.jobs.append(&mut other.jobs);
        self.batch_ops.append(&mut other.batch_ops);
        self.links.append(&mut other.links);
        self.close_batches.append(&mut other.close_batches);
        self.bell_groups.append(&mut other.bell_groups);
        self.members.append(&mut other.members);
        self.bell_candidates.append(&mut other.bell_candidates);
    }
}
