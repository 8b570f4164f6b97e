//! Email: templates (subject, text, HTML per kind and locale, as files) rendered with
//! minijinja, and sending over SMTP (`smtp.rs`). Per-type templates
//! can be dropped into a directory: `<dir>/<locale>/<type id>.{subject,txt,html}`.

use std::path::PathBuf;

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

/// Email kinds with built-in templates.
pub const KINDS: [&str; 5] = [
    "notification",
    "group",
    "quiet",
    "digest",
    "defaults_changed",
];

macro_rules! builtin {
    ($($locale:literal),*) => {
        &[
            ("layout.html", include_str!("../templates/email/layout.html")),
            $(
                (concat!($locale, "/notification.subject"), include_str!(concat!("../templates/email/", $locale, "/notification.subject"))),
                (concat!($locale, "/notification.txt"), include_str!(concat!("../templates/email/", $locale, "/notification.txt"))),
                (concat!($locale, "/notification.html"), include_str!(concat!("../templates/email/", $locale, "/notification.html"))),
                (concat!($locale, "/group.subject"), include_str!(concat!("../templates/email/", $locale, "/group.subject"))),
                (concat!($locale, "/group.txt"), include_str!(concat!("../templates/email/", $locale, "/group.txt"))),
                (concat!($locale, "/group.html"), include_str!(concat!("../templates/email/", $locale, "/group.html"))),
                (concat!($locale, "/quiet.subject"), include_str!(concat!("../templates/email/", $locale, "/quiet.subject"))),
                (concat!($locale, "/quiet.txt"), include_str!(concat!("../templates/email/", $locale, "/quiet.txt"))),
                (concat!($locale, "/quiet.html"), include_str!(concat!("../templates/email/", $locale, "/quiet.html"))),
                (concat!($locale, "/digest.subject"), include_str!(concat!("../templates/email/", $locale, "/digest.subject"))),
                (concat!($locale, "/digest.txt"), include_str!(concat!("../templates/email/", $locale, "/digest.txt"))),
                (concat!($locale, "/digest.html"), include_str!(concat!("../templates/email/", $locale, "/digest.html"))),
                (concat!($locale, "/defaults_changed.subject"), include_str!(concat!("../templates/email/", $locale, "/defaults_changed.subject"))),
                (concat!($locale, "/defaults_changed.txt"), include_str!(concat!("../templates/email/", $locale, "/defaults_changed.txt"))),
                (concat!($locale, "/defaults_changed.html"), include_str!(concat!("../templates/email/", $locale, "/defaults_changed.html"))),
            )*
        ]
    };
}

const BUILTIN: &[(&str, &str)] = builtin!("en", "nb");

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("email template {name}: {message}")]
    Render { name: String, message: String },
}

/// The email templates: built in, optionally overridden per type from a directory.
pub struct EmailTemplates {
    env: Environment<'static>,
    default_locale: String,
    /// Base that relative links (`url` fields starting with one `/`) are made absolute
    /// with: an email has no address of its own to resolve them against.
    link_base: Option<String>,
}

/// The footer's sentence, its "change your settings" label and its unsubscribe label.
fn footer(locale: &str) -> (&'static str, &'static str, &'static str) {
    match locale {
        "nb" => (
            "Du får denne e-posten på grunn av varslingsinnstillingene dine.",
            "Endre innstillingene",
            "Meld deg av disse e-postene",
        ),
        _ => (
            "You get this email because of your notification settings.",
            "Change your settings",
            "Unsubscribe from these emails",
        ),
    }
}

/// Makes every relative `url` in the context absolute with `base` (`/deals/7` →
/// `https://app.example/deals/7`); absolute URLs and other fields stay as they are.
fn absolute_urls(v: &mut serde_json::Value, base: &str) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                match x {
                    serde_json::Value::String(s)
                        if k.ends_with("url") && s.starts_with('/') && !s.starts_with("//") =>
                    {
                        *s = format!("{}{s}", base.trim_end_matches('/'));
                    }
                    _ => absolute_urls(x, base),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for x in items {
                absolute_urls(x, base);
            }
        }
        _ => {}
    }
}

