//! Catalog loading: positions, fields, the built-in catalog.

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
