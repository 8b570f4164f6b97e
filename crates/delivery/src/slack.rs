//! Slack: a Web API client (`users.lookupByEmail`, `chat.postMessage`) for an
//! account-wide Slack app's bot token. A user is matched to their Slack user by the same
//! email address; a notification goes to them as a direct message (`channel` = their
//! Slack user id) with Block Kit: the title as a header, the body as a section, and a
//! button that opens the record, in the user's language, plus a plain `text` fallback for
//! the OS notification and for clients that do not show blocks.
//!
//! Errors are classified by Slack's documented error codes (see [`outcome_for_code`] and
//! the table in `docs/CHANNELS.md`). The bot token is only ever sent in the
//! `Authorization` header; it is never logged and never part of an error.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::channel::{Channel, Message, Outcome};
use crate::text::{open_label, truncate};

/// Slack's Web API.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api";

/// Block Kit limits (characters): header text, section text, button URL, fallback text.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const URL_MAX: usize = 3000;
const TEXT_MAX: usize = 4000;

/// A Slack bot token (`xoxb-…`). Its `Debug` shows no secret, so it can sit in structs
/// that are logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SlackToken(String);

impl SlackToken {
    pub fn new(token: impl Into<String>) -> SlackToken {
        SlackToken(token.into())
    }

    /// The token itself, for the `Authorization` header and for storing it encrypted.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SlackToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackToken(…)")
    }
}

/// Where one Slack delivery goes: the account's bot token and the recipient's Slack user
/// id (found with [`SlackClient::lookup_by_email`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackTarget {
    pub token: SlackToken,
    pub user_id: String,
}

/// Why a Slack call failed. [`SlackError::outcome`] says whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `{"ok": false, "error": code}`.
    #[error("slack: {code}")]
    Api {
        code: String,
        retry_after: Option<Duration>,
    },
    /// Slack (or something in front of it) answered with an HTTP error status.
    #[error("slack: HTTP {status}")]
    Http {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, timeout, TLS failure.
    #[error("slack: {0}")]
    Network(String),
    /// The request could not be built (a bad base URL), or the answer was not Slack's JSON.
    #[error("slack: {message}")]
    Invalid { message: String, retryable: bool },
}

impl SlackError {
    /// Slack's error code, when Slack gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            SlackError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// What a delivery that failed this way should do next.
    pub fn outcome(&self) -> Outcome {
        let reason = self.to_string();
        match self {
            SlackError::Api { code, retry_after } => outcome_for_code(code, *retry_after),
            SlackError::Http {
                status: 429,
                retry_after,
            } => Outcome::Retry {
                after: *retry_after,
                reason: "slack: rate limited (HTTP 429)".into(),
            },
            SlackError::Http {
                status,
                retry_after,
            } if *status >= 500 || *status == 408 => Outcome::Retry {
                after: *retry_after,
                reason,
            },
            SlackError::Http { .. } => Outcome::permanent(reason),
            SlackError::Network(_) => Outcome::retry(reason),
            SlackError::Invalid { retryable, .. } => {
                if *retryable {
                    Outcome::retry(reason)
                } else {
                    Outcome::permanent(reason)
                }
            }
        }
    }
}

/// Slack error codes worth retrying: Slack is overloaded or failed on its side.
pub const RETRY_CODES: &[&str] = &[
    "ratelimited",
    "rate_limited",
    "service_unavailable",
    "fatal_error",
    "internal_error",
    "request_timeout",
    "team_added_to_org",
];

/// Slack error codes meaning the recipient's Slack user is gone: the caller drops the
/// user's Slack mapping (it is found again by email on the next lookup).
pub const GONE_CODES: &[&str] = &["user_not_found", "users_not_found"];

/// Classifies an `ok: false` answer. Codes in [`RETRY_CODES`] retry (after
/// `retry_after` when given), codes in [`GONE_CODES`] are [`Outcome::Gone`], and every
/// other code — `invalid_auth`, `not_authed`, `account_inactive`, `token_revoked`,
/// `token_expired`, `missing_scope`, `channel_not_found`, `cannot_dm_bot`,
/// `invalid_blocks`, `msg_too_long`, `no_text`, and codes Slack adds later — is
/// permanent: sending the same request again cannot succeed.
pub fn outcome_for_code(code: &str, retry_after: Option<Duration>) -> Outcome {
    let reason = format!("slack: {code}");
    if RETRY_CODES.contains(&code) {
        Outcome::Retry {
            after: retry_after,
            reason,
        }
    } else if GONE_CODES.contains(&code) {
        Outcome::Gone { reason }
    } else {
        Outcome::Permanent { reason }
    }
}

