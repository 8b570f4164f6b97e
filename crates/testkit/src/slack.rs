//! A Slack Web API server for the tests: `users.lookupByEmail` and `chat.postMessage`
//! over real HTTP, with Slack's envelope (`{"ok": …}`, HTTP 200 even for errors). It
//! verifies what it receives the way Slack does: the bot token in
//! `Authorization: Bearer …` (else `not_authed` / `invalid_auth`), the DM channel (a
//! known user id, else `channel_not_found`), and the Block Kit JSON (block types, text
//! objects, lengths, button URLs; else `invalid_blocks` with the reasons). It knows a
//! table of email → user id, records every call and every accepted message, and can be
//! told to answer the next requests with a fault (HTTP 429 with `Retry-After`, a bare
//! HTTP status, or an `ok: false` code) or to misbehave (hang, answer slowly, reset the
//! connection, answer 200 with a body that is not Slack's JSON: [`Misbehaviour`]), in
//! the order asked for.

#![allow(clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use crate::fault::{Faults, Injected, Misbehaviour, Protocol, Serving};

/// An answer the server gives instead of the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackFault {
    /// HTTP 429 with `Retry-After: retry_after` (Slack's rate limiting).
    RateLimited { retry_after: u64 },
    /// A bare HTTP status with no body (500, 503, 404, 410…).
    Status(u16),
    /// HTTP 200 with `{"ok": false, "error": code}`.
    Error(String),
}

/// One call the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `users.lookupByEmail`, `chat.postMessage`, …
    pub method: String,
    /// `ok`, Slack's error code, or `HTTP <status>`.
    pub answer: String,
}

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
    /// The `channel` argument (the recipient's user id for a DM).
    pub channel: String,
    pub text: Option<String>,
    /// The `blocks` array (`Null` when none was sent).
    pub blocks: Value,
    /// The whole request body.
    pub body: Value,
}

impl Posted {
    /// The URL of the first button, if any.
    pub fn button_url(&self) -> Option<String> {
        self.button()
            .and_then(|b| b["url"].as_str().map(str::to_string))
    }

    /// The label of the first button, if any.
    pub fn button_label(&self) -> Option<String> {
        self.button()
            .and_then(|b| b["text"]["text"].as_str().map(str::to_string))
    }

    fn button(&self) -> Option<&Value> {
        self.blocks.as_array()?.iter().find_map(|b| {
            (b["type"] == "actions").then(|| {
                b["elements"]
                    .as_array()
                    .and_then(|e| e.iter().find(|e| e["type"] == "button"))
            })?
        })
    }

