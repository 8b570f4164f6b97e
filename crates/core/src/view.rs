//! The preferences document of the API: the effective view with sources, and
//! the partial patch that edits one layer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::Catalog;
use crate::model::{Tab, User};
use crate::prefs::{Hidden, PrefContext, PrefLayer, PrefSource};
use crate::quiet::QuietHours;
use crate::sound::Sound;

/// One checkbox: its effective value, where it came from, whether it is locked.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TypeSetting {
    pub on: bool,
    /// Absent in account defaults and profiles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PrefSource>,
    pub locked: bool,
    /// Desktop only: the pop-up sound of the type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound: Option<Sound>,
}

pub type TypeSettings = BTreeMap<String, TypeSetting>;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Toggle {
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BellView {
    pub enabled: bool,
    pub favicon_dot: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PopupView {
    pub enabled: bool,
    pub sound: Sound,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AppView {
    pub enabled: bool,
    pub connected: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EmailTabView {
    pub enabled: bool,
    pub types: TypeSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DesktopTabView {
    pub bell: BellView,
    pub popup: PopupView,
    pub browser: Toggle,
    pub types: TypeSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OtherAppsTabView {
    pub slack: AppView,
    pub teams: AppView,
    pub types: TypeSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MobileTabView {
    /// Absent in account defaults and profiles: only the user switches mobile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    pub types: TypeSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TabsView {
    pub email: EmailTabView,
    pub desktop: DesktopTabView,
    pub other_apps: OtherAppsTabView,
    pub mobile: MobileTabView,
}

/// `GET /v1/me/preferences` and `GET /v1/accounts/{account}/defaults`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PreferencesView {
    pub tabs: TabsView,
    /// The quiet hours that apply: the user's, else the profile's, else the account's;
    /// absent when no layer sets any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHoursView>,
    /// The user's own timezone (a window without a timezone of its own uses it); absent in
    /// account defaults and profiles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_timezone: Option<String>,
}

/// Quiet hours as they apply, with the layer they come from.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QuietHoursView {
    #[serde(flatten)]
    pub hours: QuietHours,
    /// Absent in account defaults and profiles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<PrefSource>,
}

/// Whether the view is a user's (with sources) or an admin layer's (without).
#[derive(Debug, Clone, Copy)]
pub enum ViewOf<'a> {
    User {
        slack_connected: bool,
        teams_connected: bool,
        user: &'a User,
    },
    Defaults,
}

/// Builds the effective view for a user, or for account defaults / a profile.
pub fn build_view(catalog: &Catalog, ctx: &PrefContext<'_>, of: ViewOf<'_>) -> PreferencesView {
    let is_user = matches!(of, ViewOf::User { .. });
    let default_sound = ctx.default_sound(catalog);
    let types_for = |tab: Tab| -> TypeSettings {
        catalog
            .types()
            .filter_map(|t| {
                let e = ctx.effective(t, tab).ok()?;
                let sound = (tab == Tab::Desktop).then(|| ctx.sound(t, default_sound));
                Some((
                    t.id.clone(),
                    TypeSetting {
                        on: e.on,
                        source: is_user.then_some(e.source),
                        locked: e.locked,
                        sound,
                    },
                ))
            })
            .collect()
    };
    let s = ctx.switches();
    let (slack_connected, teams_connected) = match of {
        ViewOf::User {
            slack_connected,
            teams_connected,
            ..
        } => (slack_connected, teams_connected),
        ViewOf::Defaults => (false, false),
    };
    let quiet_hours = ctx.quiet_hours().map(|(hours, source)| QuietHoursView {
        hours: hours.clone(),
        source: is_user.then_some(source),
    });
    let user_timezone = match of {
        ViewOf::User { user, .. } => Some(user.timezone.clone()),
        ViewOf::Defaults => None,
    };
    PreferencesView {
        quiet_hours,
        user_timezone,
        tabs: TabsView {
            email: EmailTabView {
                enabled: s.email,
                types: types_for(Tab::Email),
            },
            desktop: DesktopTabView {
                bell: BellView {
                    enabled: s.bell,
                    favicon_dot: s.favicon_dot,
                },
                popup: PopupView {
                    enabled: s.popup,
                    sound: default_sound,
                },
                browser: Toggle { enabled: s.browser },
                types: types_for(Tab::Desktop),
            },
            other_apps: OtherAppsTabView {
                slack: AppView {
                    enabled: s.slack,
                    connected: slack_connected,
                },
                teams: AppView {
                    enabled: s.teams,
                    connected: teams_connected,
                },
                types: types_for(Tab::OtherApps),
            },
            mobile: MobileTabView {
                enabled: is_user.then_some(s.mobile),
                types: types_for(Tab::Mobile),
            },
        },
    }
}

// ----- patches -----

/// One checkbox in a patch. `source` and `locked` are read-only and ignored, so a
/// fetched document can be sent back as it is.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypePatch {
    pub on: Option<bool>,
    pub sound: Option<Sound>,
    #[serde(default)]
    #[schema(read_only)]
    pub source: Option<serde_json::Value>,
    #[serde(default)]
    #[schema(read_only)]
    pub locked: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TogglePatch {
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BellPatch {
    pub enabled: Option<bool>,
    pub favicon_dot: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PopupPatch {
    pub enabled: Option<bool>,
    pub sound: Option<Sound>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    pub enabled: Option<bool>,
    /// Read-only; ignored.
    #[serde(default)]
    #[schema(read_only)]
    pub connected: Option<serde_json::Value>,
}

pub type TypePatches = BTreeMap<String, TypePatch>;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTabPatch {
    pub enabled: Option<bool>,
    pub types: Option<TypePatches>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DesktopTabPatch {
    pub bell: Option<BellPatch>,
    pub popup: Option<PopupPatch>,
    pub browser: Option<TogglePatch>,
    pub types: Option<TypePatches>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtherAppsTabPatch {
    pub slack: Option<AppPatch>,
    pub teams: Option<AppPatch>,
    pub types: Option<TypePatches>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MobileTabPatch {
    pub enabled: Option<bool>,
    pub types: Option<TypePatches>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TabsPatch {
    pub email: Option<EmailTabPatch>,
    pub desktop: Option<DesktopTabPatch>,
    pub other_apps: Option<OtherAppsTabPatch>,
    pub mobile: Option<MobileTabPatch>,
}

/// `PATCH /v1/me/preferences`, `PUT …/defaults` and a profile's `tabs`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesPatch {
    #[serde(default)]
    pub tabs: TabsPatch,
    /// Sets this layer's quiet hours as a whole; `null` removes them (the next layer's
    /// apply); absent leaves them as they are.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<QuietHoursPatch>, nullable)]
    pub quiet_hours: Option<Option<QuietHoursPatch>>,
}

/// Quiet hours in a patch: what [`QuietHours`] carries, plus the read-only `source` of a
/// fetched document, ignored, so the document can be sent back as it is.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursPatch {
    pub enabled: bool,
    #[schema(value_type = String, example = "22:00")]
    pub start: crate::quiet::ClockTime,
    #[schema(value_type = String, example = "07:00")]
    pub end: crate::quiet::ClockTime,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub days: Vec<crate::quiet::Day>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    #[schema(read_only)]
    pub source: Option<serde_json::Value>,
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or set.
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A patch that cannot be applied, with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PatchError {
    pub field: String,
    pub message: String,
}

fn err(field: String, message: impl Into<String>) -> PatchError {
    PatchError {
        field,
        message: message.into(),
    }
}

/// Who edits the layer: the user (audience applies, mobile switch allowed) or an admin.
#[derive(Debug, Clone, Copy)]
pub enum Editor<'a> {
    User(&'a User),
    Admin,
}

fn apply_types(
    layer: &mut PrefLayer,
    catalog: &Catalog,
    tab: Tab,
    patches: &TypePatches,
    editor: Editor<'_>,
) -> Result<(), PatchError> {
    for (id, p) in patches {
        let field = format!("tabs.{tab}.types.{id}");
        let t = catalog
            .get(id)
            .ok_or_else(|| err(field.clone(), "unknown notification type"))?;
        let probe = PrefContext {
            user: match editor {
                Editor::User(u) => Some(u),
                Editor::Admin => None,
            },
            own: None,
            profile: None,
            account: None,
        };
        match probe.effective(t, tab) {
            Err(Hidden::ChannelNotAllowed) => {
                return Err(err(field, format!("this type is not delivered on {tab}")));
            }
            Err(Hidden::Audience(_)) => {
                return Err(err(field, "this type is not available to this user"));
            }
            Ok(_) => {}
        }
        if let Some(on) = p.on {
            if t.mandatory {
                if !on {
                    return Err(err(
                        field,
                        "this type is mandatory and cannot be turned off",
                    ));
                }
            } else {
                layer.set(tab, id, on);
            }
        }
        if let Some(sound) = p.sound {
            if tab != Tab::Desktop {
                return Err(err(
                    format!("{field}.sound"),
                    "sounds are set on the desktop tab",
                ));
            }
            layer.sounds.insert(id.clone(), sound);
        }
    }
    Ok(())
}

/// Applies a patch to one layer, checking every field first-to-last. On error the layer
/// may be partly changed: callers apply to a copy and keep it only on success.
pub fn apply_patch(
    layer: &mut PrefLayer,
    catalog: &Catalog,
    patch: &PreferencesPatch,
    editor: Editor<'_>,
) -> Result<(), PatchError> {
    let tabs = &patch.tabs;
    let sw = &mut layer.switches;
    if let Some(e) = &tabs.email
        && let Some(v) = e.enabled
    {
        sw.email = Some(v);
    }
    if let Some(d) = &tabs.desktop {
        if let Some(b) = &d.bell {
            sw.bell = b.enabled.or(sw.bell);
            sw.favicon_dot = b.favicon_dot.or(sw.favicon_dot);
        }
        if let Some(p) = &d.popup {
            sw.popup = p.enabled.or(sw.popup);
            sw.popup_sound = p.sound.or(sw.popup_sound);
        }
        if let Some(b) = &d.browser {
            sw.browser = b.enabled.or(sw.browser);
        }
    }
    if let Some(o) = &tabs.other_apps {
        if let Some(s) = &o.slack {
            sw.slack = s.enabled.or(sw.slack);
        }
        if let Some(t) = &o.teams {
            sw.teams = t.enabled.or(sw.teams);
        }
    }
    if let Some(m) = &tabs.mobile
        && let Some(v) = m.enabled
    {
        if matches!(editor, Editor::Admin) {
            return Err(err(
                "tabs.mobile.enabled".into(),
                "only the user can switch mobile notifications on or off",
            ));
        }
        sw.mobile = Some(v);
    }
    let lists = [
        (
            Tab::Email,
            tabs.email.as_ref().and_then(|t| t.types.as_ref()),
        ),
        (
            Tab::Desktop,
            tabs.desktop.as_ref().and_then(|t| t.types.as_ref()),
        ),
        (
            Tab::OtherApps,
            tabs.other_apps.as_ref().and_then(|t| t.types.as_ref()),
        ),
        (
            Tab::Mobile,
            tabs.mobile.as_ref().and_then(|t| t.types.as_ref()),
        ),
    ];
    for (tab, list) in lists {
        if let Some(list) = list {
            apply_types(layer, catalog, tab, list, editor)?;
        }
    }
    if let Some(q) = &patch.quiet_hours {
        layer.quiet_hours = match q {
            None => None,
            Some(q) => {
                let hours = QuietHours {
                    enabled: q.enabled,
                    start: q.start,
                    end: q.end,
                    days: q.days.clone(),
                    timezone: q.timezone.clone().filter(|t| !t.is_empty()),
                };
                if let Some(why) = hours.invalid() {
                    return Err(err("quiet_hours".into(), why));
                }
                Some(hours)
            }
        };
    }
    Ok(())
}

/// "Turn off all topics" on a tab: every non-mandatory type the user sees there is set
/// off explicitly.
pub fn turn_off_all(layer: &mut PrefLayer, catalog: &Catalog, tab: Tab, user: Option<&User>) {
    let probe = PrefContext {
        user,
        own: None,
        profile: None,
        account: None,
    };
    for t in catalog.types() {
        if let Ok(e) = probe.effective(t, tab)
            && !e.locked
        {
            layer.set(tab, &t.id, false);
        }
    }
}

/// "Reset to defaults": removes the user's explicit choices. The mobile switch stays,
/// because only the user can set it and no default exists to fall back to.
pub fn reset(layer: &mut PrefLayer) {
    let mobile = layer.switches.mobile;
    *layer = PrefLayer::default();
    layer.switches.mobile = mobile;
}

/// How many settings differ between two views (checkboxes, switches, sounds), ignoring
/// where a value comes from: what a user notices when defaults change.
pub fn changed_settings(a: &PreferencesView, b: &PreferencesView) -> usize {
    fn walk(a: &serde_json::Value, b: &serde_json::Value) -> usize {
        use serde_json::Value::Object;
        match (a, b) {
            (Object(x), Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                keys.into_iter()
                    .filter(|k| k.as_str() != "source")
                    .map(|k| {
                        walk(
                            x.get(k).unwrap_or(&serde_json::Value::Null),
                            y.get(k).unwrap_or(&serde_json::Value::Null),
                        )
                    })
                    .sum()
            }
            (x, y) => usize::from(x != y),
        }
    }
    let a = serde_json::to_value(a).unwrap_or_default();
    let b = serde_json::to_value(b).unwrap_or_default();
    walk(&a, &b)
}
