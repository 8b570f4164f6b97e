//! The user's preferences document: partial patch, turn off all, reset, and the item
//! actions "don't show me these again" and "mute sound".

use serde_json::{Value, json};

use crate::harness::*;

async fn setup(app: &TestApp) -> String {
    app.put_account("acme", "enterprise").await;
    app.put_user("acme", "actor", json!({})).await;
    app.put_user("acme", "u", json!({})).await;
    app.token("acme", "u").await
}

fn types<'a>(doc: &'a Value, tab: &str) -> &'a serde_json::Map<String, Value> {
    doc["tabs"][tab]["types"].as_object().expect("types")
}

#[tokio::test]
async fn the_document_has_the_contract_shape() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let doc = app.prefs(&tok).await;
    let tabs = doc["tabs"].as_object().unwrap();
    let mut names: Vec<&String> = tabs.keys().collect();
    names.sort();
    assert_eq!(names, ["desktop", "email", "mobile", "other_apps"]);
    assert_eq!(doc["tabs"]["email"]["enabled"], json!(true));
    assert_eq!(
        doc["tabs"]["desktop"]["bell"],
        json!({"enabled": true, "favicon_dot": true})
    );
    assert_eq!(
        doc["tabs"]["desktop"]["popup"],
        json!({"enabled": true, "sound": "chime"})
    );
    assert_eq!(doc["tabs"]["desktop"]["browser"], json!({"enabled": true}));
    assert_eq!(
        doc["tabs"]["other_apps"]["teams"],
        json!({"enabled": true, "connected": false})
    );
    assert_eq!(doc["tabs"]["mobile"]["enabled"], json!(false));
    assert_eq!(
        doc["tabs"]["desktop"]["types"]["deals.mention"],
        json!({"on": true, "source": "catalog", "locked": false, "sound": "chime"})
    );
    assert_eq!(
        doc["tabs"]["email"]["types"]["deals.mention"],
        json!({"on": true, "source": "catalog", "locked": false})
    );
    // Email-only types make the email tab the longest.
    assert!(types(&doc, "email").len() > types(&doc, "desktop").len());
}

#[tokio::test]
async fn patch_changes_only_what_it_names_and_survives_a_reload() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let me = Auth::user(&tok);
    let before = app.prefs(&tok).await;
    let patch = json!({"tabs": {
        "desktop": {"popup": {"sound": "bell"}, "bell": {"favicon_dot": false},
                    "types": {"deals.mention": {"on": false}}},
        "email": {"types": {"comments.mention": {"on": false}}},
    }});
    let doc = app
        .patch("/v1/me/preferences", &me, patch)
        .await
        .ok(200)
        .clone();
    assert_eq!(
        doc["tabs"]["desktop"]["popup"],
        json!({"enabled": true, "sound": "bell"})
    );
    assert_eq!(
        doc["tabs"]["desktop"]["bell"],
        json!({"enabled": true, "favicon_dot": false})
    );
    assert_eq!(
        doc["tabs"]["desktop"]["types"]["deals.mention"],
        json!({"on": false, "source": "user", "locked": false, "sound": "bell"})
    );
    assert_eq!(
        doc["tabs"]["email"]["types"]["comments.mention"],
        json!({"on": false, "source": "user", "locked": false})
    );
    // Untouched checkboxes keep their value and source.
    assert_eq!(
        doc["tabs"]["email"]["types"]["deals.mention"],
        before["tabs"]["email"]["types"]["deals.mention"]
    );
    assert_eq!(doc["tabs"]["mobile"], before["tabs"]["mobile"]);
    assert_eq!(
        types(&doc, "desktop").len(),
        types(&before, "desktop").len()
    );
    // Reload: the same document.
    assert_eq!(app.prefs(&tok).await, doc);

    // A second patch merges with the first.
    let doc2 = app
        .patch(
            "/v1/me/preferences",
            &me,
            json!({"tabs": {"desktop": {"types": {"deals.mention": {"sound": "pop"}}}}}),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(
        doc2["tabs"]["desktop"]["types"]["deals.mention"],
        json!({"on": false, "source": "user", "locked": false, "sound": "pop"})
    );
    assert_eq!(
        doc2["tabs"]["email"]["types"]["comments.mention"]["on"],
        json!(false)
    );
    // An empty patch changes nothing.
    assert_eq!(
        app.patch("/v1/me/preferences", &me, json!({}))
            .await
            .ok(200),
        &doc2
    );

    // The choice drives delivery.
    let t = app
        .deliver(json!({"type": "deals.mention", "account_id": "acme", "actor_id": "actor", "recipients": ["u"],
                        "object": {"type": "note", "id": "n1"}}))
        .await;
    t.assert("u", "bell", "skipped", "preference:user");
    t.assert("u", "email", "sent", "preference:catalog");
}

#[tokio::test]
async fn invalid_patches_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let me = Auth::user(&tok);
    let before = app.prefs(&tok).await;
    for (patch, code) in [
        (
            json!({"tabs": {"email": {"types": {"no.such_type": {"on": false}}}}}),
            "invalid_preference",
        ),
        (
            json!({"tabs": {"email": {"types": {"deals.mention": {"sound": "bell"}}}}}),
            "invalid_preference",
        ),
        // The first change is valid, the second is not: neither is kept.
        (
            json!({"tabs": {"email": {"enabled": false, "types": {"account.support": {"on": false}}}}}),
            "invalid_preference",
        ),
        (
            json!({"tabs": {"desktop": {"popup": {"sound": "trumpet"}}}}),
            "invalid_body",
        ),
        (json!({"tabs": {"fax": {}}}), "invalid_body"),
        (
            json!({"tabs": {"email": {"types": {"deals.mention": {"on": "yes"}}}}}),
            "invalid_body",
        ),
        (
            json!({"tabs": {"email": {"colour": "red"}}}),
            "invalid_body",
        ),
    ] {
        let r = app.patch("/v1/me/preferences", &me, patch.clone()).await;
        assert_eq!(r.error(422), code, "{patch}: {}", r.text);
    }
    assert_eq!(app.prefs(&tok).await, before);
}

