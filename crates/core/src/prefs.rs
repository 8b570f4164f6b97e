//! Preferences: the layers a setting can come from and the effective value of every
//! checkbox ("first match wins").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::{Catalog, TypeDef};
use crate::model::{Tab, User};
use crate::quiet::QuietHours;
use crate::sound::Sound;

/// Master switches of the four tabs. `None` means "not set at this layer".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switches {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bell: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub favicon_dot: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub popup: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub popup_sound: Option<Sound>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams: Option<bool>,
    /// Only the user's own layer may carry this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<bool>,
}

/// One layer of settings: a user's explicit choices, a profile, or account defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefLayer {
    #[serde(default)]
    pub switches: Switches,
    /// tab → type id → on/off.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub types: BTreeMap<Tab, BTreeMap<String, bool>>,
    /// type id → pop-up sound.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sounds: BTreeMap<String, Sound>,
    /// Quiet hours, as a whole: the first layer that sets them decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

impl PrefLayer {
    pub fn get(&self, tab: Tab, type_id: &str) -> Option<bool> {
        self.types.get(&tab).and_then(|m| m.get(type_id)).copied()
    }

    pub fn set(&mut self, tab: Tab, type_id: &str, on: bool) {
        self.types
            .entry(tab)
            .or_default()
            .insert(type_id.to_string(), on);
    }
}

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrefSource {
    Mandatory,
    User,
    Profile,
    Account,
    Catalog,
}

impl PrefSource {
    pub fn as_str(self) -> &'static str {
        match self {
            PrefSource::Mandatory => "mandatory",
            PrefSource::User => "user",
            PrefSource::Profile => "profile",
            PrefSource::Account => "account",
            PrefSource::Catalog => "catalog",
        }
    }
}

/// Why a type is not offered to a user on a tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hidden {
    /// Step 1: the tab is not among the type's channels.
    ChannelNotAllowed,
    /// Step 3: the user lacks the role, permission or flag the type needs.
    Audience(String),
}

impl Hidden {
    pub fn code(&self) -> String {
        match self {
            Hidden::ChannelNotAllowed => "channel_not_allowed".into(),
            Hidden::Audience(what) => format!("audience:{what}"),
        }
    }
}

/// The effective value of one checkbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Effective {
    pub on: bool,
    pub source: PrefSource,
    pub locked: bool,
}

/// Everything the precedence rules look at for one user.
#[derive(Debug, Clone, Copy)]
pub struct PrefContext<'a> {
    pub user: Option<&'a User>,
    pub own: Option<&'a PrefLayer>,
    pub profile: Option<&'a PrefLayer>,
    /// Account defaults; pass `None` when the account's tier does not allow them.
    pub account: Option<&'a PrefLayer>,
}

/// The user's missing audience requirement, if any.
pub fn audience_miss(t: &TypeDef, user: &User) -> Option<String> {
    let a = &t.audience;
    if let Some(role) = &a.role
        && !user.has_role(role)
    {
        return Some(format!("role:{role}"));
    }
    if let Some(p) = &a.permission
        && !user.has_permission(p)
    {
        return Some(format!("permission:{p}"));
    }
    if let Some(f) = &a.flag
        && !user.has_flag(f)
    {
        return Some(format!("flag:{f}"));
    }
    None
}

impl<'a> PrefContext<'a> {
    /// The layers in precedence order, with their source.
    fn layers(&self) -> [(Option<&'a PrefLayer>, PrefSource); 3] {
        [
            (self.own, PrefSource::User),
            (self.profile, PrefSource::Profile),
            (self.account, PrefSource::Account),
        ]
    }

    /// The seven precedence steps for one (type, tab).
    pub fn effective(&self, t: &TypeDef, tab: Tab) -> Result<Effective, Hidden> {
        if !t.allows(tab) {
            return Err(Hidden::ChannelNotAllowed);
        }
        if t.mandatory {
            return Ok(Effective {
                on: true,
                source: PrefSource::Mandatory,
                locked: true,
            });
        }
        if let Some(user) = self.user
            && let Some(miss) = audience_miss(t, user)
        {
            return Err(Hidden::Audience(miss));
        }
        for (layer, source) in self.layers() {
            if let Some(on) = layer.and_then(|l| l.get(tab, &t.id)) {
                return Ok(Effective {
                    on,
                    source,
                    locked: false,
                });
            }
        }
        let on = t.defaults.get(&tab).copied().unwrap_or(false);
        Ok(Effective {
            on,
            source: PrefSource::Catalog,
            locked: false,
        })
    }

    fn switch(&self, pick: impl Fn(&Switches) -> Option<bool>, builtin: bool) -> bool {
        self.layers()
            .iter()
            .find_map(|(l, _)| l.and_then(|l| pick(&l.switches)))
            .unwrap_or(builtin)
    }

    /// The effective master switches of every tab.
    pub fn switches(&self) -> EffectiveSwitches {
        EffectiveSwitches {
            email: self.switch(|s| s.email, true),
            bell: self.switch(|s| s.bell, true),
            favicon_dot: self.switch(|s| s.favicon_dot, true),
            popup: self.switch(|s| s.popup, true),
            browser: self.switch(|s| s.browser, true),
            slack: self.switch(|s| s.slack, true),
            teams: self.switch(|s| s.teams, true),
            // Only the user switches mobile on or off.
            mobile: self.own.and_then(|l| l.switches.mobile).unwrap_or(false),
        }
    }

    /// The pop-up sound of a type: a per-type choice (user, profile, account), else the
    /// type's own catalog sound, else the effective default sound.
    pub fn sound(&self, t: &TypeDef, default_sound: Sound) -> Sound {
        self.layers()
            .iter()
            .find_map(|(l, _)| l.and_then(|l| l.sounds.get(&t.id).copied()))
            .or(t.sound)
            .unwrap_or(default_sound)
    }

    /// The quiet hours that apply (the user's, else the profile's, else the account's)
    /// and where they come from; `None` when no layer sets them.
    pub fn quiet_hours(&self) -> Option<(&'a QuietHours, PrefSource)> {
        self.layers()
            .into_iter()
            .find_map(|(l, source)| l.and_then(|l| l.quiet_hours.as_ref()).map(|q| (q, source)))
    }

    /// The effective default pop-up sound (falls back to the catalog's).
    pub fn default_sound(&self, catalog: &Catalog) -> Sound {
        self.layers()
            .iter()
            .find_map(|(l, _)| l.and_then(|l| l.switches.popup_sound))
            .unwrap_or(catalog.default_sound)
    }
}

/// Master switches after precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveSwitches {
    pub email: bool,
    pub bell: bool,
    pub favicon_dot: bool,
    pub popup: bool,
    pub browser: bool,
    pub slack: bool,
    pub teams: bool,
    pub mobile: bool,
}

/// Picks the profile covering a user: an explicit assignment wins over a role match;
/// among equals, the first in the given order (oldest first).
pub fn profile_for<'p, P: ProfileLike>(profiles: &'p [P], user: &User) -> Option<&'p P> {
    profiles
        .iter()
        .find(|p| p.user_ids().iter().any(|u| u == &user.id))
        .or_else(|| {
            profiles
                .iter()
                .find(|p| p.roles().iter().any(|r| user.has_role(r)))
        })
}

/// What [`profile_for`] needs of a stored profile.
pub trait ProfileLike {
    fn user_ids(&self) -> &[String];
    fn roles(&self) -> &[String];
}
