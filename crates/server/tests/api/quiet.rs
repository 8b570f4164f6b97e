//! Quiet hours end to end with a clock the test moves: set, checked and inherited through
//! the preferences API; inside the window the bell records silently and Slack and email
//! wait, the trace saying `quiet_hours` and until when; at the window's end one held
//! notification goes as it is and several as one summary per channel; mandatory types
//! pierce; the window's end is right across both daylight-saving changes in Oslo.

use serde_json::{Value, json};
use varsel_testkit::slack::SlackServer;

use crate::harness::{Auth, Trace};
use crate::scheduler::{
    START_MS, advance, outbox, scheduled_app, scheduled_app_at, until, until_retried,
};

const BOT_TOKEN: &str = "xoxb-1234-5678-abcdefghijklmnop";
const HOUR: i64 = 3600;

/// 22:00–07:00 in Oslo, every day.
fn nights() -> Value {
    json!({"enabled": true, "start": "22:00", "end": "07:00", "timezone": "Europe/Oslo"})
}

/// The email tests' account, with Kari's quiet hours set to [`nights`].
async fn quiet_nights(app: &crate::harness::TestApp) {
    crate::email::crm(app).await;
    kari_quiet_at_night(app).await;
}

/// Sets Kari's quiet hours to [`nights`]; returns her token.
async fn kari_quiet_at_night(app: &crate::harness::TestApp) -> String {
    let kari = app.token("acme", "kari").await;
    app.patch(
        "/v1/me/preferences",
        &Auth::user(&kari),
        json!({"quiet_hours": nights()}),
    )
    .await
    .ok(200);
    kari
}

fn mention(id: &str) -> Value {
    json!({
        "type": "deals.mention", "account_id": "acme", "actor_id": "boss", "recipients": ["kari"],
        "object": {"type": "note", "id": id, "name": format!("Avtale {id}"), "url": format!("https://crm.example/deals/{id}")},
    })
}

async fn newest_email(app: &crate::harness::TestApp) -> Value {
    let mut all = outbox(app).await;
    all.sort_by(|a, b| a["created_at"].as_str().cmp(&b["created_at"].as_str()));
    all.pop().expect("an email")
}

fn line<'a>(t: &'a Trace, channel: &str) -> &'a Value {
    t.lines()
        .iter()
        .find(|l| l["user_id"] == "kari" && l["channel"] == channel)
        .unwrap()
}

