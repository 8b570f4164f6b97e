//! An HTTP client for Varsel's API as the tests use it: requests with an API key or a
//! user token, answers checked for their status and error envelope, traces, and a
//! Server-Sent Events reader. Used by the server's integration tests (an in-process
//! server) and the cluster tests (several `varsel serve` processes).
// Test helpers: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};

/// The API key the test servers are started with.
pub const API_KEY: &str = "test-api-key-0123456789";
/// How long any wait (processing, a stream frame) may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Who a request is made as.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Key,
    /// A user token (or any other bearer string).
    Bearer(String),
}

impl Auth {
    pub fn user(token: &str) -> Auth {
        Auth::Bearer(token.to_string())
    }
}

/// An answer: status and body (JSON when it is JSON, else `Value::Null`).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub text: String,
    pub body: Value,
}

impl Resp {
    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        &self.body
    }

    /// Asserts a 4xx answer with the error envelope and returns its code.
    #[track_caller]
    pub fn error(&self, status: u16) -> String {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert!(
            self.content_type.starts_with("application/json"),
            "error body is not JSON ({}): {}",
            self.content_type,
            self.text
        );
        let e = &self.body["error"];
        let code = e["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error.code in {}", self.text));
        let message = e["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error.message in {}", self.text));
        assert!(
            !code.is_empty() && !message.is_empty(),
            "empty code or message: {}",
            self.text
        );
        assert_eq!(
            self.body.as_object().map(|o| o.len()),
            Some(1),
            "extra top-level fields: {}",
            self.text
        );
        code.to_string()
    }

    /// Asserts the error status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.error(status), code, "body: {}", self.text);
    }
}

