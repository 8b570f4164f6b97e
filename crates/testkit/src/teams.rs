//! A Teams workflow webhook for the tests: the URL shape of a Power Automate "When a
//! Teams webhook request is received" trigger (`/workflows/<id>/triggers/manual/paths/
//! invoke?…&sig=…`) over real HTTP. It verifies what it receives: the signature (else 401),
//! the workflow id (else 404), a JSON `message` envelope with a `recipient` and Adaptive
//! Card attachments, and each card against the Adaptive Card schema as far as Varsel
//! uses it (else 400 with `{"error": {"code": …, "message": …}}`, as Logic Apps answers).
//! Accepted requests get 202 and are recorded. It can be told to answer the next
//! requests with a fault (HTTP 429 with `Retry-After`, or an HTTP status with a Logic
//! Apps error body) or to misbehave (hang, answer slowly, reset the connection, answer
//! 200 with an HTML page: [`Misbehaviour`]), in the order asked for.

#![allow(clippy::expect_used)]

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::fault::{Faults, Injected, Misbehaviour, Protocol, Serving};

/// The workflow id in the server's URL.
pub const WORKFLOW_ID: &str = "5f0c2f5e7c3b4a55b1f3a1c0d6e9a8b7";

/// Adaptive Card versions Teams renders.
const VERSIONS: [&str; 6] = ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"];

/// An answer the server gives instead of the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamsFault {
    /// HTTP 429 with `Retry-After: retry_after` (flow throttling).
    Throttled { retry_after: u64 },
    /// An HTTP status with a Logic Apps error body (500, 502, 400, 404, 410…).
    Status(u16),
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub status: u16,
    /// The error code answered, empty on success.
    pub code: String,
}

/// One accepted request.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedCard {
    pub recipient: String,
    /// The first attachment's Adaptive Card.
    pub card: Value,
    /// The whole request body.
    pub body: Value,
}

