//! The signed-in user's own record: read it, and set their language from the settings
//! page, so that new bell items, pop-ups and emails follow the language they picked.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::UserAuth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::ApiJson;
use crate::routes::directory::{UserOut, check_locale};
use crate::state::AppState;

/// What a user may change about themselves.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MePatch {
    /// `en`, `nb`, … The host's next `PUT` of the user sets it again.
    pub locale: Option<String>,
}

#[utoipa::path(get, path = "/v1/me", tag = "me", security(("user_token" = [])),
    responses((status = 200, body = UserOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
/// The signed-in user.
pub async fn get_me(State(state): State<AppState>, me: UserAuth) -> ApiResult<Json<UserOut>> {
    let u = state
        .store
        .get_user(&me.account, &me.user)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(u.into()))
}

#[utoipa::path(patch, path = "/v1/me", tag = "me", security(("user_token" = [])),
    request_body = MePatch,
    responses((status = 200, body = UserOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
/// Changes the signed-in user's language.
pub async fn patch_me(
    State(state): State<AppState>,
    me: UserAuth,
    ApiJson(patch): ApiJson<MePatch>,
) -> ApiResult<Json<UserOut>> {
    if let Some(locale) = &patch.locale {
        check_locale(locale)?;
        if !state
            .store
            .set_user_locale(&me.account, &me.user, locale, state.now())
            .await?
        {
            return Err(ApiError::not_found("user"));
        }
    }
    get_me(State(state), me).await
}
