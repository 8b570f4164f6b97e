//! Other apps and mobile end to end, against local servers that speak each provider's
//! protocol and verify what they receive (crates/testkit): Slack (bearer token, Block Kit,
//! users.lookupByEmail), Teams (Adaptive Card through a workflow webhook), Web Push (the
//! service decrypts the aes128gcm payload and checks the VAPID signature), FCM HTTP v1
//! (OAuth flow, message) and APNs (HTTP/2, ES256 provider token, headers). Each also
//! answers with errors: retries honour Retry-After, gone addresses are pruned, permanent
//! errors give up.

use serde_json::{Value, json};
use varsel_testkit::apns::{ApnsFault, ApnsServer, generate_key};
use varsel_testkit::fcm::{FcmFault, FcmServer};
use varsel_testkit::push::{PushFault, PushService};
use varsel_testkit::slack::{SlackFault, SlackServer};
use varsel_testkit::teams::{TeamsFault, TeamsServer};

use crate::harness::{Auth, TestApp, Trace};
use crate::scheduler::{advance, drain, scheduled_app, until};

const BOT_TOKEN: &str = "xoxb-1234-5678-abcdefghijklmnop";
const APNS_TEAM: &str = "TEAM123456";
const APNS_KEY_ID: &str = "KEY1234567";
const APNS_TOPIC: &str = "com.example.crm";

/// The email tests' account (Bjørn, Kari in Norwegian) and Ola, whom Slack does not know.
async fn crm(app: &TestApp) {
    crate::email::crm(app).await;
    app.put_user("acme", "ola", json!({"email": "ola@example.no"}))
        .await;
}

fn mention(id: &str, to: &[&str]) -> Value {
    json!({
        "type": "deals.mention", "account_id": "acme", "actor_id": "boss", "recipients": to,
        "object": {"type": "note", "id": id, "name": "Blåbær", "url": "https://crm.example/deals/7"},
    })
}

