//! The interface every delivery adapter implements, and the typed outcome of one attempt.
//! Whether a provider's error is worth retrying is decided per provider error code (see
//! each adapter's table in `docs/CHANNELS.md`).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What one delivery carries, already rendered in the recipient's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Stable per delivery (notification id + channel): providers that deduplicate use it.
    pub id: String,
    pub title: String,
    pub body: String,
    /// The record to open, if any.
    pub url: Option<String>,
    /// The pop-up sound name (`chime`, …, `none`), for channels that play one.
    pub sound: Option<String>,
    /// The user's unread count, for channels that show a badge.
    pub badge: Option<i64>,
    pub locale: String,
}

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again later; `after` is the provider's `Retry-After` when it gave one.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Do not try again.
    Permanent {
        reason: String,
    },
    /// The address is gone for good (an expired push subscription, an unregistered token):
    /// the caller removes it.
    Gone {
        reason: String,
    },
}

impl Outcome {
    pub fn retry(reason: impl Into<String>) -> Outcome {
        Outcome::Retry {
            after: None,
            reason: reason.into(),
        }
    }
    pub fn permanent(reason: impl Into<String>) -> Outcome {
        Outcome::Permanent {
            reason: reason.into(),
        }
    }
}

/// A delivery adapter. `Target` is where one delivery goes (a Slack user id, a push
/// subscription, a device token…).
#[async_trait]
pub trait Channel: Send + Sync {
    type Target: Send + Sync;

    /// The channel's name in traces and delivery states (`slack`, `teams`, `webpush`, …).
    fn name(&self) -> &'static str;

    async fn deliver(&self, target: &Self::Target, message: &Message) -> Outcome;
}

/// Reads a `Retry-After` header given in seconds (the form the providers use).
pub fn retry_after(headers: &[(String, String)]) -> Option<Duration> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, v)| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}