impl EmailTemplates {
    /// Loads the built-in templates and, when `dir` is given, every file in
    /// `dir/<locale>/` (which win over built-in ones of the same name).
    pub fn load(dir: Option<PathBuf>) -> Result<EmailTemplates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // Escape what HTML needs and no more, so links stay readable (`/` untouched).
        env.set_formatter(|out, state, value| {
            if matches!(state.auto_escape(), AutoEscape::Html)
                && !value.is_safe()
                && !value.is_undefined()
                && !value.is_none()
            {
                let mut esc = String::new();
                for c in value.to_string().chars() {
                    match c {
                        '&' => esc.push_str("&amp;"),
                        '<' => esc.push_str("&lt;"),
                        '>' => esc.push_str("&gt;"),
                        '"' => esc.push_str("&quot;"),
                        '\'' => esc.push_str("&#39;"),
                        c => esc.push(c),
                    }
                }
                out.write_str(&esc)
                    .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write"))
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        for (name, src) in BUILTIN {
            env.add_template(name, src)
                .map_err(|e| TemplateError::Render {
                    name: name.to_string(),
                    message: e.to_string(),
                })?;
        }
        if let Some(dir) = dir {
            let err = |name: &str, e: &dyn std::fmt::Display| TemplateError::Render {
                name: name.to_string(),
                message: e.to_string(),
            };
            let locales =
                std::fs::read_dir(&dir).map_err(|e| err(&dir.display().to_string(), &e))?;
            for locale in locales.flatten().filter(|e| e.path().is_dir()) {
                for file in std::fs::read_dir(locale.path())
                    .map_err(|e| err(&locale.path().display().to_string(), &e))?
                    .flatten()
                {
                    let path = file.path();
                    let name = format!(
                        "{}/{}",
                        locale.file_name().to_string_lossy(),
                        file.file_name().to_string_lossy()
                    );
                    let src = std::fs::read_to_string(&path).map_err(|e| err(&name, &e))?;
                    env.add_template_owned(name.clone(), src)
                        .map_err(|e| err(&name, &e))?;
                }
            }
        }
        Ok(EmailTemplates {
            env,
            default_locale: "en".into(),
            link_base: None,
        })
    }

    /// Relative links in emails are made absolute with `base` (e.g.
    /// `https://app.example`).
    pub fn with_link_base(mut self, base: impl Into<String>) -> EmailTemplates {
        self.link_base = Some(base.into()).filter(|b| !b.is_empty());
        self
    }

    fn pick(&self, locale: &str, kinds: &[&str], part: &str) -> Option<String> {
        for kind in kinds {
            for l in [locale, self.default_locale.as_str()] {
                let name = format!("{l}/{kind}.{part}");
                if self.env.get_template(&name).is_ok() {
                    return Some(name);
                }
            }
        }
        None
    }

    /// Renders `kind` (a type id with a file of its own, else the generic kind) in `locale`.
    /// `ctx` is merged with `locale`, `footer`, `preferences_label`, `unsubscribe_label`;
    /// its `preferences_url` and (optional) `unsubscribe_url` are the footer's links.
    pub fn render<S: Serialize>(
        &self,
        kinds: &[&str],
        locale: &str,
        ctx: &S,
    ) -> Result<EmailContent, TemplateError> {
        let (footer, label, unsubscribe_label) = footer(locale);
        let mut ctx = serde_json::to_value(ctx).map_err(|e| TemplateError::Render {
            name: "context".into(),
            message: e.to_string(),
        })?;
        if let Some(base) = &self.link_base {
            absolute_urls(&mut ctx, base);
        }
        let base = minijinja::Value::from_serialize(&ctx);
        let part = |part: &str, subject: &str| -> Result<String, TemplateError> {
            let name = self
                .pick(locale, kinds, part)
                .ok_or_else(|| TemplateError::Render {
                    name: format!("{locale}/{}.{part}", kinds.first().copied().unwrap_or("?")),
                    message: "no such template".into(),
                })?;
            let extra = minijinja::context! {
                locale => locale, footer => footer, preferences_label => label,
                unsubscribe_label => unsubscribe_label, subject => subject,
            };
            let merged = minijinja::context! { ..extra, ..base.clone() };
            self.env
                .get_template(&name)
                .and_then(|t| t.render(merged))
                .map_err(|e| TemplateError::Render {
                    name: name.clone(),
                    message: format!("{e:#}"),
                })
        };
        let subject = part("subject", "")?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let text = part("txt", &subject)?.trim().to_string() + "\n";
        let html = part("html", &subject)?;
        Ok(EmailContent {
            subject,
            text,
            html,
        })
    }
}

/// One email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub from: String,
    pub to: String,
    pub to_name: String,
    /// Without angle brackets: `ntf_…@varsel`.
    pub message_id: String,
    pub content: EmailContent,
    /// The one-click unsubscribe URL (RFC 8058): sent as `List-Unsubscribe` with
    /// `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, so a mail client's
    /// "unsubscribe" is one `POST` to it.
    pub unsubscribe_url: Option<String>,
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub retryable: bool,
    /// The server or the connection failed (not this message): it counts against the
    /// destination's circuit breaker.
    pub destination: bool,
    pub message: String,
}

/// Builds the MIME message: multipart/alternative with text and HTML, UTF-8.
pub fn build_message(e: &OutgoingEmail) -> Result<Message, SendError> {
    let bad = |what: &str, err: &dyn std::fmt::Display| SendError {
        retryable: false,
        destination: false,
        message: format!("{what}: {err}"),
    };
    let from: Mailbox = e.from.parse().map_err(|x| bad("from address", &x))?;
    let to = Mailbox::new(
        Some(e.to_name.clone()).filter(|n| !n.is_empty()),
        e.to.parse().map_err(|x| bad("to address", &x))?,
    );
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(e.content.subject.clone())
        .message_id(Some(format!("<{}>", e.message_id)));
    if let Some(url) = &e.unsubscribe_url {
        builder = builder
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe"),
                format!("<{url}>"),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click".to_string(),
            ));
    }
    builder
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(e.content.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(e.content.html.clone()),
                ),
        )
        .map_err(|x| bad("message", &x))
}

