//! The bell's own item states: archive and snooze. An archived item leaves the list and
//! the unread count until unarchived; a snoozed one leaves both until its time (or an
//! un-snooze), then comes back unread at the top with a real-time frame.

use serde_json::{Value, json};

use crate::harness::*;
use crate::scheduler::{START_MS, advance, scheduled_app};

async fn setup(app: &TestApp, timezone: &str) -> String {
    app.put_account("acme", "enterprise").await;
    app.put_user("acme", "ada", json!({"name": "Ada"})).await;
    app.put_user("acme", "u", json!({"name": "You", "timezone": timezone}))
        .await;
    app.put_user("acme", "other", json!({})).await;
    app.token("acme", "u").await
}

fn stage(deal: &str) -> Value {
    json!({"type": "deals.stage_changed", "account_id": "acme", "actor_id": "ada", "recipients": ["u"],
           "object": {"type": "deal", "id": deal, "name": format!("Deal {deal}"), "url": format!("/deals/{deal}")},
           "data": {"stage": "Won"}})
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["body"].as_str().unwrap().to_string())
        .collect()
}

async fn list(app: &TestApp, tok: &str, query: &str) -> Vec<Value> {
    app.get(&format!("/v1/me/feed?{query}"), &Auth::user(tok))
        .await
        .ok(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// Three items, newest first: Deal 3, Deal 2, Deal 1. Returns their ids in that order.
async fn three(app: &TestApp, tok: &str) -> Vec<String> {
    for d in ["1", "2", "3"] {
        app.deliver(stage(d)).await;
    }
    let feed = app.feed(tok).await;
    assert_eq!(ids(&feed), ["Deal 3", "Deal 2", "Deal 1"]);
    feed.iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_archived_item_leaves_the_list_and_the_count_until_unarchived() {
    let app = TestApp::spawn().await;
    let tok = setup(&app, "UTC").await;
    let me = Auth::user(&tok);
    let id = three(&app, &tok).await;
    let mut tab = app.stream(&tok, "tab_id=other").await;
    assert_eq!(tab.expect_unread().await, 3);

    app.post_empty(&format!("/v1/me/feed/{}/archive", id[1]), &me)
        .await
        .ok(204);
    // The user's other tabs are told, then get the new count.
    let f = SseClient::check(tab.expect_frame().await, "feed_changed");
    assert_eq!(f.json(), json!({"id": id[1], "change": "archived"}));
    assert_eq!(tab.expect_unread().await, 2);
    assert_eq!(ids(&app.feed(&tok).await), ["Deal 3", "Deal 1"]);
    assert_eq!(app.unread(&tok).await, 2);
    let archived = list(&app, &tok, "archived=true").await;
    assert_eq!(ids(&archived), ["Deal 2"]);
    assert!(archived[0]["archived_at"].is_string(), "{}", archived[0]);

    // Deal 3 read: the unread filter shows Deal 1; the archived Deal 2 stays unread.
    app.post_empty(&format!("/v1/me/feed/{}/read", id[0]), &me)
        .await
        .ok(204);
    assert_eq!(ids(&list(&app, &tok, "unread=true").await), ["Deal 1"]);
    assert_eq!(
        ids(&list(&app, &tok, "archived=true&unread=true").await),
        ["Deal 2"]
    );

    // Back in its place, still unread.
    app.post_empty(&format!("/v1/me/feed/{}/unarchive", id[1]), &me)
        .await
        .ok(204);
    // Reading Deal 3 above sent its count; then the unarchive.
    assert_eq!(tab.expect_unread().await, 1);
    let f = SseClient::check(tab.expect_frame().await, "feed_changed");
    assert_eq!(f.json(), json!({"id": id[1], "change": "unarchived"}));
    assert_eq!(tab.expect_unread().await, 2);
    let feed = app.feed(&tok).await;
    assert_eq!(ids(&feed), ["Deal 3", "Deal 2", "Deal 1"]);
    assert!(feed[1]["archived_at"].is_null());
    assert_eq!(app.unread(&tok).await, 2);
    assert!(list(&app, &tok, "archived=true").await.is_empty());

    // Unknown items and other users' items are not found.
    app.post_empty("/v1/me/feed/nope/archive", &me)
        .await
        .assert_error(404, "not_found");
    let other = app.token("acme", "other").await;
    app.post_empty(
        &format!("/v1/me/feed/{}/archive", id[0]),
        &Auth::user(&other),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_snoozed_item_comes_back_unread_at_the_top_with_a_frame() {
    let (app, clock) = scheduled_app(|_| {}).await;
    let tok = setup(&app, "Europe/Oslo").await;
    let me = Auth::user(&tok);
    let id = three(&app, &tok).await;
    // Deal 1 (the oldest) was read before it is snoozed.
    app.post_empty(&format!("/v1/me/feed/{}/read", id[2]), &me)
        .await
        .ok(204);
    let mut tab = app.stream(&tok, "tab_id=t&active=true").await;
    assert_eq!(tab.expect_unread().await, 2);

    let r = app
        .post(
            &format!("/v1/me/feed/{}/snooze", id[2]),
            &me,
            json!({"preset": "one_hour"}),
        )
        .await;
    let until = chrono::DateTime::parse_from_rfc3339(r.ok(200)["snoozed_until"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert_eq!(until, START_MS + 3_600_000);
    assert_eq!(ids(&app.feed(&tok).await), ["Deal 3", "Deal 2"]);
    let snoozed = list(&app, &tok, "snoozed=true").await;
    assert_eq!(ids(&snoozed), ["Deal 1"]);
    // Every open tab takes the item out of its list.
    let f = SseClient::check(tab.expect_frame().await, "feed_changed");
    assert_eq!(f.json(), json!({"id": id[2], "change": "snoozed"}));
    assert_eq!(tab.expect_unread().await, 2);

    // A minute early: still away.
    advance(&app, &clock, 3540).await;
    assert_eq!(ids(&app.feed(&tok).await), ["Deal 3", "Deal 2"]);

    advance(&app, &clock, 60).await;
    let f = tab.expect_notification().await;
    assert_eq!(f.json()["id"], json!(id[2]));
    assert_eq!(tab.expect_unread().await, 3);
    let feed = app.feed(&tok).await;
    assert_eq!(ids(&feed), ["Deal 1", "Deal 3", "Deal 2"]);
    assert!(feed[0]["read_at"].is_null() && feed[0]["snoozed_until"].is_null());
    // Its new position is after every earlier one, so a tab resuming with
    // Last-Event-ID gets it too.
    let seq: i64 = f.id.as_deref().unwrap().parse().unwrap();
    let mut resumed = app
        .stream_with(&tok, "tab_id=r", Some(&(seq - 1).to_string()))
        .await
        .unwrap_or_else(|r| panic!("stream refused: {}", r.text));
    let replayed = resumed.expect_notification().await;
    assert_eq!(replayed.json()["id"], json!(id[2]));
}

#[tokio::test]
async fn an_unsnoozed_item_comes_back_at_once_and_its_old_snooze_does_nothing() {
    let (app, clock) = scheduled_app(|_| {}).await;
    let tok = setup(&app, "Europe/Oslo").await;
    let me = Auth::user(&tok);
    let id = three(&app, &tok).await;
    // Tomorrow 09:00 in Oslo is 08:00 UTC (winter time); START is Wednesday 12:00 UTC.
    let r = app
        .post(
            &format!("/v1/me/feed/{}/snooze", id[1]),
            &me,
            json!({"preset": "tomorrow"}),
        )
        .await;
    assert_eq!(
        r.ok(200)["snoozed_until"],
        json!("2026-11-26T08:00:00.000Z")
    );
    assert_eq!(app.unread(&tok).await, 2);
    let mut tab = app.stream(&tok, "tab_id=t").await;
    assert_eq!(tab.expect_unread().await, 2);

    app.delete(&format!("/v1/me/feed/{}/snooze", id[1]), &me)
        .await
        .ok(204);
    assert_eq!(tab.expect_notification().await.json()["id"], json!(id[1]));
    assert_eq!(tab.expect_unread().await, 3);
    assert_eq!(ids(&app.feed(&tok).await), ["Deal 2", "Deal 3", "Deal 1"]);

    // The snooze's job finds nothing to bring back: no second frame.
    advance(&app, &clock, 24 * 3600).await;
    while let Some(f) = tab.next_frame(std::time::Duration::from_millis(300)).await {
        assert_ne!(f.event, "notification", "unexpected frame {f:?}");
    }
    // Un-snoozing an item that is not snoozed changes nothing (a new token: a day passed).
    let tok = app.token("acme", "u").await;
    let me = Auth::user(&tok);
    app.delete(&format!("/v1/me/feed/{}/snooze", id[1]), &me)
        .await
        .ok(204);
    assert_eq!(ids(&app.feed(&tok).await), ["Deal 2", "Deal 3", "Deal 1"]);
}

#[tokio::test]
async fn bad_snoozes_are_refused() {
    let (app, clock) = scheduled_app(|_| {}).await;
    let tok = setup(&app, "UTC").await;
    let me = Auth::user(&tok);
    let id = three(&app, &tok).await;
    let path = format!("/v1/me/feed/{}/snooze", id[0]);
    for (body, code) in [
        (json!({}), "invalid_snooze"),
        (
            json!({"until": "2026-11-26T08:00:00Z", "preset": "tomorrow"}),
            "invalid_snooze",
        ),
        (json!({"until": "tomorrow"}), "invalid_until"),
        (json!({"until": "2026-11-25T11:00:00Z"}), "invalid_until"),
        (json!({"until": "2030-01-01T00:00:00Z"}), "invalid_until"),
    ] {
        app.post(&path, &me, body.clone())
            .await
            .assert_error(400, code);
    }
    app.post(&path, &me, json!({"preset": "someday"}))
        .await
        .assert_error(422, "invalid_body");
    // 12:00 UTC: this afternoon (14:00) is two hours away; at 13:30 it is too late.
    app.post(&path, &me, json!({"preset": "this_afternoon"}))
        .await
        .ok(200);
    advance(&app, &clock, 90 * 60).await;
    let tok = app.token("acme", "u").await;
    let me = Auth::user(&tok);
    app.post(
        &format!("/v1/me/feed/{}/snooze", id[1]),
        &me,
        json!({"preset": "this_afternoon"}),
    )
    .await
    .assert_error(400, "preset_passed");
    app.post(
        "/v1/me/feed/nope/snooze",
        &me,
        json!({"preset": "one_hour"}),
    )
    .await
    .assert_error(404, "not_found");
    assert_eq!(ids(&app.feed(&tok).await), ["Deal 2", "Deal 1"]);
}
