//! A Web Push service for the tests (RFC 8030), standing in for both the push service
//! and the browser: [`PushService::subscribe`] makes a subscription the way a browser
//! does (a P-256 key pair and a 16-byte auth secret, bound to the server's
//! `applicationServerKey`) and keeps its private half, so every push is **decrypted**
//! (RFC 8291 `aes128gcm`) and its VAPID JWT **verified** (RFC 8292: ES256 signature by
//! the `k=` key, which must be the subscription's application server key; `aud` = this
//! service's origin; `exp` in the future and at most 24 h away; `sub` a `mailto:` or
//! `https:` URI). It also checks `TTL` (required), `Urgency`, `Content-Encoding` and the
//! 4096-byte limit, answers like real push services (201 Created; 400, 401, 403, 404,
//! 410, 413 on errors), records every call and every accepted push, and can be told to
//! answer the next requests with a fault (429 with `Retry-After`, any status) or to
//! misbehave (hang, answer slowly, reset the connection, answer 200 with an HTML page:
//! [`Misbehaviour`]), in the order asked for.

#![allow(clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use serde_json::{Value, json};

use crate::fault::{Faults, Injected, Misbehaviour, Protocol, Serving};

/// An answer the service gives instead of the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushFault {
    /// HTTP 429 with `Retry-After: retry_after`.
    RateLimited { retry_after: u64 },
    /// A bare HTTP status (404, 410, 413, 500, 503…).
    Status(u16),
}

/// One request the service received and how it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushCall {
    pub subscription: String,
    pub status: u16,
    /// Why it was refused (empty when accepted).
    pub reason: String,
}

/// The verified VAPID claims of an accepted push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vapid {
    pub aud: String,
    pub exp: u64,
    pub sub: String,
    /// The `k=` public key (base64url).
    pub key: String,
}

/// One push the service accepted, decrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct Pushed {
    /// The subscription id (the last path segment of its endpoint).
    pub subscription: String,
    /// The decrypted payload.
    pub plaintext: Vec<u8>,
    pub ttl: u64,
    pub urgency: Option<String>,
    pub topic: Option<String>,
    pub vapid: Vapid,
}

impl Pushed {
    /// The payload as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.plaintext).unwrap_or(Value::Null)
    }
}

struct Sub {
    secret: p256::SecretKey,
    auth: [u8; 16],
    server_key: String,
    expired: bool,
}

#[derive(Default)]
struct Inner {
    subs: HashMap<String, Sub>,
    calls: Vec<PushCall>,
    pushed: Vec<Pushed>,
    next: u64,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("OS random source");
    b
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

pub struct PushService {
    pub port: u16,
    state: Shared,
    faults: Arc<Faults<PushFault>>,
    _serving: Serving,
}

impl PushService {
    /// Starts on 127.0.0.1 and a free port.
    pub async fn start() -> PushService {
        let (listener, port) = crate::fault::bind("push").await;
        let state: Shared = Arc::new(Mutex::new(Inner::default()));
        let faults = Faults::new();
        let app = Router::new()
            .route("/push/{id}", faults.on(post(handle)))
            .with_state((state.clone(), format!("http://127.0.0.1:{port}")));
        PushService {
            port,
            state,
            faults,
            _serving: crate::fault::serve(listener, app, Protocol::Http1),
        }
    }

    /// The origin a VAPID `aud` must name.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Subscribes like a browser's `pushManager.subscribe({applicationServerKey})`:
    /// answers the subscription's JSON (`endpoint`, `expirationTime`, `keys.p256dh`,
    /// `keys.auth`), as `JSON.stringify(subscription)` gives it.
    pub fn subscribe(&self, application_server_key: &str) -> Value {
        let secret = loop {
            if let Ok(k) = p256::SecretKey::from_slice(&random::<32>()) {
                break k;
            }
        };
        let auth = random::<16>();
        let p256dh = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        let mut s = lock(&self.state);
        s.next += 1;
        let id = format!("sub{}-{}", s.next, URL_SAFE_NO_PAD.encode(random::<9>()));
        s.subs.insert(
            id.clone(),
            Sub {
                secret,
                auth,
                server_key: application_server_key.to_string(),
                expired: false,
            },
        );
        json!({
            "endpoint": format!("{}/push/{id}", self.origin()),
            "expirationTime": null,
            "keys": {"p256dh": p256dh, "auth": URL_SAFE_NO_PAD.encode(auth)},
        })
    }

    /// Expires a subscription (by endpoint or id): pushes to it get 410 Gone.
    pub fn expire(&self, endpoint: &str) {
        let id = endpoint.rsplit('/').next().unwrap_or(endpoint);
        if let Some(s) = lock(&self.state).subs.get_mut(id) {
            s.expired = true;
        }
    }

    /// Answers the next `n` requests with `fault`.
    pub fn fail_next(&self, n: usize, fault: PushFault) {
        self.faults.answer_next(n, fault);
    }

    /// The next `n` requests get `m` (after the faults already asked for).
    pub fn misbehave_next(&self, n: usize, m: Misbehaviour) {
        self.faults.misbehave_next(n, m);
    }

    pub fn calls(&self) -> Vec<PushCall> {
        lock(&self.state).calls.clone()
    }

