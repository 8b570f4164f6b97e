//! Web Push: a notification to a browser's push subscription through its push service
//! (RFC 8030), the payload encrypted for the subscription (RFC 8291, `aes128gcm` content
//! coding of RFC 8188) and the sender identified with VAPID (RFC 8292).
//!
//! The server keeps one [`VapidKey`] (a P-256 key pair): generated once, stored with
//! [`VapidKey::private_key`], loaded again with [`VapidKey::from_private_key`]. Browsers
//! subscribe with its public half ([`VapidKey::public_key`], the `applicationServerKey`
//! of `pushManager.subscribe`), and hand back a [`PushSubscription`] (the JSON of
//! `PushSubscription.toJSON()`).
//!
//! Encryption is web-push-native's (RustCrypto); the VAPID JWT is signed here with
//! jsonwebtoken, so its `aud` is the endpoint's whole origin (port included) and one JWT
//! library serves Web Push, FCM and APNs. Status codes are classified by
//! [`outcome_for_status`] (table in `docs/CHANNELS.md`). Endpoints are capability URLs:
//! they are never logged, and `Debug` shows only their origin.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::channel::{Channel, Message, Outcome};
use crate::guard::Guard;
use crate::wire;

/// The largest plaintext that fits the 4096-byte body every push service must accept:
/// 4096 − 86 (salt, record size, key id = the sender's public key) − 16 (tag) − 1
/// (padding delimiter).
pub const MAX_PLAINTEXT: usize = 4096 - 86 - 16 - 1;

/// How long a push service keeps an undelivered message by default (`TTL`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a VAPID JWT is valid (`exp` − now); RFC 8292 allows at most 24 hours.
const VAPID_VALIDITY_SECS: u64 = 12 * 60 * 60;

/// Why a Web Push call failed. [`WebPushError::outcome`] says whether trying again can
/// help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebPushError {
    /// The VAPID key or contact is unusable (configuration).
    #[error("webpush: key: {0}")]
    Key(String),
    /// The subscription cannot be used (bad endpoint or keys).
    #[error("webpush: subscription: {0}")]
    Subscription(String),
    /// The push service answered with an error status.
    #[error("webpush: HTTP {status}")]
    Http {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, timeout, TLS failure.
    #[error("webpush: {0}")]
    Network(String),
}

impl WebPushError {
    pub fn outcome(&self) -> Outcome {
        match self {
            WebPushError::Http {
                status,
                retry_after,
            } => outcome_for_status(*status, *retry_after),
            WebPushError::Network(_) => Outcome::retry(self.to_string()),
            WebPushError::Key(_) | WebPushError::Subscription(_) => {
                Outcome::permanent(self.to_string())
            }
        }
    }
}

/// Classifies a push service's answer: 2xx delivered; 404 / 410 the subscription is
/// gone (unsubscribed or expired: remove it); 429 and 5xx retry (after `Retry-After`
/// when given); 408 retry; every other status (400 bad request, 401 / 403 VAPID
/// rejected, 413 payload too large, …) is permanent.
pub fn outcome_for_status(status: u16, retry_after: Option<Duration>) -> Outcome {
    let reason = format!("webpush: HTTP {status}");
    match status {
        200..=299 => Outcome::Delivered,
        404 | 410 => Outcome::Gone { reason },
        429 | 500..=599 => Outcome::Retry {
            after: retry_after,
            reason,
        },
        408 => Outcome::retry(reason),
        _ => Outcome::Permanent { reason },
    }
}

/// Decodes base64 the way browsers and tools hand keys around: URL-safe or standard
/// alphabet, padded or not.
fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| STANDARD.decode(s))
        .ok()
}

/// The server's VAPID key pair (P-256). `Debug` shows only the public key.
#[derive(Clone)]
pub struct VapidKey {
    secret: p256::SecretKey,
    signing: jsonwebtoken::EncodingKey,
    public: String,
}

