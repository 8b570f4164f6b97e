//! Precedence, "first match wins": every step, seen in `GET /v1/me/preferences` (value,
//! source, locked, hidden) and in the trace of a real event.

use serde_json::{Value, json};

use crate::harness::*;

const TABS: [&str; 4] = ["email", "desktop", "other_apps", "mobile"];

/// Asserts one checkbox of a preferences document.
#[track_caller]
fn assert_setting(prefs: &Value, tab: &str, ty: &str, on: bool, source: &str, locked: bool) {
    let s = &prefs["tabs"][tab]["types"][ty];
    assert_eq!(s["on"], json!(on), "{tab}/{ty}: {s}");
    assert_eq!(s["source"], json!(source), "{tab}/{ty}: {s}");
    assert_eq!(s["locked"], json!(locked), "{tab}/{ty}: {s}");
}

/// Asserts a type is not offered on a tab (while the tab lists other types).
#[track_caller]
fn assert_hidden(prefs: &Value, tab: &str, ty: &str) {
    let types = prefs["tabs"][tab]["types"].as_object().expect("types");
    assert!(types.len() > 10, "{tab} lists too few types");
    assert!(!types.contains_key(ty), "{ty} should not be shown on {tab}");
}

fn stage_changed(recipients: &[&str]) -> Value {
    json!({"type": "deals.stage_changed", "account_id": "acme", "actor_id": "actor", "recipients": recipients,
           "object": {"type": "deal", "id": "d1", "name": "Big deal"}, "data": {"stage": "Won"}})
}

async fn acme(app: &TestApp, tier: &str) {
    app.put_account("acme", tier).await;
    app.put_user("acme", "actor", json!({})).await;
}

#[tokio::test]
async fn step1_type_only_on_its_allowed_tabs() {
    let app = TestApp::spawn().await;
    acme(&app, "enterprise").await;
    app.put_user("acme", "u", json!({})).await;
    let tok = app.token("acme", "u").await;

    let prefs = app.prefs(&tok).await;
    assert_setting(
        &prefs,
        "email",
        "website_visits.contact",
        true,
        "catalog",
        false,
    );
    for tab in ["desktop", "other_apps", "mobile"] {
        assert_hidden(&prefs, tab, "website_visits.contact");
    }
    // It cannot be switched on where it does not exist.
    let r = app
        .patch(
            "/v1/me/preferences",
            &Auth::user(&tok),
            json!({"tabs": {"desktop": {"types": {"website_visits.contact": {"on": true}}}}}),
        )
        .await;
    r.assert_error(422, "invalid_preference");

    let t = app
        .deliver(
            json!({"type": "website_visits.contact", "account_id": "acme", "recipients": ["u"],
                        "object": {"type": "contact", "id": "c1", "name": "Kim"}}),
        )
        .await;
    t.assert_tabs();
    t.assert("u", "email", "sent", "preference:catalog");
    for ch in ["bell", "popup", "browser", "slack", "teams", "mobile"] {
        t.assert("u", ch, "skipped", "channel_not_allowed");
    }
    // Email only: nothing in the bell.
    assert!(app.feed(&tok).await.is_empty());
    assert_eq!(app.unread(&tok).await, 0);
}

