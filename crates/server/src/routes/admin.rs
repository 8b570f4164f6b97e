//! Account defaults and notification profiles, for super admins of professional and
//! enterprise accounts, or the host's server key.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use varsel_core::prefs::{PrefContext, PrefLayer};
use varsel_core::view::{self, Editor, PreferencesPatch, PreferencesView, ViewOf};
use varsel_store::{Account, Profile};

use crate::auth::{AnyCaller, Caller};
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, host_id};
use crate::routes::prefs::UserPrefs;
use crate::state::AppState;

/// Checks the caller may read (or, with `write`, change) the account's defaults.
pub(crate) async fn authorize(
    state: &AppState,
    caller: &Caller,
    account: &str,
    write: bool,
) -> ApiResult<Account> {
    host_id("account", account)?;
    if let Caller::User { account: own, user } = caller {
        if own != account {
            return Err(ApiError::forbidden(
                "forbidden",
                "a user token only reaches its own account",
            ));
        }
        let u = state
            .store
            .get_user(account, user)
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
        if !u.is_super_admin() {
            return Err(ApiError::forbidden(
                "super_admin_required",
                "only super admins manage account defaults",
            ));
        }
    }
    let a = state
        .store
        .get_account(account)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    if write && !a.tier.allows_defaults() {
        return Err(ApiError::forbidden(
            "tier_not_allowed",
            "account defaults and profiles need a professional or enterprise account",
        ));
    }
    Ok(a)
}

fn layer_view(state: &AppState, layer: &PrefLayer) -> PreferencesView {
    let ctx = PrefContext {
        user: None,
        own: None,
        profile: None,
        account: Some(layer),
    };
    view::build_view(&state.catalog, &ctx, ViewOf::Defaults)
}

fn layer_from(state: &AppState, patch: &PreferencesPatch, base: PrefLayer) -> ApiResult<PrefLayer> {
    let mut layer = base;
    view::apply_patch(&mut layer, &state.catalog, patch, Editor::Admin)
        .map_err(|e| ApiError::invalid("invalid_preference", e.to_string()))?;
    Ok(layer)
}

