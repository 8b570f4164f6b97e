//! The account's people, for the admin page's profile pickers: who exists and which
//! roles they have (super admins of the account, or the host's key).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AnyCaller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::ApiPath;
use crate::routes::admin::authorize;
use crate::state::AppState;

/// At most this many users are listed (a picker, not an export).
const MAX_USERS: usize = 5000;

#[derive(Serialize, ToSchema)]
pub struct PersonOut {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PeopleOut {
    /// By id; at most 5,000.
    pub users: Vec<PersonOut>,
    /// Every role any of them has, sorted.
    pub roles: Vec<String>,
    /// More users exist than are listed.
    pub truncated: bool,
}

#[utoipa::path(get, path = "/v1/accounts/{account}/users", tag = "admin",
    security(("api_key" = []), ("user_token" = [])), params(("account" = String, Path)),
    responses((status = 200, body = PeopleOut), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
/// The account's users (id, name, roles) and roles, for choosing whom a profile covers.
pub async fn list_users(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiPath(account): ApiPath<String>,
) -> ApiResult<Json<PeopleOut>> {
    authorize(&state, &caller, &account, false).await?;
    let mut users: Vec<PersonOut> = state
        .store
        .account_users(&account)
        .await?
        .into_iter()
        .map(|(u, _)| PersonOut {
            id: u.id,
            name: u.name,
            roles: u.roles,
        })
        .collect();
    users.sort_by(|a, b| a.id.cmp(&b.id));
    let mut roles: Vec<String> = users.iter().flat_map(|u| u.roles.clone()).collect();
    roles.sort();
    roles.dedup();
    let truncated = users.len() > MAX_USERS;
    users.truncate(MAX_USERS);
    Ok(Json(PeopleOut {
        users,
        roles,
        truncated,
    }))
}
