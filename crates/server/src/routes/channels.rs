//! Devices (a user's Web Push subscriptions and mobile tokens), the Web Push key, and an
//! account's Slack and Teams connections (its super admins or the host's server key).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use varsel_delivery::webpush::PushSubscription;
use varsel_store::{Connection, Device};

use crate::auth::{AnyCaller, UserAuth};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::routes::admin::authorize;
use crate::state::AppState;

/// Most devices one user may register; the oldest goes when a new one would exceed it.
pub const MAX_DEVICES_PER_USER: usize = 20;

#[derive(Serialize, ToSchema)]
pub struct WebPushKey {
    /// The VAPID public key (base64url, no padding, uncompressed P-256 point): the
    /// `applicationServerKey` of `pushManager.subscribe`.
    pub public_key: String,
}

#[utoipa::path(get, path = "/v1/webpush/key", tag = "devices",
    responses((status = 200, body = WebPushKey)))]
pub async fn get_webpush_key(State(state): State<AppState>) -> Json<WebPushKey> {
    Json(WebPushKey {
        public_key: state.providers.webpush.vapid_key().public_key().to_string(),
    })
}

/// A device to register: a browser's push subscription, or a mobile app's token.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NewDevice {
    /// `subscription` is `PushSubscription.toJSON()`: `{endpoint, expirationTime, keys: {p256dh, auth}}`.
    Webpush {
        #[schema(value_type = Object)]
        subscription: serde_json::Value,
    },
    /// An FCM registration token; `app_id` is the app's package name, for display.
    Fcm {
        token: String,
        app_id: Option<String>,
    },
    /// An APNs device token (hex); `app_id` is the app's bundle id (the `apns-topic`;
    /// default: the server's `apns_topic`).
    Apns {
        token: String,
        app_id: Option<String>,
    },
}

