//! An APNs server for the tests. Like Apple's, it speaks **only HTTP/2** (here over
//! plain TCP with prior knowledge, h2c; an HTTP/1.1 client cannot talk to it) and
//! serves `POST /3/device/{token}`. It **verifies** the provider token in
//! `authorization: bearer …` (an ES256 JWT whose header `kid` is the key id, signed by
//! the key's private half — checked with the public half only — with `iss` = the team
//! id and an `iat` less than an hour old), the headers (`apns-topic` = the bundle id,
//! `apns-push-type`, `apns-priority` 5 / 10, `apns-id` a UUID, `apns-expiration`), the
//! device token (hex) and the payload (JSON with an `aps` alert, ≤ 4096 bytes), and
//! answers with Apple's status codes and `{"reason": …}` bodies. It records every call
//! and every accepted notification, answers 410 `Unregistered` for unregistered
//! devices, and can be told to answer the next requests with any status / reason (with
//! `Retry-After` if wanted) or to misbehave (hang, answer slowly, reset the connection —
//! which fails every stream on it —, answer 200 with an HTML page: [`Misbehaviour`]),
//! in the order asked for.

#![allow(clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};

use crate::fault::{Faults, Injected, Misbehaviour, Protocol, Serving};

/// A new APNs auth key: the `.p8` file's contents (PKCS#8 PEM) and the public half
/// the server verifies with.
pub fn generate_key() -> (String, p256::PublicKey) {
    let secret = loop {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).expect("OS random source");
        if let Ok(k) = p256::SecretKey::from_slice(&b) {
            break k;
        }
    };
    let pem = secret
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .expect("PEM")
        .to_string();
    (pem, secret.public_key())
}

/// An APNs error answer for the next requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsFault {
    pub status: u16,
    /// Apple's `reason` (`TooManyRequests`, `Unregistered`, `ExpiredProviderToken`…).
    pub reason: String,
    pub retry_after: Option<u64>,
}

impl ApnsFault {
    pub fn new(status: u16, reason: &str) -> ApnsFault {
        ApnsFault {
            status,
            reason: reason.to_string(),
            retry_after: None,
        }
    }

    /// 429 `TooManyRequests` with `Retry-After: secs`.
    pub fn too_many_requests(secs: u64) -> ApnsFault {
        ApnsFault {
            retry_after: Some(secs),
            ..ApnsFault::new(429, "TooManyRequests")
        }
    }
}

/// One notification the server accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Notified {
    pub device: String,
    pub topic: String,
    pub push_type: String,
    pub priority: Option<u8>,
    pub apns_id: Option<String>,
    pub expiration: Option<u64>,
    pub payload: Value,
    /// The provider token it carried (verified).
    pub provider_token: String,
    /// The `iss` and `iat` claims of that token.
    pub team_id: String,
    pub iat: u64,
    /// `HTTP/2.0`.
    pub version: String,
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsCall {
    pub device: String,
    pub status: u16,
    /// Apple's reason (empty when accepted).
    pub reason: String,
}

struct Inner {
    team_id: String,
    key_id: String,
    topic: String,
    public: p256::PublicKey,
    unregistered: HashSet<String>,
    calls: Vec<ApnsCall>,
    accepted: Vec<Notified>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub struct ApnsServer {
    pub port: u16,
    state: Shared,
    faults: Arc<Faults<ApnsFault>>,
    _serving: Serving,
}

impl ApnsServer {
    /// Starts on 127.0.0.1 and a free port, accepting provider tokens of `team_id` /
    /// `key_id` signed by the private half of `public`, for the app `topic`.
    pub async fn start(
        team_id: &str,
        key_id: &str,
        topic: &str,
        public: p256::PublicKey,
    ) -> ApnsServer {
        let (listener, port) = crate::fault::bind("apns").await;
        let state: Shared = Arc::new(Mutex::new(Inner {
            team_id: team_id.to_string(),
            key_id: key_id.to_string(),
            topic: topic.to_string(),
            public,
            unregistered: HashSet::new(),
            calls: Vec::new(),
            accepted: Vec::new(),
        }));
        let faults = Faults::new();
        let app = Router::new()
            .route("/3/device/{token}", faults.on(post(handle)))
            .with_state(state.clone());
        ApnsServer {
            port,
            state,
            faults,
            _serving: crate::fault::serve(listener, app, Protocol::Http2),
        }
    }

    /// The base URL, in place of `https://api.push.apple.com`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Marks a device token unregistered (the app was removed): 410 `Unregistered`.
    pub fn unregister(&self, device: &str) {
        lock(&self.state).unregistered.insert(device.to_string());
    }

    /// Answers the next `n` requests with `fault`.
    pub fn fail_next(&self, n: usize, fault: ApnsFault) {
        self.faults.answer_next(n, fault);
    }

    /// The next `n` requests get `m` (after the faults already asked for).
    pub fn misbehave_next(&self, n: usize, m: Misbehaviour) {
        self.faults.misbehave_next(n, m);
    }

    pub fn calls(&self) -> Vec<ApnsCall> {
        lock(&self.state).calls.clone()
    }

