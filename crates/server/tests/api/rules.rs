//! Rules that need no scheduler: self-notification, import and API sources, first
//! mention only, audience resolution (owner only, team primary), unknown users, and the
//! recording of assignment types as scheduled.

use serde_json::{Value, json};

use crate::harness::*;

async fn setup(app: &TestApp) {
    app.put_account("acme", "enterprise").await;
    for u in ["u1", "u2", "u3"] {
        app.put_user("acme", u, json!({})).await;
    }
}

fn event(ty: &str, actor: &str, recipients: &[&str], extra: Value) -> Value {
    let mut e = json!({"type": ty, "account_id": "acme", "actor_id": actor, "recipients": recipients,
                       "object": {"type": "thing", "id": "obj-1", "name": "Thing"}});
    for (k, v) in extra.as_object().expect("object") {
        e[k] = v.clone();
    }
    e
}

#[tokio::test]
async fn the_actor_is_never_notified() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let t = app
        .deliver(event("deals.stage_changed", "u1", &["u1", "u2"], json!({})))
        .await;
    assert_eq!(t.users(), vec!["u1", "u2"]);
    t.assert_all("u1", "skipped", "self_notification");
    t.assert("u2", "bell", "sent", "preference:catalog");
    t.assert("u2", "email", "sent", "preference:catalog");
    assert!(app.feed(&app.token("acme", "u1").await).await.is_empty());
    let feed = app.feed(&app.token("acme", "u2").await).await;
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0]["actor_id"], json!("u1"));
    assert_eq!(
        feed[0]["title"],
        json!("User u1 moved a deal to a new stage")
    );
}

#[tokio::test]
async fn imports_and_api_created_tasks_and_mentions_do_not_notify() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    for ty in ["crm.contact_assigned", "deals.assigned", "tasks.assigned"] {
        let t = app
            .deliver(event(ty, "u1", &["u2"], json!({"source": "import"})))
            .await;
        t.assert_all("u2", "skipped", "source:import");
    }
    let t = app
        .deliver(event(
            "tasks.assigned",
            "u1",
            &["u2"],
            json!({"source": "api"}),
        ))
        .await;
    t.assert_all("u2", "skipped", "source:api");
    for ty in ["comments.mention", "deals.mention", "conversations.mention"] {
        let t = app
            .deliver(event(ty, "u1", &["u2"], json!({"source": "api"})))
            .await;
        t.assert_all("u2", "skipped", "source:api");
    }
    // The same API source on a type without the rule notifies.
    let t = app
        .deliver(event(
            "deals.stage_changed",
            "u1",
            &["u2"],
            json!({"source": "api"}),
        ))
        .await;
    t.assert("u2", "bell", "sent", "preference:catalog");
    // Contacts assigned through the API (not tasks) are scheduled like any assignment.
    let t = app
        .deliver(event(
            "crm.contact_assigned",
            "u1",
            &["u2"],
            json!({"source": "api"}),
        ))
        .await;
    t.assert("u2", "bell", "scheduled", "preference:catalog;batched");

    let feed = app.feed(&app.token("acme", "u2").await).await;
    assert_eq!(
        feed.len(),
        1,
        "only the stage change is in the bell: {feed:?}"
    );
    assert_eq!(feed[0]["type"], json!("deals.stage_changed"));
}

#[tokio::test]
async fn assignments_are_scheduled_and_not_in_the_feed_yet() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    for ty in [
        "deals.assigned",
        "tasks.assigned",
        "tickets.assigned",
        "leads.assigned",
    ] {
        let t = app.deliver(event(ty, "u1", &["u2"], json!({}))).await;
        t.assert_tabs();
        for ch in ["email", "bell", "popup", "browser"] {
            t.assert("u2", ch, "scheduled", "preference:catalog;batched");
        }
        t.assert("u2", "slack", "skipped", "not_connected:slack");
        t.assert("u2", "mobile", "skipped", "preference:catalog");
    }
    let tok = app.token("acme", "u2").await;
    assert!(app.feed(&tok).await.is_empty());
    assert_eq!(app.unread(&tok).await, 0);
}

#[tokio::test]
async fn mentions_notify_only_the_first_time_per_activity() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let on = |activity: &str| json!({"object": {"type": "comment", "id": activity, "name": format!("Comment {activity}")}});

    let t = app
        .deliver(event("comments.mention", "u1", &["u2"], on("act-1")))
        .await;
    t.assert("u2", "bell", "sent", "preference:catalog");
    // Email goes out too, now or grouped with other replies.
    let (outcome, _) = t.of("u2", "email");
    assert!(outcome == "sent" || outcome == "scheduled", "{outcome}");
    // Mentioned again in the same activity: u2 is not told again, u3 is (their first).
    let t = app
        .deliver(event("comments.mention", "u1", &["u2", "u3"], on("act-1")))
        .await;
    t.assert_all("u2", "skipped", "repeat_mention");
    t.assert("u3", "bell", "sent", "preference:catalog");
    // Another activity notifies again.
    let t = app
        .deliver(event("comments.mention", "u1", &["u2"], on("act-2")))
        .await;
    t.assert("u2", "bell", "sent", "preference:catalog");
    // A suppressed mention (API source) does not use up the first mention.
    let t = app
        .deliver(event(
            "comments.mention",
            "u1",
            &["u2"],
            json!({"source": "api", "object": {"type": "comment", "id": "act-3"}}),
        ))
        .await;
    t.assert_all("u2", "skipped", "source:api");
    let t = app
        .deliver(event("comments.mention", "u1", &["u2"], on("act-3")))
        .await;
    t.assert("u2", "bell", "sent", "preference:catalog");
    // The rule is per type family: other types on the same object notify every time.
    for _ in 0..2 {
        let t = app
            .deliver(event("deals.stage_changed", "u1", &["u2"], on("act-1")))
            .await;
        t.assert("u2", "bell", "sent", "preference:catalog");
    }

    let feed = app.feed(&app.token("acme", "u2").await).await;
    let bodies: Vec<&str> = feed.iter().map(|i| i["body"].as_str().unwrap()).collect();
    assert_eq!(
        bodies,
        [
            "Comment act-1",
            "Comment act-1",
            "Comment act-3",
            "Comment act-2",
            "Comment act-1"
        ]
    );
    let mentions = feed
        .iter()
        .filter(|i| i["type"] == json!("comments.mention"))
        .count();
    assert_eq!(mentions, 3);
    assert_eq!(app.feed(&app.token("acme", "u3").await).await.len(), 1);
}

