//! JSON shapes of the API that are not the core's own.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use varsel_store::FeedItem;

use crate::clock::rfc3339;

/// One item of the bell feed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedItemDto {
    pub id: String,
    /// The item's place in the list: a higher position is nearer the top. A snoozed item
    /// that comes back takes a new, highest position (its `created_at` stays).
    pub position: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub section: String,
    pub title: String,
    pub body: String,
    pub url: Option<String>,
    /// Number of events grouped into this notification.
    pub count: i64,
    pub actor_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    pub seen_at: Option<String>,
    pub read_at: Option<String>,
    /// Set on archived items (`GET /v1/me/feed?archived=true`).
    pub archived_at: Option<String>,
    /// Set on snoozed items: when they come back.
    pub snoozed_until: Option<String>,
    /// A grouped item's people, newest first (`GET /v1/me/feed/{id}/members` lists what
    /// each said); absent on items that group nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actor_ids: Vec<String>,
}

impl From<&FeedItem> for FeedItemDto {
    fn from(i: &FeedItem) -> FeedItemDto {
        FeedItemDto {
            id: i.id.clone(),
            position: i.seq,
            kind: i.kind.clone(),
            section: i.section.clone(),
            title: i.title.clone(),
            body: i.body.clone(),
            url: i.url.clone(),
            count: i.count,
            actor_id: i.actor_id.clone(),
            created_at: rfc3339(i.created_at),
            seen_at: i.seen_at.map(rfc3339),
            read_at: i.read_at.map(rfc3339),
            archived_at: i.archived_at.map(rfc3339),
            snoozed_until: i.snoozed_until.map(rfc3339),
            actor_ids: i.actor_ids.clone(),
        }
    }
}
