//! Operations for the host: the local outbox, jobs (with the dead-letter list and a
//! retry), and the delivery states of a notification.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::ServerKey;
use crate::clock::rfc3339;
use crate::dto::FeedItemDto;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn limit(l: Option<i64>) -> ApiResult<i64> {
    let l = l.unwrap_or(20);
    if (1..=100).contains(&l) {
        Ok(l)
    } else {
        Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be 1–100",
        ))
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OutboxItem {
    pub id: String,
    pub account_id: String,
    pub user_id: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct OutboxOut {
    pub items: Vec<OutboxItem>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/outbox", tag = "email", security(("api_key" = [])), params(PageQuery),
    responses((status = 200, body = OutboxOut, description = "Emails kept locally because no SMTP server is configured, newest first")))]
pub async fn get_outbox(
    State(state): State<AppState>,
    _key: ServerKey,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<OutboxOut>> {
    let limit = limit(q.limit)?;
    let before = match &q.cursor {
        None => None,
        Some(c) => {
            let bad =
                || ApiError::bad_request("invalid_cursor", "cursor is not one this API returned");
            let (at, id) = c.split_once('~').ok_or_else(bad)?;
            Some((at.parse::<i64>().map_err(|_| bad())?, id.to_string()))
        }
    };
    let mut rows = state.store.outbox(limit + 1, before).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| format!("{}~{}", r.created_at, r.id))
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|r| OutboxItem {
            id: r.id,
            account_id: r.account_id,
            user_id: r.user_id,
            to: r.to,
            subject: r.subject,
            text: r.text,
            html: r.html,
            message_id: r.message_id,
            kind: r.type_id,
            created_at: rfc3339(r.created_at),
        })
        .collect();
    Ok(Json(OutboxOut { items, next_cursor }))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct AttemptOut {
    pub attempt: i64,
    pub started_at: String,
    pub finished_at: String,
    /// `done`, `retry`, `dead`, `gone` (the address is gone: nothing left to do) or
    /// `wait` (not tried: the destination was backed off; not counted as an attempt).
    pub outcome: String,
    pub error: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct JobOut {
    pub id: String,
    pub kind: String,
    /// `scheduled`, `waiting` (scheduled, but its destination is backed off: `last_error`
    /// says which and until when), `done` or `dead`.
    pub state: String,
    pub attempts: i64,
    pub run_at: String,
    pub last_error: Option<String>,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
    /// Only on `GET /v1/jobs/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<AttemptOut>>,
}

fn job_out(j: varsel_store::Job, log: Option<Vec<varsel_store::JobAttempt>>) -> JobOut {
    JobOut {
        id: j.id,
        kind: j.kind.to_string(),
        state: if j.state == "scheduled"
            && j.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("waiting:"))
        {
            "waiting".into()
        } else {
            j.state
        },
        attempts: j.attempts,
        run_at: rfc3339(j.run_at),
        last_error: j.last_error,
        payload: j.payload,
        created_at: rfc3339(j.created_at),
        updated_at: rfc3339(j.updated_at),
        attempt_log: log.map(|l| {
            l.into_iter()
                .map(|a| AttemptOut {
                    attempt: a.attempt,
                    started_at: rfc3339(a.started_at),
                    finished_at: rfc3339(a.finished_at),
                    outcome: a.outcome,
                    error: a.error,
                })
                .collect()
        }),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JobsQuery {
    /// `dead` (default: the dead-letter list), `scheduled` (including waiting), `waiting`
    /// (backed off with their destination) or `done`.
    pub state: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct JobsOut {
    pub jobs: Vec<JobOut>,
}

#[utoipa::path(get, path = "/v1/jobs", tag = "jobs", security(("api_key" = [])), params(JobsQuery),
    responses((status = 200, body = JobsOut), (status = 400, body = ErrorBody)))]
pub async fn list_jobs(
    State(state): State<AppState>,
    _key: ServerKey,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> ApiResult<Json<JobsOut>> {
    let st = q.state.unwrap_or_else(|| "dead".into());
    if !matches!(st.as_str(), "dead" | "scheduled" | "waiting" | "done") {
        return Err(ApiError::bad_request(
            "invalid_state",
            "state must be dead, scheduled, waiting or done",
        ));
    }
    let jobs = state.store.jobs(&st, limit(q.limit)?).await?;
    Ok(Json(JobsOut {
        jobs: jobs.into_iter().map(|j| job_out(j, None)).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/jobs/{id}", tag = "jobs", security(("api_key" = [])), params(("id" = String, Path)),
    responses((status = 200, body = JobOut), (status = 404, body = ErrorBody)))]
pub async fn get_job(
    State(state): State<AppState>,
    _key: ServerKey,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<JobOut>> {
    let (job, log) = state
        .store
        .job(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    Ok(Json(job_out(job, Some(log))))
}

#[utoipa::path(post, path = "/v1/jobs/{id}/retry", tag = "jobs", security(("api_key" = [])), params(("id" = String, Path)),
    responses((status = 200, body = JobOut, description = "A dead job is queued again"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retry_job(
    State(state): State<AppState>,
    _key: ServerKey,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<JobOut>> {
    if state.store.job(&id).await?.is_none() {
        return Err(ApiError::not_found("job"));
    }
    if !state.store.requeue_job(&id, state.now()).await? {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "not_dead",
            "only a dead job can be retried",
        ));
    }
    state.jobs_wake.notify_one();
    let (job, log) = state
        .store
        .job(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    Ok(Json(job_out(job, Some(log))))
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct DeliveryOut {
    pub channel: String,
    /// `pending`, `scheduled`, `sending`, `sent`, `delivered`, `dropped`, `failed`.
    pub state: String,
    pub reason: Option<String>,
    pub attempts: i64,
    pub updated_at: String,
}

impl From<varsel_store::Delivery> for DeliveryOut {
    fn from(d: varsel_store::Delivery) -> DeliveryOut {
        DeliveryOut {
            channel: d.channel,
            state: d.state,
            reason: d.reason,
            attempts: d.attempts,
            updated_at: rfc3339(d.updated_at),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct NotificationOut {
    pub user_id: String,
    #[serde(flatten)]
    pub item: FeedItemDto,
    pub in_feed: bool,
    pub deliveries: Vec<DeliveryOut>,
}

#[utoipa::path(get, path = "/v1/notifications/{id}", tag = "events", security(("api_key" = [])), params(("id" = String, Path)),
    responses((status = 200, body = NotificationOut), (status = 404, body = ErrorBody)))]
pub async fn get_notification(
    State(state): State<AppState>,
    _key: ServerKey,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<NotificationOut>> {
    let n = state
        .store
        .notification(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("notification"))?;
    let deliveries = state.store.deliveries(std::slice::from_ref(&n.id)).await?;
    Ok(Json(NotificationOut {
        user_id: n.user_id.clone(),
        item: FeedItemDto::from(&n),
        in_feed: n.in_feed,
        deliveries: deliveries.into_iter().map(DeliveryOut::from).collect(),
    }))
}
