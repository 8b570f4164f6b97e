//! The catalog: notification types the host app can emit, grouped in sections.
//!
//! A catalog is a TOML file (see `catalog/crm.toml` and `docs/CATALOG.md`). [`Catalog::parse`]
//! checks the syntax and every rule a type carries, and reports each problem with the
//! file position and the field it concerns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::model::{Locale, Source, Tab};
use crate::sound::Sound;

/// Localized text: locale code → text. Must contain the catalog's default locale.
pub type Localized = BTreeMap<String, String>;

/// The built-in CRM catalog, shipped with the binary.
pub const BUILTIN_CRM: &str = include_str!("../../../catalog/crm.toml");

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

/// Who may receive a type at all (SPEC §4 "audience").
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    #[serde(default)]
    pub recipients: Resolution,
    pub role: Option<String>,
    pub permission: Option<String>,
    pub flag: Option<String>,
}

/// Delay and grouping of a type's notifications (assignments, SPEC §4).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Batching {
    /// Seconds between the first event and the notification.
    pub delay_seconds: u32,
    /// Whether events of the same type for the same user within the delay become one notification.
    #[serde(default = "yes")]
    pub group: bool,
}

/// Email grouping of replies in one thread (SPEC §4 "comment email grouping").
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmailGrouping {
    pub window_seconds: u32,
    pub max_items: u32,
}

/// A scheduled summary the type feeds instead of immediate email (SPEC §4 "digests").
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

/// Raw, as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    version: u32,
    default_locale: String,
    locales: Vec<String>,
    #[serde(default)]
    default_sound: Option<Spanned<String>>,
    sections: Vec<RawSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    id: Spanned<String>,
    name: Spanned<Localized>,
    #[serde(default)]
    types: Vec<RawType>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawType {
    id: Spanned<String>,
    name: Spanned<Localized>,
    description: Spanned<Localized>,
    title: Spanned<Localized>,
    body: Spanned<Localized>,
    #[serde(default)]
    channels: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    defaults: Option<Spanned<BTreeMap<String, bool>>>,
    #[serde(default)]
    mandatory: bool,
    #[serde(default)]
    audience: Audience,
    #[serde(default)]
    suppress_sources: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    first_mention_only: bool,
    #[serde(default)]
    batch: Option<Batching>,
    #[serde(default)]
    email_grouping: Option<EmailGrouping>,
    #[serde(default)]
    digest: Option<Spanned<Digest>>,
    #[serde(default)]
    sound: Option<Spanned<String>>,
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

/// Turns byte offsets into 1-based line and column numbers.
struct Positions<'a> {
    src: &'a str,
}

impl Positions<'_> {
    fn at(&self, offset: usize) -> (usize, usize) {
        let before = &self.src[..offset.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |nl| before.len() - nl - 1)
            + 1;
        (line, column)
    }
}

struct Issues<'a> {
    pos: Positions<'a>,
    list: Vec<CatalogIssue>,
}

