//! Liveness, Prometheus metrics and the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::header;
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
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::ApiDoc::openapi())
}
