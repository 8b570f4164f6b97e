//! Renders the title and body of a notification from the catalog's templates, in the
//! recipient's locale (falling back to the catalog's default locale).

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::model::ObjectRef;

/// The variables a template sees.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RenderContext<'a> {
    pub actor: Option<Person<'a>>,
    pub object: Option<&'a ObjectRef>,
    /// Grouped objects of a batched notification (one element otherwise).
    pub objects: Vec<&'a ObjectRef>,
    pub data: Option<&'a serde_json::Value>,
    pub count: u32,
    /// A grouped bell item: how many other people than `actor` it gathers.
    pub others: u32,
    pub recipient: Person<'a>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Person<'a> {
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
}

/// A rendered notification text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub title: String,
    pub body: String,
}

/// All templates of a catalog, each compiled on first use and kept (compiling all of
/// them up front held ~4 MiB of bytecode for types a deployment may never send; the
/// catalog loader has already checked every template parses).
pub struct Renderer {
    env: Environment<'static>,
    default_locale: String,
    locales: Vec<String>,
    /// Per type: whether its templates read `recipient` (learned on first use).
    personal: std::sync::RwLock<std::collections::HashMap<String, bool>>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("default_locale", &self.default_locale)
            .finish()
    }
}

fn key(type_id: &str, field: &str, locale: &str) -> String {
    format!("{type_id}/{field}.{locale}")
}

impl Renderer {
    pub fn new(catalog: &Catalog) -> Renderer {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        let mut sources = std::collections::HashMap::new();
        for t in catalog.types() {
            for (field, map) in [("title", &t.title), ("body", &t.body)] {
                for (locale, src) in map {
                    sources.insert(key(&t.id, field, locale), src.clone());
                }
            }
        }
        // A template that fails to compile here (the catalog loader checked them all)
        // is left out and rendering falls back to the type name.
        env.set_loader(move |name| Ok(sources.get(name).cloned()));
        Renderer {
            env,
            default_locale: catalog.default_locale.clone(),
            locales: catalog.locales.clone(),
            personal: Default::default(),
        }
    }

    /// Whether a type's title or body (in any locale) reads `recipient`: only then does
    /// the text differ between the recipients of one event, in one language.
    pub fn is_personal(&self, type_id: &str) -> bool {
        if let Some(&p) = self
            .personal
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(type_id)
        {
            return p;
        }
        let p = ["title", "body"].iter().any(|field| {
            self.locales.iter().any(|locale| {
                self.env
                    .get_template(&key(type_id, field, locale))
                    .is_ok_and(|t| t.undeclared_variables(false).contains("recipient"))
            })
        });
        self.personal
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(type_id.to_string(), p);
        p
    }

    fn one(
        &self,
        type_id: &str,
        field: &str,
        locale: &str,
        ctx: &impl Serialize,
    ) -> Option<String> {
        let tmpl = self
            .env
            .get_template(&key(type_id, field, locale))
            .or_else(|_| {
                self.env
                    .get_template(&key(type_id, field, &self.default_locale))
            })
            .ok()?;
        tmpl.render(ctx).ok().map(|s| s.trim().to_string())
    }

    /// Renders a type's title and body. Never fails: a broken template yields the type id.
    pub fn render(&self, type_id: &str, locale: &str, ctx: &RenderContext<'_>) -> Rendered {
        self.render_any(type_id, locale, ctx)
    }

    /// [`Renderer::render`] with the variables in any serializable form (a grouped bell
    /// item is rendered again from its first notification's variables, as JSON).
    pub fn render_any(&self, type_id: &str, locale: &str, ctx: &impl Serialize) -> Rendered {
        Rendered {
            title: self
                .one(type_id, "title", locale, ctx)
                .unwrap_or_else(|| type_id.to_string()),
            body: self.one(type_id, "body", locale, ctx).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"
version = 1
default_locale = "en"
locales = ["en", "nb"]

[[sections]]
id = "deals"
name = { en = "Deals", nb = "Avtaler" }

[[sections.types]]
id = "deals.won"
name = { en = "Deal won", nb = "Avtale vunnet" }
description = { en = "A deal was won", nb = "En avtale ble vunnet" }
title = { en = "{{ actor.name }} won a deal", nb = "{{ actor.name }} vant en avtale" }
body = { en = "{{ object.name }}", nb = "{{ object.name }}" }

[[sections.types]]
id = "deals.welcome"
name = { en = "Welcome", nb = "Velkommen" }
description = { en = "Welcome", nb = "Velkommen" }
title = { en = "Welcome", nb = "Velkommen, {{ recipient.name }}" }
body = { en = "", nb = "" }
"#;

    #[test]
    fn a_type_is_personal_only_when_its_text_reads_the_recipient() {
        let r = Renderer::new(&Catalog::parse(TWO).unwrap());
        assert!(!r.is_personal("deals.won"));
        // In one language is enough.
        assert!(r.is_personal("deals.welcome"));
        assert!(r.is_personal("deals.welcome"), "the answer is kept");
        assert!(!r.is_personal("deals.unknown"));
        let builtin = Catalog::builtin();
        let r = Renderer::new(&builtin);
        assert!(
            builtin.types().all(|t| !r.is_personal(&t.id)),
            "no built-in text names its reader"
        );
    }
}