impl VapidKey {
    /// A new random key pair (from the OS random source).
    pub fn generate() -> Result<VapidKey, WebPushError> {
        for _ in 0..8 {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| WebPushError::Key(e.to_string()))?;
            // Fails only for zero or values ≥ the group order (p ≈ 2^-128).
            if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
                return VapidKey::from_secret(secret);
            }
        }
        Err(WebPushError::Key("no usable random key".into()))
    }

    /// Loads a key saved with [`VapidKey::private_key`]: the 32-byte private scalar in
    /// base64url (the form `web-push generate-vapid-keys` and most libraries print).
    pub fn from_private_key(private_key: &str) -> Result<VapidKey, WebPushError> {
        let bytes = b64_decode(private_key)
            .filter(|b| b.len() == 32)
            .ok_or_else(|| WebPushError::Key("not a base64 32-byte P-256 private key".into()))?;
        let secret = p256::SecretKey::from_slice(&bytes)
            .map_err(|_| WebPushError::Key("not a P-256 private key".into()))?;
        VapidKey::from_secret(secret)
    }

    /// Loads a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE
    /// KEY`, as `openssl ecparam -genkey` writes it).
    pub fn from_pem(pem: &str) -> Result<VapidKey, WebPushError> {
        let secret = p256::SecretKey::from_pkcs8_pem(pem.trim())
            .or_else(|_| p256::SecretKey::from_sec1_pem(pem.trim()))
            .map_err(|_| WebPushError::Key("not a P-256 private key in PEM".into()))?;
        VapidKey::from_secret(secret)
    }

    fn from_secret(secret: p256::SecretKey) -> Result<VapidKey, WebPushError> {
        let der = secret
            .to_pkcs8_der()
            .map_err(|e| WebPushError::Key(e.to_string()))?;
        let signing = jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes());
        let point = secret.public_key().to_encoded_point(false);
        let public = URL_SAFE_NO_PAD.encode(point.as_bytes());
        Ok(VapidKey {
            secret,
            signing,
            public,
        })
    }

    /// The private key to store (a secret): base64url of the 32-byte scalar.
    pub fn private_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.secret.to_bytes())
    }

    /// The public key as browsers want it for `applicationServerKey`: base64url (no
    /// padding) of the 65-byte uncompressed point.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header value for a push to `origin` (the endpoint's scheme,
    /// host and port): `vapid t=<ES256 JWT {aud, exp, sub}>, k=<public key>`.
    pub fn authorization(
        &self,
        origin: &str,
        contact: &str,
        now: u64,
    ) -> Result<String, WebPushError> {
        #[derive(Serialize)]
        struct Claims<'a> {
            aud: &'a str,
            exp: u64,
            sub: &'a str,
        }
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        let claims = Claims {
            aud: origin,
            exp: now + VAPID_VALIDITY_SECS,
            sub: contact,
        };
        let jwt = jsonwebtoken::encode(&header, &claims, &self.signing)
            .map_err(|e| WebPushError::Key(e.to_string()))?;
        Ok(format!("vapid t={jwt}, k={}", self.public))
    }
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The keys of a push subscription: the browser's ECDH public key and auth secret,
/// base64url as `PushSubscription.toJSON()` gives them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionKeys {
    pub p256dh: String,
    pub auth: String,
}

/// A browser's push subscription, as `JSON.stringify(subscription)` gives it:
/// `{"endpoint": …, "expirationTime": null, "keys": {"p256dh": …, "auth": …}}`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSubscription {
    pub endpoint: String,
    /// Milliseconds since the epoch when the browser will drop it, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<f64>,
    pub keys: SubscriptionKeys,
}

impl std::fmt::Debug for PushSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let origin = reqwest::Url::parse(&self.endpoint)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| "?".into());
        f.debug_struct("PushSubscription")
            .field("origin", &origin)
            .finish_non_exhaustive()
    }
}

/// A subscription checked and decoded, ready to encrypt for.
struct Decoded {
    url: reqwest::Url,
    origin: String,
    ua_public: p256::PublicKey,
    auth: web_push_native::Auth,
}

