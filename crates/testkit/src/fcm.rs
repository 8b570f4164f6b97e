//! An FCM HTTP v1 server for the tests, with Google's OAuth token endpoint beside it.
//!
//! [`FcmServer::start`] makes a service account (an RSA key pair generated here; the
//! server keeps only the public half) and [`FcmServer::service_account_json`] hands out
//! its key file with `token_uri` pointing at this server. The token endpoint implements
//! the JWT bearer grant (RFC 7523): it **verifies** the RS256 assertion's signature with
//! the account's public key and its claims (`iss` = the client email, `scope` includes
//! `firebase.messaging`, `aud` = the token URI, `iat` / `exp` current and at most an
//! hour apart) and issues an access token. `messages:send` **verifies** the bearer token
//! (one it issued and has not expired), the project, and the message JSON (exactly one
//! target, string-only `data`, known fields, Android / APNs blocks), records accepted
//! messages, answers `UNREGISTERED` for unregistered tokens, and can be told to answer
//! the next requests with Google's error format (any FCM error code, status and
//! `Retry-After`). Both endpoints can be told to misbehave (hang, answer slowly, reset
//! the connection, answer 200 with an HTML page instead of JSON: [`Misbehaviour`]), in
//! the order asked for among that endpoint's faults.

#![allow(clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::EncodePrivateKey;
use serde_json::{Value, json};

use crate::fault::{Faults, Injected, Misbehaviour, Protocol, Serving};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An FCM error answer for the next `messages:send` requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcmFault {
    pub status: u16,
    /// FCM's `errorCode` (`UNREGISTERED`, `QUOTA_EXCEEDED`, …).
    pub code: String,
    pub retry_after: Option<u64>,
}

impl FcmFault {
    /// FCM's error code with the HTTP status FCM documents for it.
    pub fn code(code: &str) -> FcmFault {
        let status = match code {
            "UNREGISTERED" => 404,
            "INVALID_ARGUMENT" => 400,
            "QUOTA_EXCEEDED" => 429,
            "UNAVAILABLE" => 503,
            "INTERNAL" => 500,
            "SENDER_ID_MISMATCH" => 403,
            "THIRD_PARTY_AUTH_ERROR" => 401,
            _ => 500,
        };
        FcmFault {
            status,
            code: code.to_string(),
            retry_after: None,
        }
    }

    /// `QUOTA_EXCEEDED` (HTTP 429) with `Retry-After: secs`.
    pub fn quota_exceeded(secs: u64) -> FcmFault {
        FcmFault {
            retry_after: Some(secs),
            ..FcmFault::code("QUOTA_EXCEEDED")
        }
    }
}

/// One `messages:send` the server accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub project: String,
    /// The `message` object.
    pub message: Value,
    /// The access token it carried.
    pub access_token: String,
}

impl Sent {
    pub fn token(&self) -> String {
        self.message["token"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FcmCall {
    /// `token` or `send`.
    pub endpoint: String,
    pub status: u16,
    /// The error code or reason (empty when accepted).
    pub reason: String,
}

struct Inner {
    project: String,
    client_email: String,
    public: rsa::RsaPublicKey,
    token_uri: String,
    token_lifetime: u64,
    /// Issued access token → expiry (Unix seconds).
    issued: Vec<(String, u64)>,
    revoked: HashSet<String>,
    unregistered: HashSet<String>,
    calls: Vec<FcmCall>,
    sent: Vec<Sent>,
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

/// One RSA-2048 key per test process (generating one takes a while in debug builds).
fn test_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("generate an RSA key")
    })
}

pub struct FcmServer {
    pub port: u16,
    state: Shared,
    private_pem: String,
    faults: Arc<Faults<FcmFault>>,
    token_faults: Arc<Faults<u16>>,
    _serving: Serving,
}

impl FcmServer {
    /// Starts on 127.0.0.1 and a free port, for the Firebase project `project`, with a
    /// fresh service account.
    pub async fn start(project: &str) -> FcmServer {
        let key = test_key();
        let private_pem = key
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .expect("PEM")
            .to_string();
        let (listener, port) = crate::fault::bind("fcm").await;
        let state: Shared = Arc::new(Mutex::new(Inner {
            project: project.to_string(),
            client_email: format!("varsel@{project}.iam.gserviceaccount.com"),
            public: key.to_public_key(),
            token_uri: format!("http://127.0.0.1:{port}/token"),
            token_lifetime: 3599,
            issued: Vec::new(),
            revoked: HashSet::new(),
            unregistered: HashSet::new(),
            calls: Vec::new(),
            sent: Vec::new(),
        }));
        let (faults, token_faults) = (Faults::new(), Faults::new());
        let app = Router::new()
            .route("/token", token_faults.on(post(token)))
            .route(
                "/v1/projects/{project}/messages:send",
                faults.on(post(send)),
            )
            .with_state(state.clone());
        FcmServer {
            port,
            state,
            private_pem,
            faults,
            token_faults,
            _serving: crate::fault::serve(listener, app, Protocol::Http1),
        }
    }

