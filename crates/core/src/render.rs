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
        }
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
