//! Events in: validated, stored durably (group commit), answered 202.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use utoipa::ToSchema;
use varsel_core::catalog::Resolution;
use varsel_core::model::{ObjectRef, Source};
use varsel_core::{Channel, Outcome, Tab};
use varsel_store::{EventBody, NewEvent};

use crate::auth::{ServerKey, credential_id};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorDetail};
use crate::extract::{ApiJson, ApiPath, host_id};
use crate::state::AppState;

/// Most explicit recipients of one event.
pub const MAX_RECIPIENTS: usize = 10_000;
/// Most events in one batch.
pub const MAX_BATCH: usize = 1_000;

#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct ObjectIn {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Deserialize, Serialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// A type id of the catalog, e.g. `deals.mention`.
    #[serde(rename = "type")]
    pub kind: String,
    pub account_id: String,
    #[serde(default)]
    pub actor_id: Option<String>,
    #[serde(default)]
    pub recipients: Option<Vec<String>>,
    #[serde(default)]
    pub owner_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub object: Option<ObjectIn>,
    /// `ui` (default), `api`, `import`, `workflow`, `system`, `integration`.
    #[serde(default)]
    pub source: Option<String>,
    /// RFC 3339; default: when received.
    #[serde(default)]
    pub occurred_at: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    pub id: String,
    pub duplicate: bool,
}

fn idempotency_conflict(first: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_conflict",
        format!(
            "idempotency_key was already used for event {first} with a different request; use a new key for a new event"
        ),
    )
}

fn opt_id(field: &str, v: &Option<String>) -> ApiResult<()> {
    v.as_deref().map_or(Ok(()), |id| host_id(field, id))
}

/// Whether `url` may be a link in a notification: an absolute `http(s)` URL with a host,
/// or a path on the host app starting with a single `/`. Browsers read `//evil.example`
/// and `/\evil.example` as another host, and drop tabs and newlines inside URLs, so
/// backslashes, whitespace and control characters are refused anywhere.
pub fn object_url_ok(url: &str) -> bool {
    if url.is_empty()
        || url.len() > 2048
        || url
            .chars()
            .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    {
        return false;
    }
    if let Some(rest) = url.strip_prefix('/') {
        return !rest.starts_with('/');
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return false;
    }
    reqwest::Url::parse(url).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    })
}

/// Checks one event against the catalog and the directory and builds what is stored.
async fn validate(state: &AppState, e: EventIn, now: i64) -> ApiResult<NewEvent> {
    // What the host sent, in one canonical form (fields in declaration order, `data`
    // keys sorted), so a retry of the same request matches and another one does not.
    let request_hash = e.idempotency_key.as_ref().map(|_| {
        let canonical = serde_json::to_vec(&e).unwrap_or_default();
        hex::encode(sha2::Sha256::digest(&canonical))
    });
    let kind = state.catalog.get(&e.kind).ok_or_else(|| {
        ApiError::invalid(
            "unknown_type",
            format!("`{}` is not a notification type of the catalog", e.kind),
        )
    })?;
    host_id("account_id", &e.account_id)?;
    opt_id("actor_id", &e.actor_id)?;
    opt_id("owner_id", &e.owner_id)?;
    opt_id("team_id", &e.team_id)?;
    let recipients = e.recipients.unwrap_or_default();
    if recipients.len() > MAX_RECIPIENTS {
        return Err(ApiError::invalid(
            "too_many_recipients",
            format!("at most {MAX_RECIPIENTS} recipients; use a team"),
        ));
    }
    for r in &recipients {
        host_id("recipients[]", r)?;
    }
    match kind.audience.recipients {
        Resolution::Explicit if recipients.is_empty() => {
            return Err(ApiError::invalid(
                "missing_recipients",
                format!("`{}` needs a non-empty `recipients` list", kind.id),
            ));
        }
        Resolution::OwnerOnly if e.owner_id.is_none() => {
            return Err(ApiError::invalid(
                "missing_owner",
                format!(
                    "`{}` goes to the owner only: `owner_id` is required",
                    kind.id
                ),
            ));
        }
        Resolution::TeamPrimary if e.team_id.is_none() => {
            return Err(ApiError::invalid(
                "missing_team",
                format!(
                    "`{}` goes to a team's primary members: `team_id` is required",
                    kind.id
                ),
            ));
        }
        _ => {}
    }
    let source = match &e.source {
        None => Source::default(),
        Some(s) => Source::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "invalid_source",
                "source must be ui, api, import, workflow, system or integration",
            )
        })?,
    };
    let occurred_at = match &e.occurred_at {
        None => now,
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|_| {
                ApiError::invalid(
                    "invalid_occurred_at",
                    "occurred_at must be an RFC 3339 time",
                )
            })?
            .timestamp_millis(),
    };
    if let Some(k) = &e.idempotency_key
        && (k.is_empty() || k.len() > 255)
    {
        return Err(ApiError::invalid(
            "invalid_idempotency_key",
            "idempotency_key must be 1–255 characters",
        ));
    }
    if let Some(d) = &e.data
        && !d.is_object()
    {
        return Err(ApiError::invalid(
            "invalid_data",
            "data must be a JSON object",
        ));
    }
    if let Some(o) = &e.object {
        if o.id.is_empty() || o.id.len() > 256 || o.kind.len() > 100 {
            return Err(ApiError::invalid(
                "invalid_object",
                "object.id must be 1–256 characters and object.type at most 100",
            ));
        }
        if o.url.as_deref().is_some_and(|u| !object_url_ok(u)) {
            return Err(ApiError::invalid(
                "invalid_object",
                "object.url must be an absolute http(s) URL or a path starting with a single `/`, at most 2048 characters",
            ));
        }
    }
    if !state.account_exists(&e.account_id).await? {
        return Err(ApiError::invalid(
            "unknown_account",
            format!("account `{}` does not exist", e.account_id),
        ));
    }
    if kind.audience.recipients == Resolution::TeamPrimary
        && let Some(team) = &e.team_id
        && state.store.get_team(&e.account_id, team).await?.is_none()
    {
        return Err(ApiError::invalid(
            "unknown_team",
            format!("team `{team}` does not exist in this account"),
        ));
    }
    Ok(NewEvent {
        id: format!("evt_{}", ulid::Ulid::new()),
        received_at: now,
        request_hash,
        body: EventBody {
            kind: e.kind,
            account_id: e.account_id,
            actor_id: e.actor_id,
            recipients,
            owner_id: e.owner_id,
            team_id: e.team_id,
            object: e.object.map(|o| ObjectRef {
                kind: o.kind,
                id: o.id,
                name: o.name,
                url: o.url,
            }),
            source,
            occurred_at,
            idempotency_key: e.idempotency_key,
            data: e.data,
        },
    })
}