    /// The `type` of every block, in order.
    pub fn block_types(&self) -> Vec<String> {
        self.blocks
            .as_array()
            .map(|bs| {
                bs.iter()
                    .map(|b| b["type"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Inner {
    token: String,
    /// Lower-cased email → (user id, deactivated).
    users: HashMap<String, (String, bool)>,
    calls: Vec<Call>,
    posted: Vec<Posted>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct SlackServer {
    pub port: u16,
    state: Shared,
    faults: Arc<Faults<SlackFault>>,
    _serving: Serving,
}

impl SlackServer {
    /// Starts on 127.0.0.1 and a free port, accepting the bot token `token`.
    pub async fn start(token: &str) -> SlackServer {
        let (listener, port) = crate::fault::bind("slack").await;
        let state: Shared = Arc::new(Mutex::new(Inner {
            token: token.to_string(),
            ..Inner::default()
        }));
        let faults = Faults::new();
        let app = Router::new()
            .route("/api/{method}", faults.on(any(handle)))
            .with_state(state.clone());
        SlackServer {
            port,
            state,
            faults,
            _serving: crate::fault::serve(listener, app, Protocol::Http1),
        }
    }

    /// The Web API base URL, in place of `https://slack.com/api`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    /// Adds a workspace member.
    pub fn add_user(&self, email: &str, user_id: &str) {
        lock(&self.state)
            .users
            .insert(email.to_lowercase(), (user_id.to_string(), false));
    }

    /// Marks a member deactivated (`users.lookupByEmail` returns them with `deleted: true`).
    pub fn deactivate(&self, email: &str) {
        if let Some(u) = lock(&self.state).users.get_mut(&email.to_lowercase()) {
            u.1 = true;
        }
    }

    /// Answers the next `n` requests (any method) with `fault`.
    pub fn fail_next(&self, n: usize, fault: SlackFault) {
        self.faults.answer_next(n, fault);
    }

    /// The next `n` requests (any method) get `m` (after the faults already asked for).
    pub fn misbehave_next(&self, n: usize, m: Misbehaviour) {
        self.faults.misbehave_next(n, m);
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state).calls.clone()
    }

    /// Every accepted `chat.postMessage`, in order.
    pub fn messages(&self) -> Vec<Posted> {
        lock(&self.state).posted.clone()
    }
}

fn slack_error(code: &str) -> Response {
    axum::Json(json!({"ok": false, "error": code})).into_response()
}

async fn handle(
    State(state): State<Shared>,
    Injected(fault): Injected<SlackFault>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (answer, response) = answer(&state, fault, &method, query.as_deref(), &headers, &body);
    lock(&state).calls.push(Call { method, answer });
    response
}

fn answer(
    state: &Shared,
    fault: Option<SlackFault>,
    method: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> (String, Response) {
    match fault {
        Some(SlackFault::RateLimited { retry_after }) => {
            return (
                "HTTP 429".into(),
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, retry_after.to_string())],
                )
                    .into_response(),
            );
        }
        Some(SlackFault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (format!("HTTP {code}"), status.into_response());
        }
        Some(SlackFault::Error(code)) => return (code.clone(), slack_error(&code)),
        None => {}
    }
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let expected = format!("Bearer {}", lock(state).token);
    match auth {
        None => return ("not_authed".into(), slack_error("not_authed")),
        Some(a) if a != expected => return ("invalid_auth".into(), slack_error("invalid_auth")),
        Some(_) => {}
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let args: Value = if is_json {
        match serde_json::from_slice(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return ("invalid_json".into(), slack_error("invalid_json")),
        }
    } else {
        let mut map = serde_json::Map::new();
        for part in [
            query.unwrap_or_default(),
            std::str::from_utf8(body).unwrap_or_default(),
        ] {
            for (k, v) in form_pairs(part) {
                map.insert(k, Value::String(v));
            }
        }
        Value::Object(map)
    };
    let result = match method {
        "users.lookupByEmail" => lookup(state, &args),
        "chat.postMessage" => post_message(state, &args),
        _ => Err("unknown_method".to_string()),
    };
    match result {
        Ok(v) => ("ok".into(), axum::Json(v).into_response()),
        Err(code) if code.starts_with("invalid_blocks:") => {
            let reasons: Vec<&str> = code["invalid_blocks:".len()..].split('\n').collect();
            (
                "invalid_blocks".into(),
                axum::Json(json!({
                    "ok": false,
                    "error": "invalid_blocks",
                    "errors": reasons,
                    "response_metadata": {"messages": reasons},
                }))
                .into_response(),
            )
        }
        Err(code) => (code.clone(), slack_error(&code)),
    }
}

fn lookup(state: &Shared, args: &Value) -> Result<Value, String> {
    let email = args["email"]
        .as_str()
        .filter(|e| !e.is_empty())
        .ok_or("invalid_arguments")?;
    let s = lock(state);
    let (id, deleted) = s
        .users
        .get(&email.to_lowercase())
        .ok_or("users_not_found")?;
    Ok(json!({
        "ok": true,
        "user": {
            "id": id, "team_id": "T0VARSEL", "name": email.split('@').next(),
            "deleted": deleted, "is_bot": false,
            "profile": {"email": email},
        },
    }))
}

fn post_message(state: &Shared, args: &Value) -> Result<Value, String> {
    let channel = args["channel"]
        .as_str()
        .filter(|c| !c.is_empty())
        .ok_or("channel_not_found")?;
    let known: HashSet<String> = lock(state)
        .users
        .values()
        .filter(|(_, deleted)| !deleted)
        .map(|(id, _)| id.clone())
        .collect();
    if !known.contains(channel) {
        return Err("channel_not_found".into());
    }
    let text = args["text"].as_str().map(str::to_string);
    let blocks = args.get("blocks").cloned().unwrap_or(Value::Null);
    let blocks = match blocks {
        // Form-encoded requests carry blocks as a JSON string.
        Value::String(s) => serde_json::from_str(&s).map_err(|_| "invalid_blocks_format")?,
        v => v,
    };
    if text.as_deref().unwrap_or_default().is_empty() && blocks.is_null() {
        return Err("no_text".into());
    }
    if text.as_deref().is_some_and(|t| t.chars().count() > 40_000) {
        return Err("msg_too_long".into());
    }
    if !blocks.is_null() {
        let errors = check_blocks(&blocks);
        if !errors.is_empty() {
            return Err(format!("invalid_blocks:{}", errors.join("\n")));
        }
    }
    if let Some(m) = args.get("metadata") {
        let ok = m["event_type"].as_str().is_some_and(|t| !t.is_empty())
            && m["event_payload"].is_object();
        if !ok {
            return Err("invalid_metadata_format".into());
        }
    }
    let mut s = lock(state);
    let n = s.posted.len() + 1;
    s.posted.push(Posted {
        channel: channel.to_string(),
        text: text.clone(),
        blocks: blocks.clone(),
        body: args.clone(),
    });
    Ok(json!({
        "ok": true,
        "channel": format!("D{}", channel.trim_start_matches(['U', 'W'])),
        "ts": format!("1700000000.{n:06}"),
        "message": {"type": "message", "text": text, "blocks": blocks},
    }))
}

/// Checks a `blocks` array against the Block Kit rules for the block and element types
/// Varsel uses; returns every violation found.
pub fn check_blocks(blocks: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(list) = blocks.as_array() else {
        return vec!["blocks must be an array".into()];
    };
    if list.is_empty() || list.len() > 50 {
        errors.push(format!(
            "blocks must hold 1 to 50 blocks, not {}",
            list.len()
        ));
    }
    let mut ids = HashSet::new();
    for (i, b) in list.iter().enumerate() {
        let at = |what: &str| format!("blocks[{i}]: {what}");
        if let Some(id) = b.get("block_id") {
            match id.as_str() {
                Some(id) if !id.is_empty() && id.len() <= 255 => {
                    if !ids.insert(id.to_string()) {
                        errors.push(at("duplicate block_id"));
                    }
                }
                _ => errors.push(at("block_id must be 1 to 255 characters")),
            }
        }
        match b["type"].as_str() {
            Some("header") => {
                check_text(&b["text"], &["plain_text"], 150, &at("text"), &mut errors)
            }
            Some("section") => {
                if b.get("text").is_none() && b.get("fields").is_none() {
                    errors.push(at("a section needs text or fields"));
                }
                if b.get("text").is_some() {
                    check_text(
                        &b["text"],
                        &["plain_text", "mrkdwn"],
                        3000,
                        &at("text"),
                        &mut errors,
                    );
                }
            }
            Some("actions") => {
                let elements = b["elements"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                if elements.is_empty() || elements.len() > 25 {
                    errors.push(at("actions must hold 1 to 25 elements"));
                }
                for (j, e) in elements.iter().enumerate() {
                    let at = |what: &str| format!("blocks[{i}].elements[{j}]: {what}");
                    if e["type"] != "button" {
                        errors.push(at("only buttons are expected"));
                        continue;
                    }
                    check_text(&e["text"], &["plain_text"], 75, &at("text"), &mut errors);
                    if let Some(url) = e.get("url") {
                        let ok = url.as_str().is_some_and(|u| {
                            u.len() <= 3000
                                && (u.starts_with("https://") || u.starts_with("http://"))
                        });
                        if !ok {
                            errors
                                .push(at("url must be an http(s) URL of at most 3000 characters"));
                        }
                    }
                    if let Some(id) = e.get("action_id")
                        && !id.as_str().is_some_and(|s| !s.is_empty() && s.len() <= 255)
                    {
                        errors.push(at("action_id must be 1 to 255 characters"));
                    }
                }
            }
            Some("divider") => {}
            Some("context") => {
                if !b["elements"]
                    .as_array()
                    .is_some_and(|e| !e.is_empty() && e.len() <= 10)
                {
                    errors.push(at("context must hold 1 to 10 elements"));
                }
            }
            Some(other) => errors.push(at(&format!("unknown block type {other}"))),
            None => errors.push(at("missing type")),
        }
    }
    errors
}

fn check_text(t: &Value, types: &[&str], max: usize, at: &str, errors: &mut Vec<String>) {
    let Some(kind) = t["type"].as_str() else {
        errors.push(format!("{at}: must be a text object"));
        return;
    };
    if !types.contains(&kind) {
        errors.push(format!("{at}: type {kind} is not one of {types:?}"));
    }
    match t["text"].as_str() {
        Some(s) if !s.is_empty() && s.chars().count() <= max => {}
        _ => errors.push(format!("{at}: text must be 1 to {max} characters")),
    }
    if t.get("emoji").is_some() && kind != "plain_text" {
        errors.push(format!("{at}: emoji is only for plain_text"));
    }
}

/// Parses `application/x-www-form-urlencoded` pairs.
fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(
            form_pairs("email=kari%40example.com&x=a+b&y=%zz"),
            vec![
                ("email".into(), "kari@example.com".into()),
                ("x".into(), "a b".into()),
                ("y".into(), "%zz".into())
            ]
        );
        assert_eq!(decode("%4"), "%4");
    }

    #[test]
    fn blocks_are_checked() {
        assert!(
            check_blocks(
                &json!([{"type": "header", "text": {"type": "plain_text", "text": "hi"}}])
            )
            .is_empty()
        );
        let bad = json!([
            {"type": "header", "text": {"type": "mrkdwn", "text": ""}},
            {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": "ftp://x"}]},
            {"type": "carousel"},
        ]);
        assert_eq!(check_blocks(&bad).len(), 4, "{:?}", check_blocks(&bad));
    }
}