    /// The API base URL, in place of `https://fcm.googleapis.com`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The service account key file (JSON), as the Google Cloud console downloads it.
    pub fn service_account_json(&self) -> String {
        let s = lock(&self.state);
        json!({
            "type": "service_account",
            "project_id": s.project,
            "private_key_id": "0123456789abcdef",
            "private_key": self.private_pem,
            "client_email": s.client_email,
            "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": s.token_uri,
        })
        .to_string()
    }

    /// How long issued access tokens live (`expires_in`, default 3599).
    pub fn set_token_lifetime(&self, secs: u64) {
        lock(&self.state).token_lifetime = secs;
    }

    /// Revokes every access token issued so far: sends with them get 401.
    pub fn revoke_tokens(&self) {
        let mut s = lock(&self.state);
        let issued: Vec<String> = s.issued.iter().map(|(t, _)| t.clone()).collect();
        s.revoked.extend(issued);
    }

    /// Marks a registration token unregistered (the app was uninstalled): sends to it
    /// get 404 `UNREGISTERED`.
    pub fn unregister(&self, token: &str) {
        lock(&self.state).unregistered.insert(token.to_string());
    }

    /// Answers the next `n` `messages:send` requests with `fault`.
    pub fn fail_next(&self, n: usize, fault: FcmFault) {
        self.faults.answer_next(n, fault);
    }

    /// The next `n` `messages:send` requests get `m` (after the faults already asked
    /// for).
    pub fn misbehave_next(&self, n: usize, m: Misbehaviour) {
        self.faults.misbehave_next(n, m);
    }

    /// Answers the next `n` token requests with HTTP `status`.
    pub fn fail_next_token(&self, n: usize, status: u16) {
        self.token_faults.answer_next(n, status);
    }

    /// The next `n` token requests get `m` (after the token faults already asked for).
    pub fn misbehave_next_token(&self, n: usize, m: Misbehaviour) {
        self.token_faults.misbehave_next(n, m);
    }

    /// How many access tokens the token endpoint has issued.
    pub fn tokens_issued(&self) -> usize {
        lock(&self.state).issued.len()
    }

    pub fn calls(&self) -> Vec<FcmCall> {
        lock(&self.state).calls.clone()
    }

