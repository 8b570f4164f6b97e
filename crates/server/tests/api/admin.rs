//! Account defaults and notification profiles (super admins or the API key).

use serde_json::{Value, json};

use crate::harness::*;

async fn setup(app: &TestApp, tier: &str) -> (String, String) {
    app.put_account("acme", tier).await;
    app.put_user("acme", "root", json!({"roles": ["super_admin"]}))
        .await;
    app.put_user("acme", "u", json!({"roles": ["sales"]})).await;
    (
        app.token("acme", "root").await,
        app.token("acme", "u").await,
    )
}

#[tokio::test]
async fn defaults_read_and_replace() {
    let app = TestApp::spawn().await;
    let (root, user) = setup(&app, "enterprise").await;
    let doc = app
        .get("/v1/accounts/acme/defaults", &Auth::Key)
        .await
        .ok(200)
        .clone();
    // The same shape as preferences, without sources and without the mobile switch.
    assert_eq!(
        doc["tabs"]["email"]["types"]["deals.mention"],
        json!({"on": true, "locked": false})
    );
    assert_eq!(
        doc["tabs"]["mobile"]["types"]["deals.mention"],
        json!({"on": false, "locked": false})
    );
    assert!(
        doc["tabs"]["mobile"].get("enabled").is_none(),
        "{}",
        doc["tabs"]["mobile"]
    );
    assert_eq!(
        doc["tabs"]["desktop"]["types"]["account.billing"],
        json!({"on": true, "locked": true, "sound": "chime"})
    );
    // Defaults list every type, whatever its audience.
    assert!(
        doc["tabs"]["email"]["types"]
            .get("payments.failed")
            .is_some()
    );

    let put = json!({"tabs": {"email": {"enabled": false, "types": {"deals.mention": {"on": false}}},
                               "mobile": {"types": {"deals.mention": {"on": true}}}}});
    let saved = app
        .put("/v1/accounts/acme/defaults", &Auth::user(&root), put)
        .await
        .ok(200)
        .clone();
    assert_eq!(saved["tabs"]["email"]["enabled"], json!(false));
    assert_eq!(
        saved["tabs"]["email"]["types"]["deals.mention"],
        json!({"on": false, "locked": false})
    );
    assert_eq!(
        saved["tabs"]["mobile"]["types"]["deals.mention"],
        json!({"on": true, "locked": false})
    );
    assert_eq!(
        app.get("/v1/accounts/acme/defaults", &Auth::user(&root))
            .await
            .ok(200),
        &saved
    );

    // Users see them with source `account`; admins choose mobile topics, not the switch.
    let prefs = app.prefs(&user).await;
    assert_eq!(prefs["tabs"]["email"]["enabled"], json!(false));
    assert_eq!(
        prefs["tabs"]["mobile"]["types"]["deals.mention"]["source"],
        json!("account")
    );
    assert_eq!(prefs["tabs"]["mobile"]["enabled"], json!(false));

    // PUT replaces: what is not given falls back to the catalog.
    let replaced = app
        .put(
            "/v1/accounts/acme/defaults",
            &Auth::Key,
            json!({"tabs": {"desktop": {"types": {"deals.mention": {"on": false}}}}}),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(replaced["tabs"]["email"]["enabled"], json!(true));
    assert_eq!(
        replaced["tabs"]["email"]["types"]["deals.mention"]["on"],
        json!(true)
    );
    assert_eq!(
        replaced["tabs"]["desktop"]["types"]["deals.mention"]["on"],
        json!(false)
    );

    for (body, code) in [
        (
            json!({"tabs": {"mobile": {"enabled": true}}}),
            "invalid_preference",
        ),
        (
            json!({"tabs": {"email": {"types": {"account.billing": {"on": false}}}}}),
            "invalid_preference",
        ),
        (
            json!({"tabs": {"desktop": {"types": {"website_visits.contact": {"on": true}}}}}),
            "invalid_preference",
        ),
        (
            json!({"tabs": {"email": {"types": {"nope.nope": {"on": true}}}}}),
            "invalid_preference",
        ),
        (
            json!({"tabs": {"email": {"enabled": "no"}}}),
            "invalid_body",
        ),
    ] {
        let r = app
            .put("/v1/accounts/acme/defaults", &Auth::Key, body.clone())
            .await;
        assert_eq!(r.error(422), code, "{body}");
    }
    assert_eq!(
        app.get("/v1/accounts/acme/defaults", &Auth::Key)
            .await
            .ok(200),
        &replaced
    );
}

#[tokio::test]
async fn only_super_admins_and_the_key_manage_defaults() {
    let app = TestApp::spawn().await;
    let (root, user) = setup(&app, "professional").await;
    let me = Auth::user(&user);
    let body = json!({"tabs": {}});
    app.get("/v1/accounts/acme/defaults", &me)
        .await
        .assert_error(403, "super_admin_required");
    app.put("/v1/accounts/acme/defaults", &me, body.clone())
        .await
        .assert_error(403, "super_admin_required");
    app.get("/v1/accounts/acme/profiles", &me)
        .await
        .assert_error(403, "super_admin_required");
    app.post("/v1/accounts/acme/profiles", &me, json!({"name": "P"}))
        .await
        .assert_error(403, "super_admin_required");
    for auth in [Auth::Key, Auth::user(&root)] {
        app.get("/v1/accounts/acme/defaults", &auth).await.ok(200);
        app.put("/v1/accounts/acme/defaults", &auth, body.clone())
            .await
            .ok(200);
        app.get("/v1/accounts/acme/profiles", &auth).await.ok(200);
    }
    app.get("/v1/accounts/nowhere/defaults", &Auth::Key)
        .await
        .assert_error(404, "not_found");
    app.get("/v1/accounts/bad%20id/defaults", &Auth::Key)
        .await
        .assert_error(422, "invalid_id");
}

#[tokio::test]
async fn lower_tiers_may_read_but_not_set_defaults() {
    let app = TestApp::spawn().await;
    let (root, _) = setup(&app, "starter").await;
    let doc = app
        .get("/v1/accounts/acme/defaults", &Auth::user(&root))
        .await
        .ok(200)
        .clone();
    assert_eq!(
        doc["tabs"]["email"]["types"]["deals.mention"]["on"],
        json!(true)
    );
    app.put(
        "/v1/accounts/acme/defaults",
        &Auth::Key,
        json!({"tabs": {}}),
    )
    .await
    .assert_error(403, "tier_not_allowed");
    app.post(
        "/v1/accounts/acme/profiles",
        &Auth::user(&root),
        json!({"name": "P"}),
    )
    .await
    .assert_error(403, "tier_not_allowed");
    assert_eq!(
        app.get("/v1/accounts/acme/profiles", &Auth::Key)
            .await
            .ok(200),
        &json!({"profiles": []})
    );
}

#[tokio::test]
async fn profiles_create_list_update_delete() {
    let app = TestApp::spawn().await;
    let (root, user) = setup(&app, "enterprise").await;
    let admin = Auth::user(&root);
    let created = app
        .post(
            "/v1/accounts/acme/profiles",
            &admin,
            json!({"name": "Sales", "roles": ["sales"], "user_ids": ["x1"],
                   "tabs": {"desktop": {"types": {"deals.stage_changed": {"on": false}}}}}),
        )
        .await
        .ok(201)
        .clone();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("prf_"), "{id}");
    assert_eq!(created["name"], json!("Sales"));
    assert_eq!(created["roles"], json!(["sales"]));
    assert_eq!(created["user_ids"], json!(["x1"]));
    assert_eq!(
        created["tabs"]["desktop"]["types"]["deals.stage_changed"]["on"],
        json!(false)
    );
    assert!(created["created_at"].is_string());

    let list = app
        .get("/v1/accounts/acme/profiles", &Auth::Key)
        .await
        .ok(200)
        .clone();
    assert_eq!(list["profiles"], json!([created.clone()]));
    let source = |p: &Value| p["tabs"]["desktop"]["types"]["deals.stage_changed"].clone();
    assert_eq!(
        source(&app.prefs(&user).await),
        json!({"on": false, "source": "profile", "locked": false, "sound": "chime"})
    );

    // Update: no longer for the role, now switching email off.
    let updated = app
        .put(
            &format!("/v1/accounts/acme/profiles/{id}"),
            &admin,
            json!({"name": "Sales v2", "roles": ["sales"], "tabs": {"email": {"types": {"deals.stage_changed": {"on": false}}}}}),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(updated["id"], json!(id));
    assert_eq!(updated["name"], json!("Sales v2"));
    assert_eq!(updated["user_ids"], json!([]));
    assert_eq!(updated["created_at"], created["created_at"]);
    let prefs = app.prefs(&user).await;
    assert_eq!(
        prefs["tabs"]["desktop"]["types"]["deals.stage_changed"]["source"],
        json!("catalog")
    );
    assert_eq!(
        prefs["tabs"]["email"]["types"]["deals.stage_changed"]["source"],
        json!("profile")
    );

    for (body, code) in [
        (json!({"name": ""}), "invalid_name"),
        (json!({"name": "P", "user_ids": ["bad id"]}), "invalid_id"),
        (
            json!({"name": "P", "tabs": {"email": {"types": {"nope.nope": {"on": false}}}}}),
            "invalid_preference",
        ),
        (
            json!({"name": "P", "tabs": {"mobile": {"enabled": true}}}),
            "invalid_preference",
        ),
        (json!({"name": "P", "tabs": {"fax": {}}}), "invalid_body"),
        (json!({"name": "P", "colour": "red"}), "invalid_body"),
    ] {
        let r = app
            .post("/v1/accounts/acme/profiles", &admin, body.clone())
            .await;
        assert_eq!(r.error(422), code, "{body}");
    }
    app.put(
        "/v1/accounts/acme/profiles/prf_nope",
        &admin,
        json!({"name": "X"}),
    )
    .await
    .assert_error(404, "not_found");

    assert_eq!(
        app.delete(&format!("/v1/accounts/acme/profiles/{id}"), &admin)
            .await
            .status,
        204
    );
    app.delete(&format!("/v1/accounts/acme/profiles/{id}"), &admin)
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        app.get("/v1/accounts/acme/profiles", &Auth::Key)
            .await
            .ok(200),
        &json!({"profiles": []})
    );
    let prefs = app.prefs(&user).await;
    assert_eq!(
        prefs["tabs"]["email"]["types"]["deals.stage_changed"]["source"],
        json!("catalog")
    );
}

