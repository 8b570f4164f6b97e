//! The user's preferences: effective values with their source, patch, turn off
//! all, reset, and the item actions "don't show me these again" and "mute sound".

use axum::Json;
use axum::extract::State;
use varsel_core::Sound;
use varsel_core::Tab;
use varsel_core::model::User;
use varsel_core::prefs::{PrefContext, PrefLayer, profile_for};
use varsel_core::view::{self, Editor, PreferencesPatch, PreferencesView, ViewOf};

use crate::auth::UserAuth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

/// Everything the view of one user's preferences needs.
pub struct UserPrefs {
    pub user: User,
    pub own: PrefLayer,
    pub version: i64,
    pub account_layer: Option<PrefLayer>,
    pub profile: Option<PrefLayer>,
    /// Slack is connected for the account and the user matched by email.
    pub slack_connected: bool,
    /// Teams is connected for the account and the user has an email.
    pub teams_connected: bool,
}

impl UserPrefs {
    pub async fn load(state: &AppState, account: &str, user: &str) -> ApiResult<UserPrefs> {
        let a = state
            .store
            .get_account(account)
            .await?
            .ok_or_else(|| ApiError::not_found("account"))?;
        let u = state
            .store
            .get_user(account, user)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?;
        let (own, version) = state
            .store
            .user_prefs(account, user)
            .await?
            .unwrap_or_default();
        let (account_layer, profile) = if a.tier.allows_defaults() {
            let profiles = state.store.profiles(account).await?;
            let profile = profile_for(&profiles, &u).map(|p| p.layer.clone());
            (Some(state.store.account_defaults(account).await?), profile)
        } else {
            (None, None)
        };
        let conns = state.store.connections(account).await?;
        let has = |p: &str| conns.iter().any(|c| c.provider == p);
        let slack_connected = has("slack")
            && !u.email.is_empty()
            && state
                .store
                .user_links(account, "slack", std::slice::from_ref(&u.id))
                .await?
                .iter()
                .any(|l| l.external_id.is_some() && l.is_for(&u.email));
        let teams_connected = has("teams") && !u.email.is_empty();
        Ok(UserPrefs {
            user: u,
            own,
            version,
            account_layer,
            profile,
            slack_connected,
            teams_connected,
        })
    }

    /// The layers as a preference context.
    pub fn context(&self) -> PrefContext<'_> {
        PrefContext {
            user: Some(&self.user),
            own: Some(&self.own),
            profile: self.profile.as_ref(),
            account: self.account_layer.as_ref(),
        }
    }

    pub fn view(&self, state: &AppState) -> PreferencesView {
        view::build_view(
            &state.catalog,
            &self.context(),
            ViewOf::User {
                slack_connected: self.slack_connected,
                teams_connected: self.teams_connected,
                user: &self.user,
            },
        )
    }
}

/// Loads, edits and stores the user's own layer, retrying on a concurrent change.
pub(crate) async fn edit(
    state: &AppState,
    me: &UserAuth,
    f: impl Fn(&mut PrefLayer, &User) -> Result<(), ApiError>,
) -> ApiResult<Json<PreferencesView>> {
    // Every write of a user's preferences comes through here, so one limit covers all.
    state.limits.pref_write(&me.account, &me.user)?;
    for _ in 0..5 {
        let mut p = UserPrefs::load(state, &me.account, &me.user).await?;
        let mut layer = p.own.clone();
        f(&mut layer, &p.user)?;
        if state
            .store
            .put_user_prefs(&me.account, &me.user, &layer, p.version)
            .await?
        {
            p.own = layer;
            return Ok(Json(p.view(state)));
        }
    }
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "conflict",
        "preferences changed concurrently; retry",
    ))
}

#[utoipa::path(get, path = "/v1/me/preferences", tag = "preferences", security(("user_token" = [])),
    responses((status = 200, body = PreferencesView)))]
pub async fn get_prefs(
    State(state): State<AppState>,
    me: UserAuth,
) -> ApiResult<Json<PreferencesView>> {
    let p = UserPrefs::load(&state, &me.account, &me.user).await?;
    Ok(Json(p.view(&state)))
}