#[tokio::test]
async fn repeated_mentions_in_one_batch_notify_once() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let mention = |key: &str| {
        let mut e = event(
            "deals.mention",
            "u1",
            &["u2"],
            json!({"object": {"type": "note", "id": "note-9"}}),
        );
        e["idempotency_key"] = json!(key);
        e
    };
    let r = app
        .post(
            "/v1/events/batch",
            &Auth::Key,
            json!({"events": [mention("m1"), mention("m2")]}),
        )
        .await;
    let results = r.ok(202)["results"].as_array().unwrap().clone();
    let first = app.wait_processed(results[0]["id"].as_str().unwrap()).await;
    let second = app.wait_processed(results[1]["id"].as_str().unwrap()).await;
    first.assert("u2", "bell", "sent", "preference:catalog");
    second.assert_all("u2", "skipped", "repeat_mention");
    assert_eq!(app.feed(&app.token("acme", "u2").await).await.len(), 1);
}

#[tokio::test]
async fn owner_only_types_go_to_the_owner_alone() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let t = app
        .deliver(json!({"type": "quotes.paid", "account_id": "acme", "owner_id": "u2", "recipients": ["u3"],
                        "object": {"type": "quote", "id": "q1", "name": "Quote Q1"}, "data": {"buyer": "Acme Ltd"}}))
        .await;
    assert_eq!(t.users(), vec!["u2"]);
    t.assert("u2", "bell", "sent", "preference:catalog");
    let feed = app.feed(&app.token("acme", "u2").await).await;
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0]["title"], json!("Acme Ltd paid your quote"));
    assert!(app.feed(&app.token("acme", "u3").await).await.is_empty());

    // The owner is the actor: nobody is told.
    let t = app.deliver(json!({"type": "quotes.signed", "account_id": "acme", "owner_id": "u2", "actor_id": "u2"})).await;
    t.assert_all("u2", "skipped", "self_notification");
    // An owner who is not a user of the account is reported.
    let t = app
        .deliver(json!({"type": "quotes.signed", "account_id": "acme", "owner_id": "nobody"}))
        .await;
    assert_eq!(t.users(), vec!["nobody"]);
    t.assert_all("nobody", "skipped", "unknown_user");
}

#[tokio::test]
async fn team_primary_types_go_to_primary_members_who_visited_the_inbox() {
    let app = TestApp::spawn().await;
    app.put_account("acme", "enterprise").await;
    let inbox = json!({"flags": {"visited_inbox": true}});
    app.put_user("acme", "p_inbox", inbox.clone()).await;
    app.put_user("acme", "p_new", json!({})).await;
    app.put_user("acme", "s_inbox", inbox.clone()).await;
    app.put_user("acme", "outsider", inbox.clone()).await;
    app.put_team(
        "acme",
        "support",
        json!([{"user_id": "p_inbox", "primary": true}, {"user_id": "p_new", "primary": true},
               {"user_id": "s_inbox", "primary": false}]),
    )
    .await;

    let t = app
        .deliver(
            json!({"type": "conversations.unassigned", "account_id": "acme", "team_id": "support",
                        "recipients": ["outsider"], "data": {"inbox": "Support inbox"}}),
        )
        .await;
    assert_eq!(t.users(), vec!["p_inbox", "p_new"]);
    t.assert("p_inbox", "bell", "sent", "preference:catalog");
    t.assert_all("p_new", "skipped", "audience:flag:visited_inbox");
    let feed = app.feed(&app.token("acme", "p_inbox").await).await;
    assert_eq!(feed.len(), 1);
    assert_eq!(
        feed[0]["title"],
        json!("New unassigned conversation in Support inbox")
    );
    for u in ["p_new", "s_inbox", "outsider"] {
        assert!(
            app.feed(&app.token("acme", u).await).await.is_empty(),
            "{u}"
        );
    }

    // Membership changes take effect for the next event.
    app.put_team(
        "acme",
        "support",
        json!([{"user_id": "s_inbox", "primary": true}]),
    )
    .await;
    let t = app
        .deliver(
            json!({"type": "conversations.unassigned", "account_id": "acme", "team_id": "support"}),
        )
        .await;
    assert_eq!(t.users(), vec!["s_inbox"]);
    t.assert("s_inbox", "bell", "sent", "preference:catalog");
}

#[tokio::test]
async fn unknown_recipients_are_reported_in_the_trace() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let t = app
        .deliver(event(
            "deals.stage_changed",
            "u1",
            &["u2", "ghost", "u2"],
            json!({}),
        ))
        .await;
    assert_eq!(t.users(), vec!["ghost", "u2"]);
    t.assert_all("ghost", "skipped", "unknown_user");
    t.assert("u2", "bell", "sent", "preference:catalog");
    // A repeated recipient is told once.
    assert_eq!(app.feed(&app.token("acme", "u2").await).await.len(), 1);
    assert_eq!(t.lines().len(), 2 * CHANNELS.len());
}