#[utoipa::path(post, path = "/v1/events", tag = "events", security(("api_key" = [])),
    request_body = EventIn,
    responses((status = 202, body = Accepted, description = "Durably stored (or, `duplicate: true`, stored before under the same idempotency key)"), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`idempotency_conflict`: the key was used for a different request"),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn post_event(
    State(state): State<AppState>,
    _key: ServerKey,
    headers: HeaderMap,
    ApiJson(body): ApiJson<EventIn>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    state.limits.events(&credential_id(&headers), 1)?;
    let ev = validate(&state, body, state.now()).await?;
    let mut out = state
        .ingest
        .submit(vec![ev])
        .await
        .map_err(ApiError::internal)?;
    let r = out
        .pop()
        .ok_or_else(|| ApiError::internal("empty ingest result"))?;
    if r.conflict {
        return Err(idempotency_conflict(&r.id));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            id: r.id,
            duplicate: r.duplicate,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    /// At most 1,000 events. Each is validated on its own.
    pub events: Vec<serde_json::Value>,
}

/// `{id, duplicate}` for a stored event, `{error}` for a refused one.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchResult {
    Ok(Accepted),
    Err { error: ErrorDetail },
}

#[derive(Serialize, ToSchema)]
pub struct BatchOut {
    pub results: Vec<BatchResult>,
}

