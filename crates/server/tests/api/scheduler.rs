//! Scheduled delivery with a clock the test moves: the 5-minute assignment delay, batching
//! with a count in both languages, withdrawal, the daily email cap, comment email
//! grouping, the Friday digest in two timezones, and the defaults-changed email.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use varsel_server::clock::ManualClock;

use crate::harness::{Auth, TestApp};

/// Wednesday 2026-11-25 12:00:00 UTC.
pub const START_MS: i64 = 1_795_608_000_000;

pub async fn scheduled_app(
    configure: impl FnOnce(&mut varsel_server::config::Config),
) -> (TestApp, ManualClock) {
    scheduled_app_at(START_MS, configure).await
}

/// A scheduled app whose clock starts at `start_ms`.
pub async fn scheduled_app_at(
    start_ms: i64,
    configure: impl FnOnce(&mut varsel_server::config::Config),
) -> (TestApp, ManualClock) {
    let clock = ManualClock::new(start_ms);
    let app = TestApp::spawn_with(
        |c| {
            c.job_retry_base_seconds = 1.0;
            c.job_retry_max_seconds = 8.0;
            configure(c);
        },
        Some(clock.clone()),
    )
    .await;
    (app, clock)
}

/// Moves the clock and lets the worker run what fell due.
pub async fn advance(app: &TestApp, clock: &ManualClock, seconds: i64) {
    clock.advance_ms(seconds * 1000);
    drain(app).await;
}

/// Runs due jobs until none is left (the background worker may take some too).
pub async fn drain(app: &TestApp) {
    for _ in 0..1000 {
        if varsel_server::jobs::run_due(&app.state)
            .await
            .expect("jobs run")
            == 0
        {
            return;
        }
    }
}

/// Polls `check` (running due jobs in between) until it holds.
pub async fn until<F, Fut>(app: &TestApp, what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    until_within(app, what, 20, check).await
}

/// [`until`], moving the clock a second each time it checks: a send that failed once is
/// retried after its backoff, which passes on the test's clock only.
pub async fn until_retried<F, Fut>(app: &TestApp, clock: &ManualClock, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for: {what}"
        );
        advance(app, clock, 1).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn until_within<F, Fut>(app: &TestApp, what: &str, seconds: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(seconds),
            "timed out waiting for: {what}"
        );
        drain(app).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn outbox(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            None => "/v1/outbox?limit=100".to_string(),
            Some(c) => format!("/v1/outbox?limit=100&cursor={c}"),
        };
        let page = app.get(&path, &Auth::Key).await.ok(200).clone();
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return all,
        }
    }
}

async fn crm(app: &TestApp) {
    app.put_account("acme", "enterprise").await;
    app.put_user("acme", "boss", json!({"name": "Bo Boss"}))
        .await;
    app.put_user("acme", "ola", json!({"name": "Ola", "locale": "en"}))
        .await;
    app.put_user(
        "acme",
        "kari",
        json!({"name": "Kari", "locale": "nb", "timezone": "Europe/Oslo"}),
    )
    .await;
}

fn assign(kind: &str, to: &str, object: &str) -> Value {
    json!({
        "type": kind, "account_id": "acme", "actor_id": "boss", "recipients": [to],
        "object": {"type": "record", "id": object, "name": format!("Record {object}")},
    })
}

