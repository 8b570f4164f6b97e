//! `GET /v1/me/stream`: Server-Sent Events with new bell items (plus the pop-up or
//! browser instruction for this tab), unread counts, keep-alive, and resume from
//! `Last-Event-ID`; at most `max_streams_per_user` streams per user and `max_streams`
//! per node, each ending when its token expires. `POST /v1/me/presence`: a tab says whether it is active.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt, stream};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{UserAuth, random_hex};
use crate::clock::Clock;
use crate::dto::FeedItemDto;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::hub::{NotificationFrame, StreamMsg, StreamRefused};
use crate::state::AppState;

/// Most items replayed on resume; older ones are in the feed.
const REPLAY_LIMIT: i64 = 500;
/// Frames buffered per connection before a slow tab misses some (it resumes later).
const BUFFER: usize = 256;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Identifies the browser tab (any string up to 100 characters); default: a new id.
    pub tab_id: Option<String>,
    /// Whether the tab is active right now (it can also report it through presence).
    pub active: Option<bool>,
    /// The user token, for `EventSource`, which cannot set headers.
    pub token: Option<String>,
}

fn tab_id_ok(tab: &str) -> bool {
    !tab.is_empty() && tab.len() <= 100 && tab.bytes().all(|b| b.is_ascii_graphic())
}

fn frame(msg: StreamMsg) -> Event {
    match msg {
        StreamMsg::Notification { seq, item, updated } => Event::default()
            .event(if updated {
                "notification_updated"
            } else {
                "notification"
            })
            .id(seq.to_string())
            .json_data(&*item)
            .unwrap_or_else(|_| Event::default().comment("unserializable")),
        StreamMsg::UnreadCount(n) => Event::default()
            .event("unread_count")
            .data(serde_json::json!({ "unread": n }).to_string()),
        StreamMsg::FeedChanged(c) => Event::default()
            .event("feed_changed")
            .json_data(&c)
            .unwrap_or_else(|_| Event::default().comment("unserializable")),
    }
}

/// Unregisters the connection when the response stream is dropped.
struct Guard {
    state: AppState,
    reg: Option<crate::hub::Registration>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(reg) = self.reg.take() {
            drop(self.state.hub.guard(reg));
        }
    }
}