/// `localhost`, `127.0.0.0/8` or `[::1]`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl PushSubscription {
    /// Reads the browser's JSON and checks it ([`PushSubscription::validate`]).
    pub fn from_json(json: &str) -> Result<PushSubscription, WebPushError> {
        let sub: PushSubscription = serde_json::from_str(json)
            .map_err(|e| WebPushError::Subscription(format!("not a push subscription: {e}")))?;
        sub.validate()?;
        Ok(sub)
    }

    /// Checks that the subscription can be pushed to: an `https` endpoint (`http` only
    /// on a loopback host, for a local push service), a P-256 public key and a 16-byte
    /// auth secret.
    pub fn validate(&self) -> Result<(), WebPushError> {
        self.decode().map(|_| ())
    }

    /// The endpoint's origin (`https://fcm.googleapis.com`): the VAPID `aud`.
    pub fn origin(&self) -> Result<String, WebPushError> {
        self.decode().map(|d| d.origin)
    }

    fn decode(&self) -> Result<Decoded, WebPushError> {
        let bad = |m: &str| WebPushError::Subscription(m.to_string());
        let url = reqwest::Url::parse(self.endpoint.trim()).map_err(|_| bad("bad endpoint"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            _ => return Err(bad("endpoint must be https")),
        }
        if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err(bad("bad endpoint"));
        }
        let origin = url.origin().ascii_serialization();
        let p256dh = b64_decode(&self.keys.p256dh).ok_or_else(|| bad("p256dh is not base64"))?;
        let ua_public = p256::PublicKey::from_sec1_bytes(&p256dh)
            .map_err(|_| bad("p256dh is not a P-256 public key"))?;
        let auth: [u8; 16] = b64_decode(&self.keys.auth)
            .and_then(|a| a.try_into().ok())
            .ok_or_else(|| bad("auth is not a 16-byte secret"))?;
        Ok(Decoded {
            url,
            origin,
            ua_public,
            auth: web_push_native::Auth::from(auth),
        })
    }
}

/// RFC 8030 §5.3 `Urgency`: how soon the push service should wake the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    VeryLow,
    Low,
    #[default]
    Normal,
    High,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// The JSON the service worker receives (`event.data.json()`): `id`, `title`, `body`,
/// and `url`, `sound`, `badge` when the message has them.
pub fn payload_json(message: &Message) -> Value {
    let mut p = Map::new();
    p.insert("id".into(), json!(message.id));
    p.insert("title".into(), json!(message.title));
    p.insert("body".into(), json!(message.body));
    if let Some(url) = &message.url {
        p.insert("url".into(), json!(url));
    }
    if let Some(sound) = &message.sound {
        p.insert("sound".into(), json!(sound));
    }
    if let Some(badge) = message.badge {
        p.insert("badge".into(), json!(badge));
    }
    Value::Object(p)
}

/// [`payload_json`] as bytes, the body (then the title) shortened so the encrypted
/// message fits [`MAX_PLAINTEXT`].
pub fn payload(message: &Message) -> Vec<u8> {
    wire::fit(message, MAX_PLAINTEXT, |m| {
        serde_json::to_vec(&payload_json(m)).unwrap_or_default()
    })
}

/// A Web Push sender. Cheap to clone; share one per process.
#[derive(Debug, Clone)]
pub struct WebPushClient {
    http: reqwest::Client,
    guard: Guard,
    vapid: VapidKey,
    contact: String,
    ttl: Duration,
    urgency: Urgency,
}

impl WebPushClient {
    /// A sender signing with `vapid`, naming `contact` (`mailto:ops@example.com` or an
    /// `https:` URL) as the VAPID `sub`, with `timeout` for each whole request.
    pub fn new(
        vapid: VapidKey,
        contact: &str,
        timeout: Duration,
    ) -> Result<WebPushClient, WebPushError> {
        WebPushClient::guarded(vapid, contact, timeout, Guard::new())
    }