#[tokio::test]
async fn quiet_hours_are_validated_and_inherited_from_the_account() {
    let (app, _clock) = scheduled_app(|_| {}).await;
    crate::email::crm(&app).await;
    let kari = app.token("acme", "kari").await;
    assert!(app.prefs(&kari).await.get("quiet_hours").is_none());

    // An account default applies to Kari, shown with its source.
    app.patch(
        "/v1/accounts/acme/defaults",
        &Auth::Key,
        json!({"quiet_hours": {"enabled": true, "start": "20:00", "end": "06:30", "days": ["mon", "tue"]}}),
    )
    .await
    .ok(200);
    let p = app.prefs(&kari).await;
    assert_eq!(p["quiet_hours"]["source"], "account");
    assert_eq!(p["quiet_hours"]["days"], json!(["mon", "tue"]));
    assert_eq!(p["user_timezone"], "UTC");

    // Her own choice wins; a fetched document can be sent back as it is.
    let mine = app
        .patch(
            "/v1/me/preferences",
            &Auth::user(&kari),
            json!({"quiet_hours": nights()}),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(mine["quiet_hours"]["source"], "user");
    assert_eq!(mine["quiet_hours"]["start"], "22:00");
    app.patch(
        "/v1/me/preferences",
        &Auth::user(&kari),
        json!({"quiet_hours": mine["quiet_hours"]}),
    )
    .await
    .ok(200);
    // `null` removes hers: the account's applies again.
    let p = app
        .patch(
            "/v1/me/preferences",
            &Auth::user(&kari),
            json!({"quiet_hours": null}),
        )
        .await
        .ok(200)
        .clone();
    assert_eq!(p["quiet_hours"]["source"], "account");

    // A profile naming her comes before the account.
    let prof = app
        .post(
            "/v1/accounts/acme/profiles",
            &Auth::Key,
            json!({"name": "Nights", "user_ids": ["kari"], "quiet_hours": {"enabled": true, "start": "23:00", "end": "06:00"}}),
        )
        .await
        .ok(201)
        .clone();
    assert_eq!(prof["quiet_hours"]["start"], "23:00");
    let p = app.prefs(&kari).await;
    assert_eq!(p["quiet_hours"]["source"], "profile");
    assert_eq!(p["quiet_hours"]["start"], "23:00");
    app.post(
        "/v1/accounts/acme/profiles",
        &Auth::Key,
        json!({"name": "Bad", "quiet_hours": {"enabled": true, "start": "23:00", "end": "23:00"}}),
    )
    .await
    .assert_error(422, "invalid_preference");
    let id = prof["id"].as_str().unwrap();
    app.delete(&format!("/v1/accounts/acme/profiles/{id}"), &Auth::Key)
        .await
        .ok(204);

    // Malformed fields are refused while reading the body, impossible windows after.
    for (bad, code) in [
        (
            json!({"enabled": true, "start": "22:00", "end": "22:00"}),
            "invalid_preference",
        ),
        (
            json!({"enabled": true, "start": "22:00", "end": "07:00", "timezone": "Mars/Base"}),
            "invalid_preference",
        ),
        (
            json!({"enabled": true, "start": "25:00", "end": "07:00"}),
            "invalid_body",
        ),
        (
            json!({"enabled": true, "start": "22:00", "end": "07:00", "days": ["someday"]}),
            "invalid_body",
        ),
        (json!({"enabled": true, "start": "22:00"}), "invalid_body"),
    ] {
        app.patch(
            "/v1/me/preferences",
            &Auth::user(&kari),
            json!({"quiet_hours": bad}),
        )
        .await
        .assert_error(422, code);
    }
    assert_eq!(app.prefs(&kari).await["quiet_hours"]["source"], "account");
}

#[tokio::test]
async fn inside_quiet_hours_the_bell_records_silently_and_the_rest_waits_for_the_end() {
    let slack = SlackServer::start(BOT_TOKEN).await;
    let base = slack.base_url();
    // Wednesday 2026-11-25 12:00 UTC is 13:00 in Oslo.
    let (app, clock) = scheduled_app(move |c| c.slack_api_url = base).await;
    crate::email::crm(&app).await;
    slack.add_user("kari@example.no", "U0KARI");
    app.put(
        "/v1/accounts/acme/connections/slack",
        &Auth::Key,
        json!({"bot_token": BOT_TOKEN}),
    )
    .await
    .ok(200);
    let kari = kari_quiet_at_night(&app).await;
    until(&app, "Kari matched in Slack", || async {
        app.prefs(&kari).await["tabs"]["other_apps"]["slack"]["connected"] == json!(true)
    })
    .await;

    // Outside the window: sent at once.
    let t = app.deliver(mention("1")).await;
    t.assert("kari", "email", "sent", "preference:catalog");
    // Until both sends are recorded, not only received: the clock jumps next, and a job
    // whose outcome is not written by then has an expired lease and runs again.
    let daytime = crate::channels::notification_of(&t, "kari");
    until(&app, "the daytime email and Slack message", || async {
        outbox(&app).await.len() == 1
            && slack.messages().len() == 1
            && crate::channels::delivery(&app, &daytime, "slack").await["state"] == "delivered"
            && crate::channels::delivery(&app, &daytime, "email").await["state"] == "sent"
    })
    .await;

    // 22:30 in Oslo: three mentions are held.
    advance(&app, &clock, 9 * HOUR + 1800).await;
    let end = "2026-11-26T06:00:00.000Z";
    let mut traces = Vec::new();
    for id in ["2", "3", "4"] {
        let t = app.deliver(mention(id)).await;
        for channel in ["email", "slack"] {
            let l = line(&t, channel);
            assert_eq!(l["outcome"], "scheduled", "{l}");
            assert_eq!(l["reason"], "preference:catalog;quiet_hours", "{l}");
            assert_eq!(l["until"], end, "{l}");
        }
        // The bell records it, counted unread.
        t.assert("kari", "bell", "sent", "preference:catalog");
        traces.push(t);
    }
    let kari = app.token("acme", "kari").await;
    assert_eq!(app.unread(&kari).await, 4);

    // 06:59 in Oslo: still nothing.
    advance(&app, &clock, 8 * HOUR + 1740).await;
    assert_eq!(outbox(&app).await.len(), 1);
    assert_eq!(slack.messages().len(), 1);

    // 07:00: one summary email and one Slack summary.
    advance(&app, &clock, 60).await;
    until_retried(&app, &clock, "the summaries", || async {
        outbox(&app).await.len() == 2 && slack.messages().len() == 2
    })
    .await;
    let mail = newest_email(&app).await;
    assert_eq!(mail["to"], "kari@example.no");
    assert_eq!(
        mail["subject"], "3 varsler mens stille timer var på",
        "{mail}"
    );
    let text = mail["text"].as_str().unwrap();
    for id in ["2", "3", "4"] {
        assert!(
            text.contains(&format!("https://crm.example/deals/{id}")),
            "{text}"
        );
    }
    let m = &slack.messages()[1];
    assert_eq!(m.channel, "U0KARI");
    assert!(
        m.body
            .to_string()
            .contains("3 varsler mens stille timer var på"),
        "{}",
        m.body
    );
    // Each held event's trace follows its release.
    let id = traces[0].0["event_id"].as_str().unwrap();
    until(&app, "the release delivered", || async {
        let t = app
            .get(&format!("/v1/events/{id}/trace"), &Auth::Key)
            .await
            .ok(200)
            .clone();
        let ns = t["notifications"].as_array().unwrap().clone();
        ns.len() == 2
            && ns.iter().any(|n| {
                n["deliveries"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|d| d["channel"] == "slack" && d["state"] == "delivered")
            })
    })
    .await;
    // The bell did not get the summary: its items are there already.
    let kari = app.token("acme", "kari").await;
    assert_eq!(app.feed(&kari).await.len(), 4);

    // The next night, one held mention goes as it is; a mandatory type pierces.
    advance(&app, &clock, 16 * HOUR).await;
    app.deliver(mention("5")).await;
    let billing = app
        .deliver(json!({
            "type": "account.billing", "account_id": "acme", "recipients": ["kari"],
            "data": {"subject": "Faktura", "message": "Betal"},
        }))
        .await;
    billing.assert("kari", "email", "sent", "mandatory");
    until(
        &app,
        "the billing email and Slack message at once",
        || async { outbox(&app).await.len() == 3 && slack.messages().len() == 3 },
    )
    .await;
    assert!(slack.messages()[2].body.to_string().contains("Faktura"));
    advance(&app, &clock, 9 * HOUR).await;
    until_retried(&app, &clock, "the held mention", || async {
        outbox(&app).await.len() == 4 && slack.messages().len() == 4
    })
    .await;
    let mail = newest_email(&app).await;
    assert!(
        mail["subject"].as_str().unwrap().contains("Bjørn Ås"),
        "{mail}"
    );
}

#[tokio::test]
async fn a_mention_read_in_the_bell_during_quiet_hours_is_not_sent_again() {
    let (app, clock) = scheduled_app(|_| {}).await;
    quiet_nights(&app).await;
    advance(&app, &clock, 10 * HOUR).await;
    app.deliver(mention("1")).await;
    app.deliver(mention("2")).await;
    let kari = app.token("acme", "kari").await;
    let read = app.feed(&kari).await[0]["id"].as_str().unwrap().to_string();
    app.post_empty(&format!("/v1/me/feed/{read}/read"), &Auth::user(&kari))
        .await
        .ok(204);
    advance(&app, &clock, 8 * HOUR).await;
    until(&app, "the held email", || async {
        outbox(&app).await.len() == 1
    })
    .await;
    let mail = outbox(&app).await.remove(0);
    // Only the unread one, as itself.
    assert!(mail["text"].as_str().unwrap().contains("deals/1"), "{mail}");
    let email = crate::channels::delivery(&app, &read, "email").await;
    assert_eq!(email["state"], "dropped");
    assert_eq!(email["reason"], "read_during_quiet_hours");
}

/// Holds one mention at 23:00 Oslo time on the night of a daylight-saving change and
/// checks it waits until 07:00 local time, whatever the offset then.
async fn held_until_seven(night_2300_utc_ms: i64, seven_utc: &str, hours_to_seven: i64) {
    let (app, clock) = scheduled_app_at(night_2300_utc_ms, |_| {}).await;
    quiet_nights(&app).await;
    let t = app.deliver(mention("1")).await;
    assert_eq!(line(&t, "email")["until"], seven_utc, "{}", t.0);
    advance(&app, &clock, hours_to_seven * HOUR - 60).await;
    assert!(outbox(&app).await.is_empty(), "not before 07:00 local time");
    advance(&app, &clock, 60).await;
    until(&app, "the email at 07:00 local time", || async {
        outbox(&app).await.len() == 1
    })
    .await;
}

#[tokio::test]
async fn the_window_ends_at_seven_local_time_across_the_spring_change() {
    // Saturday 2027-03-27 23:00 CET is 22:00 UTC; the clocks go forward at 02:00, so
    // 07:00 CEST on Sunday is 05:00 UTC: seven hours later, not eight.
    held_until_seven(1_806_184_800_000, "2027-03-28T05:00:00.000Z", 7).await;
}

#[tokio::test]
async fn the_window_ends_at_seven_local_time_across_the_autumn_change() {
    // Saturday 2026-10-24 23:00 CEST is 21:00 UTC; the clocks go back at 03:00, so
    // 07:00 CET on Sunday is 06:00 UTC: nine hours later.
    held_until_seven(1_792_875_600_000, "2026-10-25T06:00:00.000Z", 9).await;
}

#[test]
fn the_start_is_a_wednesday_afternoon() {
    // The tests above count hours from 13:00 Oslo time.
    assert_eq!(
        varsel_server::clock::rfc3339(START_MS),
        "2026-11-25T12:00:00.000Z"
    );
}

#[tokio::test]
async fn held_pop_ups_come_as_one_when_the_window_ends_on_the_tab_in_use() {
    let (app, clock) = scheduled_app(|_| {}).await;
    quiet_nights(&app).await;
    // 22:30 in Oslo, her tab in use: the bell records silently.
    advance(&app, &clock, 9 * HOUR + 1800).await;
    let kari = app.token("acme", "kari").await;
    let mut tab = app.stream(&kari, "tab_id=a&active=true").await;
    assert_eq!(tab.expect_unread().await, 0);
    let t = app.deliver(mention("1")).await;
    let popup = line(&t, "popup");
    assert_eq!(popup["outcome"], "scheduled", "{popup}");
    assert!(popup["reason"].as_str().unwrap().ends_with(";quiet_hours"));
    let f = tab.expect_notification().await.json();
    assert_eq!(f["bell"], true);
    assert!(
        f.get("popup").is_none() && f.get("browser").is_none(),
        "{f}"
    );
    assert_eq!(tab.expect_unread().await, 1);
    app.deliver(mention("2")).await;
    tab.expect_notification().await;
    assert_eq!(tab.expect_unread().await, 2);
    drop(tab);

    // 06:59, a fresh tab in use; at 07:00 one pop-up sums up the night, with its sound.
    advance(&app, &clock, 8 * HOUR + 1740).await;
    let kari = app.token("acme", "kari").await;
    let mut tab = app.stream(&kari, "tab_id=b&active=true").await;
    assert_eq!(tab.expect_unread().await, 2);
    advance(&app, &clock, 60).await;
    let f = tab.expect_notification().await.json();
    assert_eq!(f["bell"], false, "not a new bell item: {f}");
    assert_eq!(f["title"], "2 varsler mens stille timer var på");
    assert!(f["popup"]["sound"].is_string(), "{f}");
    assert_eq!(app.feed(&kari).await.len(), 2);
}