/// A Varsel server reached over HTTP at `base`.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(base: impl Into<String>) -> Api {
        Api {
            base: base.into(),
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn request(&self, method: Method, path: &str, auth: &Auth) -> reqwest::RequestBuilder {
        let rb = self.client.request(method, self.url(path));
        match auth {
            Auth::None => rb,
            Auth::Key => rb.bearer_auth(API_KEY),
            Auth::Bearer(t) => rb.bearer_auth(t),
        }
    }

    /// Sends a request builder and reads the answer.
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.expect("request sent");
        let status = r.status().as_u16();
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = r.text().await.expect("body read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status < 500, "5xx answer {status}: {text}");
        Resp {
            status,
            content_type,
            text,
            body,
        }
    }

    pub async fn call(&self, method: Method, path: &str, auth: &Auth, body: Option<Value>) -> Resp {
        let mut rb = self.request(method, path, auth);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        self.send(rb).await
    }

    pub async fn get(&self, path: &str, auth: &Auth) -> Resp {
        self.call(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Value) -> Resp {
        self.call(Method::POST, path, auth, Some(body)).await
    }

    /// A POST without a body (the feed actions).
    pub async fn post_empty(&self, path: &str, auth: &Auth) -> Resp {
        self.call(Method::POST, path, auth, None).await
    }

    pub async fn put(&self, path: &str, auth: &Auth, body: Value) -> Resp {
        self.call(Method::PUT, path, auth, Some(body)).await
    }

    pub async fn patch(&self, path: &str, auth: &Auth, body: Value) -> Resp {
        self.call(Method::PATCH, path, auth, Some(body)).await
    }

    pub async fn delete(&self, path: &str, auth: &Auth) -> Resp {
        self.call(Method::DELETE, path, auth, None).await
    }

    // ----- directory -----

    pub async fn put_account(&self, id: &str, tier: &str) -> Value {
        self.put(
            &format!("/v1/accounts/{id}"),
            &Auth::Key,
            json!({"name": format!("Account {id}"), "tier": tier}),
        )
        .await
        .ok(200)
        .clone()
    }

    /// Upserts a user; `extra` fields override the defaults (email, name, locale `en`).
    pub async fn put_user(&self, account: &str, id: &str, extra: Value) -> Value {
        let mut body = json!({"email": format!("{id}@example.com"), "name": format!("User {id}"), "locale": "en"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.put(
            &format!("/v1/accounts/{account}/users/{id}"),
            &Auth::Key,
            body,
        )
        .await
        .ok(200)
        .clone()
    }

    pub async fn put_team(&self, account: &str, id: &str, members: Value) -> Value {
        self.put(
            &format!("/v1/accounts/{account}/teams/{id}"),
            &Auth::Key,
            json!({"name": id, "members": members}),
        )
        .await
        .ok(200)
        .clone()
    }

    /// A user token from `POST /v1/tokens`.
    pub async fn token(&self, account: &str, user: &str) -> String {
        let r = self
            .post(
                "/v1/tokens",
                &Auth::Key,
                json!({"account_id": account, "user_id": user}),
            )
            .await;
        r.ok(200)["token"].as_str().expect("token").to_string()
    }

    // ----- events -----

    pub async fn post_event(&self, event: Value) -> (u16, Value) {
        let r = self.post("/v1/events", &Auth::Key, event).await;
        (r.status, r.body)
    }

    /// Posts an event that must be accepted; returns its id.
    pub async fn accept(&self, event: Value) -> String {
        let r = self.post("/v1/events", &Auth::Key, event).await;
        let body = r.ok(202);
        assert_eq!(body["duplicate"], json!(false), "{}", r.text);
        body["id"].as_str().expect("event id").to_string()
    }

    /// Posts an event, waits until it is processed and returns its trace.
    pub async fn deliver(&self, event: Value) -> Trace {
        let id = self.accept(event).await;
        self.wait_processed(&id).await
    }

    /// Polls the trace until the event is no longer pending.
    pub async fn wait_processed(&self, event_id: &str) -> Trace {
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            let r = self
                .get(&format!("/v1/events/{event_id}/trace"), &Auth::Key)
                .await;
            let body = r.ok(200).clone();
            if body["state"] != json!("pending") {
                assert_eq!(body["state"], json!("done"), "event failed: {body}");
                return Trace(body);
            }
            assert!(
                start.elapsed() < WAIT,
                "event {event_id} still pending after {WAIT:?}"
            );
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(25));
        }
    }

    // ----- feed -----

    pub async fn feed(&self, token: &str) -> Vec<Value> {
        let r = self.get("/v1/me/feed?limit=100", &Auth::user(token)).await;
        r.ok(200)["items"].as_array().expect("items").clone()
    }

    pub async fn unread(&self, token: &str) -> i64 {
        let r = self
            .get("/v1/me/feed/unread-count", &Auth::user(token))
            .await;
        r.ok(200)["unread"].as_i64().expect("unread")
    }

    pub async fn prefs(&self, token: &str) -> Value {
        self.get("/v1/me/preferences", &Auth::user(token))
            .await
            .ok(200)
            .clone()
    }

    // ----- real-time -----

    /// Opens `GET /v1/me/stream?{query}` and expects 200 `text/event-stream`.
    pub async fn stream(&self, token: &str, query: &str) -> SseClient {
        self.stream_with(token, query, None)
            .await
            .expect("stream opens")
    }

    /// Opens the stream with an optional `Last-Event-ID`; an error answer is returned as `Err`.
    pub async fn stream_with(
        &self,
        token: &str,
        query: &str,
        last_event_id: Option<&str>,
    ) -> Result<SseClient, Resp> {
        let mut rb = self.request(
            Method::GET,
            &format!("/v1/me/stream?{query}"),
            &Auth::user(token),
        );
        if let Some(id) = last_event_id {
            rb = rb.header("Last-Event-ID", id);
        }
        let r = rb.send().await.expect("stream request sent");
        if r.status() != 200 {
            let status = r.status().as_u16();
            let content_type = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let text = r.text().await.unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Err(Resp {
                status,
                content_type,
                text,
                body,
            });
        }
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(ct.starts_with("text/event-stream"), "content type {ct}");
        Ok(SseClient {
            stream: Box::pin(r.bytes_stream().map(|c| c.map(|b| b.to_vec()))),
            buf: Vec::new(),
        })
    }
}

/// A trace: `{event_id, state, decisions: [{user_id, tab, channel, outcome, reason}]}`.
#[derive(Debug, Clone)]
pub struct Trace(pub Value);

impl Trace {
    pub fn lines(&self) -> &Vec<Value> {
        self.0["decisions"].as_array().expect("decisions")
    }

    /// `(outcome, reason)` of one user and channel; fails when there is none or several.
    #[track_caller]
    pub fn of(&self, user: &str, channel: &str) -> (String, String) {
        let found: Vec<&Value> = self
            .lines()
            .iter()
            .filter(|d| d["user_id"] == json!(user) && d["channel"] == json!(channel))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "want one decision for {user}/{channel} in {}",
            self.0
        );
        let d = found[0];
        (
            d["outcome"].as_str().expect("outcome").into(),
            d["reason"].as_str().expect("reason").into(),
        )
    }

    #[track_caller]
    pub fn assert(&self, user: &str, channel: &str, outcome: &str, reason: &str) {
        assert_eq!(
            self.of(user, channel),
            (outcome.to_string(), reason.to_string()),
            "{user}/{channel}"
        );
    }

    /// Asserts every channel of a user has this outcome and reason.
    #[track_caller]
    pub fn assert_all(&self, user: &str, outcome: &str, reason: &str) {
        for ch in CHANNELS {
            self.assert(user, ch, outcome, reason);
        }
    }

    /// The users the trace has lines for, sorted, without repeats.
    pub fn users(&self) -> Vec<String> {
        let mut u: Vec<String> = self
            .lines()
            .iter()
            .map(|d| d["user_id"].as_str().expect("user_id").to_string())
            .collect();
        u.sort();
        u.dedup();
        u
    }

    /// The tab each channel is reported under.
    #[track_caller]
    pub fn assert_tabs(&self) {
        for d in self.lines() {
            let tab = match d["channel"].as_str().expect("channel") {
                "email" => "email",
                "bell" | "popup" | "browser" => "desktop",
                "slack" | "teams" => "other_apps",
                "mobile" => "mobile",
                other => panic!("unknown channel {other}"),
            };
            assert_eq!(d["tab"], json!(tab), "{d}");
        }
    }
}

