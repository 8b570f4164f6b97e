//! Accepted events survive `kill -9`: the real binary is killed while events stream in
//! and emails go out, restarted on the same database, and every event answered 202
//! reaches every feed exactly once and every recipient's inbox. Runs on SQLite, and on
//! PostgreSQL when VARSEL_TEST_DATABASE_URL is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use varsel_testkit::client::{free_port, wait_healthy};
use varsel_testkit::smtp::SmtpSink;

const KEY: &str = "crash-test-api-key-0123456789";
const SECRET: &str = "crash-test-token-secret-0123456789abcdef";
const EVENTS: usize = 400;

/// SMTP connections of the server under test.
const SMTP_CONNECTIONS: usize = 8;

fn start(db: &str, port: u16, dir: &std::path::Path, smtp: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_varsel"))
        .args([
            "serve",
            "--database-url",
            db,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("VARSEL_SMTP_URL", smtp)
        .env("VARSEL_JOB_LEASE_SECONDS", "2")
        .env("VARSEL_JOB_RETRY_BASE_SECONDS", "0.2")
        .env("VARSEL_SMTP_MAX_CONNECTIONS", SMTP_CONNECTIONS.to_string())
        .env("VARSEL_API_KEY", KEY)
        .env("VARSEL_TOKEN_SECRET", SECRET)
        .env("VARSEL_LOG", "warn")
        // PostgreSQL frees a dead node's claims when their lease ends; keep the wait short.
        .env("VARSEL_PROCESS_LEASE_SECONDS", "2")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start varsel")
}

/// A fresh database: a SQLite file, or a new PostgreSQL database on the test server.
async fn database(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match std::env::var("VARSEL_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        None => (format!("sqlite://{}/crash.db", dir.display()), None),
        Some(url) => {
            let (server, _) = url.rsplit_once('/').unwrap();
            let name = format!("varsel_crash_{}", std::process::id());
            let admin = format!("{server}/postgres");
            let pool = sqlx::PgPool::connect(&admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .unwrap();
            (format!("{server}/{name}"), Some((admin, name)))
        }
    }
}

fn event(i: usize) -> Value {
    json!({
        "type": "deals.mention",
        "account_id": "acme",
        "actor_id": "boss",
        "recipients": ["u1", "u2"],
        "object": {"type": "note", "id": format!("note-{i}"), "name": format!("n{i}")},
        "idempotency_key": format!("k{i}"),
    })
}

/// Posts every event, 16 at a time, counting acceptances in `accepted_so_far`; returns
/// the ids answered 202 and the indexes that got no answer.
async fn post_all(
    http: &reqwest::Client,
    base: &str,
    which: Vec<usize>,
    accepted_so_far: Arc<AtomicUsize>,
) -> (HashMap<usize, String>, Vec<usize>) {
    let results: Vec<(usize, Option<Option<String>>)> =
        futures::stream::iter(which.into_iter().map(|i| {
            let http = http.clone();
            let url = format!("{base}/v1/events");
            let counter = accepted_so_far.clone();
            async move {
                let r = http.post(url).bearer_auth(KEY).json(&event(i)).send().await;
                match r {
                    Ok(r) if r.status() == 202 => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        (
                            i,
                            Some(
                                r.json::<Value>()
                                    .await
                                    .ok()
                                    .map(|v| v["id"].as_str().unwrap().to_string()),
                            ),
                        )
                    }
                    _ => (i, None),
                }
            }
        }))
        .buffer_unordered(16)
        .collect()
        .await;
    let mut ok = HashMap::new();
    let mut failed = Vec::new();
    for (i, r) in results {
        match r {
            Some(Some(id)) => {
                ok.insert(i, id);
            }
            _ => failed.push(i),
        }
    }
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_events_survive_kill_9_and_show_once() {
    let dir = tempfile::tempdir().unwrap();
    let (db, pg) = database(dir.path()).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let sink = SmtpSink::start().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start(&db, port, dir.path(), &sink.url());
    wait_healthy(&http, &base).await;

    http.put(format!("{base}/v1/accounts/acme"))
        .bearer_auth(KEY)
        .json(&json!({"name": "Acme", "tier": "enterprise"}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    for u in ["boss", "u1", "u2"] {
        http.put(format!("{base}/v1/accounts/acme/users/{u}"))
            .bearer_auth(KEY)
            .json(&json!({"email": format!("{u}@acme.example")}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }

    // Post in the background and kill the server mid-way, with requests in flight.
    let counter = Arc::new(AtomicUsize::new(0));
    let poster = {
        let http = http.clone();
        let base = base.clone();
        let counter = counter.clone();
        tokio::spawn(async move { post_all(&http, &base, (0..EVENTS).collect(), counter).await })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    // Kill once a third of the events is in and emails are going out.
    while counter.load(Ordering::SeqCst) < EVENTS / 3 || sink.messages().len() < 20 {
        assert!(Instant::now() < deadline, "events are not being accepted");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let (mut accepted, failed) = poster.await.unwrap();
    eprintln!(
        "before the kill: {} accepted, {} unanswered",
        accepted.len(),
        failed.len()
    );

    // Restart on the same database; the host retries what got no answer, with the same keys.
    let emails_before_restart = sink.messages().len();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = start(&db, port, dir.path(), &sink.url());
    wait_healthy(&http, &base).await;
    let (retried, still) = post_all(&http, &base, failed, Arc::new(AtomicUsize::new(0))).await;
    assert!(still.is_empty(), "events refused after restart: {still:?}");
    accepted.extend(retried);
    assert_eq!(accepted.len(), EVENTS);

    // Every event is processed (the trace leaves `pending`).
    let deadline = Instant::now() + Duration::from_secs(60);
    for id in accepted.values() {
        loop {
            let t: Value = http
                .get(format!("{base}/v1/events/{id}/trace"))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if t["state"] == "done" {
                break;
            }
            assert!(Instant::now() < deadline, "event {id} still {}", t["state"]);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Each recipient's feed holds every event exactly once.
    let mut ntf_ids: Vec<String> = Vec::new();
    for user in ["u1", "u2"] {
        let token: Value = http
            .post(format!("{base}/v1/tokens"))
            .bearer_auth(KEY)
            .json(&json!({"account_id": "acme", "user_id": user}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["token"].as_str().unwrap().to_string();
        let mut names = Vec::new();
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{base}/v1/me/feed?limit=100");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page: Value = http
                .get(url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for item in page["items"].as_array().unwrap() {
                names.push(item["body"].as_str().unwrap().to_string());
                ids.push(item["id"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(names.len(), EVENTS, "{user} has {} items", names.len());
        assert_eq!(unique.len(), EVENTS, "{user} has duplicates");
        ntf_ids.extend(ids);
    }

    // Every recipient got an email for every event. Delivery is at least once: a send the
    // SMTP server accepted just before the kill, but that was not yet recorded, goes out
    // again after the restart with the same Message-ID, so the receiving side can drop it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let expected: HashSet<String> = ntf_ids
        .iter()
        .map(|n| format!("{n}.email@varsel.localhost"))
        .collect();
    loop {
        let got: HashSet<String> = sink.messages().iter().map(|m| m.message_id()).collect();
        if got == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "emails: {} of {} arrived; unexpected: {:?}",
            got.intersection(&expected).count(),
            expected.len(),
            got.difference(&expected).take(3).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = sink.messages().len();
    eprintln!(
        "emails: {} distinct, {all} received ({emails_before_restart} before the restart)",
        expected.len()
    );
    // Repeats can only come from emails the SMTP server took whose outcome was not yet
    // written at the kill: at most two per SMTP connection (the sends under way and as
    // many waiting for their commit; `Recorder::unrecorded_sends`).
    assert!(
        all - expected.len() <= 2 * SMTP_CONNECTIONS,
        "{} repeated emails",
        all - expected.len()
    );

    child.kill().unwrap();
    child.wait().unwrap();
    if let Some((admin, name)) = pg {
        let pool = sqlx::PgPool::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&pool)
        .await
        .unwrap();
    }
}
