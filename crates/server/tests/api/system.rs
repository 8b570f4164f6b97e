//! Liveness, metrics, the localized catalog, and the demo seed.

use std::time::Instant;

use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn healthz_is_ok_without_credentials() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz", &Auth::None).await;
    let want = if std::env::var("VARSEL_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(r.ok(200), &json!({"status": "ok", "backend": want}));
}

#[tokio::test]
async fn metrics_count_accepted_events_and_decisions() {
    let app = TestApp::spawn().await;
    app.put_account("acme", "enterprise").await;
    app.put_user("acme", "u", json!({})).await;
    app.deliver(json!({"type": "deals.stage_changed", "account_id": "acme", "recipients": ["u"]}))
        .await;
    // Metrics are not public: an API key (or the metrics token) reads them.
    app.get("/metrics", &Auth::None)
        .await
        .assert_error(401, "unauthorized");
    let r = app.get("/metrics", &Auth::Key).await;
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    // The recorder is process-wide: other tests add to it, so look for presence and a
    // positive value rather than an exact count.
    let value = |name: &str| -> f64 {
        r.text
            .lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(value("varsel_events_accepted_total") >= 1.0, "{}", r.text);
    assert!(value("varsel_decisions_total") >= 7.0, "{}", r.text);
    assert!(
        r.text.contains("varsel_decisions_total{outcome=\"sent\"}"),
        "{}",
        r.text
    );
    assert!(r.text.contains("varsel_events_pending"), "{}", r.text);
}

#[tokio::test]
async fn catalog_is_localized() {
    let app = TestApp::spawn().await;
    app.put_account("acme", "enterprise").await;
    app.put_user("acme", "kari", json!({"locale": "nb"})).await;
    let find = |doc: &serde_json::Value, section: &str| -> serde_json::Value {
        doc["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == json!(section))
            .cloned()
            .unwrap()
    };

    let en = app.get("/v1/catalog", &Auth::Key).await.ok(200).clone();
    assert_eq!(en["locale"], json!("en"));
    assert_eq!(find(&en, "deals")["name"], json!("Deals"));
    let visits = find(&en, "website_visits");
    assert_eq!(visits["types"][0]["id"], json!("website_visits.contact"));
    assert_eq!(visits["types"][0]["channels"], json!(["email"]));
    let account = find(&en, "account");
    assert!(
        account["types"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["mandatory"] == json!(true))
    );
    let types: usize = en["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["types"].as_array().unwrap().len())
        .sum();
    assert_eq!(types, app.state.catalog.len());

    let nb = app
        .get("/v1/catalog?locale=nb", &Auth::Key)
        .await
        .ok(200)
        .clone();
    assert_eq!(nb["locale"], json!("nb"));
    assert_eq!(find(&nb, "deals")["name"], json!("Avtaler"));
    // A user's own locale is the default; unknown locales fall back to English.
    let kari = app.token("acme", "kari").await;
    let mine = app
        .get("/v1/catalog", &Auth::user(&kari))
        .await
        .ok(200)
        .clone();
    assert_eq!(mine["locale"], json!("nb"));
    let xx = app
        .get("/v1/catalog?locale=xx", &Auth::user(&kari))
        .await
        .ok(200)
        .clone();
    assert_eq!(xx["locale"], json!("en"));
}

#[tokio::test]
async fn demo_seed_shows_kari_her_welcome() {
    let app = TestApp::spawn().await;
    let info = varsel_server::demo::seed(&app.state).await.expect("seed");
    assert_eq!(info.api_key, API_KEY, "a configured key is reused");
    let kari = info.user_token.clone();
    // Poll the feed (the seed posts through the ingest; there is no id to trace).
    let start = Instant::now();
    let feed = loop {
        let feed = app.feed(&kari).await;
        if !feed.is_empty() {
            break feed;
        }
        assert!(start.elapsed() < WAIT, "no welcome item within {WAIT:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0]["type"], json!("comments.mention"));
    assert_eq!(
        feed[0]["title"],
        json!("Ada Admin nevnte deg i en kommentar")
    );
    // All Norwegian for Kari, and a link that works from an email too.
    assert_eq!(feed[0]["body"], json!("Velkommen til Varsel"));
    assert_eq!(
        feed[0]["url"],
        json!(format!("{}/ui/preferences", app.base))
    );

    // The admin token is a super admin's; seeding again changes nothing.
    app.get("/v1/accounts/demo/defaults", &Auth::user(&info.admin_token))
        .await
        .ok(200);
    varsel_server::demo::seed(&app.state)
        .await
        .expect("seed again");
    assert_eq!(app.feed(&kari).await.len(), 1);
    let prefs = app.prefs(&kari).await;
    assert!(
        prefs["tabs"]["desktop"]["types"]["forms.submission"].is_object(),
        "kari has the forms permission"
    );
}

#[tokio::test]
async fn the_api_answers_cross_origin_calls_of_an_embedding_page() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/v1/me/feed"))
        .header("Origin", "https://crm.example")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let allowed = r.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
}
