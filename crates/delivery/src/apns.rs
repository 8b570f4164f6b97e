//! Apple Push Notification service: `POST /3/device/{token}` over HTTP/2 with
//! token-based authentication. The provider token is an ES256 JWT (header `kid` = the
//! key id, claims `iss` = the team id and `iat`) signed with the `.p8` key from the
//! Apple developer account; it is cached and renewed every 50 minutes (Apple rejects
//! tokens older than an hour and renewals more often than every 20 minutes). A 403 about
//! the token renews it and tries once more.
//!
//! Over `https` (the real service) the client offers only `h2` in TLS ALPN; over plain
//! `http` (the loopback test server) it speaks HTTP/2 with prior knowledge (h2c).
//! Answers are classified by [`outcome_for`] (table in `docs/CHANNELS.md`). Device
//! tokens and provider tokens are never logged.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::channel::{Channel, Message, Outcome};
use crate::wire;

/// APNs production.
pub const PRODUCTION_URL: &str = "https://api.push.apple.com";
/// APNs development (apps signed with a development profile).
pub const SANDBOX_URL: &str = "https://api.sandbox.push.apple.com";
/// How long a provider token is used before a new one is signed.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);
/// APNs' payload limit for alert notifications.
const MAX_PAYLOAD: usize = 4096;

/// Why an APNs call failed. [`ApnsError::outcome`] says whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApnsError {
    /// The key, team id, key id or topic is unusable (configuration).
    #[error("apns: key: {0}")]
    Key(String),
    /// The device token is not a hex string; APNs could not route it.
    #[error("apns: malformed device token")]
    BadToken,
    /// APNs answered with an error: its `reason` (`BadDeviceToken`, `Unregistered`…).
    #[error("apns: HTTP {status} {reason}")]
    Api {
        status: u16,
        reason: String,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, timeout, TLS failure.
    #[error("apns: {0}")]
    Network(String),
}

impl ApnsError {
    pub fn outcome(&self) -> Outcome {
        match self {
            ApnsError::Api {
                status,
                reason,
                retry_after,
            } => outcome_for(*status, reason, *retry_after),
            ApnsError::Network(_) => Outcome::retry(self.to_string()),
            ApnsError::Key(_) | ApnsError::BadToken => Outcome::permanent(self.to_string()),
        }
    }
}

/// Classifies an APNs answer: 200 delivered; 410 (`Unregistered`, `ExpiredToken`) and
/// 400 `BadDeviceToken` gone (remove the device); 429 (`TooManyRequests`) and 5xx
/// (`InternalServerError`, `ServiceUnavailable`, `Shutdown`) retry; 403
/// `TooManyProviderTokenUpdates` retry; any other 403 (`ExpiredProviderToken`,
/// `InvalidProviderToken` after a renewed token failed too, `BadCertificate…`) and
/// every other 4xx (`BadTopic`, `DeviceTokenNotForTopic`, `PayloadTooLarge`, …) permanent.
pub fn outcome_for(status: u16, reason: &str, retry_after: Option<Duration>) -> Outcome {
    let why = format!("apns: HTTP {status} {reason}");
    match (status, reason) {
        (200..=299, _) => Outcome::Delivered,
        (410, _) | (400, "BadDeviceToken") => Outcome::Gone { reason: why },
        (429, _) | (500..=599, _) | (403, "TooManyProviderTokenUpdates") => Outcome::Retry {
            after: retry_after,
            reason: why,
        },
        _ => Outcome::Permanent { reason: why },
    }
}

/// An APNs auth key (`AuthKey_<KEYID>.p8`) with its key id and team id. `Debug` hides
/// the key.
#[derive(Clone)]
pub struct ApnsKey {
    key_id: String,
    team_id: String,
    signing: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for ApnsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsKey")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .finish_non_exhaustive()
    }
}

impl ApnsKey {
    /// Loads the `.p8` file's contents (a PKCS#8 PEM P-256 key), its 10-character key
    /// id and the 10-character team id.
    pub fn from_p8(pem: &str, key_id: &str, team_id: &str) -> Result<ApnsKey, ApnsError> {
        let secret = p256::SecretKey::from_pkcs8_pem(pem.trim())
            .map_err(|_| ApnsError::Key("not a P-256 .p8 key (PKCS#8 PEM)".into()))?;
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| ApnsError::Key(e.to_string()))?;
        let plain = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
        if !plain(key_id) || !plain(team_id) {
            return Err(ApnsError::Key(
                "key id and team id are alphanumeric (10 characters)".into(),
            ));
        }
        Ok(ApnsKey {
            key_id: key_id.to_string(),
            team_id: team_id.to_string(),
            signing: jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn team_id(&self) -> &str {
        &self.team_id
    }

    /// A provider token issued at `iat` (Unix seconds).
    pub fn provider_token(&self, iat: u64) -> Result<String, ApnsError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            iat: u64,
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = None;
        header.kid = Some(self.key_id.clone());
        let claims = Claims {
            iss: &self.team_id,
            iat,
        };
        jsonwebtoken::encode(&header, &claims, &self.signing)
            .map_err(|e| ApnsError::Key(format!("sign provider token: {e}")))
    }
}

/// Where one APNs delivery goes: the device token (hex, from
/// `didRegisterForRemoteNotificationsWithDeviceToken`) and, when the device belongs to
/// another app than the client's default, that app's bundle id.
#[derive(Clone, PartialEq, Eq)]
pub struct ApnsDevice {
    pub token: String,
    pub topic: Option<String>,
}

impl std::fmt::Debug for ApnsDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsDevice")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl ApnsDevice {
    pub fn new(token: impl Into<String>) -> ApnsDevice {
        ApnsDevice {
            token: token.into(),
            topic: None,
        }
    }
}

