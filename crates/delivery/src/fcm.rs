//! Firebase Cloud Messaging, HTTP v1 API: `messages:send` to a device's registration
//! token, authorized with an OAuth 2.0 access token that the service account obtains
//! through the JWT bearer grant (RFC 7523: an RS256 assertion signed with the account's
//! private key, posted to its `token_uri`). The access token is cached until shortly
//! before it expires and shared by all sends; a 401 drops it and the send is tried once
//! more with a fresh one.
//!
//! Errors are classified by FCM's error codes ([`outcome_for`], table in
//! `docs/CHANNELS.md`). The private key and access tokens never reach logs or errors;
//! registration tokens are not logged either.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::channel::{Channel, Message, Outcome};
use crate::wire;

/// FCM's API.
pub const DEFAULT_BASE_URL: &str = "https://fcm.googleapis.com";
/// Google's OAuth token endpoint, when the service account does not name one.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The OAuth scope `messages:send` needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// An assertion's lifetime; Google accepts at most one hour.
const ASSERTION_SECS: u64 = 3600;
/// A cached access token is replaced this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// FCM's limit for a message is 4096 bytes; this leaves room for the envelope.
const MAX_MESSAGE: usize = 3800;

/// Why an FCM call failed. [`FcmError::outcome`] says whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FcmError {
    /// The service account is unusable (configuration).
    #[error("fcm: service account: {0}")]
    Account(String),
    /// The OAuth token endpoint refused or failed (`invalid_grant`, HTTP 5xx…).
    #[error("fcm: oauth: HTTP {status} {error}")]
    Auth {
        status: u16,
        error: String,
        retry_after: Option<Duration>,
    },
    /// `messages:send` answered with an error: `code` is FCM's `errorCode` (from the
    /// `FcmError` detail) or else the canonical status (`UNAUTHENTICATED`, …).
    #[error("fcm: HTTP {status} {code}")]
    Api {
        status: u16,
        code: String,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, timeout, TLS failure.
    #[error("fcm: {0}")]
    Network(String),
    /// An answer that is not what the API promises.
    #[error("fcm: unreadable answer: {0}")]
    Invalid(String),
}

impl FcmError {
    pub fn outcome(&self) -> Outcome {
        let reason = self.to_string();
        match self {
            FcmError::Api {
                status,
                code,
                retry_after,
            } => outcome_for(*status, code, *retry_after),
            FcmError::Auth {
                status,
                retry_after,
                ..
            } if *status == 429 || *status >= 500 => Outcome::Retry {
                after: *retry_after,
                reason,
            },
            FcmError::Auth { .. } | FcmError::Account(_) => Outcome::permanent(reason),
            FcmError::Network(_) | FcmError::Invalid(_) => Outcome::retry(reason),
        }
    }
}

/// Classifies a `messages:send` error by FCM's error code, then by HTTP status:
/// `UNREGISTERED` → gone (remove the token); `QUOTA_EXCEEDED`, `UNAVAILABLE`,
/// `INTERNAL` → retry (after `Retry-After` when given); `INVALID_ARGUMENT`,
/// `SENDER_ID_MISMATCH`, `THIRD_PARTY_AUTH_ERROR` → permanent; otherwise 429 / 5xx
/// retry and every other status (401, 403, 404 without `UNREGISTERED`, …) is permanent.
/// A 404 is `Gone` only with `UNREGISTERED`: a wrong project id also answers 404, and
/// must not prune every device.
pub fn outcome_for(status: u16, code: &str, retry_after: Option<Duration>) -> Outcome {
    let reason = format!("fcm: HTTP {status} {code}");
    match code {
        "UNREGISTERED" => Outcome::Gone { reason },
        "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL" => Outcome::Retry {
            after: retry_after,
            reason,
        },
        "INVALID_ARGUMENT" | "SENDER_ID_MISMATCH" | "THIRD_PARTY_AUTH_ERROR" => {
            Outcome::Permanent { reason }
        }
        _ if status == 429 || status >= 500 => Outcome::Retry {
            after: retry_after,
            reason,
        },
        _ => Outcome::Permanent { reason },
    }
}

fn default_token_uri() -> String {
    DEFAULT_TOKEN_URI.into()
}

/// The service account JSON key file from the Google Cloud console (the fields FCM
/// needs). `Debug` hides the private key.
#[derive(Clone, Deserialize, Serialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    /// PEM (PKCS#8 `BEGIN PRIVATE KEY`, as Google issues it; PKCS#1 also accepted).
    pub private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads the key file's JSON.
    pub fn from_json(json: &str) -> Result<ServiceAccount, FcmError> {
        let account: ServiceAccount = serde_json::from_str(json)
            .map_err(|e| FcmError::Account(format!("not a service account key: {e}")))?;
        if account.project_id.is_empty() || account.client_email.is_empty() {
            return Err(FcmError::Account(
                "project_id and client_email are required".into(),
            ));
        }
        Ok(account)
    }

    /// The RS256 signing key (jsonwebtoken wants PKCS#1 DER).
    fn signing_key(&self) -> Result<jsonwebtoken::EncodingKey, FcmError> {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let pem = self.private_key.trim();
        let key = rsa::RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|_| FcmError::Account("private_key is not an RSA key in PEM".into()))?;
        let der = key
            .to_pkcs1_der()
            .map_err(|e| FcmError::Account(e.to_string()))?;
        Ok(jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()))
    }
}

