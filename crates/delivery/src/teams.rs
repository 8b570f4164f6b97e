//! Microsoft Teams: Adaptive Cards posted to a Teams **workflow webhook** (Power Automate
//! / Workflows app, trigger "When a Teams webhook request is received"), one URL per
//! account (one Teams tenant per account).
//!
//! Why a workflow webhook and not a Bot Framework bot: a webhook needs nothing but a URL
//! that a Teams user creates in a minute from the Workflows app; a bot needs an Azure
//! bot registration, a Microsoft Entra app with a client secret, an app manifest that a
//! Teams admin installs for every user (a bot may only message users who installed it),
//! and a stored conversation reference per user. The workflow does the routing: Varsel
//! sends the card with the recipient's email in a top-level `recipient` field, and the
//! workflow's "Post card in a chat or channel" action posts it as the Flow bot in a chat
//! with that user (see `docs/CHANNELS.md`). A Bot Framework channel can be added later
//! behind the same [`Channel`] trait if per-user proactive messages without Power
//! Automate are wanted.
//!
//! The webhook URL carries its own signature (`sig=…`) and is a secret: it is never
//! logged and never part of an error. Errors are classified by HTTP status (see
//! [`outcome_for_status`] and the table in `docs/CHANNELS.md`).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::channel::{Channel, Message, Outcome};
use crate::guard::Guard;
use crate::text::open_label;
use crate::wire;

/// The Adaptive Card version sent; Teams renders up to 1.5, 1.4 is safe on every client.
pub const CARD_VERSION: &str = "1.4";
pub const CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
pub const CARD_SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";

/// A workflow webhook URL. Its `Debug` shows only the host, since the query string holds
/// the signature that authorizes posting.
#[derive(Clone, PartialEq, Eq)]
pub struct TeamsWebhookUrl(String);

impl TeamsWebhookUrl {
    pub fn new(url: impl Into<String>) -> TeamsWebhookUrl {
        TeamsWebhookUrl(url.into())
    }

    /// The URL itself, for the request and for storing it encrypted.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The scheme and host, safe to show.
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.0)
            .ok()
            .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or_default()))
            .unwrap_or_else(|| "(invalid url)".into())
    }
}

impl std::fmt::Debug for TeamsWebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TeamsWebhookUrl({}/…)", self.host())
    }
}

/// Where one Teams delivery goes: the account's workflow webhook and the recipient's
/// email (their Microsoft 365 sign-in address, which the workflow posts to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamsTarget {
    pub webhook: TeamsWebhookUrl,
    pub recipient_email: String,
}

/// Classifies the webhook's answer: 2xx delivered; 429 retry after `Retry-After`; 408 and
/// 5xx retry; 400 permanent (the workflow rejected the request body); 401, 403, 404 and
/// 410 permanent with the connection broken (bad signature, workflow turned off or
/// deleted); any other status permanent.
pub fn outcome_for_status(status: u16, retry_after: Option<Duration>, detail: &str) -> Outcome {
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(" ({detail})")
    };
    match status {
        200..=299 => Outcome::Delivered,
        429 => Outcome::Retry {
            after: retry_after,
            reason: format!("teams: throttled (HTTP 429){detail}"),
        },
        408 | 500..=599 => Outcome::Retry {
            after: retry_after,
            reason: format!("teams: HTTP {status}{detail}"),
        },
        400 => Outcome::permanent(format!("teams: request rejected (HTTP 400){detail}")),
        401 | 403 | 404 | 410 => Outcome::permanent(format!(
            "teams: connection broken, check the workflow URL (HTTP {status}){detail}"
        )),
        _ => Outcome::permanent(format!("teams: HTTP {status}{detail}")),
    }
}