#[tokio::test]
async fn patch_changes_only_the_given_defaults() {
    let app = TestApp::spawn().await;
    let (root, user) = setup(&app, "enterprise").await;
    app.put(
        "/v1/accounts/acme/defaults",
        &Auth::Key,
        json!({"tabs": {"email": {"types": {"deals.mention": {"on": false}}}}}),
    )
    .await
    .ok(200);
    let saved = app
        .patch(
            "/v1/accounts/acme/defaults",
            &Auth::user(&root),
            json!({"tabs": {"desktop": {"types": {"crm.mention": {"on": false}}}}}),
        )
        .await
        .ok(200)
        .clone();
    // The earlier default stays; the new one is added; nothing else becomes "account".
    assert_eq!(
        saved["tabs"]["email"]["types"]["deals.mention"]["on"],
        json!(false)
    );
    assert_eq!(
        saved["tabs"]["desktop"]["types"]["crm.mention"]["on"],
        json!(false)
    );
    let prefs = app.prefs(&user).await;
    let account_sourced: Vec<String> = ["email", "desktop", "other_apps", "mobile"]
        .iter()
        .flat_map(|tab| {
            prefs["tabs"][tab]["types"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, s)| s["source"] == "account")
                .map(move |(id, _)| format!("{tab}/{id}"))
        })
        .collect();
    assert_eq!(
        account_sourced,
        vec!["email/deals.mention", "desktop/crm.mention"]
    );
    // The same rules as PUT.
    let u = app.token("acme", "u").await;
    app.patch("/v1/accounts/acme/defaults", &Auth::user(&u), json!({}))
        .await
        .assert_error(403, "super_admin_required");
    app.patch(
        "/v1/accounts/acme/defaults",
        &Auth::Key,
        json!({"tabs": {"email": {"types": {"nope.nope": {"on": false}}}}}),
    )
    .await
    .error(422);
}

#[tokio::test]
async fn the_account_users_and_roles_for_profile_pickers() {
    let app = TestApp::spawn().await;
    let (root, user) = setup(&app, "enterprise").await;
    app.put_user(
        "acme",
        "b",
        json!({"name": "Bea", "roles": ["sales", "support"]}),
    )
    .await;
    let people = app
        .get("/v1/accounts/acme/users", &Auth::user(&root))
        .await
        .ok(200)
        .clone();
    let ids: Vec<&str> = people["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b", "root", "u"]);
    assert_eq!(people["users"][0]["name"], "Bea");
    assert_eq!(people["roles"], json!(["sales", "super_admin", "support"]));
    assert_eq!(people["truncated"], false);
    // Only super admins (and the key); never another account.
    app.get("/v1/accounts/acme/users", &Auth::user(&user))
        .await
        .assert_error(403, "super_admin_required");
    app.get("/v1/accounts/acme/users", &Auth::Key).await.ok(200);
    app.get("/v1/accounts/other/users", &Auth::user(&root))
        .await
        .assert_error(403, "forbidden");
}
