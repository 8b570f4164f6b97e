//! Events in: 202 acceptance, idempotency, the batch endpoint, traces.

use serde_json::{Value, json};

use crate::harness::*;

async fn setup(app: &TestApp) {
    app.put_account("acme", "enterprise").await;
    app.put_user("acme", "u1", json!({})).await;
    app.put_user("acme", "u2", json!({})).await;
}

fn stage(key: Option<&str>, stage: &str) -> Value {
    let mut e = json!({"type": "deals.stage_changed", "account_id": "acme", "actor_id": "u1", "recipients": ["u2"],
                       "data": {"stage": stage}});
    if let Some(k) = key {
        e["idempotency_key"] = json!(k);
    }
    e
}

#[tokio::test]
async fn accepted_events_are_processed_and_traced() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let (status, body) = app.post_event(stage(None, "Won")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["duplicate"], json!(false));
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("evt_"), "{id}");
    let t = app.wait_processed(id).await;
    assert_eq!(t.0["event_id"], json!(id));
    assert_eq!(t.0["account_id"], json!("acme"));
    assert_eq!(t.lines().len(), CHANNELS.len());
    t.assert_tabs();
    // The contract's fields (more may be added).
    for line in t.lines() {
        for key in ["user_id", "tab", "channel", "outcome", "reason"] {
            assert!(line[key].is_string(), "{key} in {line}");
        }
    }
    // Unknown event: 404.
    app.get("/v1/events/evt_unknown/trace", &Auth::Key)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn an_idempotency_key_is_accepted_once() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let (s1, first) = app.post_event(stage(Some("deal-881-won"), "Won")).await;
    assert_eq!((s1, &first["duplicate"]), (202, &json!(false)));
    // The same request again: the first event's id, marked duplicate.
    let (s2, second) = app.post_event(stage(Some("deal-881-won"), "Won")).await;
    assert_eq!(s2, 202);
    assert_eq!(second["duplicate"], json!(true));
    assert_eq!(second["id"], first["id"]);
    // The same key with other content is a conflict, not a silent duplicate.
    app.post(
        "/v1/events",
        &Auth::Key,
        stage(Some("deal-881-won"), "Lost"),
    )
    .await
    .assert_error(409, "idempotency_conflict");
    app.wait_processed(first["id"].as_str().unwrap()).await;
    // A different key is a new event.
    let other = app.deliver(stage(Some("deal-881-lost"), "Lost")).await;
    assert_ne!(other.0["event_id"], first["id"]);

    let feed = app.feed(&app.token("acme", "u2").await).await;
    let titles: Vec<&str> = feed.iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        [
            "User u1 moved a deal to Lost",
            "User u1 moved a deal to Won"
        ]
    );

    // The same request twice in one batch: stored once.
    let r = app
        .post(
            "/v1/events/batch",
            &Auth::Key,
            json!({"events": [stage(Some("k-b"), "A"), stage(Some("k-b"), "A")]}),
        )
        .await;
    let results = r.ok(202)["results"].as_array().unwrap().clone();
    assert_eq!(results[0]["duplicate"], json!(false));
    assert_eq!(results[1]["duplicate"], json!(true));
    assert_eq!(results[1]["id"], results[0]["id"]);
    app.wait_processed(results[0]["id"].as_str().unwrap()).await;
    assert_eq!(app.feed(&app.token("acme", "u2").await).await.len(), 3);
}

#[tokio::test]
async fn a_batch_answers_per_event() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let events = json!([
        stage(None, "One"),
        {"type": "no.such_type", "account_id": "acme", "recipients": ["u2"]},
        {"type": "deals.stage_changed", "account_id": "acme"},
        "not an event",
        {"type": "deals.stage_changed", "account_id": "nowhere", "recipients": ["u2"]},
        {"type": "deals.stage_changed", "account_id": "acme", "recipients": ["u2"], "source": "fax"},
        stage(None, "Two"),
    ]);
    let r = app
        .post("/v1/events/batch", &Auth::Key, json!({"events": events}))
        .await;
    let results = r.ok(202)["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 7);
    let code = |i: usize| {
        results[i]["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(code(1), "unknown_type");
    assert_eq!(code(2), "missing_recipients");
    assert_eq!(code(3), "invalid_body");
    assert_eq!(code(4), "unknown_account");
    assert_eq!(code(5), "invalid_source");
    for r in &results[1..=5] {
        assert!(
            r["error"]["message"].is_string() && r.get("id").is_none(),
            "{r}"
        );
    }
    for i in [0, 6] {
        assert_eq!(results[i]["duplicate"], json!(false), "{}", results[i]);
        assert!(results[i].get("error").is_none());
        app.wait_processed(results[i]["id"].as_str().unwrap()).await;
    }
    assert_ne!(results[0]["id"], results[6]["id"]);
    let feed = app.feed(&app.token("acme", "u2").await).await;
    let titles: Vec<&str> = feed.iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        ["User u1 moved a deal to Two", "User u1 moved a deal to One"]
    );
}

#[tokio::test]
async fn occurred_at_and_source_are_accepted_when_valid() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let mut e = stage(None, "Won");
    e["occurred_at"] = json!("2024-05-01T12:00:00+02:00");
    e["source"] = json!("workflow");
    e["object"] = json!({"type": "deal", "id": "d1", "url": "/deals/d1"});
    let t = app.deliver(e).await;
    t.assert("u2", "bell", "sent", "preference:catalog");
    let feed = app.feed(&app.token("acme", "u2").await).await;
    assert_eq!(feed[0]["url"], json!("/deals/d1"));
}