#[derive(Serialize, ToSchema)]
pub struct DeviceDto {
    pub id: String,
    /// `webpush`, `fcm` or `apns`.
    pub kind: String,
    pub app_id: Option<String>,
    /// For Web Push: the push service's origin; for mobile: the last 6 characters of the token.
    pub label: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Device> for DeviceDto {
    fn from(d: &Device) -> DeviceDto {
        let label = if d.kind == "webpush" {
            reqwest::Url::parse(&d.token)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default()
        } else {
            let n = d.token.len();
            format!("…{}", &d.token[n.saturating_sub(6)..])
        };
        DeviceDto {
            id: d.id.clone(),
            kind: d.kind.clone(),
            app_id: d.app_id.clone(),
            label,
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<DeviceDto>,
}

fn bad_device(message: impl Into<String>) -> ApiError {
    ApiError::invalid("invalid_device", message)
}

fn app_id(v: Option<String>) -> ApiResult<Option<String>> {
    match v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        Some(s) if s.len() > 255 || s.chars().any(|c| c.is_control() || c.is_whitespace()) => Err(
            bad_device("app_id must be an app id such as com.example.app"),
        ),
        other => Ok(other),
    }
}

#[utoipa::path(post, path = "/v1/me/devices", tag = "devices", security(("user_token" = [])),
    request_body = NewDevice,
    responses((status = 201, body = DeviceDto), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn post_device(
    State(state): State<AppState>,
    me: UserAuth,
    ApiJson(body): ApiJson<NewDevice>,
) -> ApiResult<(StatusCode, Json<DeviceDto>)> {
    let (kind, token, app, data) = match body {
        NewDevice::Webpush { subscription } => {
            let sub: PushSubscription = serde_json::from_value(subscription)
                .map_err(|e| bad_device(format!("not a push subscription: {e}")))?;
            sub.validate().map_err(|e| bad_device(e.to_string()))?;
            let token = sub.endpoint.trim().to_string();
            // Varsel will POST to this URL: only to a known push service, over https, at a
            // public address (checked again when sending).
            state
                .providers
                .webpush
                .guard()
                .check_url(&token)
                .map_err(|why| {
                    bad_device(format!(
                        "the push endpoint {why} (a known push service of webpush_hosts)"
                    ))
                })?;
            let data = serde_json::to_value(&sub).map_err(ApiError::internal)?;
            ("webpush", token, None, data)
        }
        NewDevice::Fcm { token, app_id: a } => {
            let t = token.trim();
            if t.is_empty() || t.len() > 4096 || !t.chars().all(|c| c.is_ascii_graphic()) {
                return Err(bad_device("token must be an FCM registration token"));
            }
            ("fcm", t.to_string(), app_id(a)?, serde_json::json!({}))
        }
        NewDevice::Apns { token, app_id: a } => {
            let t = token.trim().to_ascii_lowercase();
            if !varsel_delivery::apns::valid_device_token(&t) {
                return Err(bad_device("token must be an APNs device token in hex"));
            }
            ("apns", t, app_id(a)?, serde_json::json!({}))
        }
    };
    if !state.providers.accepts(kind) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "channel_not_configured",
            format!("this server has no {kind} credentials configured"),
        ));
    }
    let now = state.now();
    let saved = state
        .store
        .put_device(&Device {
            id: format!("dev_{}", ulid::Ulid::new()),
            account_id: me.account.clone(),
            user_id: me.user.clone(),
            kind: kind.to_string(),
            token,
            app_id: app,
            data,
            created_at: now,
            updated_at: now,
        })
        .await?;
    // Keep the newest devices only: browsers re-subscribe, apps re-register.
    let mine = state
        .store
        .devices(&me.account, std::slice::from_ref(&me.user))
        .await?;
    if mine.len() > MAX_DEVICES_PER_USER {
        let mut by_age: Vec<&Device> = mine.iter().collect();
        by_age.sort_by_key(|d| d.updated_at);
        for d in by_age.iter().take(mine.len() - MAX_DEVICES_PER_USER) {
            state
                .store
                .delete_device(&me.account, &me.user, &d.id)
                .await?;
        }
    }
    Ok((StatusCode::CREATED, Json(DeviceDto::from(&saved))))
}

#[utoipa::path(get, path = "/v1/me/devices", tag = "devices", security(("user_token" = [])),
    responses((status = 200, body = DeviceList)))]
pub async fn get_devices(
    State(state): State<AppState>,
    me: UserAuth,
) -> ApiResult<Json<DeviceList>> {
    let devices = state
        .store
        .devices(&me.account, std::slice::from_ref(&me.user))
        .await?;
    Ok(Json(DeviceList {
        devices: devices.iter().map(DeviceDto::from).collect(),
    }))
}

#[utoipa::path(delete, path = "/v1/me/devices/{id}", tag = "devices", security(("user_token" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_device(
    State(state): State<AppState>,
    me: UserAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    if state
        .store
        .delete_device(&me.account, &me.user, &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("device"))
    }
}