    /// As [`WebPushClient::new`], with endpoints that must pass `guard` (checked before
    /// each request, and each resolved address when connecting).
    pub fn guarded(
        vapid: VapidKey,
        contact: &str,
        timeout: Duration,
        guard: Guard,
    ) -> Result<WebPushClient, WebPushError> {
        let http = wire::guarded_client(timeout, &guard).map_err(WebPushError::Key)?;
        let mut client = WebPushClient::with_http(http, vapid, contact)?;
        client.guard = guard;
        Ok(client)
    }

    /// The guard endpoints must pass; also checked when a subscription is stored.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// A sender over an existing `reqwest::Client`.
    pub fn with_http(
        http: reqwest::Client,
        vapid: VapidKey,
        contact: &str,
    ) -> Result<WebPushClient, WebPushError> {
        let contact = contact.trim();
        if !(contact.starts_with("mailto:") || contact.starts_with("https:")) || contact.len() < 8 {
            return Err(WebPushError::Key(
                "contact must be a mailto: or https: URI".into(),
            ));
        }
        Ok(WebPushClient {
            http,
            guard: Guard::new(),
            vapid,
            contact: contact.to_string(),
            ttl: DEFAULT_TTL,
            urgency: Urgency::Normal,
        })
    }

    /// How long the push service keeps the message for an offline browser (`TTL`).
    pub fn with_ttl(mut self, ttl: Duration) -> WebPushClient {
        self.ttl = ttl;
        self
    }

    pub fn with_urgency(mut self, urgency: Urgency) -> WebPushClient {
        self.urgency = urgency;
        self
    }

    pub fn vapid_key(&self) -> &VapidKey {
        &self.vapid
    }

    /// Encrypts `message`'s [`payload`] for `subscription` and posts it.
    pub async fn send(
        &self,
        subscription: &PushSubscription,
        message: &Message,
    ) -> Result<(), WebPushError> {
        self.push(subscription, &payload(message)).await
    }

    /// Encrypts `plaintext` (at most [`MAX_PLAINTEXT`] bytes) for `subscription` and
    /// posts it with `Content-Encoding: aes128gcm`, `TTL`, `Urgency` and VAPID
    /// `Authorization`.
    pub async fn push(
        &self,
        subscription: &PushSubscription,
        plaintext: &[u8],
    ) -> Result<(), WebPushError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(WebPushError::Subscription(format!(
                "payload of {} bytes is over {MAX_PLAINTEXT}",
                plaintext.len()
            )));
        }
        let sub = subscription.decode()?;
        self.guard
            .check_url(sub.url.as_str())
            .map_err(|why| WebPushError::Subscription(format!("the endpoint {why}")))?;
        let body = web_push_native::encrypt(plaintext.to_vec(), &sub.ua_public, &sub.auth)
            .map_err(|e| WebPushError::Subscription(format!("encrypt: {e}")))?;
        let authorization =
            self.vapid
                .authorization(&sub.origin, &self.contact, wire::unix_now())?;
        let resp = self
            .http
            .post(sub.url)
            .header("TTL", self.ttl.as_secs().to_string())
            .header("Urgency", self.urgency.as_str())
            .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::AUTHORIZATION, authorization)
            .body(body)
            .send()
            .await
            .map_err(|e| WebPushError::Network(wire::network_error(e)))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        Err(WebPushError::Http {
            status: status.as_u16(),
            retry_after: wire::retry_after(resp.headers()),
        })
    }
}

#[async_trait]
impl Channel for WebPushClient {
    type Target = PushSubscription;