#[tokio::test]
async fn turn_off_all_keeps_mandatory_types_on() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let me = Auth::user(&tok);
    let doc = app
        .post_empty("/v1/me/preferences/email/turn-off-all", &me)
        .await
        .ok(200)
        .clone();
    let email = types(&doc, "email");
    let mut mandatory = Vec::new();
    for (id, s) in email {
        if s["locked"] == json!(true) {
            assert_eq!(
                s,
                &json!({"on": true, "source": "mandatory", "locked": true}),
                "{id}"
            );
            mandatory.push(id.as_str());
        } else {
            assert_eq!(
                s,
                &json!({"on": false, "source": "user", "locked": false}),
                "{id}"
            );
        }
    }
    assert_eq!(mandatory, ["account.billing", "account.support"]);
    // Other tabs are untouched; the master switch stays on.
    assert_eq!(doc["tabs"]["email"]["enabled"], json!(true));
    assert!(
        types(&doc, "desktop")
            .values()
            .all(|s| s["on"] == json!(true))
    );
    assert_eq!(app.prefs(&tok).await, doc);

    let t = app
        .deliver(json!({"type": "deals.stage_changed", "account_id": "acme", "actor_id": "actor", "recipients": ["u"]}))
        .await;
    t.assert("u", "email", "skipped", "preference:user");
    t.assert("u", "bell", "sent", "preference:catalog");
    let t = app
        .deliver(json!({"type": "account.support", "account_id": "acme", "recipients": ["u"]}))
        .await;
    t.assert("u", "email", "sent", "mandatory");

    // Mobile: only the types; the tab's switch is the user's own.
    let doc = app
        .post_empty("/v1/me/preferences/mobile/turn-off-all", &me)
        .await
        .ok(200)
        .clone();
    assert!(
        types(&doc, "mobile")
            .values()
            .all(|s| s["on"] == json!(s["locked"] == json!(true)))
    );
    app.post_empty("/v1/me/preferences/fax/turn-off-all", &me)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn reset_removes_the_users_choices_but_keeps_the_mobile_switch() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let me = Auth::user(&tok);
    let fresh = app.prefs(&tok).await;
    app.patch(
        "/v1/me/preferences",
        &me,
        json!({"tabs": {"email": {"enabled": false}, "desktop": {"popup": {"sound": "pop"}},
                        "mobile": {"enabled": true, "types": {"deals.mention": {"on": true}}}}}),
    )
    .await
    .ok(200);
    app.post_empty("/v1/me/preferences/desktop/turn-off-all", &me)
        .await
        .ok(200);
    app.post_empty("/v1/me/preferences/types/login_alert.risky_login/mute", &me)
        .await
        .ok(200);

    let doc = app
        .post_empty("/v1/me/preferences/reset", &me)
        .await
        .ok(200)
        .clone();
    for tab in ["email", "desktop", "other_apps", "mobile"] {
        for (id, s) in types(&doc, tab) {
            let source = s["source"].as_str().unwrap();
            assert!(
                source == "catalog" || source == "mandatory",
                "{tab}/{id}: {s}"
            );
        }
    }
    assert_eq!(doc["tabs"]["mobile"]["enabled"], json!(true));
    let mut expected = fresh.clone();
    expected["tabs"]["mobile"]["enabled"] = json!(true);
    assert_eq!(doc, expected);
    assert_eq!(app.prefs(&tok).await, expected);
}

#[tokio::test]
async fn item_menu_dont_show_and_mute() {
    let app = TestApp::spawn().await;
    let tok = setup(&app).await;
    let me = Auth::user(&tok);

    let doc = app
        .post_empty(
            "/v1/me/preferences/types/deals.stage_changed/dont-show",
            &me,
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(
        doc["tabs"]["desktop"]["types"]["deals.stage_changed"],
        json!({"on": false, "source": "user", "locked": false, "sound": "chime"})
    );
    assert_eq!(
        doc["tabs"]["email"]["types"]["deals.stage_changed"]["source"],
        json!("catalog")
    );
    let t = app
        .deliver(json!({"type": "deals.stage_changed", "account_id": "acme", "actor_id": "actor", "recipients": ["u"]}))
        .await;
    for ch in ["bell", "popup", "browser"] {
        t.assert("u", ch, "skipped", "preference:user");
    }
    t.assert("u", "email", "sent", "preference:catalog");
    assert!(app.feed(&tok).await.is_empty());

    let doc = app
        .post_empty("/v1/me/preferences/types/login_alert.risky_login/mute", &me)
        .await
        .ok(200)
        .clone();
    assert_eq!(
        doc["tabs"]["desktop"]["types"]["login_alert.risky_login"],
        json!({"on": true, "source": "catalog", "locked": false, "sound": "none"})
    );

    let p = "/v1/me/preferences/types";
    app.post_empty(&format!("{p}/account.billing/dont-show"), &me)
        .await
        .assert_error(422, "locked");
    app.post_empty(&format!("{p}/website_visits.contact/dont-show"), &me)
        .await
        .assert_error(422, "invalid_preference");
    app.post_empty(&format!("{p}/no.such_type/dont-show"), &me)
        .await
        .assert_error(404, "not_found");
    app.post_empty(&format!("{p}/no.such_type/mute"), &me)
        .await
        .assert_error(404, "not_found");
}