#[tokio::test]
async fn step2_mandatory_is_locked_on_and_beats_the_email_switch() {
    let app = TestApp::spawn().await;
    acme(&app, "enterprise").await;
    app.put_user("acme", "u", json!({})).await;
    let tok = app.token("acme", "u").await;
    let me = Auth::user(&tok);

    let prefs = app.prefs(&tok).await;
    for tab in TABS {
        assert_setting(&prefs, tab, "account.billing", true, "mandatory", true);
    }
    let r = app
        .patch(
            "/v1/me/preferences",
            &me,
            json!({"tabs": {"email": {"types": {"account.billing": {"on": false}}}}}),
        )
        .await;
    r.assert_error(422, "invalid_preference");
    let r = app
        .patch(
            "/v1/me/preferences",
            &me,
            json!({"tabs": {"desktop": {"types": {"account.billing": {"on": false}}}}}),
        )
        .await;
    r.assert_error(422, "invalid_preference");

    // Email master switch off: the mandatory type still goes out by email, others do not.
    let doc = app
        .patch(
            "/v1/me/preferences",
            &me,
            json!({"tabs": {"email": {"enabled": false}}}),
        )
        .await;
    let doc = doc.ok(200);
    assert_eq!(doc["tabs"]["email"]["enabled"], json!(false));
    assert_setting(doc, "email", "account.billing", true, "mandatory", true);

    let t = app
        .deliver(
            json!({"type": "account.billing", "account_id": "acme", "recipients": ["u"],
                        "data": {"subject": "Invoice 42"}}),
        )
        .await;
    t.assert("u", "email", "sent", "mandatory");
    t.assert("u", "bell", "sent", "mandatory");

    let t = app.deliver(stage_changed(&["u"])).await;
    t.assert("u", "email", "skipped", "switch_off:email");
    t.assert("u", "bell", "sent", "preference:catalog");

    let feed = app.feed(&tok).await;
    assert_eq!(feed.len(), 2);
    assert_eq!(feed[1]["type"], json!("account.billing"));
    assert_eq!(feed[1]["title"], json!("Invoice 42"));
}

#[tokio::test]
async fn step3_audience_hides_types_from_users_who_lack_it() {
    let app = TestApp::spawn().await;
    acme(&app, "enterprise").await;
    app.put_user("acme", "plain", json!({})).await;
    app.put_user("acme", "formsy", json!({"permissions": ["forms"]}))
        .await;
    app.put_user("acme", "boss", json!({"roles": ["super_admin"]}))
        .await;
    app.put_user("acme", "inboxer", json!({"flags": {"visited_inbox": true}}))
        .await;
    app.put_user(
        "acme",
        "not_yet",
        json!({"flags": {"visited_inbox": false}}),
    )
    .await;

    let plain = app.prefs(&app.token("acme", "plain").await).await;
    for tab in TABS {
        for ty in [
            "forms.submission",
            "payments.failed",
            "conversations.assigned",
        ] {
            assert_hidden(&plain, tab, ty);
        }
    }
    let formsy = app.prefs(&app.token("acme", "formsy").await).await;
    assert_setting(&formsy, "email", "forms.submission", true, "catalog", false);
    assert_setting(
        &formsy,
        "desktop",
        "forms.submission",
        true,
        "catalog",
        false,
    );
    assert_hidden(&formsy, "email", "payments.failed");
    let boss = app.prefs(&app.token("acme", "boss").await).await;
    assert_setting(&boss, "desktop", "payments.failed", true, "catalog", false);
    assert_eq!(
        boss["tabs"]["desktop"]["types"]["payments.failed"]["sound"],
        json!("bell")
    );
    assert_hidden(&boss, "desktop", "forms.submission");
    let inboxer = app.prefs(&app.token("acme", "inboxer").await).await;
    assert_setting(
        &inboxer,
        "desktop",
        "conversations.assigned",
        true,
        "catalog",
        false,
    );
    let not_yet = app.prefs(&app.token("acme", "not_yet").await).await;
    assert_hidden(&not_yet, "desktop", "conversations.assigned");

    // The user cannot switch on what they may not receive.
    let r = app
        .patch(
            "/v1/me/preferences",
            &Auth::user(&app.token("acme", "plain").await),
            json!({"tabs": {"email": {"types": {"forms.submission": {"on": true}}}}}),
        )
        .await;
    r.assert_error(422, "invalid_preference");

    let t = app
        .deliver(json!({"type": "forms.submission", "account_id": "acme", "recipients": ["plain", "formsy"]}))
        .await;
    t.assert_all("plain", "skipped", "audience:permission:forms");
    t.assert("formsy", "bell", "sent", "preference:catalog");
    t.assert("formsy", "email", "sent", "preference:catalog");

    let t = app.deliver(json!({"type": "payments.failed", "account_id": "acme", "recipients": ["plain", "boss"]})).await;
    t.assert_all("plain", "skipped", "audience:role:super_admin");
    t.assert("boss", "bell", "sent", "preference:catalog");

    let t = app
        .deliver(
            json!({"type": "conversations.assigned", "account_id": "acme", "actor_id": "actor",
                        "recipients": ["plain", "inboxer", "not_yet"]}),
        )
        .await;
    t.assert_all("plain", "skipped", "audience:flag:visited_inbox");
    t.assert_all("not_yet", "skipped", "audience:flag:visited_inbox");
    t.assert("inboxer", "bell", "sent", "preference:catalog");

    assert!(app.feed(&app.token("acme", "plain").await).await.is_empty());
    assert_eq!(app.feed(&app.token("acme", "inboxer").await).await.len(), 1);
}

