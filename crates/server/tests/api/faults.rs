//! Delivery on a bad day. Email, against the test SMTP server's misbehaviours: a server that never
//! greets, stalls in DATA, closes before answering the data, answers 421/451 or 550, is
//! slow, wants STARTTLS or refuses authentication, or is down for a while. Each test states
//! the outcome: delivered once after recovery, retried later, backed off as a whole
//! (jobs wait without spending attempts), or dead-lettered with the reason. Nothing is
//! lost in any of them. Then the other channels: they keep flowing while the SMTP server
//! is backed off, and a provider that hangs is abandoned at its deadline. Last, leases: an
//! expired one is taken over, and a restarted node frees its own at once.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use varsel_server::clock::{Clock, ManualClock};
use varsel_testkit::fault::Misbehaviour;
use varsel_testkit::smtp::{SmtpFault, SmtpSink};
use varsel_testkit::teams::TeamsServer;

use crate::channels::delivery;
use crate::email::crm;
use crate::harness::{Auth, TestApp};
use crate::scheduler::{advance, scheduled_app, until, until_within};

fn mention(id: &str) -> Value {
    json!({
        "type": "deals.mention", "account_id": "acme", "actor_id": "boss", "recipients": ["kari"],
        "object": {"type": "note", "id": id, "name": "Q4", "url": "https://crm.example/deals/7"},
    })
}

/// A server on `sink` with short SMTP deadlines.
async fn app_for(
    sink: &SmtpSink,
    configure: impl FnOnce(&mut varsel_server::config::Config),
) -> (TestApp, ManualClock) {
    let url = sink.url();
    let (app, clock) = scheduled_app(move |c| {
        c.smtp_url = url;
        c.smtp_connect_timeout_seconds = 1;
        c.smtp_timeout_seconds = 1;
        configure(c);
    })
    .await;
    crm(&app).await;
    (app, clock)
}

/// Posts `n` mentions (objects `o0…`) and returns their notification ids.
async fn mentions(app: &TestApp, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let t = app.deliver(mention(&format!("o{i}"))).await;
        ids.push(t.0["notifications"][0]["id"].as_str().unwrap().to_string());
    }
    ids
}

/// Message-IDs the server received, with how many times each.
fn received(sink: &SmtpSink) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in sink.messages() {
        *m.entry(r.message_id()).or_default() += 1;
    }
    m
}

fn message_id(ntf: &str) -> String {
    format!("{ntf}.email@varsel.localhost")
}

/// The email delivery of a notification.
async fn email_delivery(app: &TestApp, ntf: &str) -> Value {
    delivery(app, ntf, "email").await
}

/// The email job of a notification, with its attempt log.
async fn email_job(app: &TestApp, ntf: &str) -> Value {
    for state in ["done", "dead", "scheduled"] {
        let list = app
            .get(&format!("/v1/jobs?state={state}&limit=100"), &Auth::Key)
            .await
            .ok(200)
            .clone();
        if let Some(j) = list["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["kind"] == "email" && j["payload"]["ids"][0] == ntf)
        {
            let id = j["id"].as_str().unwrap();
            return app
                .get(&format!("/v1/jobs/{id}"), &Auth::Key)
                .await
                .ok(200)
                .clone();
        }
    }
    Value::Null
}

/// Waits until every notification's email is recorded `sent`, moving the clock so
/// retries fall due — at most ten times as fast as real time, so a send still waiting
/// for its (real-time) deadline keeps its lease (`job_lease_seconds`).
async fn all_sent(app: &TestApp, clock: &ManualClock, ids: &[String]) {
    until_within(app, "every email recorded sent", 60, || async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        clock.advance_ms(1_000);
        for id in ids {
            if email_delivery(app, id).await["state"] != "sent" {
                return false;
            }
        }
        true
    })
    .await;
}