#[utoipa::path(patch, path = "/v1/me/preferences", tag = "preferences", security(("user_token" = [])),
    request_body = PreferencesPatch,
    responses((status = 200, body = PreferencesView), (status = 422, body = ErrorBody)))]
pub async fn patch_prefs(
    State(state): State<AppState>,
    me: UserAuth,
    ApiJson(patch): ApiJson<PreferencesPatch>,
) -> ApiResult<Json<PreferencesView>> {
    edit(&state, &me, |layer, user| {
        view::apply_patch(layer, &state.catalog, &patch, Editor::User(user))
            .map_err(|e| ApiError::invalid("invalid_preference", e.to_string()))
    })
    .await
}

fn parse_tab(tab: &str) -> ApiResult<Tab> {
    Tab::parse(tab).ok_or_else(|| ApiError::not_found("tab (email, desktop, other_apps, mobile)"))
}

#[utoipa::path(post, path = "/v1/me/preferences/{tab}/turn-off-all", tag = "preferences", security(("user_token" = [])),
    params(("tab" = String, Path, description = "email, desktop, other_apps or mobile")),
    responses((status = 200, body = PreferencesView), (status = 404, body = ErrorBody)))]
pub async fn turn_off_all(
    State(state): State<AppState>,
    me: UserAuth,
    ApiPath(tab): ApiPath<String>,
) -> ApiResult<Json<PreferencesView>> {
    let tab = parse_tab(&tab)?;
    edit(&state, &me, |layer, user| {
        view::turn_off_all(layer, &state.catalog, tab, Some(user));
        Ok(())
    })
    .await
}

#[utoipa::path(post, path = "/v1/me/preferences/reset", tag = "preferences", security(("user_token" = [])),
    responses((status = 200, body = PreferencesView)))]
pub async fn reset(
    State(state): State<AppState>,
    me: UserAuth,
) -> ApiResult<Json<PreferencesView>> {
    edit(&state, &me, |layer, _| {
        view::reset(layer);
        Ok(())
    })
    .await
}

fn known_type<'a>(state: &'a AppState, id: &str) -> ApiResult<&'a varsel_core::TypeDef> {
    state
        .catalog
        .get(id)
        .ok_or_else(|| ApiError::not_found("notification type"))
}

#[utoipa::path(post, path = "/v1/me/preferences/types/{type}/dont-show", tag = "preferences", security(("user_token" = [])),
    params(("type" = String, Path)),
    responses((status = 200, body = PreferencesView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
/// "Don't show me these again": turns the type off on the desktop tab.
pub async fn dont_show(
    State(state): State<AppState>,
    me: UserAuth,
    ApiPath(type_id): ApiPath<String>,
) -> ApiResult<Json<PreferencesView>> {
    let t = known_type(&state, &type_id)?;
    if t.mandatory {
        return Err(ApiError::invalid(
            "locked",
            "this type is mandatory and cannot be turned off",
        ));
    }
    if !t.allows(Tab::Desktop) {
        return Err(ApiError::invalid(
            "invalid_preference",
            "this type is not shown on the desktop",
        ));
    }
    edit(&state, &me, |layer, _| {
        layer.set(Tab::Desktop, &type_id, false);
        Ok(())
    })
    .await
}

#[utoipa::path(post, path = "/v1/me/preferences/types/{type}/mute", tag = "preferences", security(("user_token" = [])),
    params(("type" = String, Path)),
    responses((status = 200, body = PreferencesView), (status = 404, body = ErrorBody)))]
/// "Mute sound": sets the type's pop-up sound to `none`.
pub async fn mute(
    State(state): State<AppState>,
    me: UserAuth,
    ApiPath(type_id): ApiPath<String>,
) -> ApiResult<Json<PreferencesView>> {
    known_type(&state, &type_id)?;
    edit(&state, &me, |layer, _| {
        layer.sounds.insert(type_id.clone(), Sound::None);
        Ok(())
    })
    .await
}
