//! Tenant isolation: nothing crosses accounts.

use serde_json::json;

use crate::harness::*;

/// Accounts `a` and `b` (both enterprise), each with a super admin `root`, a user `u1`
/// (the same id in both) and one user of its own (`alice` in a, `bob` in b).
async fn setup(app: &TestApp) {
    for (account, own) in [("a", "alice"), ("b", "bob")] {
        app.put_account(account, "enterprise").await;
        app.put_user(account, "root", json!({"roles": ["super_admin"]}))
            .await;
        app.put_user(account, "u1", json!({"name": format!("U1 of {account}")}))
            .await;
        app.put_user(account, own, json!({})).await;
    }
}

#[tokio::test]
async fn a_user_token_never_reaches_another_accounts_settings() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let b_defaults = app
        .put(
            "/v1/accounts/b/defaults",
            &Auth::Key,
            json!({"tabs": {"email": {"types": {"deals.mention": {"on": false}}}}}),
        )
        .await
        .ok(200)
        .clone();
    let b_profile = app
        .post(
            "/v1/accounts/b/profiles",
            &Auth::Key,
            json!({"name": "B", "roles": ["x"]}),
        )
        .await;
    let b_profile_id = b_profile.ok(201)["id"].as_str().unwrap().to_string();

    let a_root = Auth::user(&app.token("a", "root").await);
    let body = json!({"tabs": {}});
    app.get("/v1/accounts/b/defaults", &a_root)
        .await
        .assert_error(403, "forbidden");
    app.put("/v1/accounts/b/defaults", &a_root, body.clone())
        .await
        .assert_error(403, "forbidden");
    app.get("/v1/accounts/b/profiles", &a_root)
        .await
        .assert_error(403, "forbidden");
    app.post("/v1/accounts/b/profiles", &a_root, json!({"name": "evil"}))
        .await
        .assert_error(403, "forbidden");
    app.put(
        &format!("/v1/accounts/b/profiles/{b_profile_id}"),
        &a_root,
        json!({"name": "evil"}),
    )
    .await
    .assert_error(403, "forbidden");
    app.delete(&format!("/v1/accounts/b/profiles/{b_profile_id}"), &a_root)
        .await
        .assert_error(403, "forbidden");
    // A's admin reaching for B's profile through A's own account finds nothing.
    app.delete(&format!("/v1/accounts/a/profiles/{b_profile_id}"), &a_root)
        .await
        .assert_error(404, "not_found");

    // B is unchanged.
    assert_eq!(
        app.get("/v1/accounts/b/defaults", &Auth::Key).await.ok(200),
        &b_defaults
    );
    let profiles = app
        .get("/v1/accounts/b/profiles", &Auth::Key)
        .await
        .ok(200)
        .clone();
    assert_eq!(profiles["profiles"].as_array().unwrap().len(), 1);
    assert_eq!(profiles["profiles"][0]["name"], json!("B"));
    // A is unaffected by B's defaults.
    let a_prefs = app.prefs(&app.token("a", "u1").await).await;
    assert_eq!(
        a_prefs["tabs"]["email"]["types"]["deals.mention"]["source"],
        json!("catalog")
    );

    // Non-super-admins of the own account: 403; the key: allowed.
    let alice = Auth::user(&app.token("a", "alice").await);
    app.get("/v1/accounts/a/defaults", &alice)
        .await
        .assert_error(403, "super_admin_required");
    app.get("/v1/accounts/a/defaults", &Auth::Key).await.ok(200);
    app.get("/v1/accounts/a/defaults", &a_root).await.ok(200);
}

#[tokio::test]
async fn feeds_and_reads_stay_in_their_account() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let a_u1 = app.token("a", "u1").await;
    let b_u1 = app.token("b", "u1").await;
    let mut a_stream = app.stream(&a_u1, "tab_id=t&active=true").await;
    assert_eq!(a_stream.expect_unread().await, 0);

    let t = app
        .deliver(json!({"type": "deals.stage_changed", "account_id": "b", "actor_id": "bob", "recipients": ["u1"],
                        "data": {"stage": "B-stage"}}))
        .await;
    t.assert("u1", "bell", "sent", "preference:catalog");
    let b_items = app.feed(&b_u1).await;
    assert_eq!(b_items.len(), 1);
    assert_eq!(
        b_items[0]["title"],
        json!("User bob moved a deal to B-stage")
    );
    assert!(app.feed(&a_u1).await.is_empty());
    assert_eq!(app.unread(&a_u1).await, 0);

    // A's u1 cannot mark B's item read.
    let b_item = b_items[0]["id"].as_str().unwrap();
    app.post_empty(&format!("/v1/me/feed/{b_item}/read"), &Auth::user(&a_u1))
        .await
        .assert_error(404, "not_found");
    app.post_empty("/v1/me/feed/read-all", &Auth::user(&a_u1))
        .await
        .ok(204);
    assert_eq!(app.unread(&b_u1).await, 1);
    // A's stream hears of A's count only.
    assert_eq!(a_stream.expect_unread().await, 0);

    // A's stream did not get B's item: the next frame is A's own.
    app.deliver(json!({"type": "deals.stage_changed", "account_id": "a", "actor_id": "alice", "recipients": ["u1"],
                       "data": {"stage": "A-stage"}}))
        .await;
    let f = a_stream.expect_notification().await;
    assert_eq!(
        f.json()["title"],
        json!("User alice moved a deal to A-stage")
    );
    assert_eq!(a_stream.expect_unread().await, 1);
}

#[tokio::test]
async fn events_only_reach_users_teams_and_keys_of_their_account() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    app.put_team("b", "team-b", json!([{"user_id": "bob", "primary": true}]))
        .await;

    // bob exists only in b.
    let t = app.deliver(json!({"type": "deals.stage_changed", "account_id": "a", "recipients": ["bob", "alice"]})).await;
    t.assert_all("bob", "skipped", "unknown_user");
    t.assert("alice", "bell", "sent", "preference:catalog");
    assert!(app.feed(&app.token("b", "bob").await).await.is_empty());
    let t = app
        .deliver(json!({"type": "quotes.paid", "account_id": "a", "owner_id": "bob"}))
        .await;
    t.assert_all("bob", "skipped", "unknown_user");
    let (status, body) = app
        .post_event(
            json!({"type": "conversations.unassigned", "account_id": "a", "team_id": "team-b"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("unknown_team")),
        "{body}"
    );

    // No token for a user of another account.
    let r = app
        .post(
            "/v1/tokens",
            &Auth::Key,
            json!({"account_id": "a", "user_id": "bob"}),
        )
        .await;
    r.assert_error(404, "not_found");

    // Idempotency keys are per account.
    let ev = |account: &str| json!({"type": "deals.stage_changed", "account_id": account, "recipients": ["u1"], "idempotency_key": "same"});
    let (_, first) = app.post_event(ev("a")).await;
    let (_, second) = app.post_event(ev("b")).await;
    assert_eq!(first["duplicate"], json!(false));
    assert_eq!(second["duplicate"], json!(false));
    assert_ne!(first["id"], second["id"]);
    app.wait_processed(first["id"].as_str().unwrap()).await;
    app.wait_processed(second["id"].as_str().unwrap()).await;
    assert_eq!(app.feed(&app.token("a", "u1").await).await.len(), 1);
    assert_eq!(app.feed(&app.token("b", "u1").await).await.len(), 1);
}