#[tokio::test]
async fn a_server_that_never_greets_holds_up_no_other_email() {
    let sink = SmtpSink::start().await;
    sink.fault_next(3, SmtpFault::NeverGreet);
    let (app, clock) = app_for(&sink, |c| c.smtp_max_connections = 4).await;
    let ids = mentions(&app, 12).await;
    // Nine go out over the good connection while three wait for a greeting that never
    // comes; those three are abandoned at the connect deadline and retried.
    until_within(
        &app,
        "nine emails while three connections hang",
        30,
        || async { received(&sink).len() >= 9 },
    )
    .await;
    all_sent(&app, &clock, &ids).await;
    let got = received(&sink);
    for id in &ids {
        assert_eq!(got.get(&message_id(id)), Some(&1), "{got:?}");
    }
    // The hung ones say why they were retried.
    let mut timed_out = 0;
    for id in &ids {
        let job = email_job(&app, id).await;
        let log = job["attempt_log"].as_array().unwrap();
        if log.len() > 1 {
            assert!(
                log[0]["error"]
                    .as_str()
                    .unwrap()
                    .contains("no greeting from smtp://127.0.0.1"),
                "{job}"
            );
            timed_out += 1;
        }
    }
    assert_eq!(timed_out, 3);
}

#[tokio::test]
async fn a_stall_in_data_is_abandoned_at_the_deadline_and_sent_again() {
    let sink = SmtpSink::start().await;
    sink.fault_next(1, SmtpFault::StallInData);
    let (app, clock) = app_for(&sink, |_| {}).await;
    let ids = mentions(&app, 1).await;
    all_sent(&app, &clock, &ids).await;
    let job = email_job(&app, &ids[0]).await;
    let log = job["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{job}");
    assert!(
        log[0]["error"]
            .as_str()
            .unwrap()
            .contains("no answer to the message within"),
        "{job}"
    );
    // At least once: the stalled copy may have reached the server too, with the same id.
    let got = received(&sink);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!((1..=2).contains(&got[&message_id(&ids[0])]), "{got:?}");
}

