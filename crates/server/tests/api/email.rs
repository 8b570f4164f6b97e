//! Email over a real SMTP conversation (the test server in `smtp.rs`): headers, both
//! MIME parts, Norwegian text intact; retries while the server is down; dead letters.

use mail_parser::MimeHeaders;
use serde_json::json;

use crate::harness::{Auth, TestApp, Trace};
use crate::scheduler::{advance, drain, scheduled_app, until};
use varsel_testkit::smtp::SmtpSink;

/// Account `acme` with Bjørn (`boss`) and Kari (Norwegian, `kari@example.no`).
pub async fn crm(app: &TestApp) {
    app.put_account("acme", "enterprise").await;
    app.put_user("acme", "boss", json!({"name": "Bjørn Ås"}))
        .await;
    app.put_user(
        "acme",
        "kari",
        json!({"name": "Kari Nordmann", "locale": "nb", "email": "kari@example.no"}),
    )
    .await;
}

fn mention(id: &str) -> serde_json::Value {
    json!({
        "type": "deals.mention", "account_id": "acme", "actor_id": "boss", "recipients": ["kari"],
        "object": {"type": "note", "id": id, "name": "Blåbærsyltetøy på møtet", "url": "https://crm.example/deals/7"},
    })
}

/// The email line of an event's trace, read afresh.
async fn traced_email(app: &TestApp, t: &Trace) -> serde_json::Value {
    let id = t.0["event_id"].as_str().unwrap();
    let trace = app
        .get(&format!("/v1/events/{id}/trace"), &Auth::Key)
        .await
        .ok(200)
        .clone();
    let lines = trace["decisions"].as_array().unwrap();
    lines
        .iter()
        .find(|d| d["channel"] == "email")
        .unwrap()
        .clone()
}

#[tokio::test]
async fn emails_go_over_smtp_with_both_parts_and_norwegian_intact() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let (app, _clock) = scheduled_app(move |c| c.smtp_url = url).await;
    crm(&app).await;
    let t = app.deliver(mention("n1")).await;
    until(&app, "one email at the SMTP server", || async {
        sink.messages().len() == 1
    })
    .await;
    let m = &sink.messages()[0];
    assert_eq!(m.to, vec!["<kari@example.no>"]);
    assert!(m.from.starts_with("<notifications@"), "{}", m.from);
    let msg = m.parsed();
    assert_eq!(msg.subject(), Some("Bjørn Ås nevnte deg på en avtale"));
    let to = msg.to().and_then(|a| a.first()).unwrap();
    assert_eq!(to.name(), Some("Kari Nordmann"));
    assert!(
        msg.from()
            .and_then(|a| a.first())
            .unwrap()
            .address()
            .unwrap()
            .starts_with("notifications@")
    );
    let ntf = t.0["notifications"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        msg.message_id(),
        Some(format!("{ntf}.email@varsel.localhost").as_str())
    );
    assert_eq!(
        msg.content_type().map(|c| (c.ctype(), c.subtype())),
        Some(("multipart", Some("alternative")))
    );
    let text = msg.body_text(0).unwrap();
    let html = msg.body_html(0).unwrap();
    assert!(text.contains("Blåbærsyltetøy på møtet"), "{text}");
    assert!(text.contains("Åpne: https://crm.example/deals/7"));
    assert!(html.contains("Blåbærsyltetøy på møtet"), "{html}");
    assert!(html.contains("href=\"https://crm.example/deals/7\""));
    // The footer's links are signed (followed in links.rs).
    assert!(html.contains("/email/settings/"));
    assert!(msg.header_raw("List-Unsubscribe").is_some());
    // The trace shows the email delivered (recorded a moment after the server has it).
    until(&app, "the email recorded sent", || async {
        traced_email(&app, &t).await["delivery"] == "sent"
    })
    .await;
}