#[tokio::test]
async fn step4_user_choice_beats_profile_and_account_default() {
    let app = TestApp::spawn().await;
    acme(&app, "enterprise").await;
    app.put_user("acme", "s", json!({"roles": ["sales"]})).await;
    let off = json!({"email": {"types": {"deals.stage_changed": {"on": false}}},
                     "desktop": {"types": {"deals.stage_changed": {"on": false}}}});
    app.put(
        "/v1/accounts/acme/defaults",
        &Auth::Key,
        json!({"tabs": off}),
    )
    .await
    .ok(200);
    app.post(
        "/v1/accounts/acme/profiles",
        &Auth::Key,
        json!({"name": "Sales", "roles": ["sales"], "tabs": off}),
    )
    .await
    .ok(201);
    let tok = app.token("acme", "s").await;
    let before = app.prefs(&tok).await;
    assert_setting(
        &before,
        "desktop",
        "deals.stage_changed",
        false,
        "profile",
        false,
    );

    let doc = app
        .patch(
            "/v1/me/preferences",
            &Auth::user(&tok),
            json!({"tabs": {"desktop": {"types": {"deals.stage_changed": {"on": true}}}}}),
        )
        .await;
    let doc = doc.ok(200);
    assert_setting(doc, "desktop", "deals.stage_changed", true, "user", false);
    assert_setting(doc, "email", "deals.stage_changed", false, "profile", false);

    let t = app.deliver(stage_changed(&["s"])).await;
    t.assert("s", "bell", "sent", "preference:user");
    t.assert("s", "email", "skipped", "preference:profile");
    assert_eq!(app.feed(&tok).await.len(), 1);

    // Without a profile, the user's choice beats the account default too.
    let profiles = app.get("/v1/accounts/acme/profiles", &Auth::Key).await;
    let id = profiles.ok(200)["profiles"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.delete(&format!("/v1/accounts/acme/profiles/{id}"), &Auth::Key)
        .await
        .ok(204);
    let prefs = app.prefs(&tok).await;
    assert_setting(
        &prefs,
        "desktop",
        "deals.stage_changed",
        true,
        "user",
        false,
    );
    assert_setting(
        &prefs,
        "email",
        "deals.stage_changed",
        false,
        "account",
        false,
    );
    let t = app.deliver(stage_changed(&["s"])).await;
    t.assert("s", "bell", "sent", "preference:user");
    t.assert("s", "email", "skipped", "preference:account");
}

#[tokio::test]
async fn step5_profile_by_role_or_user_beats_account_default() {
    let app = TestApp::spawn().await;
    acme(&app, "enterprise").await;
    app.put_user("acme", "s", json!({"roles": ["sales"]})).await;
    app.put_user("acme", "n", json!({"roles": ["support"]}))
        .await;
    app.put_user("acme", "s2", json!({"roles": ["sales"]}))
        .await;
    let email = |on: bool| json!({"email": {"types": {"deals.stage_changed": {"on": on}}}});
    app.put(
        "/v1/accounts/acme/defaults",
        &Auth::Key,
        json!({"tabs": email(false)}),
    )
    .await
    .ok(200);
    app.post(
        "/v1/accounts/acme/profiles",
        &Auth::Key,
        json!({"name": "Sales", "roles": ["sales"], "tabs": email(true)}),
    )
    .await
    .ok(201);
    // Created after the role profile: an explicit assignment wins regardless of order.
    app.post(
        "/v1/accounts/acme/profiles",
        &Auth::Key,
        json!({"name": "Quiet", "user_ids": ["s2"], "tabs": email(false)}),
    )
    .await
    .ok(201);

    let s = app.prefs(&app.token("acme", "s").await).await;
    assert_setting(&s, "email", "deals.stage_changed", true, "profile", false);
    assert_setting(&s, "desktop", "deals.stage_changed", true, "catalog", false);
    let n = app.prefs(&app.token("acme", "n").await).await;
    assert_setting(&n, "email", "deals.stage_changed", false, "account", false);
    let s2 = app.prefs(&app.token("acme", "s2").await).await;
    assert_setting(&s2, "email", "deals.stage_changed", false, "profile", false);

    let t = app.deliver(stage_changed(&["s", "n", "s2"])).await;
    t.assert("s", "email", "sent", "preference:profile");
    t.assert("n", "email", "skipped", "preference:account");
    t.assert("s2", "email", "skipped", "preference:profile");
    for u in ["s", "n", "s2"] {
        t.assert(u, "bell", "sent", "preference:catalog");
    }
}

#[tokio::test]
async fn step6_account_defaults_only_on_professional_and_enterprise() {
    let app = TestApp::spawn().await;
    let email_off = json!({"tabs": {"email": {"types": {"deals.stage_changed": {"on": false}}}}});
    for (account, tier) in [("pro", "professional"), ("ent", "enterprise")] {
        app.put_account(account, tier).await;
        app.put_user(account, "admin", json!({"roles": ["super_admin"]}))
            .await;
        app.put_user(account, "u", json!({})).await;
        // Set by the account's super admin.
        let admin = app.token(account, "admin").await;
        let doc = app
            .put(
                &format!("/v1/accounts/{account}/defaults"),
                &Auth::user(&admin),
                email_off.clone(),
            )
            .await;
        let s = &doc.ok(200)["tabs"]["email"]["types"]["deals.stage_changed"];
        assert_eq!(s["on"], json!(false));
        assert!(s.get("source").is_none(), "defaults carry no source: {s}");
        let prefs = app.prefs(&app.token(account, "u").await).await;
        assert_setting(
            &prefs,
            "email",
            "deals.stage_changed",
            false,
            "account",
            false,
        );
        let t = app
            .deliver(
                json!({"type": "deals.stage_changed", "account_id": account, "recipients": ["u"]}),
            )
            .await;
        t.assert("u", "email", "skipped", "preference:account");
        t.assert("u", "bell", "sent", "preference:catalog");
    }
    for (account, tier) in [("free", "free"), ("starter", "starter")] {
        app.put_account(account, tier).await;
        app.put_user(account, "admin", json!({"roles": ["super_admin"]}))
            .await;
        let admin = app.token(account, "admin").await;
        for auth in [Auth::Key, Auth::user(&admin)] {
            let r = app
                .put(
                    &format!("/v1/accounts/{account}/defaults"),
                    &auth,
                    email_off.clone(),
                )
                .await;
            r.assert_error(403, "tier_not_allowed");
            let r = app
                .post(
                    &format!("/v1/accounts/{account}/profiles"),
                    &auth,
                    json!({"name": "P", "roles": ["sales"]}),
                )
                .await;
            r.assert_error(403, "tier_not_allowed");
        }
    }

    // Defaults and profiles set while enterprise are ignored once the account is starter.
    app.put_account("down", "enterprise").await;
    app.put_user("down", "u", json!({"roles": ["sales"]})).await;
    app.put("/v1/accounts/down/defaults", &Auth::Key, email_off.clone())
        .await
        .ok(200);
    let desktop_off = json!({"desktop": {"types": {"deals.stage_changed": {"on": false}}}});
    app.post(
        "/v1/accounts/down/profiles",
        &Auth::Key,
        json!({"name": "P", "roles": ["sales"], "tabs": desktop_off}),
    )
    .await
    .ok(201);
    let tok = app.token("down", "u").await;
    let prefs = app.prefs(&tok).await;
    assert_setting(
        &prefs,
        "email",
        "deals.stage_changed",
        false,
        "account",
        false,
    );
    assert_setting(
        &prefs,
        "desktop",
        "deals.stage_changed",
        false,
        "profile",
        false,
    );

    // Processed once while enterprise: the node now keeps the account's facts.
    let ev = json!({"type": "deals.stage_changed", "account_id": "down", "recipients": ["u"]});
    let t = app.deliver(ev.clone()).await;
    t.assert("u", "email", "skipped", "preference:account");
    t.assert("u", "bell", "skipped", "preference:profile");

    app.put_account("down", "starter").await;
    let prefs = app.prefs(&tok).await;
    assert_setting(
        &prefs,
        "email",
        "deals.stage_changed",
        true,
        "catalog",
        false,
    );
    assert_setting(
        &prefs,
        "desktop",
        "deals.stage_changed",
        true,
        "catalog",
        false,
    );
    let t = app.deliver(ev).await;
    t.assert("u", "email", "sent", "preference:catalog");
    t.assert("u", "bell", "sent", "preference:catalog");
}

#[tokio::test]
async fn step7_catalog_defaults_mobile_off_until_the_user_switches_it_on() {
    let app = TestApp::spawn().await;
    acme(&app, "enterprise").await;
    app.put_user("acme", "u", json!({})).await;
    let tok = app.token("acme", "u").await;

    let prefs = app.prefs(&tok).await;
    assert_setting(
        &prefs,
        "email",
        "deals.stage_changed",
        true,
        "catalog",
        false,
    );
    assert_setting(
        &prefs,
        "desktop",
        "deals.stage_changed",
        true,
        "catalog",
        false,
    );
    assert_setting(
        &prefs,
        "other_apps",
        "deals.stage_changed",
        true,
        "catalog",
        false,
    );
    assert_setting(
        &prefs,
        "mobile",
        "deals.stage_changed",
        false,
        "catalog",
        false,
    );
    assert_eq!(prefs["tabs"]["mobile"]["enabled"], json!(false));
    assert_eq!(
        prefs["tabs"]["other_apps"]["slack"],
        json!({"enabled": true, "connected": false})
    );
    // Desktop checkboxes carry the pop-up sound: the type's own, else the default.
    assert_eq!(
        prefs["tabs"]["desktop"]["types"]["deals.stage_changed"]["sound"],
        json!("chime")
    );
    assert_eq!(
        prefs["tabs"]["desktop"]["types"]["login_alert.risky_login"]["sound"],
        json!("knock")
    );
    assert!(
        prefs["tabs"]["email"]["types"]["deals.stage_changed"]
            .get("sound")
            .is_none()
    );

    let t = app.deliver(stage_changed(&["u"])).await;
    t.assert_tabs();
    t.assert("u", "email", "sent", "preference:catalog");
    t.assert("u", "bell", "sent", "preference:catalog");
    t.assert("u", "slack", "skipped", "not_connected:slack");
    t.assert("u", "teams", "skipped", "not_connected:teams");
    t.assert("u", "mobile", "skipped", "preference:catalog");

    // Switched on by the user, mobile still needs a device.
    let doc = app
        .patch(
            "/v1/me/preferences",
            &Auth::user(&tok),
            json!({"tabs": {"mobile": {"enabled": true, "types": {"deals.stage_changed": {"on": true}}}}}),
        )
        .await;
    let doc = doc.ok(200);
    assert_eq!(doc["tabs"]["mobile"]["enabled"], json!(true));
    assert_setting(doc, "mobile", "deals.stage_changed", true, "user", false);
    let t = app.deliver(stage_changed(&["u"])).await;
    t.assert("u", "mobile", "skipped", "no_device:mobile");
}
