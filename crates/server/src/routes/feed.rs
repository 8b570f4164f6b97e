//! The user's bell feed: list, unread count, mark read / seen / all read (SPEC §7).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::UserAuth;
use crate::dto::FeedItemDto;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct FeedOut {
    pub items: Vec<FeedItemDto>,
    /// Absent on the last page.
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/me/feed", tag = "feed", security(("user_token" = [])), params(FeedQuery),
    responses((status = 200, body = FeedOut), (status = 400, body = ErrorBody)))]
pub async fn get_feed(
    State(state): State<AppState>,
    me: UserAuth,
    ApiQuery(q): ApiQuery<FeedQuery>,
) -> ApiResult<Json<FeedOut>> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be 1–100",
        ));
    }
    let before = match &q.cursor {
        None => None,
        Some(c) => Some(c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "cursor is not one this API returned")
        })?),
    };
    // One more than asked tells whether another page exists.
    let mut items = state
        .store
        .feed(&me.account, &me.user, limit + 1, before)
        .await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if more {
        items.last().map(|i| i.seq.to_string())
    } else {
        None
    };
    Ok(Json(FeedOut {
        items: items.iter().map(FeedItemDto::from).collect(),
        next_cursor,
    }))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct UnreadOut {
    pub unread: i64,
}

#[utoipa::path(get, path = "/v1/me/feed/unread-count", tag = "feed", security(("user_token" = [])),
    responses((status = 200, body = UnreadOut)))]
pub async fn get_unread(State(state): State<AppState>, me: UserAuth) -> ApiResult<Json<UnreadOut>> {
    Ok(Json(UnreadOut {
        unread: state.store.unread_count(&me.account, &me.user).await?,
    }))
}

/// Pushes the new unread count to the user's open tabs, here and on other nodes.
async fn push_unread(state: &AppState, me: &UserAuth) -> ApiResult<()> {
    if state.hub.has_streams(&me.account, &me.user) {
        let n = state.store.unread_count(&me.account, &me.user).await?;
        state.hub.send_unread(&me.account, &me.user, n);
    }
    if let Some(bus) = &state.bus {
        let msg = varsel_store::BusMsg::Unread {
            origin: state.node_id.clone(),
            account: me.account.clone(),
            user: me.user.clone(),
        };
        if let Err(e) = bus.publish(&msg).await {
            tracing::warn!(error = %e, "could not tell other nodes of the unread count");
        }
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/me/feed/{id}/read", tag = "feed", security(("user_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn post_read(
    State(state): State<AppState>,
    me: UserAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if !state
        .store
        .mark_read(&me.account, &me.user, &id, state.now())
        .await?
    {
        return Err(ApiError::not_found("notification"));
    }
    push_unread(&state, &me).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/me/feed/read-all", tag = "feed", security(("user_token" = [])),
    responses((status = 204)))]
pub async fn post_read_all(State(state): State<AppState>, me: UserAuth) -> ApiResult<StatusCode> {
    state
        .store
        .mark_all_read(&me.account, &me.user, state.now())
        .await?;
    push_unread(&state, &me).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/me/feed/seen", tag = "feed", security(("user_token" = [])),
    responses((status = 204)))]
pub async fn post_seen(State(state): State<AppState>, me: UserAuth) -> ApiResult<StatusCode> {
    state
        .store
        .mark_seen(&me.account, &me.user, state.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