    fn name(&self) -> &'static str {
        "webpush"
    }

    async fn deliver(&self, target: &PushSubscription, message: &Message) -> Outcome {
        match self.send(target, message).await {
            Ok(()) => Outcome::Delivered,
            Err(e) => {
                tracing::debug!(channel = "webpush", error = %e, "web push delivery failed");
                e.outcome()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> Message {
        Message {
            id: "ntf_1.webpush".into(),
            title: "Deal assigned".into(),
            body: body.into(),
            url: Some("https://crm.example/deals/1".into()),
            sound: Some("chime".into()),
            badge: None,
            locale: "en".into(),
        }
    }

    #[test]
    fn keys_round_trip() {
        let key = VapidKey::generate().expect("key");
        let again = VapidKey::from_private_key(&key.private_key()).expect("load");
        assert_eq!(again.public_key(), key.public_key());
        let raw = URL_SAFE_NO_PAD.decode(key.public_key()).expect("b64");
        assert_eq!(raw.len(), 65);
        assert_eq!(raw[0], 4);
        let pem = key.secret.to_pkcs8_pem(Default::default()).expect("pem");
        assert_eq!(
            VapidKey::from_pem(&pem).expect("pem").public_key(),
            key.public_key()
        );
        assert!(!format!("{key:?}").contains(&key.private_key()));
        assert!(VapidKey::from_private_key("short").is_err());
    }

    #[test]
    fn subscriptions_are_checked() {
        let key = VapidKey::generate().expect("key");
        let good = |endpoint: &str| PushSubscription {
            endpoint: endpoint.into(),
            expiration_time: None,
            keys: SubscriptionKeys {
                p256dh: key.public_key().into(),
                auth: URL_SAFE_NO_PAD.encode([7u8; 16]),
            },
        };
        assert!(good("https://push.example/abc").validate().is_ok());
        assert!(good("http://127.0.0.1:9/abc").validate().is_ok());
        assert!(good("http://[::1]:9/abc").validate().is_ok());
        assert!(good("http://push.example/abc").validate().is_err());
        assert!(good("ftp://push.example/abc").validate().is_err());
        assert_eq!(
            good("https://push.example:8443/abc").origin().as_deref(),
            Ok("https://push.example:8443")
        );
        let mut bad = good("https://push.example/abc");
        bad.keys.auth = URL_SAFE_NO_PAD.encode([7u8; 8]);
        assert!(bad.validate().is_err());
        let json = r#"{"endpoint":"https://push.example/x","expirationTime":null,
            "keys":{"p256dh":"BLn9b-VR0ca83knDNZ32dCHGyjJp-1riX9ZTN40MqV8K_LpQmLqxC_DoHvqvFXO_nGdAB4W9dogZb_sM-uV4JbY","auth":"_ordMnz7uTCmrpBTeUV4Bw"}}"#;
        let sub = PushSubscription::from_json(json).expect("browser json");
        assert!(!format!("{sub:?}").contains("/x"));
    }

    #[test]
    fn payload_fits() {
        let p = payload(&message("short"));
        let v: Value = serde_json::from_slice(&p).expect("json");
        assert_eq!(v["title"], "Deal assigned");
        assert_eq!(v["sound"], "chime");
        assert_eq!(v["id"], "ntf_1.webpush");
        assert!(v.get("badge").is_none());
        let big = payload(&message(&"å".repeat(5000)));
        assert!(big.len() <= MAX_PLAINTEXT);
    }

    #[test]
    fn statuses_are_classified() {
        let after = Some(Duration::from_secs(9));
        for s in [200, 201, 202] {
            assert_eq!(outcome_for_status(s, None), Outcome::Delivered);
        }
        for s in [404, 410] {
            assert!(matches!(outcome_for_status(s, None), Outcome::Gone { .. }));
        }
        assert_eq!(
            outcome_for_status(429, after),
            Outcome::Retry {
                after,
                reason: "webpush: HTTP 429".into()
            }
        );
        for s in [500, 502, 503] {
            assert!(matches!(outcome_for_status(s, None), Outcome::Retry { .. }));
        }
        for s in [400, 401, 403, 413] {
            assert!(matches!(
                outcome_for_status(s, None),
                Outcome::Permanent { .. }
            ));
        }
    }

    #[test]
    fn contact_must_be_a_uri() {
        let key = VapidKey::generate().expect("key");
        let t = Duration::from_secs(5);
        assert!(WebPushClient::new(key.clone(), "ops@example.com", t).is_err());
        assert!(WebPushClient::new(key, "mailto:ops@example.com", t).is_ok());
    }
}