/// Every delivery channel, in trace order.
pub const CHANNELS: [&str; 7] = [
    "email", "bell", "popup", "browser", "slack", "teams", "mobile",
];

/// One Server-Sent Event.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("frame data is not JSON ({e}): {}", self.data))
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Vec<u8>>> + Send>>;

/// A connected stream; frames are parsed as they arrive.
pub struct SseClient {
    stream: ByteStream,
    buf: Vec<u8>,
}

impl SseClient {
    fn parse_one(&mut self) -> Option<Frame> {
        loop {
            let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
            let raw = String::from_utf8(self.buf[..end].to_vec()).expect("frames are UTF-8");
            self.buf.drain(..end + 2);
            let mut f = Frame::default();
            let mut data = Vec::new();
            let mut any = false;
            for line in raw.split('\n') {
                if line.starts_with(':') || line.is_empty() {
                    continue; // comment (keep-alive)
                }
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                any = true;
                match field {
                    "event" => f.event = value.to_string(),
                    "id" => f.id = Some(value.to_string()),
                    "data" => data.push(value.to_string()),
                    _ => {}
                }
            }
            if any {
                f.data = data.join("\n");
                if f.event.is_empty() {
                    f.event = "message".into();
                }
                return Some(f);
            }
        }
    }

    /// The next frame, or `None` when none arrives within `timeout`.
    pub async fn next_frame(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(f) = self.parse_one() {
                return Some(f);
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()?;
            match chunk {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(e)) => panic!("stream error: {e}"),
                None => panic!("stream ended"),
            }
        }
    }

    /// Waits for the server to end the stream (frames before the end are dropped);
    /// fails the test after [`WAIT`].
    pub async fn expect_end(&mut self) {
        let ended = tokio::time::timeout(WAIT, async {
            while let Some(Ok(_)) = self.stream.next().await {}
        })
        .await;
        assert!(ended.is_ok(), "stream still open after {WAIT:?}");
    }

    /// The next frame; fails the test after [`WAIT`].
    pub async fn expect_frame(&mut self) -> Frame {
        self.next_frame(WAIT)
            .await
            .unwrap_or_else(|| panic!("no frame within {WAIT:?}"))
    }

    /// The next frame, which must be of kind `event`.
    #[track_caller]
    pub fn check(frame: Frame, event: &str) -> Frame {
        assert_eq!(frame.event, event, "unexpected frame {frame:?}");
        frame
    }

    /// The next frame must be `unread_count`; returns the count.
    pub async fn expect_unread(&mut self) -> i64 {
        let f = Self::check(self.expect_frame().await, "unread_count");
        f.json()["unread"].as_i64().expect("unread")
    }

    /// The next frame must be `notification`; returns it.
    pub async fn expect_notification(&mut self) -> Frame {
        let f = Self::check(self.expect_frame().await, "notification");
        assert!(
            f.id.as_deref().is_some_and(|id| !id.is_empty()),
            "notification without id: {f:?}"
        );
        f
    }
}

/// Polls `cond` until it holds; fails the test after [`WAIT`].
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < WAIT, "{what}: not within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Now, Unix seconds.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A port free on loopback right now (for a server process the test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `GET {base}/healthz` answers 200; fails the test after 30 s.
pub async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("varsel did not become healthy");
}