/// The request body: a Bot Framework style `message` with one Adaptive Card attachment
/// (the shape the Teams workflow trigger expects), and `recipient` for the workflow to
/// route on.
pub fn message_payload(recipient_email: &str, message: &Message) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": message.title,
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
    })];
    if !message.body.trim().is_empty() {
        body.push(json!({"type": "TextBlock", "text": message.body, "wrap": true}));
    }
    let mut card = json!({
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    });
    if let Some(url) = message
        .url
        .as_deref()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
    {
        card["actions"] = json!([{
            "type": "Action.OpenUrl",
            "title": open_label(&message.locale),
            "url": url,
        }]);
    }
    json!({
        "type": "message",
        "recipient": recipient_email,
        "summary": message.title,
        "id": message.id,
        "attachments": [{
            "contentType": CARD_CONTENT_TYPE,
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// Posts to Teams workflow webhooks. Cheap to clone; share one per process.
#[derive(Debug, Clone)]
pub struct TeamsClient {
    http: reqwest::Client,
    guard: Guard,
}

impl TeamsClient {
    /// A client with `timeout` for each whole request, to public `https` hosts only.
    /// Redirects are not followed.
    pub fn new(timeout: Duration) -> Result<TeamsClient, String> {
        TeamsClient::guarded(timeout, Guard::new())
    }

    /// A client whose webhook URLs must pass `guard` (checked before each request, and
    /// each resolved address when connecting).
    pub fn guarded(timeout: Duration, guard: Guard) -> Result<TeamsClient, String> {
        let http = wire::guarded_client(timeout, &guard)?;
        Ok(TeamsClient { http, guard })
    }

    /// A client over an existing `reqwest::Client` (URLs are still checked by `guard`).
    pub fn with_http(http: reqwest::Client, guard: Guard) -> TeamsClient {
        TeamsClient { http, guard }
    }

    /// The guard webhook URLs must pass; also checked when a URL is stored.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Posts `message` as an Adaptive Card for `target.recipient_email`.
    pub async fn post(&self, target: &TeamsTarget, message: &Message) -> Outcome {
        let url = match self.guard.check_url(target.webhook.expose()) {
            Ok(u) => u,
            Err(why) => return Outcome::permanent(format!("teams: the workflow URL {why}")),
        };
        let sent = self
            .http
            .post(url)
            .json(&message_payload(&target.recipient_email, message))
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                return if e.is_builder() {
                    Outcome::permanent(format!("teams: {}", e.without_url()))
                } else {
                    Outcome::retry(format!("teams: {}", crate::wire::network_error(e)))
                };
            }
        };
        let status = resp.status().as_u16();
        let after = retry_after(resp.headers());
        let detail = if resp.status().is_success() {
            String::new()
        } else {
            error_code(&resp.bytes().await.unwrap_or_default())
        };
        outcome_for_status(status, after, &detail)
    }
}

#[async_trait]
impl Channel for TeamsClient {
    type Target = TeamsTarget;

    fn name(&self) -> &'static str {
        "teams"
    }

    async fn deliver(&self, target: &TeamsTarget, message: &Message) -> Outcome {
        let outcome = self.post(target, message).await;
        if !matches!(outcome, Outcome::Delivered) {
            tracing::debug!(channel = "teams", host = %target.webhook.host(), ?outcome, "teams delivery failed");
        }
        outcome
    }
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let pairs: Vec<(String, String)> = headers
        .get_all(reqwest::header::RETRY_AFTER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| ("retry-after".to_string(), v.to_string()))
        .collect();
    crate::channel::retry_after(&pairs)
}

/// The error code of a Power Automate / Logic Apps error body
/// (`{"error": {"code": "…", "message": "…"}}`), if it has one. Only the code is kept:
/// messages may echo the request.
fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
        .filter(|c| c.len() <= 100 && c.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_a_message_with_an_adaptive_card() {
        let m = Message {
            id: "ntf_1.teams".into(),
            title: "Kari nevnte deg".into(),
            body: "Q4".into(),
            url: Some("https://crm.example/d/1".into()),
            sound: None,
            badge: None,
            locale: "nb".into(),
        };
        let p = message_payload("kari@example.com", &m);
        assert_eq!(p["type"], "message");
        assert_eq!(p["recipient"], "kari@example.com");
        let a = &p["attachments"][0];
        assert_eq!(a["contentType"], CARD_CONTENT_TYPE);
        assert!(a["contentUrl"].is_null());
        let c = &a["content"];
        assert_eq!(c["version"], "1.4");
        assert_eq!(c["body"][0]["weight"], "Bolder");
        assert_eq!(c["body"][1]["text"], "Q4");
        assert_eq!(c["actions"][0]["type"], "Action.OpenUrl");
        assert_eq!(c["actions"][0]["title"], "Åpne");
    }

    #[test]
    fn statuses_are_classified() {
        let after = Some(Duration::from_secs(7));
        assert_eq!(outcome_for_status(202, None, ""), Outcome::Delivered);
        assert!(matches!(
            outcome_for_status(429, after, ""),
            Outcome::Retry { after: a, .. } if a == after
        ));
        for s in [408, 500, 502, 503, 504] {
            assert!(
                matches!(outcome_for_status(s, None, ""), Outcome::Retry { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 410, 413] {
            assert!(
                matches!(outcome_for_status(s, None, ""), Outcome::Permanent { .. }),
                "{s}"
            );
        }
    }

    #[test]
    fn the_url_does_not_show_in_debug() {
        let u = TeamsWebhookUrl::new(
            "https://prod.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=SECRET",
        );
        let shown = format!("{u:?}");
        assert!(
            !shown.contains("SECRET") && !shown.contains("abc"),
            "{shown}"
        );
        assert!(shown.contains("prod.westeurope.logic.azure.com"));
        assert_eq!(
            error_code(br#"{"error":{"code":"WorkflowNotFound","message":"x"}}"#),
            "WorkflowNotFound"
        );
        assert_eq!(error_code(b"<html>"), "");
    }
}