/// Whether `token` looks like an APNs device token: an even number of hex digits, 64
/// or more (today's tokens are 32 bytes; Apple says not to rely on the length).
pub fn valid_device_token(token: &str) -> bool {
    token.len() >= 64
        && token.len() <= 512
        && token.len().is_multiple_of(2)
        && token.chars().all(|c| c.is_ascii_hexdigit())
}

/// The `aps` payload: the alert (title, body), the badge (the unread count) when
/// given, the sound (`<sound>.caf`, `default`, or none for silence), and the record's
/// `url` and the delivery `id` beside `aps` for the app.
pub fn payload_json(message: &Message) -> Value {
    let mut aps = Map::new();
    aps.insert(
        "alert".into(),
        json!({"title": message.title, "body": message.body}),
    );
    if let Some(b) = message.badge {
        aps.insert("badge".into(), json!(b));
    }
    if let Some(s) = wire::sound_name(message.sound.as_deref()) {
        let file = if s == "default" {
            s
        } else {
            format!("{s}.caf")
        };
        aps.insert("sound".into(), json!(file));
    }
    let mut p = Map::new();
    p.insert("aps".into(), Value::Object(aps));
    if let Some(url) = &message.url {
        p.insert("url".into(), json!(url));
    }
    p.insert("id".into(), json!(message.id));
    Value::Object(p)
}

/// A stable `apns-id` (a UUID) for a delivery id, so that a retried delivery carries
/// the same id in Apple's reports.
pub fn apns_id(delivery_id: &str) -> String {
    let mut b: [u8; 16] = Sha256::digest(delivery_id.as_bytes())[..16]
        .try_into()
        .unwrap_or_default();
    b[6] = (b[6] & 0x0f) | 0x80; // version 8 (RFC 9562: custom)
    b[8] = (b[8] & 0x3f) | 0x80; // variant 10
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

struct ProviderToken {
    value: String,
    minted: Instant,
}

/// An APNs sender for one key and one default topic (bundle id). Share one per
/// process: it holds the provider token and the HTTP/2 connection.
pub struct ApnsClient {
    http: reqwest::Client,
    base_url: String,
    key: ApnsKey,
    topic: String,
    priority: u8,
    expiration: Option<Duration>,
    token: Mutex<Option<ProviderToken>>,
}

impl std::fmt::Debug for ApnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsClient")
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl ApnsClient {
    /// A sender with `key` for the app `topic` (its bundle id) against `base_url`
    /// ([`PRODUCTION_URL`], [`SANDBOX_URL`], or a test server), with `timeout` for each
    /// whole request.
    pub fn new(
        key: ApnsKey,
        topic: &str,
        base_url: &str,
        timeout: Duration,
    ) -> Result<ApnsClient, ApnsError> {
        let http = wire::client(timeout, true).map_err(ApnsError::Key)?;
        ApnsClient::with_http(http, key, topic, base_url)
    }

    /// A sender over an existing `reqwest::Client`, which must speak HTTP/2.
    pub fn with_http(
        http: reqwest::Client,
        key: ApnsKey,
        topic: &str,
        base_url: &str,
    ) -> Result<ApnsClient, ApnsError> {
        if topic.trim().is_empty() {
            return Err(ApnsError::Key("the topic (bundle id) is required".into()));
        }
        Ok(ApnsClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            key,
            topic: topic.trim().to_string(),
            priority: 10,
            expiration: None,
            token: Mutex::new(None),
        })
    }

    /// `apns-priority`: 10 (immediately, the default) or 5 (power-saving).
    pub fn with_priority(mut self, priority: u8) -> ApnsClient {
        self.priority = if priority == 5 { 5 } else { 10 };
        self
    }

    /// `apns-expiration`: how long APNs keeps the notification for an offline device
    /// (unset: Apple's storage policy).
    pub fn with_expiration(mut self, keep: Duration) -> ApnsClient {
        self.expiration = Some(keep);
        self
    }

    /// The current provider token, signing a new one when it is older than
    /// [`TOKEN_LIFETIME`].
    fn provider_token(&self) -> Result<String, ApnsError> {
        let mut slot = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = slot
            .as_ref()
            .filter(|t| t.minted.elapsed() < TOKEN_LIFETIME)
        {
            return Ok(t.value.clone());
        }
        let value = self.key.provider_token(wire::unix_now())?;
        *slot = Some(ProviderToken {
            value: value.clone(),
            minted: Instant::now(),
        });
        Ok(value)
    }

    /// Drops the cached token if it is still `stale` (another send may have renewed it
    /// already; renewing twice would hit `TooManyProviderTokenUpdates`).
    fn invalidate(&self, stale: &str) {
        let mut slot = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|t| t.value == stale) {
            *slot = None;
        }
    }

    /// Sends `message` to `device`; answers the `apns-id` APNs acknowledged.
    pub async fn send(&self, device: &ApnsDevice, message: &Message) -> Result<String, ApnsError> {
        if !valid_device_token(&device.token) {
            return Err(ApnsError::BadToken);
        }
        let body = wire::fit(message, MAX_PAYLOAD, |m| {
            serde_json::to_vec(&payload_json(m)).unwrap_or_default()
        });
        let url = format!("{}/3/device/{}", self.base_url, device.token);
        let topic = device.topic.as_deref().unwrap_or(&self.topic);
        let id = apns_id(&message.id);
        let mut renewed = false;
        loop {
            let bearer = self.provider_token()?;
            let mut req = self
                .http
                .post(&url)
                .header(reqwest::header::AUTHORIZATION, format!("bearer {bearer}"))
                .header("apns-topic", topic)
                .header("apns-push-type", "alert")
                .header("apns-priority", self.priority.to_string())
                .header("apns-id", &id)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(keep) = self.expiration {
                req = req.header(
                    "apns-expiration",
                    (wire::unix_now() + keep.as_secs()).to_string(),
                );
            }
            let resp = req
                .send()
                .await
                .map_err(|e| ApnsError::Network(wire::network_error(e)))?;
            let status = resp.status().as_u16();
            let retry_after = wire::retry_after(resp.headers());
            let answered_id = resp
                .headers()
                .get("apns-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if (200..300).contains(&status) {
                return Ok(answered_id.unwrap_or(id));
            }
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| ApnsError::Network(wire::network_error(e)))?;
            let reason = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("reason").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| "Unknown".into());
            if status == 403 && reason != "TooManyProviderTokenUpdates" && !renewed {
                renewed = true;
                self.invalidate(&bearer);
                continue;
            }
            return Err(ApnsError::Api {
                status,
                reason,
                retry_after,
            });
        }
    }
}

