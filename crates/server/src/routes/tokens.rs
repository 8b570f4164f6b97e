//! User tokens for hosts that do not sign their own.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Claims, ServerKey};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, host_id};
use crate::state::AppState;

/// Longest token lifetime: 7 days.
const MAX_TTL: i64 = 7 * 24 * 3600;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenIn {
    pub account_id: String,
    pub user_id: String,
    /// Default 3600, at most 604800.
    #[serde(default)]
    pub ttl_seconds: Option<i64>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenOut {
    pub token: String,
    pub expires_at: String,
}

#[utoipa::path(post, path = "/v1/tokens", tag = "auth", security(("api_key" = [])),
    request_body = TokenIn,
    responses((status = 200, body = TokenOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn post_token(
    State(state): State<AppState>,
    _key: ServerKey,
    ApiJson(body): ApiJson<TokenIn>,
) -> ApiResult<Json<TokenOut>> {
    host_id("account_id", &body.account_id)?;
    host_id("user_id", &body.user_id)?;
    let ttl = body.ttl_seconds.unwrap_or(3600);
    if !(1..=MAX_TTL).contains(&ttl) {
        return Err(ApiError::invalid(
            "invalid_ttl",
            format!("ttl_seconds must be 1–{MAX_TTL}"),
        ));
    }
    if state
        .store
        .get_user(&body.account_id, &body.user_id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("user"));
    }
    Ok(Json(issue(&state, &body.account_id, &body.user_id, ttl)?))
}

/// Signs a token for a user (also used by the demo).
pub fn issue(state: &AppState, account: &str, user: &str, ttl_seconds: i64) -> ApiResult<TokenOut> {
    let now_s = state.now() / 1000;
    let exp = now_s + ttl_seconds;
    let token = state.tokens.sign(&Claims {
        sub: user.into(),
        account: account.into(),
        exp,
        iat: Some(now_s),
    })?;
    Ok(TokenOut {
        token,
        expires_at: rfc3339(exp * 1000),
    })
}