    /// Every accepted message, in order.
    pub fn sent(&self) -> Vec<Sent> {
        lock(&self.state).sent.clone()
    }
}

fn record(state: &Shared, endpoint: &str, status: u16, reason: &str) {
    lock(state).calls.push(FcmCall {
        endpoint: endpoint.into(),
        status,
        reason: reason.into(),
    });
}

fn oauth_error(state: &Shared, status: u16, error: &str, description: &str) -> Response {
    record(state, "token", status, error);
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        code,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn token(
    State(state): State<Shared>,
    Injected(fault): Injected<u16>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> Response {
    if let Some(status) = fault {
        return oauth_error(&state, status, "internal_failure", "fault");
    }
    if form.get("grant_type").map(String::as_str) != Some(GRANT_TYPE) {
        return oauth_error(&state, 400, "unsupported_grant_type", "bad grant_type");
    }
    let Some(assertion) = form.get("assertion") else {
        return oauth_error(&state, 400, "invalid_request", "missing assertion");
    };
    let (public_der, client_email, token_uri, lifetime) = {
        let s = lock(&state);
        let der = s.public.to_pkcs1_der().expect("public key DER");
        (
            der.as_bytes().to_vec(),
            s.client_email.clone(),
            s.token_uri.clone(),
            s.token_lifetime,
        )
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&token_uri]);
    validation.set_issuer(&[&client_email]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    validation.leeway = 0;
    let claims = match jsonwebtoken::decode::<Value>(
        assertion,
        &jsonwebtoken::DecodingKey::from_rsa_der(&public_der),
        &validation,
    ) {
        Ok(d) => d.claims,
        Err(e) => return oauth_error(&state, 400, "invalid_grant", &e.to_string()),
    };
    let iat = claims["iat"].as_u64().unwrap_or_default();
    let exp = claims["exp"].as_u64().unwrap_or_default();
    if iat > now() + 60 || exp <= iat || exp - iat > 3600 {
        return oauth_error(&state, 400, "invalid_grant", "bad iat / exp");
    }
    let scopes = claims["scope"].as_str().unwrap_or_default();
    if !scopes.split(' ').any(|s| s == SCOPE) {
        return oauth_error(
            &state,
            400,
            "invalid_scope",
            "firebase.messaging scope missing",
        );
    }
    let mut s = lock(&state);
    let access = format!("ya29.test-{}-{}", s.issued.len() + 1, now());
    s.issued.push((access.clone(), now() + lifetime));
    s.calls.push(FcmCall {
        endpoint: "token".into(),
        status: 200,
        reason: String::new(),
    });
    axum::Json(json!({"access_token": access, "expires_in": lifetime, "token_type": "Bearer"}))
        .into_response()
}

/// Google's error body: `{"error": {"code", "message", "status", "details": [FcmError]}}`.
fn fcm_error(
    state: &Shared,
    status: u16,
    code: &str,
    message: &str,
    retry_after: Option<u64>,
) -> Response {
    record(state, "send", status, code);
    let canonical = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    let mut error = json!({"code": status, "message": message, "status": canonical});
    if code != canonical {
        error["details"] = json!([{
            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
            "errorCode": code,
        }]);
    }
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(json!({"error": error})),
    )
        .into_response();
    if let Some(secs) = retry_after
        && let Ok(v) = secs.to_string().parse()
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

async fn send(
    State(state): State<Shared>,
    Injected(fault): Injected<FcmFault>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(f) = fault {
        return fcm_error(&state, f.status, &f.code, "fault", f.retry_after);
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let valid = {
        let s = lock(&state);
        !s.revoked.contains(&bearer) && s.issued.iter().any(|(t, exp)| *t == bearer && *exp > now())
    };
    if !valid {
        return fcm_error(
            &state,
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
            None,
        );
    }
    if project != lock(&state).project {
        return fcm_error(&state, 403, "PERMISSION_DENIED", "wrong project", None);
    }
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let message = match parsed {
        Some(v) if json_type && v["message"].is_object() => v["message"].clone(),
        _ => return fcm_error(&state, 400, "INVALID_ARGUMENT", "no message object", None),
    };
    if let Err(why) = check_message(&message) {
        return fcm_error(&state, 400, "INVALID_ARGUMENT", &why, None);
    }
    let token = message["token"].as_str().unwrap_or_default().to_string();
    if lock(&state).unregistered.contains(&token) {
        return fcm_error(
            &state,
            404,
            "UNREGISTERED",
            "Requested entity was not found.",
            None,
        );
    }
    let mut s = lock(&state);
    let name = format!("projects/{project}/messages/0:{}", s.sent.len() + 1);
    s.sent.push(Sent {
        project,
        message,
        access_token: bearer,
    });
    s.calls.push(FcmCall {
        endpoint: "send".into(),
        status: 200,
        reason: String::new(),
    });
    axum::Json(json!({"name": name})).into_response()
}

/// The checks FCM makes on a `message` (the fields Varsel uses).
fn check_message(m: &Value) -> Result<(), String> {
    const FIELDS: [&str; 10] = [
        "name",
        "data",
        "notification",
        "android",
        "webpush",
        "apns",
        "fcm_options",
        "token",
        "topic",
        "condition",
    ];
    let obj = m.as_object().ok_or("message is not an object")?;
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "Invalid JSON payload received. Unknown name \"{k}\""
        ));
    }
    let targets = ["token", "topic", "condition"]
        .iter()
        .filter(|k| obj.contains_key(**k))
        .count();
    if targets != 1 {
        return Err("exactly one of token, topic, condition".into());
    }
    match m["token"].as_str() {
        Some(t) if !t.is_empty() && !t.contains(char::is_whitespace) => {}
        _ => return Err("The registration token is not a valid FCM registration token".into()),
    }
    if let Some(n) = obj.get("notification") {
        for k in ["title", "body"] {
            if !(n[k].is_null() || n[k].is_string()) {
                return Err(format!("notification.{k} must be a string"));
            }
        }
    }
    if let Some(data) = obj.get("data") {
        let data = data.as_object().ok_or("data must be a map")?;
        if data.values().any(|v| !v.is_string()) {
            return Err("data values must be strings".into());
        }
    }
    if let Some(a) = obj.get("android") {
        if let Some(p) = a.get("priority")
            && !(p == "high" || p == "normal")
        {
            return Err("android.priority must be high or normal".into());
        }
        let n = &a["notification"];
        if !(n["sound"].is_null() || n["sound"].is_string()) {
            return Err("android.notification.sound must be a string".into());
        }
        if !(n["notification_count"].is_null() || n["notification_count"].is_i64()) {
            return Err("android.notification.notification_count must be an integer".into());
        }
    }
    if let Some(a) = obj.get("apns")
        && !a["payload"].is_null()
        && !a["payload"]["aps"].is_object()
    {
        return Err("apns.payload.aps must be an object".into());
    }
    Ok(())
}
