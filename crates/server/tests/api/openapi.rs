//! `/openapi.json` documents every path of the HTTP API and matches the committed
//! `docs/openapi.json` (regenerate with `UPDATE_OPENAPI=1`).

use serde_json::Value;

use crate::harness::*;

/// (method, path) every client may rely on.
const CONTRACT: &[(&str, &str)] = &[
    ("put", "/v1/accounts/{account}"),
    ("put", "/v1/accounts/{account}/users/{user}"),
    ("put", "/v1/accounts/{account}/teams/{team}"),
    ("post", "/v1/tokens"),
    ("post", "/v1/events"),
    ("post", "/v1/events/batch"),
    ("get", "/v1/events/{id}/trace"),
    ("get", "/v1/me/feed"),
    ("get", "/v1/me/feed/unread-count"),
    ("post", "/v1/me/feed/{id}/read"),
    ("post", "/v1/me/feed/read-all"),
    ("post", "/v1/me/feed/seen"),
    ("get", "/v1/me/stream"),
    ("post", "/v1/me/presence"),
    ("get", "/v1/me/preferences"),
    ("patch", "/v1/me/preferences"),
    ("post", "/v1/me/preferences/{tab}/turn-off-all"),
    ("post", "/v1/me/preferences/reset"),
    ("post", "/v1/me/preferences/types/{type}/dont-show"),
    ("post", "/v1/me/preferences/types/{type}/mute"),
    ("get", "/v1/accounts/{account}/defaults"),
    ("put", "/v1/accounts/{account}/defaults"),
    ("get", "/v1/accounts/{account}/profiles"),
    ("post", "/v1/accounts/{account}/profiles"),
    ("put", "/v1/accounts/{account}/profiles/{profile}"),
    ("delete", "/v1/accounts/{account}/profiles/{profile}"),
    ("get", "/v1/catalog"),
    ("get", "/healthz"),
    ("get", "/metrics"),
];

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[tokio::test]
async fn openapi_lists_every_contract_path_and_matches_the_committed_file() {
    let app = TestApp::spawn().await;
    let r = app.get("/openapi.json", &Auth::None).await;
    let doc = r.ok(200).clone();
    assert!(r.content_type.starts_with("application/json"));
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in CONTRACT {
        let op = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not documented"))[*method];
        assert!(op.is_object(), "{method} {path} is not documented");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
    }
    // Every documented operation answers something, and lives under /v1 (or is a probe,
    // or a link in an email).
    for (path, ops) in paths {
        assert!(
            path.starts_with("/v1/")
                || path.starts_with("/email/")
                || ["/healthz", "/readyz", "/metrics"].contains(&path.as_str()),
            "{path}"
        );
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
        }
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert!(schemes.contains_key("api_key") && schemes.contains_key("user_token"));

    let file = committed_path();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        let mut text = serde_json::to_string_pretty(&doc).unwrap();
        text.push('\n');
        std::fs::write(&file, text).expect("write docs/openapi.json");
    } else {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (generate it with UPDATE_OPENAPI=1)",
                file.display()
            )
        });
        let committed: Value = serde_json::from_str(&text).expect("docs/openapi.json is JSON");
        assert!(
            committed == doc,
            "docs/openapi.json is stale: regenerate with UPDATE_OPENAPI=1 cargo test -p varsel-server"
        );
    }
}

/// Query parameters are `in: query`, path parameters appear in the path, and every call
/// lists the statuses its kind of input can answer.
#[tokio::test]
async fn openapi_parameters_and_statuses_are_exact() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json", &Auth::None).await.ok(200).clone();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let statuses = op["responses"].as_object().unwrap();
            let has = |s: &str| statuses.contains_key(s);
            for p in op["parameters"].as_array().cloned().unwrap_or_default() {
                let name = p["name"].as_str().unwrap();
                let in_path = path.contains(&format!("{{{name}}}"));
                assert_eq!(
                    p["in"],
                    if in_path { "path" } else { "query" },
                    "{method} {path}: {name}"
                );
            }
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                for s in ["401", "403", "429"] {
                    assert!(has(s), "{method} {path} lacks {s}");
                }
            }
            if op.get("requestBody").is_some() {
                for s in ["400", "413", "415", "422"] {
                    assert!(has(s), "{method} {path} lacks {s}");
                }
            }
            if path.contains('{') {
                assert!(has("404"), "{method} {path} lacks 404");
            }
        }
    }
    let stream = &doc["paths"]["/v1/me/stream"]["get"];
    assert!(stream["responses"]["429"].is_object(), "too_many_streams");
    assert!(doc["paths"]["/v1/events"]["post"]["responses"]["409"].is_object());
    // Host ids carry their pattern, in paths and in bodies; enums are listed.
    let host_id = "^[A-Za-z0-9._:@-]{1,128}$";
    let account = &doc["paths"]["/v1/accounts/{account}"]["put"]["parameters"][0];
    assert_eq!(account["schema"]["pattern"], host_id, "{account}");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["EventIn"]["properties"]["account_id"]["pattern"],
        host_id
    );
    assert_eq!(schemas["BatchIn"]["properties"]["events"]["maxItems"], 1000);
    let jobs = &doc["paths"]["/v1/jobs"]["get"]["parameters"];
    let state = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "state")
        .unwrap();
    assert_eq!(
        state["schema"]["enum"],
        serde_json::json!(["dead", "scheduled", "done"])
    );
}