#[tokio::test]
async fn an_smtp_outage_is_retried_and_every_email_arrives_once() {
    let mut sink = SmtpSink::start().await;
    let url = sink.url();
    let (app, clock) = scheduled_app(move |c| c.smtp_url = url).await;
    crm(&app).await;
    sink.down();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            app.deliver(mention(&format!("n{i}"))).await.0["notifications"][0]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Each fails once and waits for its retry; the delivery says why.
    let email_of = |id: String| {
        let app = &app;
        async move {
            let n = app
                .get(&format!("/v1/notifications/{id}"), &Auth::Key)
                .await
                .ok(200)
                .clone();
            n["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|d| d["channel"] == "email")
                .cloned()
                .unwrap_or_default()
        }
    };
    until(&app, "a failed first attempt", || async {
        email_of(ids[0].clone()).await["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("retrying"))
    })
    .await;
    assert_eq!(email_of(ids[0].clone()).await["state"], "pending");
    // Still down at the first retry.
    advance(&app, &clock, 2).await;
    assert!(sink.messages().is_empty());
    sink.up().await;
    advance(&app, &clock, 10).await;
    until(&app, "three emails after the outage", || async {
        clock.advance_ms(500);
        sink.messages().len() >= 3
    })
    .await;
    advance(&app, &clock, 60).await;
    let mut got: Vec<String> = sink.messages().iter().map(|m| m.message_id()).collect();
    got.sort();
    let mut want: Vec<String> = ids
        .iter()
        .map(|i| format!("{i}.email@varsel.localhost"))
        .collect();
    want.sort();
    assert_eq!(got, want, "each email exactly once");
    // Every attempt is in the job's log (recorded a moment after the server took the email).
    let first = ids[0].clone();
    until(&app, "the first email's job done", || async {
        let done = app
            .get("/v1/jobs?state=done&limit=100", &Auth::Key)
            .await
            .ok(200)
            .clone();
        done["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["kind"] == "email" && j["payload"]["ids"][0] == first.as_str())
    })
    .await;
    let jobs = app
        .get("/v1/jobs?state=done&limit=100", &Auth::Key)
        .await
        .ok(200)
        .clone();
    let email_job = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        // The first email's job: the one seen failing before the server came back (the
        // others may have had their first attempt after it).
        .find(|j| j["kind"] == "email" && j["payload"]["ids"][0] == ids[0].as_str())
        .unwrap()
        .clone();
    let job = app
        .get(
            &format!("/v1/jobs/{}", email_job["id"].as_str().unwrap()),
            &Auth::Key,
        )
        .await
        .ok(200)
        .clone();
    let log = job["attempt_log"].as_array().unwrap();
    assert!(log.len() >= 2, "{job}");
    assert_eq!(log.last().unwrap()["outcome"], "done");
    assert!(log[0]["error"].as_str().unwrap().contains("smtp"), "{job}");
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_dead_lettered_and_can_be_retried() {
    let mut sink = SmtpSink::start().await;
    let url = sink.url();
    let (app, clock) = scheduled_app(move |c| {
        c.smtp_url = url;
        c.job_max_attempts = 2;
    })
    .await;
    crm(&app).await;
    sink.down();
    let t = app.deliver(mention("n1")).await;
    let ntf = t.0["notifications"][0]["id"].as_str().unwrap().to_string();
    drain(&app).await;
    advance(&app, &clock, 10).await;
    until(&app, "the dead job", || async {
        clock.advance_ms(1000);
        !app.get("/v1/jobs", &Auth::Key).await.ok(200)["jobs"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;
    let dead = app.get("/v1/jobs", &Auth::Key).await.ok(200).clone();
    let jobs = dead["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{dead}");
    assert_eq!(jobs[0]["state"], "dead");
    assert_eq!(jobs[0]["attempts"], 2);
    let n = app
        .get(&format!("/v1/notifications/{ntf}"), &Auth::Key)
        .await
        .ok(200)
        .clone();
    let email = n["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "email")
        .unwrap()
        .clone();
    assert_eq!(email["state"], "failed");
    assert_eq!(traced_email(&app, &t).await["delivery"], "failed");
    // Retrying a job that is not dead is refused; the dead one goes again.
    sink.up().await;
    let id = jobs[0]["id"].as_str().unwrap();
    app.post_empty(&format!("/v1/jobs/{id}/retry"), &Auth::Key)
        .await
        .ok(200);
    until(&app, "the retried email", || async {
        sink.messages().len() == 1
    })
    .await;
    until(&app, "the job done", || async {
        app.get(&format!("/v1/jobs/{id}"), &Auth::Key).await.ok(200)["state"] == "done"
    })
    .await;
    app.post_empty(&format!("/v1/jobs/{id}/retry"), &Auth::Key)
        .await
        .assert_error(409, "not_dead");
    app.post_empty("/v1/jobs/job_nope/retry", &Auth::Key)
        .await
        .assert_error(404, "not_found");
}