#[utoipa::path(get, path = "/v1/me/stream", tag = "realtime", security(("user_token" = [])), params(StreamQuery),
    responses((status = 200, content_type = "text/event-stream",
        description = "Events `notification` (id = position; feed item plus `popup: {sound}` or `browser: true`), `unread_count` (`{unread}`), and a last `token_expired` when the user token expires (the stream then ends)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "`too_many_streams`: the user or this server holds its maximum of open streams")))]
pub async fn get_stream(
    State(state): State<AppState>,
    me: UserAuth,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let tab = q.tab_id.unwrap_or_else(|| format!("tab_{}", random_hex(8)));
    if !tab_id_ok(&tab) {
        return Err(ApiError::bad_request(
            "invalid_tab_id",
            "tab_id must be 1–100 visible ASCII characters",
        ));
    }
    let last_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_last_event_id",
                        "Last-Event-ID must be an id this stream sent",
                    )
                })?,
        ),
    };
    let (tx, rx) = mpsc::channel(BUFFER);
    // Register before reading the replay, so nothing falls between the two.
    let reg = state
        .hub
        .register(&me.account, &me.user, &tab, q.active, tx)
        .map_err(|refused| {
            let message = match refused {
                StreamRefused::User(n) => format!(
                    "this user already has {n} open streams; close one (or reuse it across tabs) first"
                ),
                StreamRefused::Node(n) => {
                    format!("this server holds its maximum of {n} streams; try again later")
                }
            };
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_streams", message)
                .retry_after(5)
        })?;
    let guard = Guard {
        state: state.clone(),
        reg: Some(reg),
    };
    let replay = match last_id {
        Some(after) => {
            state
                .store
                .feed_after(&me.account, &me.user, after, REPLAY_LIMIT)
                .await?
        }
        None => Vec::new(),
    };
    let unread = state.store.unread_count(&me.account, &me.user).await?;
    let high = replay.last().map(|i| i.seq).or(last_id).unwrap_or(0);
    let mut first: Vec<StreamMsg> = replay
        .iter()
        .map(|i| StreamMsg::Notification {
            seq: i.seq,
            item: Box::new(NotificationFrame {
                item: FeedItemDto::from(i),
                popup: None,
                browser: false,
                bell: true,
            }),
            updated: false,
        })
        .collect();
    first.push(StreamMsg::UnreadCount(unread));
    let live = ReceiverStream::new(rx).filter_map(move |msg| {
        let _keep = &guard;
        let skip = matches!(&msg, StreamMsg::Notification { seq, .. } if *seq <= high);
        async move { if skip { None } else { Some(msg) } }
    });
    // The stream ends when its token expires, after a last `token_expired` frame; the
    // client gets a fresh token and connects again.
    let expiry = token_expiry(state.clock.clone(), me.exp.saturating_mul(1000));
    let events = stream::iter(first)
        .chain(live)
        .map(frame)
        .take_until(expiry)
        .chain(stream::once(async {
            Event::default()
                .event("token_expired")
                .data(r#"{"reason":"the user token expired; connect again with a fresh one"}"#)
        }))
        .map(Ok);
    // Keep-alive comments come often enough that the connection's idle timeout never
    // closes a stream.
    let every = Duration::from_secs(15)
        .min(Duration::from_secs(state.config.idle_timeout_seconds) / 2)
        .max(Duration::from_millis(200));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(every).text("keep-alive")))
}

/// Resolves when the server's clock passes `exp_ms`. The clock is read again at least
/// every second, so a test's clock that jumps ahead is noticed.
async fn token_expiry(clock: Arc<dyn Clock>, exp_ms: i64) {
    loop {
        let left = exp_ms.saturating_sub(clock.now_ms());
        if left <= 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(left.clamp(1, 1000) as u64)).await;
    }
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceIn {
    pub tab_id: String,
    /// Focused and visible.
    pub active: bool,
}

#[utoipa::path(post, path = "/v1/me/presence", tag = "realtime", security(("user_token" = [])),
    request_body = PresenceIn,
    responses((status = 204), (status = 400, body = ErrorBody)))]
pub async fn post_presence(
    State(state): State<AppState>,
    me: UserAuth,
    ApiJson(body): ApiJson<PresenceIn>,
) -> ApiResult<StatusCode> {
    if !tab_id_ok(&body.tab_id) {
        return Err(ApiError::bad_request(
            "invalid_tab_id",
            "tab_id must be 1–100 visible ASCII characters",
        ));
    }
    state
        .hub
        .set_active(&me.account, &me.user, &body.tab_id, body.active);
    Ok(StatusCode::NO_CONTENT)
}

/// The user's open tabs as Varsel counts them for pop-ups and browser notifications.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct PresenceOut {
    /// Tabs with an open stream, on every node.
    pub open_tabs: u32,
    /// Of those, the tabs that say they are active.
    pub active_tabs: u32,
}

/// The user's presence across every node: what decides between a pop-up (a tab is
/// active), a browser notification (tabs open, none active) and Web Push (no tab open).
#[utoipa::path(get, path = "/v1/me/presence", tag = "realtime", security(("user_token" = [])),
    responses((status = 200, body = PresenceOut), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_presence(
    State(state): State<AppState>,
    me: UserAuth,
) -> ApiResult<axum::Json<PresenceOut>> {
    let p = state.hub.presence(&me.account, &me.user);
    Ok(axum::Json(PresenceOut {
        open_tabs: u32::try_from(p.open_tabs).unwrap_or(u32::MAX),
        active_tabs: u32::try_from(p.active_tabs).unwrap_or(u32::MAX),
    }))
}
