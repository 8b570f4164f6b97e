//! The HTTP routes. Handlers are thin: extract, authorize, call the store or the core,
//! map to a DTO.

pub mod admin;
pub mod catalog;
pub mod channels;
pub mod directory;
pub mod events;
pub mod feed;
pub mod links;
pub mod me;
pub mod ops;
pub mod people;
pub mod prefs;
pub mod stream;
pub mod system;
pub mod tokens;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use tower_http::cors::{Any, CorsLayer};

use crate::error::ApiError;
use crate::state::AppState;

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed",
    )
}

/// Every answer, JSON included, tells browsers not to guess another content type.
async fn nosniff(mut res: Response) -> Response {
    res.headers_mut()
        .entry(X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    res
}

pub fn router(state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    let api = Router::new()
        .route("/v1/accounts/{account}", put(directory::put_account))
        .route(
            "/v1/accounts/{account}/users/{user}",
            put(directory::put_user),
        )
        .route("/v1/accounts/{account}/users", get(people::list_users))
        .route(
            "/v1/accounts/{account}/teams/{team}",
            put(directory::put_team),
        )
        .route(
            "/v1/accounts/{account}/defaults",
            get(admin::get_defaults)
                .put(admin::put_defaults)
                .patch(admin::patch_defaults),
        )
        .route(
            "/v1/accounts/{account}/profiles",
            get(admin::list_profiles).post(admin::create_profile),
        )
        .route(
            "/v1/accounts/{account}/profiles/{profile}",
            put(admin::update_profile).delete(admin::delete_profile),
        )
        .route(
            "/v1/accounts/{account}/connections",
            get(channels::list_connections),
        )
        .route(
            "/v1/accounts/{account}/connections/{provider}",
            put(channels::put_connection).delete(channels::delete_connection),
        )
        .route(
            "/v1/me/devices",
            get(channels::get_devices).post(channels::post_device),
        )
        .route("/v1/me/devices/{id}", delete(channels::delete_device))
        .route("/v1/me", get(me::get_me).patch(me::patch_me))
        .route("/v1/webpush/key", get(channels::get_webpush_key))
        .route("/v1/tokens", post(tokens::post_token))
        .route("/v1/events", post(events::post_event))
        .route("/v1/events/{id}/trace", get(events::get_trace))
        .route("/v1/me/feed", get(feed::get_feed))
        .route("/v1/me/feed/unread-count", get(feed::get_unread))
        .route("/v1/me/feed/read-all", post(feed::post_read_all))
        .route("/v1/me/feed/seen", post(feed::post_seen))
        .route("/v1/me/feed/{id}/read", post(feed::post_read))
        .route("/v1/me/feed/{id}/archive", post(feed::post_archive))
        .route("/v1/me/feed/{id}/members", get(feed::get_members))
        .route("/v1/me/feed/{id}/unarchive", post(feed::post_unarchive))
        .route(
            "/v1/me/feed/{id}/snooze",
            post(feed::post_snooze).delete(feed::delete_snooze),
        )
        .route("/v1/me/stream", get(stream::get_stream))
        .route(
            "/v1/me/presence",
            post(stream::post_presence).get(stream::get_presence),
        )
        .route(
            "/v1/me/preferences",
            get(prefs::get_prefs).patch(prefs::patch_prefs),
        )
        .route("/v1/me/preferences/reset", post(prefs::reset))
        .route(
            "/v1/me/preferences/{tab}/turn-off-all",
            post(prefs::turn_off_all),
        )
        .route(
            "/v1/me/preferences/types/{type}/dont-show",
            post(prefs::dont_show),
        )
        .route("/v1/me/preferences/types/{type}/mute", post(prefs::mute))
        .route("/v1/catalog", get(catalog::get_catalog))
        .route("/v1/outbox", get(ops::get_outbox))
        .route("/v1/jobs", get(ops::list_jobs))
        .route("/v1/jobs/{id}", get(ops::get_job))
        .route("/v1/jobs/{id}/retry", post(ops::retry_job))
        .route("/v1/notifications/{id}", get(ops::get_notification))
        .layer(DefaultBodyLimit::max(limit));
    // A batch of 1,000 events needs more room than one event.
    let batch = Router::new()
        .route("/v1/events/batch", post(events::post_batch))
        .layer(DefaultBodyLimit::max(limit * 16));
    // Browsers on the host's own origin call the API with a bearer token (never cookies),
    // so any origin may call it: the token is what grants access.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
        ]);
    // With a separate metrics address, /metrics is served there only.
    let metrics = if state.config.metrics_listen.is_empty() {
        Router::new().route("/metrics", get(system::metrics))
    } else {
        Router::new()
    };
    Router::new()
        .merge(api)
        .merge(batch)
        .route("/email/settings/{token}", get(links::open_settings))
        .route(
            "/email/unsubscribe/{token}",
            get(links::unsubscribe_page)
                .post(links::unsubscribe)
                .layer(DefaultBodyLimit::max(4096)),
        )
        .route(
            "/email/unsubscribe/{token}/undo",
            post(links::undo).layer(DefaultBodyLimit::max(4096)),
        )
        .merge(metrics)
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/openapi.json", get(system::openapi))
        .merge(crate::ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors)
        .layer(axum::middleware::map_response(nosniff))
        .with_state(state)
}

/// The router of `metrics_listen`: `/metrics` without credentials, and `/healthz`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(system::metrics_open))
        .route("/healthz", get(system::healthz))
        .fallback(not_found)
        .layer(axum::middleware::map_response(nosniff))
        .with_state(state)
}
