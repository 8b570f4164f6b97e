//! The catalog: notification types the host app can emit, grouped in sections.
//!
//! A catalog is a TOML file (see `catalog/crm.toml` and `docs/CATALOG.md`). [`Catalog::parse`]
//! checks the syntax and every rule a type carries, and reports each problem with the
//! file position and the field it concerns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Deserialize;

use crate::model::{Locale, Source, Tab};

mod load;
use crate::sound::Sound;
use load::{Issues, Positions, RawCatalog, build};

/// Localized text: locale code → text. Must contain the catalog's default locale.
pub type Localized = BTreeMap<String, String>;

/// The built-in CRM catalog, shipped with the binary.
pub const BUILTIN_CRM: &str = include_str!("../../../../catalog/crm.toml");

/// How the recipients of an event of a type are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The event's `recipients` list.
    #[default]
    Explicit,
    /// The event's `owner_id` only.
    OwnerOnly,
    /// The primary members of the event's `team_id`.
    TeamPrimary,
}

/// Who may receive a type at all (its audience).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    #[serde(default)]
    pub recipients: Resolution,
    pub role: Option<String>,
    pub permission: Option<String>,
    pub flag: Option<String>,
}

/// Delay and grouping of a type's notifications (assignments).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Batching {
    /// Seconds between the first event and the notification.
    pub delay_seconds: u32,
    /// Whether events of the same type for the same user within the delay become one notification.
    #[serde(default = "yes")]
    pub group: bool,
}

/// Email grouping of replies in one thread (comment email grouping).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmailGrouping {
    pub window_seconds: u32,
    pub max_items: u32,
}

/// Grouped bell items: notifications of the type on one object within the window (from
/// the group's first) update one bell item instead of adding one each.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BellGrouping {
    pub window_seconds: u32,
}

/// A scheduled summary the type feeds instead of immediate email (digests).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    /// Day of the week, `mon` … `sun`.
    pub weekday: String,
    /// Local hour (0–23) in the recipient's timezone.
    pub hour: u32,
}

fn yes() -> bool {
    true
}

/// A section (topic) of the catalog.
#[derive(Debug, Clone)]
pub struct Section {
    pub id: String,
    pub name: Localized,
    /// Type ids, in file order.
    pub types: Vec<String>,
}

/// One notification type with its rules.
#[derive(Debug, Clone)]
pub struct TypeDef {
    pub id: String,
    pub section: String,
    pub name: Localized,
    pub description: Localized,
    pub title: Localized,
    pub body: Localized,
    /// Tabs the type may be delivered on.
    pub channels: BTreeSet<Tab>,
    /// Catalog default per allowed tab.
    pub defaults: BTreeMap<Tab, bool>,
    pub mandatory: bool,
    pub audience: Audience,
    pub suppress_sources: BTreeSet<Source>,
    pub first_mention_only: bool,
    pub batch: Option<Batching>,
    pub email_grouping: Option<EmailGrouping>,
    pub bell_grouping: Option<BellGrouping>,
    pub digest: Option<Digest>,
    /// The type's own default pop-up sound, if it has one.
    pub sound: Option<Sound>,
}

impl TypeDef {
    /// Whether the type may be delivered on `tab`.
    pub fn allows(&self, tab: Tab) -> bool {
        self.channels.contains(&tab)
    }

    /// Whether events of the type are delivered later, grouped.
    pub fn is_batched(&self) -> bool {
        self.batch.is_some()
    }

    /// Localized text with fallback to the catalog's default locale.
    pub fn text<'a>(map: &'a Localized, locale: &Locale, fallback: &str) -> &'a str {
        map.get(locale.as_str())
            .or_else(|| map.get(fallback))
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// A loaded, validated catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub default_locale: String,
    pub locales: Vec<String>,
    pub default_sound: Sound,
    pub sections: Vec<Section>,
    types: HashMap<String, TypeDef>,
}

/// One problem found in a catalog file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogIssue {
    pub line: usize,
    pub column: usize,
    /// The field the problem concerns, e.g. `sections[3].types[1].channels`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for CatalogIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.line, self.column, self.field, self.message
        )
    }
}

/// Every problem found in a catalog file, in file order.
#[derive(Debug, Clone, thiserror::Error)]
pub struct CatalogError {
    pub issues: Vec<CatalogIssue>,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

impl Catalog {
    /// The built-in CRM catalog.
    pub fn builtin() -> Catalog {
        // The shipped file is checked by a unit test; failing here is a build defect.
        #[allow(clippy::expect_used)]
        Catalog::parse(BUILTIN_CRM).expect("the built-in catalog is valid")
    }

    /// Parses and validates a catalog file.
    pub fn parse(src: &str) -> Result<Catalog, CatalogError> {
        let mut issues = Issues {
            pos: Positions { src },
            list: Vec::new(),
        };
        let raw: RawCatalog = match toml::from_str(src) {
            Ok(raw) => raw,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                issues.add(span, "catalog", e.message().to_string());
                return Err(CatalogError {
                    issues: issues.list,
                });
            }
        };
        let catalog = build(raw, &mut issues);
        if issues.list.is_empty() {
            Ok(catalog)
        } else {
            Err(CatalogError {
                issues: issues.list,
            })
        }
    }

    /// The type with this id.
    pub fn get(&self, id: &str) -> Option<&TypeDef> {
        self.types.get(id)
    }

    /// All types, in file order.
    pub fn types(&self) -> impl Iterator<Item = &TypeDef> {
        self.sections
            .iter()
            .flat_map(|s| s.types.iter().filter_map(|t| self.types.get(t)))
    }

    /// The number of types.
    pub fn len(&self) -> usize {
        self.types.len()
    }

    /// Whether the catalog has no types.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

#[cfg(test)]
mod tests;
