//! JSON shapes of the API that are not the core's own.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use varsel_store::FeedItem;

use crate::clock::rfc3339;

/// One item of the bell feed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedItemDto {
    pub id: String,
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
}

impl From<&FeedItem> for FeedItemDto {
    fn from(i: &FeedItem) -> FeedItemDto {
        FeedItemDto {
            id: i.id.clone(),
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
        }
    }
}