/// What `chat.postMessage` answered on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The DM channel (`D…`).
    pub channel: String,
    /// The message's timestamp, Slack's id for it.
    pub ts: String,
}

/// A Slack Web API client. Cheap to clone; share one per process.
#[derive(Debug, Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    base_url: String,
}

impl SlackClient {
    /// A client for the Web API at `base_url` (normally [`DEFAULT_BASE_URL`]), with
    /// `timeout` for each whole request. Redirects are not followed.
    pub fn new(base_url: &str, timeout: Duration) -> Result<SlackClient, SlackError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("varsel/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SlackError::Invalid {
                message: format!("http client: {e}"),
                retryable: false,
            })?;
        Ok(SlackClient::with_http(http, base_url))
    }

    /// A client over an existing `reqwest::Client`.
    pub fn with_http(http: reqwest::Client, base_url: &str) -> SlackClient {
        SlackClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `users.lookupByEmail`: the Slack user id of the workspace member with `email`, or
    /// `None` when there is none (`users_not_found`) or the member is deactivated.
    /// Needs the `users:read` and `users:read.email` scopes.
    pub async fn lookup_by_email(
        &self,
        token: &SlackToken,
        email: &str,
    ) -> Result<Option<String>, SlackError> {
        let req = self
            .http
            .post(format!("{}/users.lookupByEmail", self.base_url))
            .bearer_auth(token.expose())
            .form(&[("email", email)]);
        match call(req).await {
            Ok(body) => {
                let user = body.get("user");
                let deleted = user
                    .and_then(|u| u.get("deleted"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let id = user
                    .and_then(|u| u.get("id"))
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty());
                match id {
                    Some(_) if deleted => Ok(None),
                    Some(id) => Ok(Some(id.to_string())),
                    None => Err(SlackError::Invalid {
                        message: "users.lookupByEmail answered without a user id".into(),
                        retryable: true,
                    }),
                }
            }
            Err(SlackError::Api { code, .. }) if code == "users_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `chat.postMessage` to the user's DM with the bot (`channel` = `user_id`). Needs
    /// the `chat:write` scope.
    pub async fn post_message(
        &self,
        token: &SlackToken,
        user_id: &str,
        message: &Message,
    ) -> Result<Posted, SlackError> {
        let req = self
            .http
            .post(format!("{}/chat.postMessage", self.base_url))
            .bearer_auth(token.expose())
            .json(&message_payload(user_id, message));
        let body = call(req).await?;
        let field = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ok(Posted {
            channel: field("channel"),
            ts: field("ts"),
        })
    }
}

#[async_trait]
impl Channel for SlackClient {
    type Target = SlackTarget;

    fn name(&self) -> &'static str {
        "slack"
    }

    async fn deliver(&self, target: &SlackTarget, message: &Message) -> Outcome {
        match self
            .post_message(&target.token, &target.user_id, message)
            .await
        {
            Ok(_) => Outcome::Delivered,
            Err(e) => {
                tracing::debug!(channel = "slack", error = %e, "slack delivery failed");
                e.outcome()
            }
        }
    }
}

/// Escapes what Slack's `mrkdwn` treats as control characters (`&`, `<`, `>`), so a
/// title cannot become a mention or a link.
fn escape_mrkdwn(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The `chat.postMessage` body: Block Kit blocks (title header, body section, "Open"
/// button when the message has a URL), a plain-text fallback, no link unfurling, and the
/// delivery's id as message metadata.
pub fn message_payload(user_id: &str, message: &Message) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "block_id": "varsel_title",
        "text": {"type": "plain_text", "text": truncate(&message.title, HEADER_MAX), "emoji": true},
    })];
    if !message.body.trim().is_empty() {
        blocks.push(json!({
            "type": "section",
            "block_id": "varsel_body",
            "text": {"type": "plain_text", "text": truncate(&message.body, SECTION_MAX), "emoji": true},
        }));
    }
    if let Some(url) = message.url.as_deref().filter(|u| {
        u.chars().count() <= URL_MAX && (u.starts_with("https://") || u.starts_with("http://"))
    }) {
        blocks.push(json!({
            "type": "actions",
            "block_id": "varsel_actions",
            "elements": [{
                "type": "button",
                "action_id": "varsel_open",
                "text": {"type": "plain_text", "text": open_label(&message.locale)},
                "url": url,
            }],
        }));
    }
    let fallback = if message.body.trim().is_empty() {
        message.title.clone()
    } else {
        format!("{}\n{}", message.title, message.body)
    };
    json!({
        "channel": user_id,
        "text": escape_mrkdwn(&truncate(&fallback, TEXT_MAX)),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
        "metadata": {
            "event_type": "varsel_notification",
            "event_payload": {"id": message.id},
        },
    })
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
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

/// Sends one Web API call and reads Slack's envelope: the body when `ok`, else the error.
async fn call(req: reqwest::RequestBuilder) -> Result<Value, SlackError> {
    let resp = req.send().await.map_err(|e| {
        if e.is_builder() {
            SlackError::Invalid {
                message: e.without_url().to_string(),
                retryable: false,
            }
        } else {
            SlackError::Network(crate::wire::network_error(e))
        }
    })?;
    let status = resp.status();
    let after = retry_after(resp.headers());
    if !status.is_success() {
        return Err(SlackError::Http {
            status: status.as_u16(),
            retry_after: after,
        });
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| SlackError::Network(e.without_url().to_string()))?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| SlackError::Invalid {
        message: format!("unreadable answer: {e}"),
        retryable: true,
    })?;
    let envelope = Envelope::deserialize(&body).map_err(|e| SlackError::Invalid {
        message: format!("unreadable answer: {e}"),
        retryable: true,
    })?;
    if envelope.ok {
        Ok(body)
    } else {
        Err(SlackError::Api {
            code: envelope.error.unwrap_or_else(|| "unknown_error".into()),
            retry_after: after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(locale: &str, url: Option<&str>) -> Message {
        Message {
            id: "ntf_1.slack".into(),
            title: "Kari <@U1> & co".into(),
            body: "Q4".into(),
            url: url.map(str::to_string),
            sound: None,
            badge: None,
            locale: locale.into(),
        }
    }

    #[test]
    fn payload_has_title_body_and_button() {
        let p = message_payload("U1", &msg("nb", Some("https://crm.example/d/1")));
        assert_eq!(p["channel"], "U1");
        assert_eq!(p["blocks"][0]["type"], "header");
        assert_eq!(p["blocks"][0]["text"]["text"], "Kari <@U1> & co");
        assert_eq!(p["blocks"][1]["text"]["text"], "Q4");
        assert_eq!(p["blocks"][2]["elements"][0]["text"]["text"], "Åpne");
        assert_eq!(
            p["blocks"][2]["elements"][0]["url"],
            "https://crm.example/d/1"
        );
        assert_eq!(p["text"], "Kari &lt;@U1&gt; &amp; co\nQ4");
        assert_eq!(p["metadata"]["event_payload"]["id"], "ntf_1.slack");
    }

    #[test]
    fn no_button_without_a_usable_url_and_long_titles_are_cut() {
        let mut m = msg("en", None);
        m.title = "x".repeat(500);
        let p = message_payload("U1", &m);
        let blocks = p["blocks"].as_array().map(Vec::len);
        assert_eq!(blocks, Some(2));
        let title = p["blocks"][0]["text"]["text"].as_str().unwrap_or_default();
        assert_eq!(title.chars().count(), HEADER_MAX);
        let p = message_payload("U1", &msg("en", Some("javascript:alert(1)")));
        assert_eq!(p["blocks"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn codes_are_classified() {
        let after = Some(Duration::from_secs(3));
        assert_eq!(
            outcome_for_code("ratelimited", after),
            Outcome::Retry {
                after,
                reason: "slack: ratelimited".into()
            }
        );
        for code in [
            "service_unavailable",
            "fatal_error",
            "internal_error",
            "request_timeout",
        ] {
            assert!(
                matches!(outcome_for_code(code, None), Outcome::Retry { .. }),
                "{code}"
            );
        }
        for code in [
            "invalid_auth",
            "not_authed",
            "account_inactive",
            "token_revoked",
            "token_expired",
            "missing_scope",
            "channel_not_found",
            "cannot_dm_bot",
            "invalid_blocks",
            "msg_too_long",
            "no_text",
            "something_new",
        ] {
            assert!(
                matches!(outcome_for_code(code, None), Outcome::Permanent { .. }),
                "{code}"
            );
        }
        for code in ["user_not_found", "users_not_found"] {
            assert!(
                matches!(outcome_for_code(code, None), Outcome::Gone { .. }),
                "{code}"
            );
        }
    }

    #[test]
    fn token_does_not_show_in_debug() {
        let t = SlackTarget {
            token: SlackToken::new("xoxb-secret"),
            user_id: "U1".into(),
        };
        assert!(!format!("{t:?}").contains("xoxb"));
    }
}