#[async_trait]
impl Channel for ApnsClient {
    type Target = ApnsDevice;

    fn name(&self) -> &'static str {
        "apns"
    }

    async fn deliver(&self, target: &ApnsDevice, message: &Message) -> Outcome {
        match self.send(target, message).await {
            Ok(_) => Outcome::Delivered,
            Err(e) => {
                tracing::debug!(channel = "apns", error = %e, "apns delivery failed");
                e.outcome()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified() {
        assert_eq!(outcome_for(200, "", None), Outcome::Delivered);
        for (s, r) in [
            (410, "Unregistered"),
            (410, "ExpiredToken"),
            (400, "BadDeviceToken"),
        ] {
            assert!(
                matches!(outcome_for(s, r, None), Outcome::Gone { .. }),
                "{r}"
            );
        }
        let after = Some(Duration::from_secs(2));
        assert_eq!(
            outcome_for(429, "TooManyRequests", after),
            Outcome::Retry {
                after,
                reason: "apns: HTTP 429 TooManyRequests".into()
            }
        );
        for (s, r) in [
            (500, "InternalServerError"),
            (503, "ServiceUnavailable"),
            (403, "TooManyProviderTokenUpdates"),
        ] {
            assert!(
                matches!(outcome_for(s, r, None), Outcome::Retry { .. }),
                "{r}"
            );
        }
        for (s, r) in [
            (403, "ExpiredProviderToken"),
            (403, "InvalidProviderToken"),
            (400, "BadTopic"),
            (400, "DeviceTokenNotForTopic"),
            (413, "PayloadTooLarge"),
        ] {
            assert!(
                matches!(outcome_for(s, r, None), Outcome::Permanent { .. }),
                "{r}"
            );
        }
    }

    #[test]
    fn payload_and_ids() {
        let m = Message {
            id: "ntf_1.apns".into(),
            title: "T".into(),
            body: "B".into(),
            url: Some("https://crm.example/1".into()),
            sound: Some("chime".into()),
            badge: Some(4),
            locale: "en".into(),
        };
        let p = payload_json(&m);
        assert_eq!(p["aps"]["alert"]["title"], "T");
        assert_eq!(p["aps"]["badge"], 4);
        assert_eq!(p["aps"]["sound"], "chime.caf");
        assert_eq!(p["url"], "https://crm.example/1");
        let silent = Message {
            sound: Some("none".into()),
            ..m.clone()
        };
        assert!(payload_json(&silent)["aps"].get("sound").is_none());
        let id = apns_id(&m.id);
        assert_eq!(id, apns_id(&m.id));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "8");
        assert!(valid_device_token(&"ab".repeat(32)));
        assert!(!valid_device_token("ab/cd"));
        assert!(!valid_device_token(&"zz".repeat(32)));
    }
}