#[derive(Clone)]
struct AccessToken {
    value: String,
    refresh_at: Instant,
}

/// The FCM message for `token`: `notification` (title, body), `data` (`id`, `url`: all
/// strings), Android's sound and badge count, and the APNs payload's sound and badge for
/// iOS apps registered through FCM.
pub fn message_json(token: &str, message: &Message) -> Value {
    let sound = wire::sound_name(message.sound.as_deref());
    let mut data = Map::new();
    data.insert("id".into(), json!(message.id));
    if let Some(url) = &message.url {
        data.insert("url".into(), json!(url));
    }
    let mut android = Map::new();
    if let Some(s) = &sound {
        android.insert("sound".into(), json!(s));
    }
    if let Some(b) = message.badge {
        android.insert("notification_count".into(), json!(b));
    }
    let mut aps = Map::new();
    if let Some(s) = &sound {
        let file = if s == "default" {
            s.clone()
        } else {
            format!("{s}.caf")
        };
        aps.insert("sound".into(), json!(file));
    }
    if let Some(b) = message.badge {
        aps.insert("badge".into(), json!(b));
    }
    json!({
        "message": {
            "token": token,
            "notification": {"title": message.title, "body": message.body},
            "data": data,
            "android": {"priority": "high", "notification": android},
            "apns": {"payload": {"aps": aps}},
        }
    })
}

/// An FCM HTTP v1 sender for one service account. Share one per process: it holds
/// the cached access token.
pub struct FcmClient {
    http: reqwest::Client,
    base_url: String,
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    token: tokio::sync::Mutex<Option<AccessToken>>,
}

impl std::fmt::Debug for FcmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmClient")
            .field("base_url", &self.base_url)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl FcmClient {
    /// A sender for `account` against the API at `base_url` (normally
    /// [`DEFAULT_BASE_URL`]; the token endpoint is the account's `token_uri`), with
    /// `timeout` for each whole request.
    pub fn new(
        account: ServiceAccount,
        base_url: &str,
        timeout: Duration,
    ) -> Result<FcmClient, FcmError> {
        let http = wire::client(timeout, false).map_err(FcmError::Account)?;
        FcmClient::with_http(http, account, base_url)
    }

    /// A sender over an existing `reqwest::Client`.
    pub fn with_http(
        http: reqwest::Client,
        account: ServiceAccount,
        base_url: &str,
    ) -> Result<FcmClient, FcmError> {
        let key = account.signing_key()?;
        Ok(FcmClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            account,
            key,
            token: tokio::sync::Mutex::new(None),
        })
    }

    pub fn project_id(&self) -> &str {
        &self.account.project_id
    }

    /// The signed JWT bearer assertion (RS256; `kid` = the key id).
    fn assertion(&self, now: u64) -> Result<String, FcmError> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.account.private_key_id.clone();
        let claims = Assertion {
            iss: &self.account.client_email,
            scope: SCOPE,
            aud: &self.account.token_uri,
            iat: now,
            exp: now + ASSERTION_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| FcmError::Account(format!("sign assertion: {e}")))
    }

    /// The cached access token, or a new one from the token endpoint. Holding the lock
    /// while fetching makes concurrent sends wait for one fetch instead of each doing
    /// their own.
    pub async fn access_token(&self) -> Result<String, FcmError> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref().filter(|t| Instant::now() < t.refresh_at) {
            return Ok(t.value.clone());
        }
        let started = Instant::now();
        let assertion = self.assertion(wire::unix_now())?;
        let resp = self
            .http
            .post(&self.account.token_uri)
            .form(&[
                ("grant_type", GRANT_TYPE),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| FcmError::Network(wire::network_error(e)))?;
        let status = resp.status();
        let retry_after = wire::retry_after(resp.headers());
        let body = resp
            .bytes()
            .await
            .map_err(|e| FcmError::Network(wire::network_error(e)))?;
        if !status.is_success() {
            let error = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            return Err(FcmError::Auth {
                status: status.as_u16(),
                error,
                retry_after,
            });
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| FcmError::Invalid(e.to_string()))?;
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600));
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        let token = AccessToken {
            value: answer.access_token,
            refresh_at: started + lifetime - margin,
        };
        let value = token.value.clone();
        *slot = Some(token);
        Ok(value)
    }

    /// Forgets the cached token if it is still `stale` (another send may already have
    /// replaced it).
    async fn invalidate(&self, stale: &str) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| t.value == stale) {
            *slot = None;
        }
    }

    /// Sends `message` to the device with registration `token`; answers FCM's message
    /// name (`projects/…/messages/…`).
    pub async fn send(&self, token: &str, message: &Message) -> Result<String, FcmError> {
        let body = wire::fit(message, MAX_MESSAGE, |m| {
            serde_json::to_vec(&message_json(token, m)).unwrap_or_default()
        });
        let url = format!(
            "{}/v1/projects/{}/messages:send",
            self.base_url, self.account.project_id
        );
        let mut refreshed = false;
        loop {
            let bearer = self.access_token().await?;
            let resp = self
                .http
                .post(&url)
                .bearer_auth(&bearer)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .map_err(|e| FcmError::Network(wire::network_error(e)))?;
            let status = resp.status();
            let retry_after = wire::retry_after(resp.headers());
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| FcmError::Network(wire::network_error(e)))?;
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if status.is_success() {
                return Ok(answer
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string());
            }
            let code = error_code(&answer);
            // A 401 other than THIRD_PARTY_AUTH_ERROR (the APNs / Web Push credentials
            // in the Firebase project) is about our access token (expired early or
            // revoked): fetch a new one and try once more.
            if status.as_u16() == 401 && !refreshed && code != "THIRD_PARTY_AUTH_ERROR" {
                refreshed = true;
                self.invalidate(&bearer).await;
                continue;
            }
            return Err(FcmError::Api {
                status: status.as_u16(),
                code,
                retry_after,
            });
        }
    }
}

