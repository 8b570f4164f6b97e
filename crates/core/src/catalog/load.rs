//! Reading a catalog file: the raw shape as written, and the checks that turn it into a
//! [`Catalog`], each problem recorded with its position and field.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::*;
use crate::model::{Source, Tab};
use crate::sound::Sound;

/// Raw, as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
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
    bell_grouping: Option<BellGrouping>,
    #[serde(default)]
    digest: Option<Spanned<Digest>>,
    #[serde(default)]
    sound: Option<Spanned<String>>,
}

/// Turns byte offsets into 1-based line and column numbers.
pub(super) struct Positions<'a> {
    pub(super) src: &'a str,
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

pub(super) struct Issues<'a> {
    pub(super) pos: Positions<'a>,
    pub(super) list: Vec<CatalogIssue>,
}

impl Issues<'_> {
    pub(super) fn add(
        &mut self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let (line, column) = self.pos.at(span.start);
        self.list.push(CatalogIssue {
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
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

pub(super) fn build(raw: RawCatalog, issues: &mut Issues<'_>) -> Catalog {
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
        bell_grouping: rt.bell_grouping,
        digest: rt.digest.map(Spanned::into_inner),
        sound,
    })
}
