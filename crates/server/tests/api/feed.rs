//! The bell feed: localized items, order, cursor pagination, unread count, read / seen.

use serde_json::{Value, json};

use crate::harness::*;

async fn setup(app: &TestApp) {
    app.put_account("acme", "enterprise").await;
    app.put_user("acme", "ada", json!({"name": "Ada Admin"}))
        .await;
    app.put_user("acme", "kari", json!({"name": "Kari", "locale": "nb"}))
        .await;
    app.put_user("acme", "emma", json!({"name": "Emma", "locale": "en"}))
        .await;
    app.put_user("acme", "otto", json!({"name": "Otto", "locale": "de"}))
        .await;
}

fn stage(recipients: &[&str], stage: &str) -> Value {
    json!({"type": "deals.stage_changed", "account_id": "acme", "actor_id": "ada", "recipients": recipients,
           "object": {"type": "deal", "id": "d1", "name": "Big deal", "url": "https://crm.example/deals/d1"},
           "data": {"stage": stage}})
}

#[tokio::test]
async fn items_are_rendered_in_the_recipients_locale() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let t = app.deliver(stage(&["kari", "emma", "otto"], "Won")).await;
    let event_id = t.0["event_id"].as_str().unwrap().to_string();

    let kari = app.feed(&app.token("acme", "kari").await).await;
    assert_eq!(kari.len(), 1);
    let item = &kari[0];
    assert_eq!(item["title"], json!("Ada Admin flyttet en avtale til Won"));
    assert_eq!(item["body"], json!("Big deal"));
    assert_eq!(item["type"], json!("deals.stage_changed"));
    assert_eq!(item["section"], json!("deals"));
    assert_eq!(item["url"], json!("https://crm.example/deals/d1"));
    assert_eq!(item["count"], json!(1));
    assert_eq!(item["actor_id"], json!("ada"));
    assert_eq!(item["seen_at"], Value::Null);
    assert_eq!(item["read_at"], Value::Null);
    let id = item["id"].as_str().unwrap();
    assert!(id.starts_with("ntf_") && id != event_id, "{id}");
    let created = item["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{created}"
    );

    let emma = app.feed(&app.token("acme", "emma").await).await;
    assert_eq!(emma[0]["title"], json!("Ada Admin moved a deal to Won"));
    // A locale the catalog lacks falls back to the catalog's default (English).
    let otto = app.feed(&app.token("acme", "otto").await).await;
    assert_eq!(otto[0]["title"], json!("Ada Admin moved a deal to Won"));

    // Templates without data use their localized defaults.
    app.deliver(
        json!({"type": "login_alert.risky_login", "account_id": "acme", "recipients": ["kari"]}),
    )
    .await;
    let kari = app.feed(&app.token("acme", "kari").await).await;
    assert_eq!(kari[0]["title"], json!("Uvanlig pålogging på kontoen din"));
    assert_eq!(
        kari[0]["body"],
        json!("Fra et ukjent sted. Hvis dette ikke var deg, bør du endre passordet ditt.")
    );
}

#[tokio::test]
async fn newest_first_with_cursor_pagination() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    for i in 1..=5 {
        app.deliver(stage(&["emma"], &format!("S{i}"))).await;
    }
    let tok = app.token("acme", "emma").await;
    let me = Auth::user(&tok);
    let stages = |items: &Value| -> Vec<String> {
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                i["title"]
                    .as_str()
                    .unwrap()
                    .rsplit(' ')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };

    let p1 = app.get("/v1/me/feed?limit=2", &me).await.ok(200).clone();
    assert_eq!(stages(&p1), ["S5", "S4"]);
    let c1 = p1["next_cursor"].as_str().expect("a next page").to_string();
    let p2 = app
        .get(&format!("/v1/me/feed?limit=2&cursor={c1}"), &me)
        .await
        .ok(200)
        .clone();
    assert_eq!(stages(&p2), ["S3", "S2"]);
    let c2 = p2["next_cursor"].as_str().expect("a next page").to_string();
    let p3 = app
        .get(&format!("/v1/me/feed?limit=2&cursor={c2}"), &me)
        .await
        .ok(200)
        .clone();
    assert_eq!(stages(&p3), ["S1"]);
    assert_eq!(p3["next_cursor"], Value::Null);

    // Exactly one page: no cursor. Default limit covers all five.
    let all = app.get("/v1/me/feed?limit=5", &me).await.ok(200).clone();
    assert_eq!(stages(&all), ["S5", "S4", "S3", "S2", "S1"]);
    assert_eq!(all["next_cursor"], Value::Null);
    let default = app.get("/v1/me/feed", &me).await.ok(200).clone();
    assert_eq!(stages(&default), ["S5", "S4", "S3", "S2", "S1"]);

    // Ids are distinct and times do not go backwards.
    let items = all["items"].as_array().unwrap();
    let mut ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    let times: Vec<&str> = items
        .iter()
        .map(|i| i["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
}

#[tokio::test]
async fn unread_count_mark_read_read_all_and_seen() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    for i in 1..=3 {
        app.deliver(stage(&["emma", "kari"], &format!("S{i}")))
            .await;
    }
    let tok = app.token("acme", "emma").await;
    let me = Auth::user(&tok);
    let kari = app.token("acme", "kari").await;
    assert_eq!(app.unread(&tok).await, 3);

    let feed = app.feed(&tok).await;
    let newest = feed[0]["id"].as_str().unwrap().to_string();
    let r = app
        .post_empty(&format!("/v1/me/feed/{newest}/read"), &me)
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.unread(&tok).await, 2);
    let feed = app.feed(&tok).await;
    assert!(
        feed[0]["read_at"].is_string() && feed[0]["seen_at"].is_string(),
        "{}",
        feed[0]
    );
    assert_eq!(feed[1]["read_at"], Value::Null);
    // Reading again is harmless.
    assert_eq!(
        app.post_empty(&format!("/v1/me/feed/{newest}/read"), &me)
            .await
            .status,
        204
    );
    assert_eq!(app.unread(&tok).await, 2);

    // Unknown ids and other users' items are not found.
    app.post_empty("/v1/me/feed/ntf_nope/read", &me)
        .await
        .assert_error(404, "not_found");
    let karis = app.feed(&kari).await;
    let karis_item = karis[0]["id"].as_str().unwrap();
    app.post_empty(&format!("/v1/me/feed/{karis_item}/read"), &me)
        .await
        .assert_error(404, "not_found");
    assert_eq!(app.unread(&kari).await, 3);

    // Seen marks every item seen, not read.
    assert_eq!(app.post_empty("/v1/me/feed/seen", &me).await.status, 204);
    let feed = app.feed(&tok).await;
    assert!(feed.iter().all(|i| i["seen_at"].is_string()), "{feed:?}");
    assert_eq!(feed.iter().filter(|i| i["read_at"].is_null()).count(), 2);
    assert_eq!(app.unread(&tok).await, 2);
    assert!(app.feed(&kari).await.iter().all(|i| i["seen_at"].is_null()));

    assert_eq!(
        app.post_empty("/v1/me/feed/read-all", &me).await.status,
        204
    );
    assert_eq!(app.unread(&tok).await, 0);
    assert!(
        app.feed(&tok)
            .await
            .iter()
            .all(|i| i["read_at"].is_string())
    );
    assert_eq!(app.unread(&kari).await, 3);
}