#[tokio::test]
async fn assignments_wait_five_minutes() {
    let (app, clock) = scheduled_app(|_| {}).await;
    crm(&app).await;
    let ola = app.token("acme", "ola").await;
    let t = app.deliver(assign("deals.assigned", "ola", "d1")).await;
    let line = t.0["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "bell")
        .unwrap()
        .clone();
    assert_eq!(line["outcome"], "scheduled", "{line}");
    advance(&app, &clock, 299).await;
    assert!(
        app.feed(&ola).await.is_empty(),
        "nothing before five minutes"
    );
    advance(&app, &clock, 1).await;
    until(&app, "the assignment after five minutes", || async {
        app.feed(&ola).await.len() == 1
    })
    .await;
    let item = &app.feed(&ola).await[0];
    assert_eq!(item["count"], 1);
    assert_eq!(item["title"], "Bo Boss assigned you a deal");
}

#[tokio::test]
async fn assignments_in_one_window_become_one_notification_in_both_languages() {
    let (app, clock) = scheduled_app(|_| {}).await;
    crm(&app).await;
    let (ola, kari) = (
        app.token("acme", "ola").await,
        app.token("acme", "kari").await,
    );
    let mut ids = Vec::new();
    for (i, c) in ["c1", "c2", "c3"].iter().enumerate() {
        ids.push(app.deliver(assign("crm.contact_assigned", "ola", c)).await);
        app.deliver(assign("crm.contact_assigned", "kari", &format!("k{c}")))
            .await;
        advance(&app, &clock, 60 * (i as i64 + 1)).await;
    }
    // Six minutes after the first: one notification each, with the count.
    advance(&app, &clock, 0).await;
    until(&app, "one batched notification each", || async {
        app.feed(&ola).await.len() == 1 && app.feed(&kari).await.len() == 1
    })
    .await;
    let o = &app.feed(&ola).await[0];
    assert_eq!(o["count"], 3);
    assert_eq!(o["title"], "You were assigned 3 contacts");
    let k = &app.feed(&kari).await[0];
    assert_eq!(k["title"], "Du har fått tildelt 3 kontakter");
    // Every grouped event's trace points at the one notification.
    let nid = o["id"].as_str().unwrap();
    for t in &ids {
        let trace = app.wait_processed(t.0["event_id"].as_str().unwrap()).await;
        let ns = trace.0["notifications"].as_array().unwrap();
        assert!(
            ns.iter().any(|n| n["id"] == nid && n["count"] == 3),
            "{}",
            trace.0
        );
    }
    // One email with the count, not three.
    until(&app, "the batched email", || async {
        outbox(&app).await.len() == 2
    })
    .await;
    let mails = outbox(&app).await;
    assert!(mails.iter().any(|m| m["subject"] == "You were assigned 3 contacts" && m["to"] == "ola@example.com"));
    assert!(mails.iter().any(
        |m| m["subject"] == "Du har fått tildelt 3 kontakter" && m["to"] == "kari@example.com"
    ));
}

#[tokio::test]
async fn a_reassigned_record_is_withdrawn_and_an_empty_batch_sends_nothing() {
    let (app, clock) = scheduled_app(|_| {}).await;
    crm(&app).await;
    app.put_user("acme", "per", json!({"name": "Per"})).await;
    let (ola, kari, per) = (
        app.token("acme", "ola").await,
        app.token("acme", "kari").await,
        app.token("acme", "per").await,
    );
    app.deliver(assign("deals.assigned", "ola", "d1")).await;
    app.deliver(assign("deals.assigned", "ola", "d2")).await;
    app.deliver(assign("deals.assigned", "per", "d3")).await;
    advance(&app, &clock, 60).await;
    // d2 goes to Kari and d3 to Ola before the windows close.
    app.deliver(assign("deals.assigned", "kari", "d2")).await;
    app.deliver(assign("deals.assigned", "ola", "d3")).await;
    advance(&app, &clock, 300).await;
    until(&app, "the batches", || async {
        app.feed(&ola).await.len() == 1 && app.feed(&kari).await.len() == 1
    })
    .await;
    // Ola's window holds d1 and d3 (joined while it was open); d2 was withdrawn.
    let o = app.feed(&ola).await;
    assert_eq!(o[0]["count"], 2, "{o:?}");
    assert_eq!(o[0]["body"], "Record d1, Record d3");
    assert_eq!(app.feed(&kari).await[0]["count"], 1);
    // Per's only assignment was taken away: his batch is empty and sends nothing.
    advance(&app, &clock, 600).await;
    assert!(app.feed(&per).await.is_empty());
    assert!(
        outbox(&app)
            .await
            .iter()
            .all(|m| m["to"] != "per@example.com")
    );
}

fn mention(to: &str, i: usize) -> Value {
    json!({
        "type": "deals.mention", "account_id": "acme", "actor_id": "boss", "recipients": [to],
        "object": {"type": "note", "id": format!("note-{i}"), "name": format!("Note {i}")},
    })
}

#[tokio::test]
async fn the_daily_cap_drops_the_1001st_email_of_a_type() {
    let (app, clock) = scheduled_app(|_| {}).await;
    crm(&app).await;
    // 1,001 mentions in one UTC day, accepted concurrently through the batch endpoint.
    let events: Vec<Value> = (0..1001).map(|i| mention("ola", i)).collect();
    let r = app
        .post(
            "/v1/events/batch",
            &Auth::Key,
            json!({"events": events[..1000]}),
        )
        .await;
    let mut ids: Vec<String> = r.ok(202)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    ids.push(app.accept(events[1000].clone()).await);
    for id in &ids {
        app.wait_processed(id).await;
    }
    // 1,001 email jobs, each with its own commits: give slow disks time.
    until_within(&app, "1,000 emails", 120, || async {
        varsel_server::jobs::run_due(&app.state).await.unwrap();
        let pending = app
            .get("/v1/jobs?state=scheduled&limit=1", &Auth::Key)
            .await
            .ok(200)
            .clone();
        pending["jobs"].as_array().unwrap().is_empty() && outbox(&app).await.len() >= 1000
    })
    .await;
    let mut dropped = 0;
    for id in &ids {
        let t = app.wait_processed(id).await;
        let email = t.0["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["channel"] == "email")
            .unwrap()
            .clone();
        match email["outcome"].as_str().unwrap() {
            "dropped" => {
                assert_eq!(email["reason"], "daily_cap");
                dropped += 1;
            }
            "sent" => {}
            other => panic!("unexpected email outcome {other}: {email}"),
        }
    }
    assert_eq!(dropped, 1);
    assert_eq!(outbox(&app).await.len(), 1000);
    // The bell is not capped: all 1,001 are in the feed count.
    let ola = app.token("acme", "ola").await;
    assert_eq!(app.unread(&ola).await, 1001);
    // Another type is counted on its own, and the next UTC day starts again.
    app.deliver(json!({"type": "crm.mention", "account_id": "acme", "actor_id": "boss", "recipients": ["ola"],
        "object": {"type": "note", "id": "other"}})).await;
    until(&app, "another type's email", || async {
        outbox(&app).await.len() == 1001
    })
    .await;
    advance(&app, &clock, 12 * 3600).await;
    app.deliver(mention("ola", 5000)).await;
    until(&app, "the next day's email", || async {
        outbox(&app).await.len() == 1002
    })
    .await;
}

fn reply(to: &str, thread: &str) -> Value {
    json!({
        "type": "comments.activity", "account_id": "acme", "actor_id": "boss", "recipients": [to],
        "object": {"type": "activity", "id": thread, "name": format!("Thread {thread}")},
    })
}

#[tokio::test]
async fn up_to_three_replies_in_a_thread_within_a_minute_are_one_email() {
    let (app, clock) = scheduled_app(|_| {}).await;
    crm(&app).await;
    let ola = app.token("acme", "ola").await;
    for _ in 0..4 {
        app.deliver(reply("ola", "t1")).await;
        advance(&app, &clock, 5).await;
    }
    app.deliver(reply("ola", "t2")).await;
    // The bell gets every reply at once, one item per thread (the type groups).
    let feed = app.feed(&ola).await;
    assert_eq!(feed.len(), 2);
    assert_eq!(feed[1]["count"], 4);
    // The first three replies of t1 went out as one email when the third arrived.
    until(&app, "the grouped email", || async {
        outbox(&app).await.len() == 1
    })
    .await;
    let first = outbox(&app).await;
    assert!(
        first[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("3 new replies"),
        "{}",
        first[0]
    );
    // The fourth reply of t1 and the one of t2 wait for their own 60 seconds.
    advance(&app, &clock, 30).await;
    assert_eq!(outbox(&app).await.len(), 1);
    advance(&app, &clock, 40).await;
    until(&app, "the other two emails", || async {
        outbox(&app).await.len() == 3
    })
    .await;
    let singles: Vec<Value> = outbox(&app)
        .await
        .into_iter()
        .filter(|m| !m["subject"].as_str().unwrap().contains("replies"))
        .collect();
    assert_eq!(singles.len(), 2);
}

#[tokio::test]
async fn the_workflow_digest_goes_out_friday_at_nine_in_each_timezone() {
    let (app, clock) = scheduled_app(|_| {}).await;
    crm(&app).await;
    app.put_user(
        "acme",
        "nyc",
        json!({"name": "Nia", "timezone": "America/New_York"}),
    )
    .await;
    app.put_user(
        "acme",
        "quiet",
        json!({"name": "Q", "timezone": "Europe/Oslo"}),
    )
    .await;
    for (i, wf) in ["Onboarding", "Onboarding", "Renewal"].iter().enumerate() {
        let t = app.deliver(json!({
            "type": "workflows.enrollment_changed", "account_id": "acme", "recipients": ["kari", "nyc"],
            "object": {"type": "workflow", "id": format!("wf-{wf}"), "name": wf}, "data": {"workflow": wf},
            "idempotency_key": format!("wf{i}"),
        })).await;
        let email = t.0["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["channel"] == "email" && d["user_id"] == "kari")
            .unwrap()
            .clone();
        assert_eq!(email["outcome"], "scheduled");
    }
    // Friday 2026-11-27 08:59 UTC is 09:59 in Oslo... one minute before 09:00 Oslo is 07:59 UTC.
    let to_friday_oslo = (1_795_766_400_000 - START_MS) / 1000; // 2026-11-27T08:00:00Z
    advance(&app, &clock, to_friday_oslo - 60).await;
    assert!(outbox(&app).await.is_empty(), "not before 09:00 Oslo time");
    advance(&app, &clock, 60).await;
    until(&app, "Kari's digest at 09:00 Oslo", || async {
        outbox(&app).await.len() == 1
    })
    .await;
    let kari = outbox(&app).await[0].clone();
    assert_eq!(kari["to"], "kari@example.com");
    assert!(
        kari["text"]
            .as_str()
            .unwrap()
            .contains("Onboarding: 2 endringer"),
        "{}",
        kari["text"]
    );
    assert!(
        kari["text"]
            .as_str()
            .unwrap()
            .contains("Renewal: 1 endring")
    );
    // New York's 09:00 is 14:00 UTC.
    advance(&app, &clock, 6 * 3600 - 60).await;
    assert_eq!(outbox(&app).await.len(), 1);
    advance(&app, &clock, 60).await;
    until(&app, "Nia's digest at 09:00 New York time", || async {
        outbox(&app).await.len() == 2
    })
    .await;
    // A week without changes sends nothing.
    advance(&app, &clock, 7 * 24 * 3600).await;
    assert_eq!(outbox(&app).await.len(), 2);
    assert!(
        outbox(&app)
            .await
            .iter()
            .all(|m| m["to"] != "quiet@example.com")
    );
}

#[tokio::test]
async fn changing_account_defaults_emails_every_affected_user() {
    let (app, _clock) = scheduled_app(|_| {}).await;
    crm(&app).await;
    // Kari chose deal mentions by email herself; the new default does not change her.
    let kari = app.token("acme", "kari").await;
    app.patch(
        "/v1/me/preferences",
        &Auth::user(&kari),
        json!({"tabs": {"email": {"types": {"deals.mention": {"on": true}}}}}),
    )
    .await
    .ok(200);
    app.put(
        "/v1/accounts/acme/defaults",
        &Auth::Key,
        json!({"tabs": {"email": {"types": {"deals.mention": {"on": false}}}}}),
    )
    .await
    .ok(200);
    until(&app, "defaults-changed emails", || async {
        outbox(&app).await.len() == 2
    })
    .await;
    let mails = outbox(&app).await;
    let to: Vec<&str> = mails.iter().map(|m| m["to"].as_str().unwrap()).collect();
    assert!(
        to.contains(&"ola@example.com") && to.contains(&"boss@example.com"),
        "{to:?}"
    );
    assert!(!to.contains(&"kari@example.com"));
    assert!(
        mails
            .iter()
            .all(|m| m["subject"] == "Your notification settings have new defaults")
    );
    // Putting the same defaults again changes nothing and sends nothing.
    app.put(
        "/v1/accounts/acme/defaults",
        &Auth::Key,
        json!({"tabs": {"email": {"types": {"deals.mention": {"on": false}}}}}),
    )
    .await
    .ok(200);
    drain(&app).await;
    assert_eq!(outbox(&app).await.len(), 2);
}