#[tokio::test]
async fn a_close_before_the_answer_to_the_data_sends_it_again_with_the_same_message_id() {
    let sink = SmtpSink::start().await;
    sink.fault_next(1, SmtpFault::CloseAfterData);
    let (app, clock) = app_for(&sink, |_| {}).await;
    let ids = mentions(&app, 1).await;
    all_sent(&app, &clock, &ids).await;
    // The server had it once without saying so, and once more on the retry: the same
    // Message-ID, so a receiver that deduplicates shows one.
    let got = received(&sink);
    assert_eq!(got.get(&message_id(&ids[0])), Some(&2), "{got:?}");
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn temporary_answers_are_retried_and_delivered_once() {
    for code in [421u16, 451] {
        let sink = SmtpSink::start().await;
        sink.fault_next(1, SmtpFault::Temporary(code));
        let (app, clock) = app_for(&sink, |_| {}).await;
        let ids = mentions(&app, 1).await;
        all_sent(&app, &clock, &ids).await;
        let job = email_job(&app, &ids[0]).await;
        let log = job["attempt_log"].as_array().unwrap();
        assert_eq!(log.len(), 2, "{code}: {job}");
        assert!(
            log[0]["error"]
                .as_str()
                .unwrap()
                .contains(&code.to_string()),
            "{job}"
        );
        assert_eq!(
            received(&sink).get(&message_id(&ids[0])),
            Some(&1),
            "{code}"
        );
    }
}

#[tokio::test]
async fn a_refused_mailbox_is_dead_lettered_with_the_reason_at_once() {
    let sink = SmtpSink::start().await;
    sink.set_fault(Some(SmtpFault::Permanent));
    let (app, _clock) = app_for(&sink, |_| {}).await;
    let ids = mentions(&app, 1).await;
    until(&app, "the email failed", || async {
        email_delivery(&app, &ids[0]).await["state"] == "failed"
    })
    .await;
    let d = email_delivery(&app, &ids[0]).await;
    assert!(d["reason"].as_str().unwrap().contains("550"), "{d}");
    until(&app, "the job dead", || async {
        email_job(&app, &ids[0]).await["state"] == "dead"
    })
    .await;
    let job = email_job(&app, &ids[0]).await;
    assert_eq!(job["attempts"], 1, "{job}");
    assert!(received(&sink).is_empty());
}

#[tokio::test]
async fn a_slow_server_gets_every_email_within_the_deadline() {
    let sink = SmtpSink::start().await;
    sink.set_fault(Some(SmtpFault::Slow(std::time::Duration::from_millis(100))));
    let (app, clock) = app_for(&sink, |c| c.smtp_timeout_seconds = 5).await;
    let ids = mentions(&app, 5).await;
    all_sent(&app, &clock, &ids).await;
    for id in &ids {
        let job = email_job(&app, id).await;
        assert_eq!(job["attempt_log"].as_array().unwrap().len(), 1, "{job}");
    }
    assert_eq!(received(&sink).len(), 5);
}

/// A server that refuses every message for a reason of its own configuration (STARTTLS
/// required, authentication refused) is backed off: after `breaker_failures` failures
/// the other emails wait (state `waiting`, the reason in the job and the trace) without
/// spending attempts; once the server is fixed, a probe goes and everything follows.
async fn backs_off_then_recovers(fault: SmtpFault) {
    let sink = SmtpSink::start().await;
    sink.set_fault(Some(fault.clone()));
    let (app, clock) = app_for(&sink, move |c| {
        c.breaker_failures = 2;
        c.breaker_open_seconds = 30;
        c.smtp_max_connections = 1;
    })
    .await;
    let ids = mentions(&app, 6).await;
    until(&app, "emails waiting for the server", || async {
        let w = app
            .get("/v1/jobs?state=waiting&limit=100", &Auth::Key)
            .await
            .ok(200)
            .clone();
        w["jobs"].as_array().unwrap().len() >= 3
    })
    .await;
    let w = app
        .get("/v1/jobs?state=waiting&limit=100", &Auth::Key)
        .await
        .ok(200)
        .clone();
    for j in w["jobs"].as_array().unwrap() {
        assert_eq!(j["state"], "waiting", "{j}");
        assert!(
            j["last_error"]
                .as_str()
                .unwrap()
                .contains("circuit_open: smtp://127.0.0.1"),
            "{j}"
        );
        assert!(j["attempts"].as_i64().unwrap() <= 1, "{fault:?}: {j}");
    }
    // The trace says so too.
    let waiting = w["jobs"][0]["payload"]["ids"][0].as_str().unwrap();
    let d = email_delivery(&app, waiting).await;
    assert_eq!(d["state"], "waiting", "{d}");
    assert!(
        d["reason"].as_str().unwrap().contains("circuit_open"),
        "{d}"
    );
    assert!(received(&sink).is_empty());
    // Fixed: after the cool-down one probe goes, then the rest.
    sink.set_fault(None);
    advance(&app, &clock, 31).await;
    all_sent(&app, &clock, &ids).await;
    let got = received(&sink);
    for id in &ids {
        assert_eq!(got.get(&message_id(id)), Some(&1), "{got:?}");
    }
}

#[tokio::test]
async fn a_server_that_requires_starttls_is_backed_off_not_hammered() {
    backs_off_then_recovers(SmtpFault::RequireStartTls).await;
}

#[tokio::test]
async fn refused_authentication_is_backed_off_not_hammered() {
    // With credentials in the URL the client authenticates; the server refuses (535).
    let sink = SmtpSink::start().await;
    sink.set_fault(Some(SmtpFault::AuthRefused));
    let url = sink.url().replace("smtp://", "smtp://varsel:wrong@");
    let (app, _clock) = app_for(&sink, move |c| {
        c.smtp_url = url;
        c.breaker_failures = 2;
    })
    .await;
    let ids = mentions(&app, 4).await;
    until(&app, "emails waiting for the server", || async {
        let w = app
            .get("/v1/jobs?state=waiting&limit=100", &Auth::Key)
            .await
            .ok(200)
            .clone();
        !w["jobs"].as_array().unwrap().is_empty()
    })
    .await;
    let job = email_job(&app, &ids[0]).await;
    let first = job["attempt_log"][0]["error"].as_str().unwrap_or_default();
    assert!(first.contains("535"), "{job}");
    assert!(received(&sink).is_empty());
}

#[tokio::test]
async fn an_outage_backs_off_and_every_email_arrives_once_after_recovery() {
    let mut sink = SmtpSink::start().await;
    let (app, clock) = app_for(&sink, |c| {
        c.breaker_failures = 3;
        c.breaker_open_seconds = 60;
        c.job_max_attempts = 3;
    })
    .await;
    sink.down();
    let ids = mentions(&app, 20).await;
    // Down for "60 s": the jobs wait with the server instead of dying one by one.
    for _ in 0..6 {
        advance(&app, &clock, 10).await;
    }
    let dead = app
        .get("/v1/jobs?state=dead&limit=100", &Auth::Key)
        .await
        .ok(200)
        .clone();
    assert!(dead["jobs"].as_array().unwrap().is_empty(), "{dead}");
    sink.up().await;
    advance(&app, &clock, 61).await;
    all_sent(&app, &clock, &ids).await;
    let got = received(&sink);
    assert_eq!(got.len(), 20, "{got:?}");
    assert!(got.values().all(|&n| n == 1), "{got:?}");
}

/// Connects the account to the Teams test server.
async fn connect_teams(app: &TestApp, teams: &TeamsServer) {
    app.put(
        "/v1/accounts/acme/connections/teams",
        &Auth::Key,
        json!({"webhook_url": teams.url()}),
    )
    .await
    .ok(200);
}

#[tokio::test]
async fn while_the_smtp_server_is_backed_off_other_channels_keep_flowing() {
    let mut sink = SmtpSink::start().await;
    let teams = TeamsServer::start().await;
    let (app, _clock) = app_for(&sink, |c| c.breaker_failures = 1).await;
    connect_teams(&app, &teams).await;
    sink.down();
    let ids = mentions(&app, 3).await;
    until(&app, "three Teams cards", || async {
        teams.cards().len() == 3
    })
    .await;
    for id in &ids {
        until(&app, "Teams recorded delivered", || async {
            delivery(&app, id, "teams").await["state"] == "delivered"
        })
        .await;
    }
    until(&app, "emails waiting for the SMTP server", || async {
        let mut waiting = 0;
        for id in &ids {
            if email_delivery(&app, id).await["state"] == "waiting" {
                waiting += 1;
            }
        }
        waiting >= 2
    })
    .await;
}

#[tokio::test]
async fn a_provider_that_hangs_is_abandoned_at_the_deadline_and_delivered_once_after() {
    let sink = SmtpSink::start().await;
    let teams = TeamsServer::start().await;
    let (app, clock) = app_for(&sink, |c| c.channel_timeout_seconds = 1).await;
    connect_teams(&app, &teams).await;
    teams.misbehave_next(1, Misbehaviour::Hang);
    let ids = mentions(&app, 1).await;
    until(&app, "Teams retrying after the hang", || async {
        delivery(&app, &ids[0], "teams").await["state"] == "retrying"
    })
    .await;
    let d = delivery(&app, &ids[0], "teams").await;
    assert!(
        d["reason"]
            .as_str()
            .unwrap()
            .contains("timed out at the deadline"),
        "{d}"
    );
    until(&app, "Teams delivered after the retry", || async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        clock.advance_ms(1_000);
        delivery(&app, &ids[0], "teams").await["state"] == "delivered"
    })
    .await;
    assert_eq!(teams.cards().len(), 1);
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_and_a_restarted_node_frees_its_own_at_once() {
    let sink = SmtpSink::start().await;
    let (app, clock) = app_for(&sink, |_| {}).await;
    let store = &app.state.store;
    // A job due in an hour of the test's clock: the worker leaves it alone, the test
    // claims it at that time.
    let at = clock.now_ms() + 3_600_000;
    let job = varsel_store::NewJob {
        id: "job_lease_test".into(),
        kind: varsel_store::JobKind::Batch,
        dedupe_key: "batch:bat_none".into(),
        account_id: Some("acme".into()),
        payload: json!({"batch_id": "bat_none"}),
        run_at: at,
    };
    store.enqueue_jobs(&[job], clock.now_ms()).await.unwrap();
    let lease = 10_000;
    let claim = |node: &'static str, now: i64| async move {
        store
            .claim_jobs(10, now, now + lease, node)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(claim("node-a", at).await, 1);
    // Held: nobody else gets it while the lease lasts.
    assert_eq!(claim("node-b", at + 1).await, 0);
    assert_eq!(claim("node-b", at + lease - 1).await, 0);
    // Node A starts again: it frees its own leases at once, without waiting them out.
    assert_eq!(store.release_job_leases("node-b").await.unwrap(), 0);
    assert_eq!(store.release_job_leases("node-a").await.unwrap(), 1);
    assert_eq!(claim("node-b", at + 2).await, 1);
    // Node B dies: once its lease has run out, any node takes the job over, B included.
    assert_eq!(claim("node-a", at + 2 + lease - 1).await, 0);
    assert_eq!(claim("node-b", at + 2 + lease + 1).await, 1);
    let (j, _) = store.job("job_lease_test").await.unwrap().unwrap();
    assert_eq!(j.attempts, 3, "every claim counts an attempt");
}