/// FCM's `errorCode` from the error's `google.firebase.fcm.v1.FcmError` detail, else
/// the canonical `status`, else `UNKNOWN`.
fn error_code(answer: &Value) -> String {
    let error = &answer["error"];
    error["details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| {
            d["@type"]
                .as_str()
                .is_some_and(|t| t.ends_with("google.firebase.fcm.v1.FcmError"))
        })
        .find_map(|d| d["errorCode"].as_str())
        .or_else(|| error["status"].as_str())
        .unwrap_or("UNKNOWN")
        .to_string()
}

#[async_trait]
impl Channel for FcmClient {
    /// The device's FCM registration token.
    type Target = String;

    fn name(&self) -> &'static str {
        "fcm"
    }

    async fn deliver(&self, target: &String, message: &Message) -> Outcome {
        match self.send(target, message).await {
            Ok(_) => Outcome::Delivered,
            Err(e) => {
                tracing::debug!(channel = "fcm", error = %e, "fcm delivery failed");
                e.outcome()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        let after = Some(Duration::from_secs(30));
        assert!(matches!(
            outcome_for(404, "UNREGISTERED", None),
            Outcome::Gone { .. }
        ));
        assert!(matches!(
            outcome_for(404, "NOT_FOUND", None),
            Outcome::Permanent { .. }
        ));
        assert_eq!(
            outcome_for(429, "QUOTA_EXCEEDED", after),
            Outcome::Retry {
                after,
                reason: "fcm: HTTP 429 QUOTA_EXCEEDED".into()
            }
        );
        for (s, c) in [(503, "UNAVAILABLE"), (500, "INTERNAL"), (502, "UNKNOWN")] {
            assert!(
                matches!(outcome_for(s, c, None), Outcome::Retry { .. }),
                "{c}"
            );
        }
        for (s, c) in [
            (400, "INVALID_ARGUMENT"),
            (403, "SENDER_ID_MISMATCH"),
            (401, "THIRD_PARTY_AUTH_ERROR"),
            (401, "UNAUTHENTICATED"),
            (403, "PERMISSION_DENIED"),
        ] {
            assert!(
                matches!(outcome_for(s, c, None), Outcome::Permanent { .. }),
                "{c}"
            );
        }
    }

    #[test]
    fn error_code_prefers_the_fcm_detail() {
        let v = json!({"error": {"code": 404, "status": "NOT_FOUND", "details": [
            {"@type": "type.googleapis.com/google.rpc.BadRequest"},
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}
        ]}});
        assert_eq!(error_code(&v), "UNREGISTERED");
        let v = json!({"error": {"code": 401, "status": "UNAUTHENTICATED"}});
        assert_eq!(error_code(&v), "UNAUTHENTICATED");
    }

    #[test]
    fn message_carries_sound_and_badge() {
        let m = Message {
            id: "ntf_1.fcm".into(),
            title: "T".into(),
            body: "B".into(),
            url: Some("https://crm.example/1".into()),
            sound: Some("chime".into()),
            badge: Some(3),
            locale: "en".into(),
        };
        let v = message_json("tok", &m);
        assert_eq!(v["message"]["token"], "tok");
        assert_eq!(v["message"]["data"]["url"], "https://crm.example/1");
        assert_eq!(v["message"]["android"]["notification"]["sound"], "chime");
        assert_eq!(
            v["message"]["android"]["notification"]["notification_count"],
            3
        );
        assert_eq!(v["message"]["apns"]["payload"]["aps"]["sound"], "chime.caf");
        let silent = Message {
            sound: Some("none".into()),
            ..m
        };
        let v = message_json("tok", &silent);
        assert!(
            v["message"]["android"]["notification"]
                .get("sound")
                .is_none()
        );
    }
}