#[utoipa::path(post, path = "/v1/events/batch", tag = "events", security(("api_key" = [])),
    request_body = BatchIn,
    responses((status = 202, body = BatchOut), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn post_batch(
    State(state): State<AppState>,
    _key: ServerKey,
    headers: HeaderMap,
    ApiJson(body): ApiJson<BatchIn>,
) -> ApiResult<(StatusCode, Json<BatchOut>)> {
    if body.events.is_empty() || body.events.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "invalid_batch",
            format!("a batch holds 1–{MAX_BATCH} events"),
        ));
    }
    state
        .limits
        .events(&credential_id(&headers), body.events.len())?;
    let now = state.now();
    let mut slots: Vec<Result<usize, ApiError>> = Vec::with_capacity(body.events.len());
    let mut valid = Vec::new();
    for raw in body.events {
        let parsed = serde_json::from_value::<EventIn>(raw)
            .map_err(|e| ApiError::invalid("invalid_body", e.to_string()));
        match parsed {
            Ok(e) => match validate(&state, e, now).await {
                Ok(ev) => {
                    slots.push(Ok(valid.len()));
                    valid.push(ev);
                }
                Err(err) => slots.push(Err(err)),
            },
            Err(err) => slots.push(Err(err)),
        }
    }
    let inserted = if valid.is_empty() {
        Vec::new()
    } else {
        state
            .ingest
            .submit(valid)
            .await
            .map_err(ApiError::internal)?
    };
    let results = slots
        .into_iter()
        .map(|s| match s {
            Ok(i) => match inserted.get(i) {
                Some(r) if r.conflict => {
                    let e = idempotency_conflict(&r.id);
                    BatchResult::Err {
                        error: ErrorDetail {
                            code: e.code.to_string(),
                            message: e.message,
                        },
                    }
                }
                Some(r) => BatchResult::Ok(Accepted {
                    id: r.id.clone(),
                    duplicate: r.duplicate,
                }),
                None => BatchResult::Err {
                    error: ErrorDetail {
                        code: "internal".into(),
                        message: "not stored".into(),
                    },
                },
            },
            Err(e) => BatchResult::Err {
                error: ErrorDetail {
                    code: e.code.to_string(),
                    message: e.message,
                },
            },
        })
        .collect();
    Ok((StatusCode::ACCEPTED, Json(BatchOut { results })))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TraceLine {
    pub user_id: String,
    pub tab: Tab,
    pub channel: Channel,
    pub outcome: Outcome,
    /// Stable code: `preference:user`, `mandatory`, `self_notification`, `source:import`,
    /// `repeat_mention`, `audience:permission:forms`, `switch_off:email`, `presence:not_active`,
    /// `daily_cap`, …
    pub reason: String,
    /// The delivery's state now, when a notification was made: `pending`, `scheduled`,
    /// `sending`, `sent`, `delivered`, `dropped`, `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// Held by quiet hours (reason `…;quiet_hours`): when the window ends and the channel
    /// is sent (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TraceNotification {
    pub id: String,
    pub user_id: String,
    /// Events grouped into it (assignments batched in one window).
    pub count: i64,
    pub deliveries: Vec<super::ops::DeliveryOut>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TraceOut {
    pub event_id: String,
    pub account_id: String,
    /// `pending` until processed, then `done` (or `failed`).
    pub state: String,
    pub decisions: Vec<TraceLine>,
    /// The notifications the event fed, with their delivery states.
    pub notifications: Vec<TraceNotification>,
}

#[utoipa::path(get, path = "/v1/events/{id}/trace", tag = "events", security(("api_key" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = TraceOut), (status = 404, body = ErrorBody)))]
pub async fn get_trace(
    State(state): State<AppState>,
    _key: ServerKey,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TraceOut>> {
    let t = state
        .store
        .get_trace(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let fed = state.store.event_deliveries(&id).await?;
    let delivery = |user: &str, channel: Channel| {
        fed.iter()
            .filter(|(n, _)| n.user_id == user)
            .flat_map(|(_, ds)| ds.iter())
            .find(|d| d.channel == channel.as_str())
    };
    let decisions = t
        .rows
        .iter()
        .flat_map(|r| {
            r.decisions.iter().map(|d| {
                let found = delivery(&r.user_id, d.channel);
                // A later drop (the daily cap) is what happened in the end.
                let (outcome, reason) = match found {
                    Some(x) if x.state == "dropped" => {
                        (Outcome::Dropped, x.reason.clone().unwrap_or_default())
                    }
                    _ => (d.outcome, d.reason.clone()),
                };
                TraceLine {
                    user_id: r.user_id.clone(),
                    tab: d.tab,
                    channel: d.channel,
                    outcome,
                    reason,
                    delivery: found.map(|x| x.state.clone()),
                    until: d.until.map(crate::clock::rfc3339),
                }
            })
        })
        .collect();
    let notifications = fed
        .into_iter()
        .map(|(n, ds)| TraceNotification {
            id: n.id,
            user_id: n.user_id,
            count: n.count,
            deliveries: ds.into_iter().map(super::ops::DeliveryOut::from).collect(),
        })
        .collect();
    Ok(Json(TraceOut {
        event_id: t.event_id,
        account_id: t.account_id,
        state: t.state,
        decisions,
        notifications,
    }))
}

#[cfg(test)]
mod tests {
    use super::object_url_ok;

    #[test]
    fn object_urls_are_absolute_or_a_path_on_the_host() {
        for ok in [
            "/deals/881",
            "/",
            "/a//b",
            "https://crm.example/deals/881?x=1#y",
            "http://crm.example",
            "HTTPS://crm.example/x",
        ] {
            assert!(object_url_ok(ok), "{ok}");
        }
        for bad in [
            "",
            "//evil.example/x",
            "/\\evil.example/x",
            "/\t/evil.example",
            "\\\\evil.example",
            "https:evil.example",
            "https:/evil.example",
            "javascript:alert(1)",
            "data:text/html,x",
            "deals/881",
            "https://crm.example/a b",
            "https://crm.example/\\x",
        ] {
            assert!(!object_url_ok(bad), "{bad}");
        }
        assert!(!object_url_ok(&format!("/{}", "a".repeat(2048))));
    }
}