pub use crate::smtp::{SmtpLimits, SmtpMailer};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_kind_renders_in_both_languages() {
        let t = EmailTemplates::load(None).unwrap();
        let ctx = serde_json::json!({
            "title": "Kari nevnte deg", "body": "Q4 — æøå", "url": "https://crm.example/d/1",
            "preferences_url": "http://x/ui/preferences",
            "items": [{"title": "A", "body": "a"}, {"title": "B", "body": "b"}],
            "workflows": [{"name": "Onboarding", "count": 2}], "total": 2,
            "account_name": "Acme", "changed": 3,
        });
        for kind in KINDS {
            for locale in ["en", "nb"] {
                let c = t.render(&[kind], locale, &ctx).unwrap();
                assert!(
                    !c.subject.is_empty() && !c.subject.contains('\n'),
                    "{kind}/{locale}"
                );
                assert!(
                    c.html.contains("http://x/ui/preferences"),
                    "{kind}/{locale}: {}",
                    c.html
                );
                assert!(
                    c.text.contains("http://x/ui/preferences"),
                    "{kind}/{locale}"
                );
            }
        }
        let c = t.render(&["notification"], "nb", &ctx).unwrap();
        assert_eq!(c.subject, "Kari nevnte deg");
        assert!(c.text.contains("Q4 — æøå"));
        assert!(c.text.contains("Åpne: https://crm.example/d/1"));
    }

    #[test]
    fn html_is_escaped_text_is_not() {
        let t = EmailTemplates::load(None).unwrap();
        let ctx = serde_json::json!({"title": "<b>x</b> & y", "body": "", "preferences_url": "p"});
        let c = t.render(&["notification"], "en", &ctx).unwrap();
        assert!(c.html.contains("&lt;b&gt;x&lt;/b&gt; &amp; y"));
        assert!(c.text.contains("<b>x</b> & y"));
    }

    #[test]
    fn message_has_both_parts_and_the_message_id() {
        let e = OutgoingEmail {
            from: "Varsel <varsel@example.com>".into(),
            to: "kari@example.com".into(),
            to_name: "Kari Nordmann".into(),
            message_id: "ntf_1.email@varsel".into(),
            content: EmailContent {
                subject: "Hei æøå".into(),
                text: "tekst".into(),
                html: "<p>html</p>".into(),
            },
            unsubscribe_url: Some("http://x/ui/preferences".into()),
        };
        let raw = String::from_utf8(build_message(&e).unwrap().formatted()).unwrap();
        assert!(raw.contains("Message-ID: <ntf_1.email@varsel>"), "{raw}");
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain") && raw.contains("text/html"));
        assert!(raw.contains("List-Unsubscribe: <http://x/ui/preferences>"));
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        let quiet = OutgoingEmail {
            unsubscribe_url: None,
            ..e
        };
        let raw = String::from_utf8(build_message(&quiet).unwrap().formatted()).unwrap();
        assert!(!raw.contains("List-Unsubscribe"), "{raw}");
    }

    #[test]
    fn relative_links_become_absolute_and_the_footer_links_unsubscribe() {
        let t = EmailTemplates::load(None)
            .unwrap()
            .with_link_base("https://app.example/");
        let ctx = serde_json::json!({
            "title": "T", "body": "", "url": "/deals/7",
            "items": [{"title": "A", "url": "/t/1"}, {"title": "B", "url": "https://x.example/b"}],
            "preferences_url": "https://v.example/email/settings/abc",
            "unsubscribe_url": "https://v.example/email/unsubscribe/def",
            "workflows": [], "total": 0, "account_name": "Acme", "changed": 1,
        });
        for kind in KINDS {
            for locale in ["en", "nb"] {
                let c = t.render(&[kind], locale, &ctx).unwrap();
                for part in [&c.html, &c.text] {
                    assert!(
                        !part.contains("\"/") && !part.contains(" /"),
                        "{kind}/{locale}: {part}"
                    );
                }
                if kind != "defaults_changed" {
                    assert!(
                        c.html
                            .contains("href=\"https://v.example/email/unsubscribe/def\""),
                        "{kind}/{locale}"
                    );
                    assert!(
                        c.text.contains("https://v.example/email/unsubscribe/def"),
                        "{kind}/{locale}"
                    );
                }
            }
        }
        let c = t.render(&["notification"], "en", &ctx).unwrap();
        assert!(
            c.html.contains("href=\"https://app.example/deals/7\""),
            "{}",
            c.html
        );
        assert!(c.text.contains("Open: https://app.example/deals/7"));
        assert!(c.html.contains("Unsubscribe from these emails"));
        let c = t.render(&["group"], "nb", &ctx).unwrap();
        assert!(
            c.text.contains("Åpne: https://app.example/t/1"),
            "{}",
            c.text
        );
        assert!(c.html.contains("Meld deg av disse e-postene"));
        // Without an unsubscribe link the footer has none.
        let mut no = ctx.clone();
        no["unsubscribe_url"] = serde_json::Value::Null;
        let c = t.render(&["notification"], "en", &no).unwrap();
        assert!(!c.html.contains("Unsubscribe") && !c.text.contains("Unsubscribe"));
    }
}
