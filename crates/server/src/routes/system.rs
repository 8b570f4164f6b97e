//! Liveness, Prometheus metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::auth::MetricsReader;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub backend: String,
}

#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        backend: state.store.backend().into(),
    })
}

/// How far behind the pipeline is.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `behind` while a stage's oldest pending work is older than the bound.
    pub status: String,
    /// The stage that is behind (`events` or `jobs`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Seconds the oldest pending event waits.
    pub events_oldest_seconds: f64,
    /// Seconds the oldest due job waits.
    pub jobs_oldest_seconds: f64,
    /// The bound (`ready_max_backlog_seconds`).
    pub max_backlog_seconds: u64,
}

/// The age in seconds of the oldest pending event and due job; also sets the
/// `varsel_pending_oldest_seconds{stage}` gauges.
pub async fn pending_ages(state: &AppState) -> Result<(f64, f64), varsel_store::StoreError> {
    let p = state.store.pending_oldest().await?;
    let now = state.now();
    let age = |t: Option<i64>| t.map_or(0.0, |t| ((now - t).max(0) as f64) / 1000.0);
    let (events, jobs) = (age(p.events), age(p.jobs));
    metrics::gauge!("varsel_pending_oldest_seconds", "stage" => "events").set(events);
    metrics::gauge!("varsel_pending_oldest_seconds", "stage" => "jobs").set(jobs);
    Ok((events, jobs))
}

/// Readiness: 503 while the oldest pending event or due job is older than
/// `ready_max_backlog_seconds` (a load balancer sends new work elsewhere; `/healthz`
/// stays the liveness check).
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness, description = "Behind: the stage and its age")))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let bound = state.config.ready_max_backlog_seconds;
    let Ok((events, jobs)) = pending_ages(&state).await else {
        let r = Readiness {
            status: "database_unavailable".into(),
            stage: None,
            events_oldest_seconds: 0.0,
            jobs_oldest_seconds: 0.0,
            max_backlog_seconds: bound,
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(r));
    };
    let stage = if events > bound as f64 {
        Some("events")
    } else if jobs > bound as f64 {
        Some("jobs")
    } else {
        None
    };
    let code = if stage.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let r = Readiness {
        status: if stage.is_some() { "behind" } else { "ready" }.into(),
        stage: stage.map(str::to_string),
        events_oldest_seconds: events,
        jobs_oldest_seconds: jobs,
        max_backlog_seconds: bound,
    };
    (code, Json(r))
}

#[utoipa::path(get, path = "/metrics", tag = "system", security(("api_key" = [])),
    responses((status = 200, content_type = "text/plain", description = "Prometheus text format"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
/// On the main listener: to `metrics_token` or an API key.
pub async fn metrics(State(state): State<AppState>, _reader: MetricsReader) -> impl IntoResponse {
    metrics_text(state).await
}

/// On `metrics_listen`: without credentials (the operator keeps that address private).
pub async fn metrics_open(State(state): State<AppState>) -> impl IntoResponse {
    metrics_text(state).await
}

async fn metrics_text(state: AppState) -> impl IntoResponse {
    if let Ok(n) = state.store.pending_events().await {
        metrics::gauge!("varsel_events_pending").set(n as f64);
    }
    let _ = pending_ages(&state).await;

    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::ApiDoc::openapi())
}