    /// Every accepted notification, in order.
    pub fn accepted(&self) -> Vec<Notified> {
        lock(&self.state).accepted.clone()
    }
}

/// Why a notification was refused: Apple's status and reason.
struct Refusal {
    status: u16,
    reason: String,
    retry_after: Option<u64>,
}

impl Refusal {
    fn response(&self) -> Response {
        let code = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut body = json!({"reason": self.reason});
        if self.status == 410 {
            body["timestamp"] = json!(now() * 1000);
        }
        let mut resp = (code, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = secs.to_string().parse()
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

fn refuse(status: u16, reason: &str) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
        retry_after: None,
    }
}

async fn handle(
    State(state): State<Shared>,
    Injected(fault): Injected<ApnsFault>,
    Path(device): Path<String>,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, reason, response) = match answer(&state, fault, &device, version, &headers, &body)
    {
        Ok(n) => {
            let id = n.apns_id.clone().unwrap_or_else(|| "generated".into());
            lock(&state).accepted.push(n);
            (
                200,
                String::new(),
                (StatusCode::OK, [("apns-id", id)]).into_response(),
            )
        }
        Err(r) => {
            let response = r.response();
            (r.status, r.reason, response)
        }
    };
    lock(&state).calls.push(ApnsCall {
        device,
        status,
        reason,
    });
    response
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn answer(
    state: &Shared,
    fault: Option<ApnsFault>,
    device: &str,
    version: Version,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Notified, Refusal> {
    if let Some(f) = fault {
        return Err(Refusal {
            retry_after: f.retry_after,
            ..refuse(f.status, &f.reason)
        });
    }
    if version != Version::HTTP_2 {
        return Err(refuse(505, "HTTP/2 required"));
    }
    let (team_id, key_id, topic, public) = {
        let s = lock(state);
        (
            s.team_id.clone(),
            s.key_id.clone(),
            s.topic.clone(),
            s.public,
        )
    };
    // The provider token.
    let bearer = header_str(headers, "authorization")
        .and_then(|v| v.strip_prefix("bearer "))
        .ok_or_else(|| refuse(403, "MissingProviderToken"))?;
    let jwt_header =
        jsonwebtoken::decode_header(bearer).map_err(|_| refuse(403, "InvalidProviderToken"))?;
    if jwt_header.alg != jsonwebtoken::Algorithm::ES256
        || jwt_header.kid.as_deref() != Some(key_id.as_str())
    {
        return Err(refuse(403, "InvalidProviderToken"));
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.set_required_spec_claims::<&str>(&[]);
    let point = public.to_encoded_point(false);
    let claims = jsonwebtoken::decode::<Value>(
        bearer,
        &jsonwebtoken::DecodingKey::from_ec_der(point.as_bytes()),
        &validation,
    )
    .map_err(|_| refuse(403, "InvalidProviderToken"))?
    .claims;
    if claims["iss"].as_str() != Some(team_id.as_str()) {
        return Err(refuse(403, "InvalidProviderToken"));
    }
    let iat = claims["iat"]
        .as_u64()
        .ok_or_else(|| refuse(403, "InvalidProviderToken"))?;
    if iat > now() + 60 {
        return Err(refuse(403, "InvalidProviderToken"));
    }
    if iat + 3600 < now() {
        return Err(refuse(403, "ExpiredProviderToken"));
    }
    // The device.
    if device.len() < 64 || !device.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(refuse(400, "BadDeviceToken"));
    }
    // The headers.
    let got_topic = header_str(headers, "apns-topic").ok_or_else(|| refuse(400, "MissingTopic"))?;
    if got_topic != topic {
        return Err(refuse(400, "DeviceTokenNotForTopic"));
    }
    let push_type = header_str(headers, "apns-push-type")
        .ok_or_else(|| refuse(400, "InvalidPushType"))?
        .to_string();
    if ![
        "alert",
        "background",
        "voip",
        "complication",
        "fileprovider",
        "mdm",
        "liveactivity",
        "location",
        "pushtotalk",
    ]
    .contains(&push_type.as_str())
    {
        return Err(refuse(400, "InvalidPushType"));
    }
    let priority = match header_str(headers, "apns-priority") {
        None => None,
        Some(p) => match p.parse::<u8>() {
            Ok(p @ (1 | 5 | 10)) => Some(p),
            _ => return Err(refuse(400, "BadPriority")),
        },
    };
    let apns_id = header_str(headers, "apns-id").map(str::to_string);
    if apns_id.as_deref().is_some_and(|id| !is_uuid(id)) {
        return Err(refuse(400, "BadMessageId"));
    }
    let expiration = match header_str(headers, "apns-expiration") {
        None => None,
        Some(e) => Some(
            e.parse::<u64>()
                .map_err(|_| refuse(400, "BadExpirationDate"))?,
        ),
    };
    // The payload.
    if body.is_empty() {
        return Err(refuse(400, "PayloadEmpty"));
    }
    if body.len() > 4096 {
        return Err(refuse(413, "PayloadTooLarge"));
    }
    let payload: Value = serde_json::from_slice(body).map_err(|_| refuse(400, "BadPayload"))?;
    let aps = &payload["aps"];
    if !aps.is_object() {
        return Err(refuse(400, "BadPayload"));
    }
    if push_type == "alert" && aps["alert"].is_null() {
        return Err(refuse(400, "BadPayload"));
    }
    if !(aps["badge"].is_null() || aps["badge"].is_u64()) {
        return Err(refuse(400, "BadPayload"));
    }
    if lock(state).unregistered.contains(device) {
        return Err(refuse(410, "Unregistered"));
    }
    Ok(Notified {
        device: device.to_string(),
        topic: got_topic.to_string(),
        push_type,
        priority,
        apns_id,
        expiration,
        payload,
        provider_token: bearer.to_string(),
        team_id,
        iat,
        version: format!("{version:?}"),
    })
}