#[utoipa::path(get, path = "/v1/accounts/{account}/defaults", tag = "admin",
    security(("api_key" = []), ("user_token" = [])), params(("account" = String, Path)),
    responses((status = 200, body = PreferencesView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_defaults(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiPath(account): ApiPath<String>,
) -> ApiResult<Json<PreferencesView>> {
    authorize(&state, &caller, &account, false).await?;
    let layer = state.store.account_defaults(&account).await?;
    Ok(Json(layer_view(&state, &layer)))
}

#[utoipa::path(put, path = "/v1/accounts/{account}/defaults", tag = "admin",
    security(("api_key" = []), ("user_token" = [])), params(("account" = String, Path)),
    request_body = PreferencesPatch,
    responses((status = 200, body = PreferencesView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
/// Replaces the account defaults with the given settings (anything not given falls back
/// to the catalog).
pub async fn put_defaults(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiPath(account): ApiPath<String>,
    ApiJson(patch): ApiJson<PreferencesPatch>,
) -> ApiResult<Json<PreferencesView>> {
    authorize(&state, &caller, &account, true).await?;
    let layer = save_defaults(&state, &account, |_| {
        layer_from(&state, &patch, PrefLayer::default())
    })
    .await?;
    Ok(Json(layer_view(&state, &layer)))
}

#[utoipa::path(patch, path = "/v1/accounts/{account}/defaults", tag = "admin",
    security(("api_key" = []), ("user_token" = [])), params(("account" = String, Path)),
    request_body = PreferencesPatch,
    responses((status = 200, body = PreferencesView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
/// Changes only the given settings of the account defaults; the rest stay as stored.
pub async fn patch_defaults(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiPath(account): ApiPath<String>,
    ApiJson(patch): ApiJson<PreferencesPatch>,
) -> ApiResult<Json<PreferencesView>> {
    authorize(&state, &caller, &account, true).await?;
    let layer = save_defaults(&state, &account, |before| {
        layer_from(&state, &patch, before)
    })
    .await?;
    Ok(Json(layer_view(&state, &layer)))
}

/// Stores the defaults `edit` makes of the stored ones, over the version it read (a
/// concurrent save makes it read and edit again), and emails the users the change
/// affects. Compared with the defaults the write really replaced, the same change saved
/// twice at once (on one node or two) emails each user once: the second save changes
/// nothing.
async fn save_defaults(
    state: &AppState,
    account: &str,
    edit: impl Fn(PrefLayer) -> ApiResult<PrefLayer>,
) -> ApiResult<PrefLayer> {
    for _ in 0..5 {
        let (before, version) = state.store.account_defaults_versioned(account).await?;
        let layer = edit(before.clone())?;
        let now = state.now();
        if state
            .store
            .put_account_defaults(account, &layer, version, now)
            .await?
        {
            email_affected_users(state, account, &before, &layer, now).await?;
            return Ok(layer);
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        "account defaults changed concurrently; retry",
    ))
}

/// Emails every user whose effective settings the new defaults change.
async fn email_affected_users(
    state: &AppState,
    account: &str,
    before: &PrefLayer,
    after: &PrefLayer,
    now: i64,
) -> ApiResult<()> {
    if before == after {
        return Ok(());
    }
    let profiles = state.store.profiles(account).await?;
    let mut jobs = Vec::new();
    for (user, own) in state.store.account_users(account).await? {
        let profile = varsel_core::prefs::profile_for(&profiles, &user).map(|p| p.layer.clone());
        let mut prefs = UserPrefs {
            user,
            own,
            version: 0,
            account_layer: Some(before.clone()),
            profile,
            slack_connected: false,
            teams_connected: false,
        };
        let old_view = prefs.view(state);
        prefs.account_layer = Some(after.clone());
        let changed = view::changed_settings(&old_view, &prefs.view(state));
        let user = prefs.user;
        if changed > 0 {
            let job = crate::jobs::email::EmailJob::DefaultsChanged {
                account_id: account.to_string(),
                user_id: user.id.clone(),
                changed,
            };
            jobs.push(job.job(
                account,
                format!("defaults:{account}:{}:{now}", user.id),
                now,
            ));
        }
    }
    if !jobs.is_empty() {
        state.store.enqueue_jobs(&jobs, now).await?;
        state.jobs_wake.notify_one();
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileIn {
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub user_ids: Vec<String>,
    #[serde(default)]
    pub tabs: Option<serde_json::Value>,
    /// The profile's quiet hours (absent or `null`: none).
    #[serde(default)]
    pub quiet_hours: Option<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ProfileOut {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub user_ids: Vec<String>,
    pub tabs: varsel_core::view::TabsView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<varsel_core::view::QuietHoursView>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProfilesOut {
    pub profiles: Vec<ProfileOut>,
}

fn profile_out(state: &AppState, p: &Profile) -> ProfileOut {
    let view = layer_view(state, &p.layer);
    ProfileOut {
        id: p.id.clone(),
        name: p.name.clone(),
        roles: p.roles.clone(),
        user_ids: p.user_ids.clone(),
        tabs: view.tabs,
        quiet_hours: view.quiet_hours,
        created_at: rfc3339(p.created_at),
    }
}

fn parse_profile(
    state: &AppState,
    account: &str,
    id: String,
    body: ProfileIn,
    created_at: i64,
) -> ApiResult<Profile> {
    if body.name.trim().is_empty() || body.name.len() > 200 {
        return Err(ApiError::invalid(
            "invalid_name",
            "name must be 1–200 characters",
        ));
    }
    if body.roles.len() > 100 || body.user_ids.len() > 10_000 {
        return Err(ApiError::invalid(
            "invalid_profile",
            "at most 100 roles and 10,000 user ids",
        ));
    }
    for u in &body.user_ids {
        host_id("user_ids[]", u)?;
    }
    let mut doc = serde_json::Map::new();
    if let Some(tabs) = body.tabs {
        doc.insert("tabs".into(), tabs);
    }
    if let Some(q) = body.quiet_hours {
        doc.insert("quiet_hours".into(), q);
    }
    let patch: PreferencesPatch = serde_json::from_value(serde_json::Value::Object(doc))
        .map_err(|e| ApiError::invalid("invalid_body", e.to_string()))?;
    let layer = layer_from(state, &patch, PrefLayer::default())?;
    Ok(Profile {
        account_id: account.to_string(),
        id,
        name: body.name,
        roles: body.roles,
        user_ids: body.user_ids,
        layer,
        created_at,
    })
}

#[utoipa::path(get, path = "/v1/accounts/{account}/profiles", tag = "admin",
    security(("api_key" = []), ("user_token" = [])), params(("account" = String, Path)),
    responses((status = 200, body = ProfilesOut), (status = 403, body = ErrorBody)))]
pub async fn list_profiles(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiPath(account): ApiPath<String>,
) -> ApiResult<Json<ProfilesOut>> {
    authorize(&state, &caller, &account, false).await?;
    let list = state.store.profiles(&account).await?;
    Ok(Json(ProfilesOut {
        profiles: list.iter().map(|p| profile_out(&state, p)).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/accounts/{account}/profiles", tag = "admin",
    security(("api_key" = []), ("user_token" = [])), params(("account" = String, Path)),
    request_body = ProfileIn,
    responses((status = 201, body = ProfileOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_profile(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiPath(account): ApiPath<String>,
    ApiJson(body): ApiJson<ProfileIn>,
) -> ApiResult<(StatusCode, Json<ProfileOut>)> {
    authorize(&state, &caller, &account, true).await?;
    let now = state.now();
    let p = parse_profile(
        &state,
        &account,
        format!("prf_{}", ulid::Ulid::new()),
        body,
        now,
    )?;
    state.store.upsert_profile(&p, now).await?;
    Ok((StatusCode::CREATED, Json(profile_out(&state, &p))))
}

#[utoipa::path(put, path = "/v1/accounts/{account}/profiles/{profile}", tag = "admin",
    security(("api_key" = []), ("user_token" = [])), params(("account" = String, Path), ("profile" = String, Path)),
    request_body = ProfileIn,
    responses((status = 200, body = ProfileOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_profile(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiPath((account, id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<ProfileIn>,
) -> ApiResult<Json<ProfileOut>> {
    authorize(&state, &caller, &account, true).await?;
    let existing = state
        .store
        .profiles(&account)
        .await?
        .into_iter()
        .find(|p| p.id == id);
    let existing = existing.ok_or_else(|| ApiError::not_found("profile"))?;
    let p = parse_profile(&state, &account, id, body, existing.created_at)?;
    state.store.upsert_profile(&p, state.now()).await?;
    Ok(Json(profile_out(&state, &p)))
}

#[utoipa::path(delete, path = "/v1/accounts/{account}/profiles/{profile}", tag = "admin",
    security(("api_key" = []), ("user_token" = [])), params(("account" = String, Path), ("profile" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_profile(
    State(state): State<AppState>,
    AnyCaller(caller): AnyCaller,
    ApiPath((account, id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    authorize(&state, &caller, &account, true).await?;
    if !state.store.delete_profile(&account, &id).await? {
        return Err(ApiError::not_found("profile"));
    }
    Ok(StatusCode::NO_CONTENT)
}
