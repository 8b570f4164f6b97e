//! Accounts, users and teams, upserted by the host with its own ids.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use varsel_core::model::{Tier, User};
use varsel_store::{Team, TeamMember};

use crate::auth::ServerKey;
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, host_id};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountIn {
    pub name: String,
    /// `free`, `starter`, `professional` or `enterprise`.
    pub tier: String,
}

#[derive(Serialize, ToSchema)]
pub struct AccountOut {
    pub id: String,
    pub name: String,
    pub tier: Tier,
    pub created_at: String,
    pub updated_at: String,
}

#[utoipa::path(put, path = "/v1/accounts/{account}", tag = "directory", security(("api_key" = [])),
    params(("account" = String, Path, description = "The host's account id")),
    request_body = AccountIn,
    responses((status = 200, body = AccountOut), (status = 422, body = ErrorBody)))]
pub async fn put_account(
    State(state): State<AppState>,
    _key: ServerKey,
    ApiPath(account): ApiPath<String>,
    ApiJson(body): ApiJson<AccountIn>,
) -> ApiResult<Json<AccountOut>> {
    host_id("account", &account)?;
    let tier = Tier::parse(&body.tier).ok_or_else(|| {
        ApiError::invalid(
            "invalid_tier",
            "tier must be free, starter, professional or enterprise",
        )
    })?;
    if body.name.len() > 200 {
        return Err(ApiError::invalid(
            "invalid_name",
            "name must be at most 200 characters",
        ));
    }
    let a = state
        .store
        .upsert_account(&account, &body.name, tier, state.now())
        .await?;
    state.remember_account(&a.id);
    Ok(Json(AccountOut {
        id: a.id,
        name: a.name,
        tier: a.tier,
        created_at: rfc3339(a.created_at),
        updated_at: rfc3339(a.updated_at),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    pub email: String,
    #[serde(default)]
    pub name: String,
    /// `en`, `nb`, … (default `en`).
    #[serde(default)]
    pub locale: Option<String>,
    /// IANA timezone (default `UTC`).
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub flags: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct UserOut {
    pub account_id: String,
    pub id: String,
    pub email: String,
    pub name: String,
    pub locale: String,
    pub timezone: String,
    pub roles: Vec<String>,
    pub permissions: Vec<String>,
    #[schema(value_type = Object)]
    pub flags: BTreeMap<String, serde_json::Value>,
}

impl From<User> for UserOut {
    fn from(u: User) -> UserOut {
        UserOut {
            account_id: u.account_id,
            id: u.id,
            email: u.email,
            name: u.name,
            locale: u.locale,
            timezone: u.timezone,
            roles: u.roles,
            permissions: u.permissions,
            flags: u.flags,
        }
    }
}

fn short_list(field: &str, list: &[String]) -> ApiResult<()> {
    if list.len() > 100 || list.iter().any(|x| x.is_empty() || x.len() > 100) {
        return Err(ApiError::invalid(
            "invalid_user",
            format!("{field}: at most 100 entries of 1–100 characters"),
        ));
    }
    Ok(())
}

/// A locale is a language tag: `en`, `nb`, `pt-BR`.
pub fn check_locale(locale: &str) -> ApiResult<()> {
    if locale.is_empty()
        || locale.len() > 16
        || !locale
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::invalid(
            "invalid_locale",
            "locale must be a language tag such as en or nb",
        ));
    }
    Ok(())
}

fn parse_user(account: &str, id: &str, body: UserIn) -> ApiResult<User> {
    let email = body.email.trim().to_string();
    let at = email.find('@');
    if email.len() > 254
        || at.is_none_or(|i| i == 0 || i == email.len() - 1)
        || email.contains(char::is_whitespace)
    {
        return Err(ApiError::invalid(
            "invalid_email",
            "email must be an address like name@example.com",
        ));
    }
    let locale = body.locale.unwrap_or_else(|| "en".into());
    check_locale(&locale)?;
    let timezone = body.timezone.unwrap_or_else(|| "UTC".into());
    if timezone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::invalid(
            "invalid_timezone",
            format!("unknown timezone `{timezone}` (use an IANA name such as Europe/Oslo)"),
        ));
    }
    if body.name.len() > 200 {
        return Err(ApiError::invalid(
            "invalid_name",
            "name must be at most 200 characters",
        ));
    }
    short_list("roles", &body.roles)?;
    short_list("permissions", &body.permissions)?;
    if body.flags.len() > 100 {
        return Err(ApiError::invalid(
            "invalid_user",
            "flags: at most 100 entries",
        ));
    }
    Ok(User {
        account_id: account.to_string(),
        id: id.to_string(),
        email,
        name: body.name,
        locale,
        timezone,
        roles: body.roles,
        permissions: body.permissions,
        flags: body.flags,
    })
}

#[utoipa::path(put, path = "/v1/accounts/{account}/users/{user}", tag = "directory", security(("api_key" = [])),
    params(("account" = String, Path), ("user" = String, Path)),
    request_body = UserIn,
    responses((status = 200, body = UserOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_user(
    State(state): State<AppState>,
    _key: ServerKey,
    ApiPath((account, user)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<UserIn>,
) -> ApiResult<Json<UserOut>> {
    host_id("account", &account)?;
    host_id("user", &user)?;
    if !state.account_exists(&account).await? {
        return Err(ApiError::not_found("account"));
    }
    let u = parse_user(&account, &user, body)?;
    state.store.upsert_user(&u, state.now()).await?;
    Ok(Json(u.into()))
}

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberIn {
    pub user_id: String,
    #[serde(default)]
    pub primary: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamIn {
    pub name: String,
    #[serde(default)]
    pub members: Vec<MemberIn>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamOut {
    pub account_id: String,
    pub id: String,
    pub name: String,
    pub members: Vec<MemberIn>,
}

/// Most members a team may have.
const MAX_MEMBERS: usize = 100_000;

#[utoipa::path(put, path = "/v1/accounts/{account}/teams/{team}", tag = "directory", security(("api_key" = [])),
    params(("account" = String, Path), ("team" = String, Path)),
    request_body = TeamIn,
    responses((status = 200, body = TeamOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_team(
    State(state): State<AppState>,
    _key: ServerKey,
    ApiPath((account, team)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<TeamIn>,
) -> ApiResult<Json<TeamOut>> {
    host_id("account", &account)?;
    host_id("team", &team)?;
    if !state.account_exists(&account).await? {
        return Err(ApiError::not_found("account"));
    }
    if body.members.len() > MAX_MEMBERS {
        return Err(ApiError::invalid(
            "too_many_members",
            format!("a team has at most {MAX_MEMBERS} members"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for m in &body.members {
        host_id("members[].user_id", &m.user_id)?;
        if !seen.insert(m.user_id.as_str()) {
            return Err(ApiError::invalid(
                "duplicate_member",
                format!("user `{}` is listed twice", m.user_id),
            ));
        }
    }
    let t = Team {
        account_id: account.clone(),
        id: team.clone(),
        name: body.name,
        members: body
            .members
            .iter()
            .map(|m| TeamMember {
                user_id: m.user_id.clone(),
                primary: m.primary,
            })
            .collect(),
    };
    state.store.upsert_team(&t, state.now()).await?;
    Ok(Json(TeamOut {
        account_id: account,
        id: team,
        name: t.name,
        members: body.members,
    }))
}