    /// Every accepted push, decrypted, in order.
    pub fn pushed(&self) -> Vec<Pushed> {
        lock(&self.state).pushed.clone()
    }
}

async fn handle(
    State((state, origin)): State<(Shared, String)>,
    Injected(fault): Injected<PushFault>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, reason, response) = match answer(&state, fault, &origin, &id, &headers, &body) {
        Ok(pushed) => {
            let location = format!("{origin}/message/{}", lock(&state).pushed.len());
            lock(&state).pushed.push(pushed);
            (
                201,
                String::new(),
                (StatusCode::CREATED, [(header::LOCATION, location)]).into_response(),
            )
        }
        Err(r) => {
            let response = r.response();
            (r.status, r.reason, response)
        }
    };
    lock(&state).calls.push(PushCall {
        subscription: id,
        status,
        reason,
    });
    response
}

/// Why a push was refused.
struct Refusal {
    status: u16,
    reason: String,
    retry_after: Option<u64>,
}

impl Refusal {
    fn response(&self) -> Response {
        let code = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body =
            json!({"code": self.status, "error": code.canonical_reason(), "message": self.reason});
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
        reason: reason.to_string(),
        retry_after: None,
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn answer(
    state: &Shared,
    fault: Option<PushFault>,
    origin: &str,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Pushed, Refusal> {
    match fault {
        Some(PushFault::RateLimited { retry_after }) => {
            return Err(Refusal {
                retry_after: Some(retry_after),
                ..refuse(429, "rate limited")
            });
        }
        Some(PushFault::Status(s)) => return Err(refuse(s, "fault")),
        None => {}
    }
    let (secret, auth, server_key) = {
        let s = lock(state);
        match s.subs.get(id) {
            None => return Err(refuse(404, "no such subscription")),
            Some(sub) if sub.expired => return Err(refuse(410, "subscription expired")),
            Some(sub) => (sub.secret.clone(), sub.auth, sub.server_key.clone()),
        }
    };
    let ttl = header_str(headers, "ttl")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| refuse(400, "missing or bad TTL header"))?;
    let urgency = header_str(headers, "urgency").map(str::to_string);
    if let Some(u) = &urgency
        && !["very-low", "low", "normal", "high"].contains(&u.as_str())
    {
        return Err(refuse(400, "bad Urgency header"));
    }
    let topic = header_str(headers, "topic").map(str::to_string);
    let vapid = verify_vapid(header_str(headers, "authorization"), origin)?;
    if vapid.key != server_key {
        return Err(refuse(
            403,
            "VAPID key is not the subscription's applicationServerKey",
        ));
    }
    if header_str(headers, "content-encoding") != Some("aes128gcm") {
        return Err(refuse(400, "Content-Encoding must be aes128gcm"));
    }
    if body.len() > 4096 {
        return Err(refuse(413, "payload over 4096 bytes"));
    }
    let plaintext =
        web_push_native::decrypt(body.to_vec(), &secret, &web_push_native::Auth::from(auth))
            .map_err(|e| refuse(400, &format!("cannot decrypt: {e}")))?;
    Ok(Pushed {
        subscription: id.to_string(),
        plaintext,
        ttl,
        urgency,
        topic,
        vapid,
    })
}

/// Checks `Authorization: vapid t=<jwt>, k=<key>` (RFC 8292 §3).
fn verify_vapid(authorization: Option<&str>, origin: &str) -> Result<Vapid, Refusal> {
    let unauthorized = |why: &str| refuse(401, why);
    let value = authorization.ok_or_else(|| unauthorized("missing Authorization"))?;
    let params = value
        .strip_prefix("vapid ")
        .ok_or_else(|| unauthorized("Authorization scheme is not vapid"))?;
    let (mut t, mut k) = (None, None);
    for p in params.split(',') {
        let p = p.trim();
        if let Some(v) = p.strip_prefix("t=") {
            t = Some(v);
        } else if let Some(v) = p.strip_prefix("k=") {
            k = Some(v);
        }
    }
    let (Some(t), Some(k)) = (t, k) else {
        return Err(unauthorized("vapid needs t= and k="));
    };
    let key = URL_SAFE_NO_PAD
        .decode(k)
        .ok()
        .filter(|b| b.len() == 65 && p256::PublicKey::from_sec1_bytes(b).is_ok())
        .ok_or_else(|| unauthorized("k is not a P-256 public key"))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[origin]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Value>(
        t,
        &jsonwebtoken::DecodingKey::from_ec_der(&key),
        &validation,
    )
    .map_err(|e| unauthorized(&format!("VAPID JWT rejected: {e}")))?;
    let claims = data.claims;
    let exp = claims["exp"].as_u64().unwrap_or_default();
    if exp > now() + 24 * 3600 {
        return Err(unauthorized("exp is more than 24 hours away"));
    }
    let sub = claims["sub"].as_str().unwrap_or_default().to_string();
    if !(sub.starts_with("mailto:") || sub.starts_with("https:")) {
        return Err(unauthorized("sub must be a mailto: or https: URI"));
    }
    Ok(Vapid {
        aud: claims["aud"].as_str().unwrap_or_default().to_string(),
        exp,
        sub,
        key: k.to_string(),
    })
}
