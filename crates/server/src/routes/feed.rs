//! The user's bell feed: list, unread count, mark read / seen / all read, archive and
//! snooze.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::UserAuth;
use crate::dto::FeedItemDto;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use varsel_core::schedule::{SnoozePreset, snooze_until};
use varsel_store::{FeedChange, FeedChangeKind, FeedFilter};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only unread items.
    pub unread: Option<bool>,
    /// The archived items instead of the list.
    pub archived: Option<bool>,
    /// The snoozed items (until they come back) instead of the list.
    pub snoozed: Option<bool>,
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
    let filter = FeedFilter {
        unread: q.unread.unwrap_or(false),
        archived: q.archived.unwrap_or(false),
        snoozed: q.snoozed.unwrap_or(false),
    };
    let mut items = state
        .store
        .feed(&me.account, &me.user, filter, limit + 1, before)
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

/// Pushes the new unread count to the user's open tabs, here and on other nodes, after
/// `changed` (an item that left or rejoined the list) when given.
async fn push_unread(
    state: &AppState,
    me: &UserAuth,
    changed: Option<FeedChange>,
) -> ApiResult<()> {
    if let Some(c) = &changed {
        state.hub.send_feed_changed(&me.account, &me.user, c);
    }
    if state.hub.has_streams(&me.account, &me.user) {
        let n = state.store.unread_count(&me.account, &me.user).await?;
        state.hub.send_unread(&me.account, &me.user, n);
    }
    if let Some(bus) = &state.bus {
        let msg = varsel_store::BusMsg::Unread {
            origin: state.node_id.clone(),
            account: me.account.clone(),
            user: me.user.clone(),
            changed,
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
    push_unread(&state, &me, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/me/feed/read-all", tag = "feed", security(("user_token" = [])),
    responses((status = 204)))]
pub async fn post_read_all(State(state): State<AppState>, me: UserAuth) -> ApiResult<StatusCode> {
    state
        .store
        .mark_all_read(&me.account, &me.user, state.now())
        .await?;
    push_unread(&state, &me, None).await?;
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

#[utoipa::path(post, path = "/v1/me/feed/{id}/archive", tag = "feed", security(("user_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn post_archive(
    State(state): State<AppState>,
    me: UserAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    set_archived(&state, &me, &id, Some(state.now())).await
}

#[utoipa::path(post, path = "/v1/me/feed/{id}/unarchive", tag = "feed", security(("user_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn post_unarchive(
    State(state): State<AppState>,
    me: UserAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    set_archived(&state, &me, &id, None).await
}

async fn set_archived(
    state: &AppState,
    me: &UserAuth,
    id: &str,
    at: Option<i64>,
) -> ApiResult<StatusCode> {
    if !state
        .store
        .set_archived(&me.account, &me.user, id, at)
        .await?
    {
        return Err(ApiError::not_found("notification"));
    }
    let change = FeedChange {
        id: id.to_string(),
        change: if at.is_some() {
            FeedChangeKind::Archived
        } else {
            FeedChangeKind::Unarchived
        },
    };
    push_unread(state, me, Some(change)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The longest snooze: a year.
const MAX_SNOOZE_MS: i64 = 366 * 24 * 3600 * 1000;

/// When a snooze ends: a time, or one of the bell menu's choices in the user's timezone.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SnoozeIn {
    /// RFC 3339, in the future (at most a year ahead).
    #[schema(example = "2026-12-02T08:00:00Z")]
    pub until: Option<String>,
    /// Instead of `until`: resolved in the user's timezone.
    pub preset: Option<SnoozePreset>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct SnoozeOut {
    /// RFC 3339: when the item comes back.
    pub snoozed_until: String,
}

#[utoipa::path(post, path = "/v1/me/feed/{id}/snooze", tag = "feed", security(("user_token" = [])),
    params(("id" = String, Path)), request_body = SnoozeIn,
    responses((status = 200, body = SnoozeOut), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn post_snooze(
    State(state): State<AppState>,
    me: UserAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SnoozeIn>,
) -> ApiResult<Json<SnoozeOut>> {
    let now = state.now();
    let until = match (&body.until, body.preset) {
        (Some(t), None) => chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| t.timestamp_millis())
            .map_err(|_| {
                ApiError::bad_request("invalid_until", "until must be an RFC 3339 time")
            })?,
        (None, Some(preset)) => {
            let tz = state
                .store
                .get_user(&me.account, &me.user)
                .await?
                .map(|u| u.timezone)
                .unwrap_or_default();
            snooze_until(preset, now, &tz).ok_or_else(|| {
                ApiError::bad_request(
                    "preset_passed",
                    "this afternoon has passed in your timezone; choose another time",
                )
            })?
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_snooze",
                "give either until or preset",
            ));
        }
    };
    if until <= now || until - now > MAX_SNOOZE_MS {
        return Err(ApiError::bad_request(
            "invalid_until",
            "until must be in the future, at most a year ahead",
        ));
    }
    let wake = crate::jobs::wake::wake_job(&me.account, &me.user, &id, until);
    if !state
        .store
        .snooze(&me.account, &me.user, &id, until, &wake, now)
        .await?
    {
        return Err(ApiError::not_found("notification"));
    }
    let change = FeedChange {
        id: id.clone(),
        change: FeedChangeKind::Snoozed,
    };
    push_unread(&state, &me, Some(change)).await?;
    Ok(Json(SnoozeOut {
        snoozed_until: crate::clock::rfc3339(until),
    }))
}

#[utoipa::path(delete, path = "/v1/me/feed/{id}/snooze", tag = "feed", security(("user_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_snooze(
    State(state): State<AppState>,
    me: UserAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    match state.store.wake(&me.account, &me.user, &id, None).await? {
        Some(item) => crate::fanout::push(&state, vec![item]).await,
        // Not snoozed: nothing to bring back, if the item is the user's.
        None => {
            let mine = state
                .store
                .feed_by_ids(std::slice::from_ref(&id))
                .await?
                .iter()
                .any(|i| i.account_id == me.account && i.user_id == me.user && i.in_feed);
            if !mine {
                return Err(ApiError::not_found("notification"));
            }
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// One notification of a grouped bell item, as it read on its own.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct MemberDto {
    pub event_id: String,
    pub actor_id: Option<String>,
    pub title: String,
    pub body: String,
    /// RFC 3339.
    pub created_at: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct MembersOut {
    /// Newest first; empty for an item that groups nothing.
    pub members: Vec<MemberDto>,
}

#[utoipa::path(get, path = "/v1/me/feed/{id}/members", tag = "feed", security(("user_token" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MembersOut), (status = 404, body = ErrorBody)))]
pub async fn get_members(
    State(state): State<AppState>,
    me: UserAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<MembersOut>> {
    let mine = state
        .store
        .feed_by_ids(std::slice::from_ref(&id))
        .await?
        .into_iter()
        .any(|i| i.account_id == me.account && i.user_id == me.user && i.in_feed);
    if !mine {
        return Err(ApiError::not_found("notification"));
    }
    let members = state
        .store
        .members(&me.account, &me.user, &id)
        .await?
        .into_iter()
        .map(|m| MemberDto {
            event_id: m.event_id,
            actor_id: m.actor_id,
            title: m.title,
            body: m.body,
            created_at: crate::clock::rfc3339(m.created_at),
        })
        .collect();
    Ok(Json(MembersOut { members }))
}