/// The id of the notification an event made for `user`.
pub fn notification_of(t: &Trace, user: &str) -> String {
    t.0["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["user_id"] == user)
        .unwrap_or_else(|| panic!("no notification for {user}: {}", t.0))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The delivery of a notification on `channel`, read afresh.
pub async fn delivery(app: &TestApp, notification: &str, channel: &str) -> Value {
    let n = app
        .get(&format!("/v1/notifications/{notification}"), &Auth::Key)
        .await
        .ok(200)
        .clone();
    n["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == channel)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Waits until a delivery reaches `state` (the provider may have the message a moment
/// before the job records it).
async fn settles(app: &TestApp, notification: &str, channel: &str, state: &str) {
    until(app, &format!("{channel} delivery {state}"), || async {
        delivery(app, notification, channel).await["state"] == state
    })
    .await;
}

async fn connect(app: &TestApp, provider: &str, body: Value) -> Value {
    app.put(
        &format!("/v1/accounts/acme/connections/{provider}"),
        &Auth::Key,
        body,
    )
    .await
    .ok(200)
    .clone()
}

/// Waits until a job of `kind` is listed in `state` (`done`, `dead`).
async fn job_reaches(app: &TestApp, kind: &str, state: &str) {
    until(app, &format!("a {kind} job {state}"), || async {
        let jobs = app
            .get(&format!("/v1/jobs?state={state}"), &Auth::Key)
            .await
            .ok(200)
            .clone();
        jobs["jobs"]
            .as_array()
            .is_some_and(|js| js.iter().any(|j| j["kind"] == kind))
    })
    .await;
}

/// Waits until the Slack match job that connecting started has finished.
async fn matched(app: &TestApp) {
    job_reaches(app, "slack_match", "done").await;
}

#[tokio::test]
async fn slack_matches_users_by_email_and_sends_block_kit_in_their_language() {
    let slack = SlackServer::start(BOT_TOKEN).await;
    let base = slack.base_url();
    let (app, _clock) = scheduled_app(move |c| c.slack_api_url = base).await;
    crm(&app).await;
    slack.add_user("kari@example.no", "U0KARI");
    let kari = app.token("acme", "kari").await;
    let ola = app.token("acme", "ola").await;

    // Before Slack is connected, nobody is.
    let prefs = app.prefs(&kari).await;
    assert_eq!(
        prefs["tabs"]["other_apps"]["slack"]["connected"],
        json!(false)
    );

    let c = connect(&app, "slack", json!({"bot_token": BOT_TOKEN})).await;
    assert_eq!(c["provider"], "slack");
    assert!(
        !c.to_string().contains("xoxb"),
        "the token is never answered: {c}"
    );
    // Sealed at rest: the stored row does not hold the token.
    let stored = app
        .state
        .store
        .connection("acme", "slack")
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.secret.contains("xoxb") && !stored.secret.contains("abcdefghijklmnop"));
    let list = app
        .get("/v1/accounts/acme/connections", &Auth::Key)
        .await
        .ok(200)
        .clone();
    assert_eq!(list["connections"][0]["settings"]["token_hint"], "…mnop");

    // The match job looks every user up by email: Kari is matched, Ola is not.
    matched(&app).await;
    let prefs = app.prefs(&kari).await;
    assert_eq!(
        prefs["tabs"]["other_apps"]["slack"],
        json!({"enabled": true, "connected": true})
    );
    let prefs = app.prefs(&ola).await;
    assert_eq!(
        prefs["tabs"]["other_apps"]["slack"]["connected"],
        json!(false)
    );

    let t = app.deliver(mention("n1", &["kari", "ola"])).await;
    t.assert("kari", "slack", "sent", "preference:catalog");
    t.assert("ola", "slack", "skipped", "not_connected:slack");
    let id = notification_of(&t, "kari");
    until(&app, "the Slack message", || async {
        slack.messages().len() == 1
    })
    .await;
    let m = &slack.messages()[0];
    assert_eq!(m.channel, "U0KARI");
    assert_eq!(
        m.button_url().as_deref(),
        Some("https://crm.example/deals/7")
    );
    // Norwegian for Kari: the feed item's title (rendered in nb) and the button label.
    let title = app.feed(&kari).await[0]["title"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        m.body.to_string().contains(&title),
        "{title} not in {}",
        m.body
    );
    assert_eq!(m.button_label().as_deref(), Some("Åpne"));
    settles(&app, &id, "slack", "delivered").await;
    // The trace shows the delivery like the others.
    let trace = app
        .get(
            &format!("/v1/events/{}/trace", t.0["event_id"].as_str().unwrap()),
            &Auth::Key,
        )
        .await
        .ok(200)
        .clone();
    let ds = trace["notifications"][0]["deliveries"].to_string();
    assert!(ds.contains("\"slack\""), "{ds}");
}

#[tokio::test]
async fn slack_rate_limits_wait_for_retry_after_and_permanent_errors_give_up() {
    let slack = SlackServer::start(BOT_TOKEN).await;
    let base = slack.base_url();
    let (app, clock) = scheduled_app(move |c| c.slack_api_url = base).await;
    crm(&app).await;
    slack.add_user("kari@example.no", "U0KARI");
    connect(&app, "slack", json!({"bot_token": BOT_TOKEN})).await;
    matched(&app).await;

    // 429 with Retry-After: 120 — not retried before two minutes, though the backoff is 1 s.
    slack.fail_next(1, SlackFault::RateLimited { retry_after: 120 });
    let t = app.deliver(mention("n1", &["kari"])).await;
    let id = notification_of(&t, "kari");
    settles(&app, &id, "slack", "retrying").await;
    advance(&app, &clock, 60).await;
    assert!(slack.messages().is_empty());
    advance(&app, &clock, 61).await;
    until(&app, "the message after Retry-After", || async {
        slack.messages().len() == 1
    })
    .await;
    settles(&app, &id, "slack", "delivered").await;

    // A revoked token is permanent: failed at once, the job dead-lettered.
    slack.fail_next(1, SlackFault::Error("token_revoked".into()));
    let t = app.deliver(mention("n2", &["kari"])).await;
    let id = notification_of(&t, "kari");
    settles(&app, &id, "slack", "failed").await;
    let d = delivery(&app, &id, "slack").await;
    assert!(
        d["reason"].as_str().unwrap().contains("token_revoked"),
        "{d}"
    );
    // The delivery is marked failed just before the job is recorded dead.
    job_reaches(&app, "deliver", "dead").await;
    assert_eq!(slack.messages().len(), 1);
}

#[tokio::test]
async fn teams_gets_an_adaptive_card_through_the_workflow_and_retries_its_errors() {
    let teams = TeamsServer::start().await;
    let (app, clock) = scheduled_app(|c| c.teams_hosts = "127.0.0.1".into()).await;
    crm(&app).await;
    let kari = app.token("acme", "kari").await;
    assert_eq!(
        app.prefs(&kari).await["tabs"]["other_apps"]["teams"]["connected"],
        json!(false)
    );
    let c = connect(&app, "teams", json!({"webhook_url": teams.url()})).await;
    assert!(!c.to_string().contains("sig="), "{c}");
    assert_eq!(
        app.prefs(&kari).await["tabs"]["other_apps"]["teams"]["connected"],
        json!(true)
    );

    teams.fail_next(1, TeamsFault::Status(502));
    let t = app.deliver(mention("n1", &["kari"])).await;
    t.assert("kari", "teams", "sent", "preference:catalog");
    let id = notification_of(&t, "kari");
    settles(&app, &id, "teams", "retrying").await;
    advance(&app, &clock, 5).await;
    until(&app, "the card", || async { teams.cards().len() == 1 }).await;
    let card = &teams.cards()[0];
    assert_eq!(card.recipient, "kari@example.no");
    let title = app.feed(&kari).await[0]["title"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(card.texts().contains(&title), "{:?}", card.texts());
    assert_eq!(
        card.open_url().map(|(_, url)| url).as_deref(),
        Some("https://crm.example/deals/7")
    );
    settles(&app, &id, "teams", "delivered").await;

    // Disconnected: nothing more goes to Teams.
    app.delete("/v1/accounts/acme/connections/teams", &Auth::Key)
        .await
        .ok(204);
    let t = app.deliver(mention("n2", &["kari"])).await;
    t.assert("kari", "teams", "skipped", "not_connected:teams");
}

/// Subscribes `user`'s browser at the test push service; answers the device.
async fn subscribe(app: &TestApp, push: &PushService, token: &str) -> (Value, Value) {
    let key = app
        .get("/v1/webpush/key", &Auth::None)
        .await
        .ok(200)
        .clone();
    let sub = push.subscribe(key["public_key"].as_str().unwrap());
    let dev = app
        .post(
            "/v1/me/devices",
            &Auth::user(token),
            json!({"kind": "webpush", "subscription": sub}),
        )
        .await
        .ok(201)
        .clone();
    (dev, sub)
}

#[tokio::test]
async fn web_push_is_encrypted_for_the_browser_signed_with_vapid_and_pruned_when_gone() {
    let push = PushService::start().await;
    let (app, clock) = scheduled_app(|c| c.webpush_hosts = "127.0.0.1".into()).await;
    crm(&app).await;
    let kari = app.token("acme", "kari").await;

    // No tab open and no subscribed browser: nothing to show.
    let t = app.deliver(mention("n0", &["kari"])).await;
    t.assert("kari", "browser", "skipped", "presence:no_open_tab");

    let (dev, sub) = subscribe(&app, &push, &kari).await;
    assert_eq!(dev["kind"], "webpush");
    // The same subscription again is the same device.
    let again = app
        .post(
            "/v1/me/devices",
            &Auth::user(&kari),
            json!({"kind": "webpush", "subscription": sub}),
        )
        .await
        .ok(201)
        .clone();
    assert_eq!(again["id"], dev["id"]);

    let t = app.deliver(mention("n1", &["kari"])).await;
    t.assert("kari", "browser", "sent", "preference:catalog;web_push");
    let id = notification_of(&t, "kari");
    until(&app, "one push", || async { push.pushed().len() == 1 }).await;
    let p = &push.pushed()[0];
    // The service decrypted it with the subscription's private key.
    let body = p.json();
    let title = app.feed(&kari).await[0]["title"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(body["title"], json!(title));
    assert_eq!(body["url"], "https://crm.example/deals/7");
    assert_eq!(body["id"], json!(format!("{id}:webpush")));
    // VAPID: signed for the push service's origin with the server's key.
    let key = app
        .get("/v1/webpush/key", &Auth::None)
        .await
        .ok(200)
        .clone();
    assert_eq!(p.vapid.aud, push.origin());
    assert_eq!(p.vapid.key, key["public_key"].as_str().unwrap());
    assert!(p.vapid.sub.starts_with("mailto:"), "{}", p.vapid.sub);
    settles(&app, &id, "webpush", "delivered").await;

    // The key is generated once and kept: building the providers again reads it back.
    let again = varsel_server::channels::Providers::build(
        &app.state.config,
        &app.state.store,
        app.state.now(),
    )
    .await
    .unwrap();
    assert_eq!(
        again.webpush.vapid_key().public_key(),
        key["public_key"].as_str().unwrap()
    );

    // 429 with Retry-After, then delivered.
    push.fail_next(1, PushFault::RateLimited { retry_after: 30 });
    let t = app.deliver(mention("n2", &["kari"])).await;
    let id = notification_of(&t, "kari");
    settles(&app, &id, "webpush", "retrying").await;
    advance(&app, &clock, 31).await;
    until(&app, "the second push", || async {
        push.pushed().len() == 2
    })
    .await;

    // The browser dropped the subscription: 410 prunes it.
    push.expire(sub["endpoint"].as_str().unwrap());
    let t = app.deliver(mention("n3", &["kari"])).await;
    let id = notification_of(&t, "kari");
    settles(&app, &id, "webpush", "failed").await;
    let devices = app
        .get("/v1/me/devices", &Auth::user(&kari))
        .await
        .ok(200)
        .clone();
    assert_eq!(devices["devices"], json!([]));
    let t = app.deliver(mention("n4", &["kari"])).await;
    t.assert("kari", "browser", "skipped", "presence:no_open_tab");
}

const APNS_DEVICE: &str = "7c1e4a0f3b2d9e8c7a6b5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0";

#[tokio::test]
async fn mobile_push_goes_over_fcm_and_apns_with_badge_and_sound_and_prunes_unregistered() {
    let fcm = FcmServer::start("varsel-test").await;
    let (pem, public) = generate_key();
    let apns = ApnsServer::start(APNS_TEAM, APNS_KEY_ID, APNS_TOPIC, public).await;
    let (fcm_json, fcm_base, apns_base) =
        (fcm.service_account_json(), fcm.base_url(), apns.base_url());
    let (app, clock) = scheduled_app(move |c| {
        c.fcm_service_account = fcm_json;
        c.fcm_api_url = fcm_base;
        c.apns_key = pem;
        c.apns_key_id = APNS_KEY_ID.into();
        c.apns_team_id = APNS_TEAM.into();
        c.apns_topic = APNS_TOPIC.into();
        c.apns_url = apns_base;
    })
    .await;
    crm(&app).await;
    let kari = app.token("acme", "kari").await;
    let me = Auth::user(&kari);

    // Mobile starts off; only the user switches it on.
    app.patch(
        "/v1/me/preferences",
        &me,
        json!({"tabs": {"mobile": {"types": {"deals.mention": {"on": true}}}}}),
    )
    .await
    .ok(200);
    let t = app.deliver(mention("n0", &["kari"])).await;
    t.assert("kari", "mobile", "skipped", "switch_off:mobile");
    app.patch(
        "/v1/me/preferences",
        &me,
        json!({"tabs": {"mobile": {"enabled": true}}}),
    )
    .await
    .ok(200);
    let t = app.deliver(mention("n1", &["kari"])).await;
    t.assert("kari", "mobile", "skipped", "no_device:mobile");

    app.post(
        "/v1/me/devices",
        &me,
        json!({"kind": "fcm", "token": "fcm-token-kari-1", "app_id": "com.example.crm"}),
    )
    .await
    .ok(201);
    app.post(
        "/v1/me/devices",
        &me,
        json!({"kind": "apns", "token": APNS_DEVICE}),
    )
    .await
    .ok(201);

    let t = app.deliver(mention("n2", &["kari"])).await;
    t.assert("kari", "mobile", "sent", "preference:user");
    let id = notification_of(&t, "kari");
    until(&app, "both pushes", || async {
        fcm.sent().len() == 1 && apns.accepted().len() == 1
    })
    .await;
    let unread = app.unread(&kari).await;
    let title = app.feed(&kari).await[0]["title"]
        .as_str()
        .unwrap()
        .to_string();
    // FCM: the OAuth token the server issued, the message for the token.
    let s = &fcm.sent()[0];
    assert_eq!(s.token(), "fcm-token-kari-1");
    assert_eq!(s.message["notification"]["title"], json!(title));
    assert_eq!(
        s.message["android"]["notification"]["notification_count"],
        json!(unread)
    );
    assert_eq!(fcm.tokens_issued(), 1);
    // APNs: HTTP/2, the verified ES256 token, topic, push type, badge and sound.
    let a = &apns.accepted()[0];
    assert_eq!(a.version, "HTTP/2.0");
    assert_eq!(
        (a.topic.as_str(), a.push_type.as_str()),
        (APNS_TOPIC, "alert")
    );
    assert_eq!(a.team_id, APNS_TEAM);
    assert_eq!(a.payload["aps"]["alert"]["title"], json!(title));
    assert_eq!(a.payload["aps"]["badge"], json!(unread));
    assert_eq!(a.payload["aps"]["sound"], json!("chime.caf"));
    settles(&app, &id, "mobile", "delivered").await;

    // Quota and rate limits are retried after Retry-After.
    fcm.fail_next(1, FcmFault::quota_exceeded(40));
    apns.fail_next(1, ApnsFault::too_many_requests(40));
    let t = app.deliver(mention("n3", &["kari"])).await;
    let id = notification_of(&t, "kari");
    settles(&app, &id, "mobile", "retrying").await;
    advance(&app, &clock, 41).await;
    settles(&app, &id, "mobile", "delivered").await;

    // Uninstalled apps: FCM UNREGISTERED and APNs 410 prune both tokens.
    fcm.unregister("fcm-token-kari-1");
    apns.unregister(APNS_DEVICE);
    let t = app.deliver(mention("n4", &["kari"])).await;
    let id = notification_of(&t, "kari");
    settles(&app, &id, "mobile", "failed").await;
    let devices = app.get("/v1/me/devices", &me).await.ok(200).clone();
    assert_eq!(devices["devices"], json!([]));
    let t = app.deliver(mention("n5", &["kari"])).await;
    t.assert("kari", "mobile", "skipped", "no_device:mobile");
}

#[tokio::test]
async fn connections_and_devices_refuse_bad_input_with_clear_errors() {
    let (app, _clock) = scheduled_app(|_| {}).await;
    crm(&app).await;
    let kari = app.token("acme", "kari").await;
    let me = Auth::user(&kari);
    let path = "/v1/accounts/acme/connections/slack";
    app.put(path, &Auth::Key, json!({"bot_token": "not-a-token"}))
        .await
        .assert_error(422, "invalid_connection");
    app.put(path, &Auth::Key, json!({"webhook_url": "https://x"}))
        .await
        .assert_error(422, "invalid_connection");
    app.put(
        "/v1/accounts/acme/connections/teams",
        &Auth::Key,
        json!({"webhook_url": "http://example.com/hook"}),
    )
    .await
    .assert_error(422, "invalid_connection");
    app.put(
        "/v1/accounts/acme/connections/discord",
        &Auth::Key,
        json!({}),
    )
    .await
    .assert_error(404, "not_found");
    app.put(
        "/v1/accounts/nope/connections/slack",
        &Auth::Key,
        json!({"bot_token": BOT_TOKEN}),
    )
    .await
    .assert_error(404, "not_found");
    // A user who is not a super admin cannot connect apps.
    app.put(path, &me, json!({"bot_token": BOT_TOKEN}))
        .await
        .assert_error(403, "super_admin_required");
    app.delete(path, &Auth::Key)
        .await
        .assert_error(404, "not_found");

    let dev = "/v1/me/devices";
    for body in [
        json!({"kind": "webpush", "subscription": {"endpoint": "http://example.com/push", "keys": {"p256dh": "x", "auth": "y"}}}),
        json!({"kind": "webpush", "subscription": "nope"}),
        json!({"kind": "apns", "token": "not-hex"}),
        json!({"kind": "fcm", "token": ""}),
    ] {
        app.post(dev, &me, body)
            .await
            .assert_error(422, "invalid_device");
    }
    // A well-formed subscription at a host that is not a push service: Varsel would POST there.
    let push = PushService::start().await;
    let key = app
        .get("/v1/webpush/key", &Auth::None)
        .await
        .ok(200)
        .clone();
    let sub = push.subscribe(key["public_key"].as_str().unwrap());
    app.post(dev, &me, json!({"kind": "webpush", "subscription": sub}))
        .await
        .assert_error(422, "invalid_device");
    let r = app
        .post(dev, &me, json!({"kind": "pager", "token": "x"}))
        .await;
    assert!(r.status == 400 || r.status == 422, "{}", r.text);
    r.error(r.status);
    // FCM and APNs are not configured on this server.
    app.post(dev, &me, json!({"kind": "fcm", "token": "abc"}))
        .await
        .assert_error(409, "channel_not_configured");
    app.post(dev, &Auth::Key, json!({"kind": "fcm", "token": "abc"}))
        .await
        .assert_error(403, "user_token_required");
    app.delete("/v1/me/devices/dev_nope", &me)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_user_who_moved_address_is_looked_up_again() {
    let slack = SlackServer::start(BOT_TOKEN).await;
    let base = slack.base_url();
    let (app, _clock) = scheduled_app(move |c| c.slack_api_url = base).await;
    crm(&app).await;
    connect(&app, "slack", json!({"bot_token": BOT_TOKEN})).await;
    matched(&app).await;
    drain(&app).await;
    let t = app.deliver(mention("n1", &["ola"])).await;
    t.assert("ola", "slack", "skipped", "not_connected:slack");
    // Ola's address changes to one Slack knows: the old "not found" no longer holds.
    slack.add_user("ola@crm.example", "U0OLA");
    app.put_user("acme", "ola", json!({"email": "ola@crm.example"}))
        .await;
    let t = app.deliver(mention("n2", &["ola"])).await;
    t.assert("ola", "slack", "sent", "preference:catalog");
    until(&app, "the message to Ola", || async {
        slack.messages().iter().any(|m| m.channel == "U0OLA")
    })
    .await;
}
