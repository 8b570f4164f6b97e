//! Grouped bell items: comments on one object within the window update one item (count,
//! people, a localized title), counted once as unread and pushed as
//! `notification_updated`; the item lists its members; another object, the window's end
//! or archiving the item starts a new one.

use serde_json::{Value, json};

use crate::harness::*;
use crate::scheduler::{advance, scheduled_app};

async fn setup(app: &TestApp) {
    app.put_account("acme", "enterprise").await;
    for (id, name) in [("ada", "Ada"), ("bo", "Bo"), ("cia", "Cia")] {
        app.put_user("acme", id, json!({"name": name})).await;
    }
    app.put_user("acme", "u", json!({"name": "You"})).await;
    app.put_user("acme", "kari", json!({"name": "Kari", "locale": "nb"}))
        .await;
}

fn comment(actor: &str, object: &str, to: &[&str]) -> Value {
    json!({
        "type": "comments.activity", "account_id": "acme", "actor_id": actor, "recipients": to,
        "object": {"type": "activity", "id": object, "name": format!("{object} plan")},
    })
}

async fn members(app: &TestApp, tok: &str, id: &str) -> Vec<Value> {
    app.get(&format!("/v1/me/feed/{id}/members"), &Auth::user(tok))
        .await
        .ok(200)["members"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn comments_on_one_object_update_one_item_in_each_language() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let u = app.token("acme", "u").await;
    let kari = app.token("acme", "kari").await;
    for actor in ["ada", "bo", "ada", "cia"] {
        app.deliver(comment(actor, "Q4", &["u", "kari"])).await;
    }
    let feed = app.feed(&u).await;
    assert_eq!(feed.len(), 1, "{feed:?}");
    let item = &feed[0];
    assert_eq!(item["count"], 4);
    assert_eq!(item["actor_ids"], json!(["cia", "ada", "bo"]));
    assert_eq!(item["actor_id"], "cia");
    assert_eq!(item["title"], "Cia and 2 others commented on Q4 plan");
    assert_eq!(app.unread(&u).await, 1);
    let m = members(&app, &u, item["id"].as_str().unwrap()).await;
    assert_eq!(m.len(), 4);
    assert_eq!(m[0]["actor_id"], "cia");
    assert_eq!(m[0]["title"], "Cia commented on an activity");
    assert_eq!(m[3]["actor_id"], "ada");

    let feed = app.feed(&kari).await;
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0]["title"], "Cia og 2 andre kommenterte Q4 plan");

    // Another object is another item; one person is named alone.
    app.deliver(comment("bo", "Q1", &["u"])).await;
    app.deliver(comment("ada", "Q1", &["u"])).await;
    let feed = app.feed(&u).await;
    assert_eq!(feed.len(), 2);
    assert_eq!(feed[0]["title"], "Ada and 1 other commented on Q1 plan");
    assert_eq!(app.unread(&u).await, 2);

    // Someone else's item is not theirs to list.
    let other = feed[0]["id"].as_str().unwrap();
    app.get(&format!("/v1/me/feed/{other}/members"), &Auth::user(&kari))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_grouped_item_is_updated_in_place_on_open_tabs_and_unread_once() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let u = app.token("acme", "u").await;
    let mut tab = app.stream(&u, "tab_id=a&active=true").await;
    assert_eq!(tab.expect_unread().await, 0);
    app.deliver(comment("ada", "Q4", &["u"])).await;
    let first = tab.expect_notification().await.json();
    assert_eq!(first["count"], 1);
    assert_eq!(tab.expect_unread().await, 1);

    // Read, then another comment: the same item, unread again, at the top.
    app.post_empty(
        &format!("/v1/me/feed/{}/read", first["id"].as_str().unwrap()),
        &Auth::user(&u),
    )
    .await
    .ok(204);
    assert_eq!(tab.expect_unread().await, 0);
    app.deliver(comment("bo", "Q4", &["u"])).await;
    // The new comment's pop-up (not a bell item) and the item's update, in either order.
    let mut updated = None;
    let mut popup = None;
    while updated.is_none() || popup.is_none() {
        let f = tab.expect_frame().await;
        match f.event.as_str() {
            "notification_updated" => updated = Some(f),
            "notification" => popup = Some(f.json()),
            "unread_count" => assert_eq!(f.json()["unread"], 1),
            other => panic!("unexpected {other}"),
        }
    }
    let updated = updated.unwrap();
    let item = updated.json();
    assert_eq!(item["id"], first["id"]);
    assert_eq!(item["count"], 2);
    assert_eq!(item["title"], "Bo and 1 other commented on Q4 plan");
    assert!(
        item.get("popup").is_none() && item.get("browser").is_none(),
        "one pop-up per comment: {item}"
    );
    assert!(item["read_at"].is_null());
    let new_pos: i64 = updated.id.unwrap().parse().unwrap();
    assert!(new_pos > first["position"].as_i64().unwrap());
    let popup = popup.unwrap();
    assert_eq!(popup["bell"], false, "{popup}");
    assert_eq!(popup["title"], "Bo commented on an activity");
    assert!(popup.get("popup").is_some(), "{popup}");
    assert_eq!(app.unread(&u).await, 1);
    assert_eq!(app.feed(&u).await.len(), 1);
}

#[tokio::test]
async fn the_windows_end_and_archiving_start_a_new_item() {
    let (app, clock) = scheduled_app(|_| {}).await;
    setup(&app).await;
    app.deliver(comment("ada", "Q4", &["u"])).await;
    advance(&app, &clock, 3599).await;
    app.deliver(comment("bo", "Q4", &["u"])).await;
    let u = app.token("acme", "u").await;
    assert_eq!(app.feed(&u).await.len(), 1);
    // An hour after the group's first comment, the next one starts a new item.
    advance(&app, &clock, 1).await;
    app.deliver(comment("cia", "Q4", &["u"])).await;
    let u = app.token("acme", "u").await;
    let feed = app.feed(&u).await;
    assert_eq!(feed.len(), 2);
    assert_eq!(feed[0]["count"], 1);
    assert_eq!(feed[1]["count"], 2);
    // Archived: the next comment starts a new item, the archived one stays as it was.
    let id = feed[0]["id"].as_str().unwrap().to_string();
    app.post_empty(&format!("/v1/me/feed/{id}/archive"), &Auth::user(&u))
        .await
        .ok(204);
    app.deliver(comment("ada", "Q4", &["u"])).await;
    let feed = app.feed(&u).await;
    assert_eq!(feed.len(), 2);
    assert_ne!(feed[0]["id"], json!(id));
    assert_eq!(feed[0]["count"], 1);
}