impl ReceivedCard {
    /// The `text` of each `TextBlock` in the card's body, in order.
    pub fn texts(&self) -> Vec<String> {
        self.card["body"]
            .as_array()
            .map(|b| {
                b.iter()
                    .filter(|e| e["type"] == "TextBlock")
                    .filter_map(|e| e["text"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first `Action.OpenUrl` as (title, url).
    pub fn open_url(&self) -> Option<(String, String)> {
        let a = self.card["actions"]
            .as_array()?
            .iter()
            .find(|a| a["type"] == "Action.OpenUrl")?;
        Some((a["title"].as_str()?.into(), a["url"].as_str()?.into()))
    }
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    cards: Vec<ReceivedCard>,
}

#[derive(Clone)]
struct Ctx {
    sig: String,
    inner: Arc<Mutex<Inner>>,
}

fn lock(s: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct TeamsServer {
    pub port: u16,
    ctx: Ctx,
    faults: Arc<Faults<TeamsFault>>,
    _serving: Serving,
}

impl TeamsServer {
    pub async fn start() -> TeamsServer {
        let (listener, port) = crate::fault::bind("teams").await;
        let ctx = Ctx {
            sig: format!("sig{port}Xk2p9QvR"),
            inner: Arc::default(),
        };
        let faults = Faults::new();
        let app = Router::new()
            .route(
                "/workflows/{id}/triggers/manual/paths/invoke",
                faults.on(post(handle)),
            )
            .with_state(ctx.clone());
        TeamsServer {
            port,
            ctx,
            faults,
            _serving: crate::fault::serve(listener, app, Protocol::Http1),
        }
    }

    /// The workflow webhook URL, signature included.
    pub fn url(&self) -> String {
        self.url_with(WORKFLOW_ID, &self.ctx.sig)
    }

    /// A URL with another workflow id or signature, to test rejections.
    pub fn url_with(&self, workflow: &str, sig: &str) -> String {
        format!(
            "http://127.0.0.1:{}/workflows/{workflow}/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={sig}",
            self.port
        )
    }

    /// Answers the next `n` requests with `fault`.
    pub fn fail_next(&self, n: usize, fault: TeamsFault) {
        self.faults.answer_next(n, fault);
    }

    /// The next `n` requests get `m` (after the faults already asked for).
    pub fn misbehave_next(&self, n: usize, m: Misbehaviour) {
        self.faults.misbehave_next(n, m);
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.ctx.inner).calls.clone()
    }

    /// Every accepted card, in order.
    pub fn cards(&self) -> Vec<ReceivedCard> {
        lock(&self.ctx.inner).cards.clone()
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn handle(
    State(ctx): State<Ctx>,
    Injected(fault): Injected<TeamsFault>,
    Path(workflow): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (code, response) = answer(&ctx, fault, &workflow, query.as_deref(), &headers, &body);
    lock(&ctx.inner).calls.push(Call {
        status: response.status().as_u16(),
        code,
    });
    response
}

fn answer(
    ctx: &Ctx,
    fault: Option<TeamsFault>,
    workflow: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> (String, Response) {
    match fault {
        Some(TeamsFault::Throttled { retry_after }) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "WorkflowRequestsThrottled",
                "Rate limit is exceeded.",
            );
            if let Ok(v) = retry_after.to_string().parse() {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return ("WorkflowRequestsThrottled".into(), r);
        }
        Some(TeamsFault::Status(s)) => {
            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = format!("Injected{s}");
            return (code.clone(), error(status, &code, "injected fault"));
        }
        None => {}
    }
    let sig_ok = query
        .unwrap_or_default()
        .split('&')
        .any(|p| p == format!("sig={}", ctx.sig));
    if !sig_ok {
        let code = "DirectApiInvalidAuthorizationSignature";
        return (
            code.into(),
            error(
                StatusCode::UNAUTHORIZED,
                code,
                "The provided signature is invalid.",
            ),
        );
    }
    if workflow != WORKFLOW_ID {
        let code = "WorkflowNotFound";
        return (
            code.into(),
            error(StatusCode::NOT_FOUND, code, "The workflow was not found."),
        );
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let Some(v) = parsed.filter(|_| is_json) else {
        let code = "InvalidRequestContent";
        return (
            code.into(),
            error(
                StatusCode::BAD_REQUEST,
                code,
                "The request content is not valid JSON.",
            ),
        );
    };
    let errors = check_message(&v);
    if !errors.is_empty() {
        let code = "TriggerInputSchemaMismatch";
        return (
            code.into(),
            error(StatusCode::BAD_REQUEST, code, &errors.join("; ")),
        );
    }
    lock(&ctx.inner).cards.push(ReceivedCard {
        recipient: v["recipient"].as_str().unwrap_or_default().to_string(),
        card: v["attachments"][0]["content"].clone(),
        body: v.clone(),
    });
    (String::new(), StatusCode::ACCEPTED.into_response())
}

/// Checks the envelope (`type: message`, a `recipient` email, 1+ Adaptive Card
/// attachments) and every card; returns every violation found.
pub fn check_message(v: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if v["type"] != "message" {
        errors.push("type must be \"message\"".into());
    }
    if !v["recipient"]
        .as_str()
        .is_some_and(|r| r.len() > 2 && r.contains('@'))
    {
        errors.push("recipient must be an email address".into());
    }
    let attachments = v["attachments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if attachments.is_empty() {
        errors.push("attachments must hold at least one card".into());
    }
    for (i, a) in attachments.iter().enumerate() {
        if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
            errors.push(format!(
                "attachments[{i}].contentType is not an Adaptive Card"
            ));
        }
        if a.get("contentUrl").is_some_and(|u| !u.is_null()) {
            errors.push(format!("attachments[{i}].contentUrl must be null"));
        }
        for e in check_card(&a["content"]) {
            errors.push(format!("attachments[{i}].content: {e}"));
        }
    }
    errors
}

/// Checks an Adaptive Card (schema, type, version, body elements, actions).
pub fn check_card(c: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if c["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" {
        errors.push("$schema must be the Adaptive Card schema".into());
    }
    if c["type"] != "AdaptiveCard" {
        errors.push("type must be AdaptiveCard".into());
    }
    if !c["version"].as_str().is_some_and(|v| VERSIONS.contains(&v)) {
        errors.push(format!("version {} is not one Teams renders", c["version"]));
    }
    let body = c["body"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if body.is_empty() {
        errors.push("body must hold at least one element".into());
    }
    for (i, e) in body.iter().enumerate() {
        match e["type"].as_str() {
            Some("TextBlock") => {
                if e["text"].as_str().is_none_or(str::is_empty) {
                    errors.push(format!("body[{i}]: a TextBlock needs text"));
                }
                if let Some(w) = e.get("weight")
                    && !["Default", "Lighter", "Bolder"].contains(&w.as_str().unwrap_or_default())
                {
                    errors.push(format!("body[{i}]: bad weight {w}"));
                }
                if e.get("wrap").is_some_and(|w| !w.is_boolean()) {
                    errors.push(format!("body[{i}]: wrap must be a boolean"));
                }
            }
            Some("Container" | "ColumnSet" | "FactSet" | "Image" | "RichTextBlock") => {}
            other => errors.push(format!("body[{i}]: unknown element {other:?}")),
        }
    }
    if let Some(actions) = c.get("actions") {
        let Some(actions) = actions.as_array() else {
            errors.push("actions must be an array".into());
            return errors;
        };
        for (i, a) in actions.iter().enumerate() {
            match a["type"].as_str() {
                Some("Action.OpenUrl") => {
                    if !a["url"]
                        .as_str()
                        .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://"))
                    {
                        errors.push(format!("actions[{i}]: url must be an absolute http(s) URL"));
                    }
                    if a["title"].as_str().is_none_or(str::is_empty) {
                        errors.push(format!("actions[{i}]: title is required"));
                    }
                }
                Some("Action.Submit" | "Action.ShowCard" | "Action.ToggleVisibility") => {}
                other => errors.push(format!("actions[{i}]: unknown action {other:?}")),
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_checked() {
        let good = json!({
            "type": "message", "recipient": "kari@example.com",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
                "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                    "version": "1.4", "body": [{"type": "TextBlock", "text": "hi", "wrap": true}],
                    "actions": [{"type": "Action.OpenUrl", "title": "Open", "url": "https://x"}]}}],
        });
        assert!(
            check_message(&good).is_empty(),
            "{:?}",
            check_message(&good)
        );
        let mut bad = good.clone();
        bad["attachments"][0]["content"]["version"] = json!("2.0");
        bad["attachments"][0]["content"]["actions"][0]["url"] = json!("/relative");
        bad["recipient"] = json!(null);
        assert_eq!(check_message(&bad).len(), 3, "{:?}", check_message(&bad));
    }
}