/// Connecting an app: Slack's bot token (`xoxb-…`, scopes `chat:write`, `users:read`,
/// `users:read.email`) or the Teams workflow's webhook URL. Stored sealed; never
/// answered back.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionBody {
    pub bot_token: Option<String>,
    pub webhook_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionDto {
    /// `slack` or `teams`.
    pub provider: String,
    pub connected: bool,
    /// Non-secret facts: the token's last characters, the webhook's host.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Connection> for ConnectionDto {
    fn from(c: &Connection) -> ConnectionDto {
        ConnectionDto {
            provider: c.provider.clone(),
            connected: true,
            settings: c.settings.clone(),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionDto>,
}

fn provider(p: &str) -> ApiResult<&'static str> {
    match p {
        "slack" => Ok("slack"),
        "teams" => Ok("teams"),
        _ => Err(ApiError::not_found("provider")),
    }
}

#[utoipa::path(get, path = "/v1/accounts/{account}/connections", tag = "admin",
    security(("api_key" = []), ("user_token" = [])), params(("account" = String, Path)),
    responses((status = 200, body = ConnectionList), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_connections(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiPath(account): ApiPath<String>,
) -> ApiResult<Json<ConnectionList>> {
    authorize(&state, &caller, &account, false).await?;
    let list = state.store.connections(&account).await?;
    Ok(Json(ConnectionList {
        connections: list.iter().map(ConnectionDto::from).collect(),
    }))
}

#[utoipa::path(put, path = "/v1/accounts/{account}/connections/{provider}", tag = "admin",
    security(("api_key" = []), ("user_token" = [])),
    params(("account" = String, Path), ("provider" = String, Path, description = "slack or teams")),
    request_body = ConnectionBody,
    responses((status = 200, body = ConnectionDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_connection(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiPath((account, p)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ConnectionBody>,
) -> ApiResult<Json<ConnectionDto>> {
    let p = provider(&p)?;
    authorize(&state, &caller, &account, false).await?;
    let (secret, settings) = match (p, body.bot_token, body.webhook_url) {
        ("slack", Some(t), None) => {
            let t = t.trim().to_string();
            if !t.starts_with("xox")
                || t.len() < 16
                || t.len() > 512
                || !t.chars().all(|c| c.is_ascii_graphic())
            {
                return Err(ApiError::invalid(
                    "invalid_connection",
                    "bot_token must be a Slack bot token (xoxb-…)",
                ));
            }
            let hint = format!("…{}", &t[t.len() - 4..]);
            (t, serde_json::json!({ "token_hint": hint }))
        }
        ("teams", None, Some(u)) => {
            let u = u.trim().to_string();
            if u.len() > 2048 {
                return Err(ApiError::invalid(
                    "invalid_connection",
                    "webhook_url must be at most 2048 characters",
                ));
            }
            // Varsel will POST every notification here: https, an allowed host, a public
            // address (checked again when connecting).
            state.providers.teams.guard().check_url(&u).map_err(|why| {
                ApiError::invalid(
                    "invalid_connection",
                    format!("webhook_url {why} (teams_hosts)"),
                )
            })?;
            let host = varsel_delivery::teams::TeamsWebhookUrl::new(u.clone()).host();
            (u, serde_json::json!({ "webhook_host": host }))
        }
        ("slack", _, _) => {
            return Err(ApiError::invalid(
                "invalid_connection",
                "slack takes {\"bot_token\": \"xoxb-…\"}",
            ));
        }
        _ => {
            return Err(ApiError::invalid(
                "invalid_connection",
                "teams takes {\"webhook_url\": \"https://…\"}",
            ));
        }
    };
    let sealer = state.providers.sealer.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "secret_key_required",
            "set VARSEL_SECRET_KEY (or VARSEL_TOKEN_SECRET) so connection secrets can be stored sealed",
        )
    })?;
    let sealed = sealer
        .seal(&account, p, &secret)
        .map_err(ApiError::internal)?;
    let now = state.now();
    let saved = state
        .store
        .put_connection(&Connection {
            account_id: account.clone(),
            provider: p.to_string(),
            secret: sealed,
            settings,
            created_at: now,
            updated_at: now,
        })
        .await?;
    if p == "slack" {
        // A new token may be another workspace: match every user again.
        state
            .store
            .enqueue_jobs(&[crate::jobs::deliver::match_job(&account, now)], now)
            .await?;
        state.jobs_wake.notify_one();
    }
    Ok(Json(ConnectionDto::from(&saved)))
}

#[utoipa::path(delete, path = "/v1/accounts/{account}/connections/{provider}", tag = "admin",
    security(("api_key" = []), ("user_token" = [])),
    params(("account" = String, Path), ("provider" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_connection(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiPath((account, p)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let p = provider(&p)?;
    authorize(&state, &caller, &account, false).await?;
    if state.store.delete_connection(&account, p).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("connection"))
    }
}