impl Issues<'_> {
    fn add(&mut self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        let (line, column) = self.pos.at(span.start);
        self.list.push(CatalogIssue {
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
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

fn check_localized(
    issues: &mut Issues<'_>,
    map: &Spanned<Localized>,
    field: &str,
    locales: &[String],
    default_locale: &str,
) {
    if !map.get_ref().contains_key(default_locale) {
        issues.add(
            map.span(),
            field,
            format!("missing text for the default locale `{default_locale}`"),
        );
    }
    for key in map.get_ref().keys() {
        if !locales.iter().any(|l| l == key) {
            issues.add(
                map.span(),
                field,
                format!("locale `{key}` is not in `locales`"),
            );
        }
    }
}

fn check_template(issues: &mut Issues<'_>, map: &Spanned<Localized>, field: &str) {
    let env = minijinja::Environment::new();
    for (locale, text) in map.get_ref() {
        if let Err(e) = env.template_from_str(text) {
            issues.add(
                map.span(),
                format!("{field}.{locale}"),
                format!("template error: {e}"),
            );
        }
    }
}

fn build(raw: RawCatalog, issues: &mut Issues<'_>) -> Catalog {
    if raw.version != 1 {
        issues.add(
            0..0,
            "version",
            format!("unsupported catalog version {} (expected 1)", raw.version),
        );
    }
    let locales = raw.locales;
    let default_locale = raw.default_locale;
    if !locales.contains(&default_locale) {
        issues.add(
            0..0,
            "default_locale",
            format!("`{default_locale}` is not in `locales`"),
        );
    }
    let default_sound = match &raw.default_sound {
        None => Sound::default(),
        Some(s) => Sound::parse(s.get_ref()).unwrap_or_else(|| {
            issues.add(
                s.span(),
                "default_sound",
                format!("unknown sound `{}`", s.get_ref()),
            );
            Sound::default()
        }),
    };

    let mut sections = Vec::new();
    let mut types = HashMap::new();
    let mut section_ids = BTreeSet::new();
    for (si, rs) in raw.sections.into_iter().enumerate() {
        let sfield = format!("sections[{si}]");
        let sid = rs.id.get_ref().clone();
        if !valid_id(&sid) {
            issues.add(
                rs.id.span(),
                format!("{sfield}.id"),
                format!("`{sid}` is not a valid section id"),
            );
        }
        if !section_ids.insert(sid.clone()) {
            issues.add(
                rs.id.span(),
                format!("{sfield}.id"),
                format!("duplicate section `{sid}`"),
            );
        }
        check_localized(
            issues,
            &rs.name,
            &format!("{sfield}.name"),
            &locales,
            &default_locale,
        );
        let mut type_ids = Vec::new();
        for (ti, rt) in rs.types.into_iter().enumerate() {
            let tfield = format!("{sfield}.types[{ti}]");
            if let Some(def) = build_type(rt, &sid, &tfield, &locales, &default_locale, issues) {
                if types.contains_key(&def.id) {
                    issues.add(
                        0..0,
                        format!("{tfield}.id"),
                        format!("duplicate type `{}`", def.id),
                    );
                    continue;
                }
                type_ids.push(def.id.clone());
                types.insert(def.id.clone(), def);
            }
        }
        sections.push(Section {
            id: sid,
            name: rs.name.into_inner(),
            types: type_ids,
        });
    }
    Catalog {
        default_locale,
        locales,
        default_sound,
        sections,
        types,
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

fn build_type(
    rt: RawType,
    section: &str,
    tfield: &str,
    locales: &[String],
    default_locale: &str,
    issues: &mut Issues<'_>,
) -> Option<TypeDef> {
    let id = rt.id.get_ref().clone();
    let id_span = rt.id.span();
    let before = issues.list.len();
    if !valid_id(&id) {
        issues.add(
            id_span.clone(),
            format!("{tfield}.id"),
            format!("`{id}` is not a valid type id"),
        );
    }
    if !id.starts_with(&format!("{section}.")) {
        issues.add(
            id_span.clone(),
            format!("{tfield}.id"),
            format!("type `{id}` must start with its section id `{section}.`"),
        );
    }
    for (field, map) in [
        ("name", &rt.name),
        ("description", &rt.description),
        ("title", &rt.title),
        ("body", &rt.body),
    ] {
        check_localized(
            issues,
            map,
            &format!("{tfield}.{field}"),
            locales,
            default_locale,
        );
    }
    check_template(issues, &rt.title, &format!("{tfield}.title"));
    check_template(issues, &rt.body, &format!("{tfield}.body"));

    let mut channels = BTreeSet::new();
    match &rt.channels {
        None => channels.extend(Tab::ALL),
        Some(list) => {
            for name in list.get_ref() {
                match Tab::parse(name) {
                    Some(tab) => {
                        channels.insert(tab);
                    }
                    None => issues.add(
                        list.span(),
                        format!("{tfield}.channels"),
                        format!("unknown channel tab `{name}` (expected email, desktop, other_apps, mobile)"),
                    ),
                }
            }
            if list.get_ref().is_empty() {
                issues.add(
                    list.span(),
                    format!("{tfield}.channels"),
                    "a type needs at least one channel tab",
                );
            }
        }
    }
    // Catalog defaults: on everywhere allowed, except mobile (only the user switches it on).
    let mut defaults: BTreeMap<Tab, bool> =
        channels.iter().map(|t| (*t, *t != Tab::Mobile)).collect();
    if let Some(map) = &rt.defaults {
        for (name, on) in map.get_ref() {
            match Tab::parse(name) {
                Some(tab) if channels.contains(&tab) => {
                    defaults.insert(tab, *on);
                }
                Some(_) => issues.add(
                    map.span(),
                    format!("{tfield}.defaults.{name}"),
                    format!("`{name}` is not among the type's channels"),
                ),
                None => issues.add(
                    map.span(),
                    format!("{tfield}.defaults.{name}"),
                    format!("unknown channel tab `{name}`"),
                ),
            }
        }
    }
    let mut suppress_sources = BTreeSet::new();
    if let Some(list) = &rt.suppress_sources {
        for name in list.get_ref() {
            match Source::parse(name) {
                Some(s) => {
                    suppress_sources.insert(s);
                }
                None => issues.add(
                    list.span(),
                    format!("{tfield}.suppress_sources"),
                    format!("unknown source `{name}`"),
                ),
            }
        }
    }
    if let Some(d) = &rt.digest {
        if crate::model::parse_weekday(&d.get_ref().weekday).is_none() {
            issues.add(
                d.span(),
                format!("{tfield}.digest.weekday"),
                format!("unknown weekday `{}`", d.get_ref().weekday),
            );
        }
        if d.get_ref().hour > 23 {
            issues.add(
                d.span(),
                format!("{tfield}.digest.hour"),
                "hour must be 0–23",
            );
        }
    }
    if let Some(b) = &rt.batch
        && b.delay_seconds == 0
    {
        issues.add(
            id_span.clone(),
            format!("{tfield}.batch.delay_seconds"),
            "must be at least 1",
        );
    }
    let sound = match &rt.sound {
        None => None,
        Some(s) => match Sound::parse(s.get_ref()) {
            Some(sound) => Some(sound),
            None => {
                issues.add(
                    s.span(),
                    format!("{tfield}.sound"),
                    format!("unknown sound `{}`", s.get_ref()),
                );
                None
            }
        },
    };
    if rt.mandatory
        && rt.audience != Audience::default()
        && rt.audience.recipients == Resolution::Explicit
    {
        // Allowed: mandatory types may still be limited to an audience.
    }
    if issues.list.len() != before {
        return None;
    }
    Some(TypeDef {
        id,
        section: section.to_string(),
        name: rt.name.into_inner(),
        description: rt.description.into_inner(),
        title: rt.title.into_inner(),
        body: rt.body.into_inner(),
        channels,
        defaults,
        mandatory: rt.mandatory,
        audience: rt.audience,
        suppress_sources,
        first_mention_only: rt.first_mention_only,
        batch: rt.batch,
        email_grouping: rt.email_grouping,
        digest: rt.digest.map(Spanned::into_inner),
        sound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"
version = 1
default_locale = "en"
locales = ["en", "nb"]

[[sections]]
id = "deals"
name = { en = "Deals", nb = "Avtaler" }

[[sections.types]]
id = "deals.assigned"
name = { en = "Deal assigned", nb = "Avtale tildelt" }
description = { en = "A deal was assigned to you", nb = "En avtale ble tildelt deg" }
title = { en = "{{ actor_name }} assigned you a deal", nb = "{{ actor_name }} tildelte deg en avtale" }
body = { en = "{{ object.name }}", nb = "{{ object.name }}" }
batch = { delay_seconds = 300 }
suppress_sources = ["import"]
"#;

    #[test]
    fn parses_a_small_catalog() {
        let c = Catalog::parse(MINI).unwrap();
        let t = c.get("deals.assigned").unwrap();
        assert_eq!(t.section, "deals");
        assert_eq!(t.channels.len(), 4);
        assert!(!t.defaults[&Tab::Mobile]);
        assert!(t.defaults[&Tab::Email]);
        assert!(t.suppress_sources.contains(&Source::Import));
        assert_eq!(t.batch.as_ref().unwrap().delay_seconds, 300);
    }

    #[test]
    fn reports_position_and_field_of_semantic_errors() {
        let bad = MINI.replace(
            "suppress_sources = [\"import\"]",
            "channels = [\"email\", \"sms\"]",
        );
        let err = Catalog::parse(&bad).unwrap_err();
        assert_eq!(err.issues.len(), 1, "{err}");
        let issue = &err.issues[0];
        assert_eq!(issue.field, "sections[0].types[0].channels");
        assert_eq!(issue.line, 17);
        assert!(issue.message.contains("sms"));
    }

    #[test]
    fn reports_position_of_syntax_errors_and_unknown_fields() {
        let bad = MINI.replace("batch = {", "bacth = {");
        let err = Catalog::parse(&bad).unwrap_err();
        assert_eq!(err.issues[0].line, 16, "{err}");
        assert!(err.issues[0].message.contains("bacth"), "{err}");
    }

    #[test]
    fn missing_default_locale_text_is_an_error() {
        let bad = MINI.replace(
            "name = { en = \"Deal assigned\", nb = \"Avtale tildelt\" }",
            "name = { nb = \"Avtale tildelt\" }",
        );
        let err = Catalog::parse(&bad).unwrap_err();
        assert_eq!(err.issues[0].field, "sections[0].types[0].name");
    }

    #[test]
    fn bad_template_is_an_error() {
        let bad = MINI.replace("{{ object.name }}\", nb", "{{ object.name \", nb");
        let err = Catalog::parse(&bad).unwrap_err();
        assert_eq!(err.issues[0].field, "sections[0].types[0].body.en");
    }

    #[test]
    fn builtin_catalog_is_valid_and_complete() {
        let c = Catalog::parse(BUILTIN_CRM).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.sections.len(), 29);
        for t in c.types() {
            for l in ["en", "nb"] {
                for m in [&t.name, &t.description, &t.title, &t.body] {
                    assert!(m.contains_key(l), "{} lacks {l}", t.id);
                }
            }
        }
        assert_eq!(c.get("website_visits.contact").unwrap().channels.len(), 1);
        assert!(c.get("account.billing").unwrap().mandatory);
        assert_eq!(
            c.get("quotes.paid").unwrap().audience.recipients,
            Resolution::OwnerOnly
        );
        assert_eq!(
            c.get("conversations.unassigned")
                .unwrap()
                .audience
                .recipients,
            Resolution::TeamPrimary
        );
        assert!(c.get("deals.mention").unwrap().first_mention_only);
    }
}
