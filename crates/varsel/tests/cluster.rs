//! Two `varsel serve` processes on one PostgreSQL database (fresh per test), as two nodes
//! behind a load balancer: a user's tabs on either node count as one presence, and every
//! "once" rule holds when events are released together on both nodes. Needs PostgreSQL
//! (`VARSEL_TEST_DATABASE_URL`); without it the tests say so and pass (`scripts/test` runs
//! them on PostgreSQL, and fails in CI when PostgreSQL is unreachable).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};
use varsel_testkit::client::{API_KEY, Api, Auth, SseClient, WAIT, free_port, wait_healthy};
use varsel_testkit::fault::Misbehaviour;
use varsel_testkit::pg::{PgDatabase, fresh_pg, test_url};
use varsel_testkit::slack::SlackServer;
use varsel_testkit::smtp::SmtpSink;

const SECRET: &str = "cluster-test-token-secret-0123456789abcd";
/// Presence TTL of the nodes: a killed node's tabs are forgotten within it.
const PRESENCE_TTL: u64 = 2;
/// The assignment window of the test catalog.
const BATCH_DELAY: u64 = 3;

struct Node {
    child: Child,
    api: Api,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two nodes; the database goes after them (field order).
struct Cluster {
    a: Node,
    b: Node,
    _db: PgDatabase,
    _dir: tempfile::TempDir,
}

/// The built-in catalog with a short assignment window, so a batch fires within the test.
fn catalog(dir: &std::path::Path) -> std::path::PathBuf {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../../catalog/crm.toml");
    let text = std::fs::read_to_string(src)
        .expect("built-in catalog")
        .replace(
            "batch = { delay_seconds = 300 }",
            &format!("batch = {{ delay_seconds = {BATCH_DELAY} }}"),
        );
    let path = dir.join("catalog.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A node; `env` adds settings (`VARSEL_…`) to the ones every node gets.
async fn start(
    db: &str,
    dir: &std::path::Path,
    catalog: &std::path::Path,
    env: &[(&str, String)],
) -> Node {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_varsel"))
        .args([
            "serve",
            "--database-url",
            db,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("VARSEL_API_KEY", API_KEY)
        .env("VARSEL_TOKEN_SECRET", SECRET)
        .env("VARSEL_CATALOG", catalog)
        .env("VARSEL_PRESENCE_TTL_SECONDS", PRESENCE_TTL.to_string())
        .env("VARSEL_JOB_RETRY_BASE_SECONDS", "0.2")
        .env("VARSEL_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start varsel");
    let api = Api::new(format!("http://127.0.0.1:{port}"));
    wait_healthy(&api.client, &api.base).await;
    Node { child, api }
}

impl Cluster {
    /// Two nodes on a fresh database, or `None` (with a note) when PostgreSQL is not set.
    async fn start() -> Option<Cluster> {
        Cluster::start_with(&[]).await
    }

    /// [`Cluster::start`] with more settings for both nodes (an SMTP server, Slack's URL).
    async fn start_with(env: &[(&str, String)]) -> Option<Cluster> {
        let Some(url) = test_url() else {
            // `scripts/test` runs them again with PostgreSQL (and fails in CI without it).
            eprintln!(
                "skipped: VARSEL_TEST_DATABASE_URL is not set (the cluster tests need PostgreSQL)"
            );
            return None;
        };
        let (db, db_url) = fresh_pg(&url).await;
        let dir = tempfile::tempdir().unwrap();
        let catalog = catalog(dir.path());
        // One at a time: the first migrates the fresh database.
        let a = start(&db_url, dir.path(), &catalog, env).await;
        let b = start(&db_url, dir.path(), &catalog, env).await;
        a.api.put_account("acme", "enterprise").await;
        a.api
            .put_user("acme", "boss", json!({"name": "Bo Boss"}))
            .await;
        Some(Cluster {
            a,
            b,
            _db: db,
            _dir: dir,
        })
    }

    /// Node `i % 2`: spreads requests over both nodes.
    fn node(&self, i: usize) -> &Api {
        if i.is_multiple_of(2) {
            &self.a.api
        } else {
            &self.b.api
        }
    }

    /// Users `u0..u{n}`, each with a token.
    async fn users(&self, n: usize) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for i in 0..n {
            let id = format!("u{i}");
            self.a.api.put_user("acme", &id, json!({})).await;
            out.push((id.clone(), self.a.api.token("acme", &id).await));
        }
        out
    }
}

/// Posts all events at once, event `i` to `to(i)`; returns the accepted ids.
async fn release(c: &Cluster, events: Vec<(usize, Value)>) -> Vec<String> {
    join_all(
        events
            .into_iter()
            .map(|(node, e)| async move { c.node(node).accept(e).await }),
    )
    .await
}

/// Polls `f` until it holds; fails the test after [`WAIT`] (plus `extra`).
async fn until<F: std::future::Future<Output = bool>>(
    what: &str,
    extra: Duration,
    mut f: impl FnMut() -> F,
) {
    let start = Instant::now();
    while !f().await {
        assert!(
            start.elapsed() < WAIT + extra,
            "{what}: not within {:?}",
            WAIT + extra
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `node` counts the user's tabs as `(open, active)`.
async fn presence_is(node: &Api, token: &str, open: u64, active: u64) {
    until(
        &format!("presence ({open}, {active})"),
        Duration::ZERO,
        || async {
            let p = node.get("/v1/me/presence", &Auth::user(token)).await;
            let p = p.ok(200);
            p["open_tabs"] == json!(open) && p["active_tabs"] == json!(active)
        },
    )
    .await;
}

/// A tab's stream, registered (its first frame, the unread count, has arrived).
async fn tab(node: &Api, token: &str, query: &str) -> SseClient {
    let mut s = node.stream(token, query).await;
    s.expect_unread().await;
    s
}

fn risky(to: &str, i: usize) -> Value {
    json!({"type": "login_alert.risky_login", "account_id": "acme", "recipients": [to],
           "data": {"location": format!("Oslo {i}")}})
}

/// The next `notification` frame (unread counts in between are skipped).
async fn next_notification(s: &mut SseClient) -> Value {
    loop {
        let f = s.expect_frame().await;
        if f.event == "notification" {
            return f.json();
        }
    }
}

#[tokio::test]
async fn tabs_on_two_nodes_are_one_presence() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let users = c.users(1).await;
    let (user, tok) = &users[0];
    // A background tab on node A, the active tab on node B.
    let mut background = tab(&c.a.api, tok, "tab_id=bg&active=false").await;
    let mut active = tab(&c.b.api, tok, "tab_id=fg&active=true").await;
    presence_is(&c.a.api, tok, 2, 1).await;
    presence_is(&c.b.api, tok, 2, 1).await;

    // Events released on both nodes: the active tab pops up, the background tab only
    // updates its bell, and no browser notification goes anywhere.
    let ids = release(&c, (0..20).map(|i| (i, risky(user, i))).collect()).await;
    for id in &ids {
        let t = c.a.api.wait_processed(id).await;
        t.assert(user, "popup", "sent", "preference:catalog");
        t.assert(user, "browser", "skipped", "presence:active");
    }
    let (mut seen_active, mut seen_background) = (Vec::new(), Vec::new());
    for _ in 0..ids.len() {
        let f = next_notification(&mut active).await;
        assert_eq!(f["popup"], json!({"sound": "knock"}), "{f}");
        assert!(f.get("browser").is_none(), "{f}");
        seen_active.push(f["id"].as_str().unwrap().to_string());
        let g = next_notification(&mut background).await;
        assert!(g.get("popup").is_none(), "{g}");
        assert!(g.get("browser").is_none(), "background tab got {g}");
        seen_background.push(g["id"].as_str().unwrap().to_string());
    }
    // Items processed on the other node arrive over the bus, so the order may differ.
    seen_active.sort();
    seen_background.sort();
    assert_eq!(seen_active, seen_background, "both tabs get every item");

    // The active tab closes: the background tab on the other node now gets the browser
    // notification, whichever node processes the event.
    drop(active);
    presence_is(&c.a.api, tok, 1, 0).await;
    presence_is(&c.b.api, tok, 1, 0).await;
    let ids = release(&c, (0..4).map(|i| (i, risky(user, 100 + i))).collect()).await;
    for id in &ids {
        let t = c.b.api.wait_processed(id).await;
        t.assert(user, "popup", "skipped", "presence:not_active");
        t.assert(user, "browser", "sent", "preference:catalog");
    }
    for _ in 0..ids.len() {
        let g = next_notification(&mut background).await;
        assert_eq!(g["browser"], json!(true), "{g}");
    }

    // No tab open anywhere: no browser notification (and Web Push would go).
    drop(background);
    presence_is(&c.b.api, tok, 0, 0).await;
    let t =
        c.b.api
            .wait_processed(&c.a.api.accept(risky(user, 200)).await)
            .await;
    t.assert(user, "browser", "skipped", "presence:no_open_tab");
}

#[tokio::test]
async fn a_killed_node_takes_its_tabs_presence_with_it() {
    let Some(mut c) = Cluster::start().await else {
        return;
    };
    let users = c.users(1).await;
    let (_, tok) = &users[0];
    let _active = tab(&c.b.api, tok, "tab_id=fg&active=true").await;
    presence_is(&c.a.api, tok, 1, 1).await;
    // kill -9: the node says nothing; the others forget it after the presence TTL.
    c.b.child.kill().unwrap();
    c.b.child.wait().unwrap();
    presence_is(&c.a.api, tok, 0, 0).await;
}

fn assign(to: &str, object: &str) -> Value {
    json!({
        "type": "crm.contact_assigned", "account_id": "acme", "actor_id": "boss", "recipients": [to],
        "object": {"type": "contact", "id": object, "name": format!("Contact {object}")},
    })
}

#[tokio::test]
async fn an_assignment_window_fires_once_across_nodes() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let users = c.users(20).await;
    // Three assignments per user released together: two on node A, one on node B.
    let mut events = Vec::new();
    for (u, _) in &users {
        for k in 0..3 {
            events.push((usize::from(k == 2), assign(u, &format!("{u}-c{k}"))));
        }
    }
    release(&c, events).await;
    let extra = Duration::from_secs(BATCH_DELAY);
    for (i, (u, tok)) in users.iter().enumerate() {
        let node = c.node(i);
        until(&format!("{u}'s batch"), extra, || async {
            !node.feed(tok).await.is_empty()
        })
        .await;
    }
    // Nothing else comes later: every batch job has run.
    until("every batch fired", extra, || async {
        let jobs =
            c.a.api
                .get("/v1/jobs?state=scheduled&limit=100", &Auth::Key)
                .await;
        jobs.ok(200)["jobs"].as_array().unwrap().is_empty()
    })
    .await;
    for (u, tok) in &users {
        let feed = c.b.api.feed(tok).await;
        assert_eq!(feed.len(), 1, "{u}: {feed:?}");
        assert_eq!(feed[0]["count"], json!(3), "{u}: {}", feed[0]);
        assert_eq!(feed[0]["title"], json!("You were assigned 3 contacts"));
    }
}

#[tokio::test]
async fn a_first_mention_notifies_once_across_nodes() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let users = c.users(20).await;
    // Four mentions of every user in one activity, released together on both nodes.
    let mut events = Vec::new();
    for (u, _) in &users {
        for k in 0..4 {
            events.push((
                k,
                json!({"type": "comments.mention", "account_id": "acme", "actor_id": "boss",
                       "recipients": [u], "object": {"type": "deal", "id": format!("act-{u}"), "name": "Deal"},
                       "data": {"n": k}}),
            ));
        }
    }
    let ids = release(&c, events).await;
    for id in &ids {
        c.a.api.wait_processed(id).await;
    }
    for (u, tok) in &users {
        let feed = c.b.api.feed(tok).await;
        assert_eq!(feed.len(), 1, "{u} was notified {} times", feed.len());
    }
}

#[tokio::test]
async fn an_idempotency_key_is_accepted_once_across_nodes() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let users = c.users(1).await;
    let (u, tok) = &users[0];
    let mut e = risky(u, 0);
    e["idempotency_key"] = json!("once-only");
    let c = &c;
    let answers = join_all((0..8).map(|i| {
        let e = e.clone();
        async move { c.node(i).post("/v1/events", &Auth::Key, e).await }
    }))
    .await;
    let mut ids: Vec<&Value> = answers.iter().map(|r| &r.ok(202)["id"]).collect();
    let fresh = answers
        .iter()
        .filter(|r| r.body["duplicate"] == json!(false))
        .count();
    assert_eq!(fresh, 1, "one accepted, the others duplicates");
    ids.dedup();
    assert_eq!(ids.len(), 1, "every answer names the same event");
    c.a.api.wait_processed(ids[0].as_str().unwrap()).await;
    assert_eq!(c.b.api.feed(tok).await.len(), 1);
}

#[tokio::test]
async fn a_digest_period_has_one_batch_across_nodes() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let users = c.users(10).await;
    let mut events = Vec::new();
    for (u, _) in &users {
        for k in 0..4 {
            events.push((
                k,
                json!({"type": "workflows.enrollment_changed", "account_id": "acme", "recipients": [u],
                       "object": {"type": "workflow", "id": format!("wf-{k}"), "name": "Onboarding"},
                       "data": {"workflow": "Onboarding"}}),
            ));
        }
    }
    let ids = release(&c, events).await;
    for id in &ids {
        c.a.api.wait_processed(id).await;
    }
    let jobs =
        c.b.api
            .get("/v1/jobs?state=scheduled&limit=100", &Auth::Key)
            .await;
    let batches = jobs.ok(200)["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == json!("batch"))
        .count();
    assert_eq!(batches, users.len(), "one weekly digest per user");
}

/// Waits until no job is scheduled on any node: every email and delivery has run.
async fn jobs_done(c: &Cluster) {
    until("every job ran", Duration::ZERO, || async {
        let jobs =
            c.a.api
                .get("/v1/jobs?state=scheduled&limit=1", &Auth::Key)
                .await;
        jobs.ok(200)["jobs"].as_array().unwrap().is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_daily_cap_holds_across_nodes() {
    const CAP: usize = 50;
    let smtp = SmtpSink::start().await;
    // Both nodes process the events and run their email jobs one or two at a time, so
    // their counts of the one row interleave up to the cap (with the default batches one
    // node tends to claim everything and count alone).
    let Some(c) = Cluster::start_with(&[
        ("VARSEL_SMTP_URL", smtp.url()),
        ("VARSEL_EMAIL_DAILY_CAP", CAP.to_string()),
        ("VARSEL_PROCESS_BATCH", "4".to_string()),
        ("VARSEL_JOB_BATCH", "1".to_string()),
        ("VARSEL_JOB_CONCURRENCY", "2".to_string()),
    ])
    .await
    else {
        return;
    };
    let users = c.users(1).await;
    let (u, tok) = &users[0];
    // 200 emails of one type to one address, their jobs run by both nodes at once: each
    // takes its count from the same counter row.
    let ids = release(&c, (0..200).map(|i| (i, risky(u, i))).collect()).await;
    for id in &ids {
        c.a.api.wait_processed(id).await;
    }
    jobs_done(&c).await;
    let sent = smtp
        .messages()
        .iter()
        .filter(|m| m.to == [format!("<{u}@example.com>")])
        .count();
    assert_eq!(sent, CAP, "emails handed to SMTP");
    let (mut delivered, mut dropped) = (0, 0);
    for id in &ids {
        let t = c.b.api.wait_processed(id).await;
        match t.of(u, "email") {
            (o, _) if o == "sent" => delivered += 1,
            (o, r) if o == "dropped" && r == "daily_cap" => dropped += 1,
            other => panic!("unexpected email decision {other:?}"),
        }
    }
    assert_eq!((delivered, dropped), (CAP, ids.len() - CAP));
    // The cap is email's: the bell has every one.
    assert_eq!(c.a.api.unread(tok).await, 200);
}

#[tokio::test]
async fn a_defaults_change_emails_each_user_once_across_nodes() {
    let smtp = SmtpSink::start().await;
    let Some(c) = Cluster::start_with(&[("VARSEL_SMTP_URL", smtp.url())]).await else {
        return;
    };
    let users = c.users(10).await;
    // Each change saved four times at once, twice on each node (a double click, a retry
    // through the load balancer): the defaults change once, so each user hears of it
    // once. Four changes (off, on, off, on) give the race four chances.
    let c = &c;
    let rounds = 4;
    for round in 0..rounds {
        let on = round % 2 == 1;
        let change = json!({"tabs": {"email": {"types": {"deals.mention": {"on": on}}}}});
        let answers = join_all((0..4).map(|i| {
            let change = change.clone();
            async move {
                c.node(i)
                    .put("/v1/accounts/acme/defaults", &Auth::Key, change)
                    .await
            }
        }))
        .await;
        for r in &answers {
            r.ok(200);
        }
    }
    jobs_done(c).await;
    let mut got: Vec<String> = smtp
        .messages()
        .iter()
        .filter(|m| m.parsed().subject() == Some("Your notification settings have new defaults"))
        .flat_map(|m| m.to.clone())
        .collect();
    got.sort();
    // Every user of the account is affected by every change: the boss and u0..u9.
    let mut want: Vec<String> = users
        .iter()
        .map(|(u, _)| u.as_str())
        .chain(["boss"])
        .flat_map(|u| vec![format!("<{u}@example.com>"); rounds])
        .collect();
    want.sort();
    assert_eq!(got, want, "one defaults-changed email per user and change");
}

/// Events of one type to `u0`, two to each node, processed; their traces.
async fn stage_changes(c: &Cluster) -> Vec<varsel_testkit::client::Trace> {
    let ev = json!({"type": "deals.stage_changed", "account_id": "acme", "recipients": ["u0"]});
    let ids = release(c, (0..4).map(|i| (i, ev.clone())).collect()).await;
    join_all(ids.iter().map(|id| c.a.api.wait_processed(id))).await
}

#[tokio::test]
async fn an_account_change_on_one_node_is_used_by_the_other_at_once() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    c.users(1).await;
    // Both nodes process events of the account, and so keep its facts.
    for t in stage_changes(&c).await {
        t.assert("u0", "email", "sent", "preference:catalog");
    }
    // Each change is made on node A; every later event, wherever it is processed, sees it.
    let off = json!({"tabs": {"email": {"types": {"deals.stage_changed": {"on": false}}}}});
    c.a.api
        .put("/v1/accounts/acme/defaults", &Auth::Key, off.clone())
        .await
        .ok(200);
    for t in stage_changes(&c).await {
        t.assert("u0", "email", "skipped", "preference:account");
    }
    c.a.api
        .post(
            "/v1/accounts/acme/profiles",
            &Auth::Key,
            json!({"name": "Everyone", "user_ids": ["u0"], "tabs": {"email": {"types": {"deals.stage_changed": {"on": true}}}}}),
        )
        .await
        .ok(201);
    for t in stage_changes(&c).await {
        t.assert("u0", "email", "sent", "preference:profile");
    }
    // Defaults and profiles do not count on the starter tier.
    c.a.api.put_account("acme", "starter").await;
    for t in stage_changes(&c).await {
        t.assert("u0", "email", "sent", "preference:catalog");
    }
}

const BOT_TOKEN: &str = "xoxb-1234-5678-abcdefghijklmnop";

#[tokio::test]
async fn a_slack_user_is_matched_once_across_nodes() {
    let slack = SlackServer::start(BOT_TOKEN).await;
    // Small processing batches: both nodes plan deliveries, so both look the user up.
    let Some(c) = Cluster::start_with(&[
        ("VARSEL_SLACK_API_URL", slack.base_url()),
        ("VARSEL_PROCESS_BATCH", "4".to_string()),
    ])
    .await
    else {
        return;
    };
    c.a.api
        .put(
            "/v1/accounts/acme/connections/slack",
            &Auth::Key,
            json!({"bot_token": BOT_TOKEN}),
        )
        .await
        .ok(200);
    // Connecting looks up everyone there is; the user added after that is not looked up
    // until their first Slack delivery.
    until("the Slack match job", Duration::ZERO, || async {
        let jobs =
            c.a.api
                .get("/v1/jobs?state=done&limit=100", &Auth::Key)
                .await;
        jobs.ok(200)["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["kind"] == json!("slack_match"))
    })
    .await;
    slack.add_user("u0@example.com", "U0CLUSTER");
    let users = c.users(1).await;
    let (u, tok) = &users[0];
    let lookups = || {
        slack
            .calls()
            .iter()
            .filter(|c| c.method == "users.lookupByEmail")
            .count()
    };
    let before = lookups();
    // The first lookup answers slowly, so deliveries on both nodes are due while it runs.
    slack.misbehave_next(1, Misbehaviour::Slow(Duration::from_millis(500)));

    // Twenty notifications at once, their Slack deliveries run by both nodes.
    let n = 20;
    let ids = release(&c, (0..n).map(|i| (i, risky(u, i))).collect()).await;
    for id in &ids {
        let t = c.a.api.wait_processed(id).await;
        t.assert(u, "slack", "sent", "preference:catalog");
    }
    jobs_done(&c).await;
    assert_eq!(lookups() - before, 1, "u0 looked up in Slack once");
    let prefs = c.b.api.prefs(tok).await;
    assert_eq!(
        prefs["tabs"]["other_apps"]["slack"]["connected"],
        json!(true)
    );
    // Each notification posted once, to the matched member.
    let messages = slack.messages();
    let mut posted: Vec<usize> = messages
        .iter()
        .map(|m| {
            assert_eq!(m.channel, "U0CLUSTER");
            let body = m.body.to_string();
            let found: Vec<usize> = (0..n)
                .filter(|i| body.contains(&format!("From Oslo {i}.")))
                .collect();
            assert_eq!(found.len(), 1, "{body}");
            found[0]
        })
        .collect();
    posted.sort_unstable();
    assert_eq!(posted, (0..n).collect::<Vec<_>>());
}

/// The next frame of kind `event` (other frames in between are skipped).
async fn next_of(s: &mut SseClient, event: &str) -> Value {
    loop {
        let f = s.expect_frame().await;
        if f.event == event {
            return f.json();
        }
    }
}

#[tokio::test]
async fn archive_and_snooze_reach_the_tabs_on_the_other_node() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    let users = c.users(1).await;
    let (user, tok) = &users[0];
    let ids = release(&c, vec![(0, risky(user, 0)), (1, risky(user, 1))]).await;
    for id in &ids {
        c.a.api.wait_processed(id).await;
    }
    let feed = c.a.api.feed(tok).await;
    let (first, second) = (
        feed[0]["id"].as_str().unwrap().to_string(),
        feed[1]["id"].as_str().unwrap().to_string(),
    );
    // The user's tab is on node B; the user acts through node A.
    let mut other = tab(&c.b.api, tok, "tab_id=b").await;
    let me = Auth::user(tok);
    c.a.api
        .post_empty(&format!("/v1/me/feed/{first}/archive"), &me)
        .await
        .ok(204);
    assert_eq!(
        next_of(&mut other, "feed_changed").await,
        json!({"id": first, "change": "archived"})
    );
    assert_eq!(
        next_of(&mut other, "unread_count").await["unread"],
        json!(1)
    );

    // A snooze ending (here: at once, un-snoozed on node A) brings the item back on B.
    c.a.api
        .post(
            &format!("/v1/me/feed/{second}/snooze"),
            &me,
            json!({"preset": "one_hour"}),
        )
        .await
        .ok(200);
    assert_eq!(
        next_of(&mut other, "feed_changed").await,
        json!({"id": second, "change": "snoozed"})
    );
    c.a.api
        .delete(&format!("/v1/me/feed/{second}/snooze"), &me)
        .await
        .ok(204);
    let back = next_of(&mut other, "notification").await;
    assert_eq!(back["id"], json!(second));
    assert!(back["read_at"].is_null(), "{back}");
}

#[tokio::test]
async fn comments_on_one_object_group_into_one_item_across_nodes() {
    let Some(c) = Cluster::start().await else {
        return;
    };
    for i in 0..4 {
        c.a.api
            .put_user(
                "acme",
                &format!("actor{i}"),
                json!({"name": format!("Actor {i}")}),
            )
            .await;
    }
    let users = c.users(20).await;
    // Watching one user's bell on node B while the comments land on both nodes.
    let (watched, watched_tok) = &users[0];
    let mut bell = tab(&c.b.api, watched_tok, "tab_id=b").await;
    // Four comments by four people on one object per user, released together.
    let mut events = Vec::new();
    for (u, _) in &users {
        for k in 0..4 {
            events.push((
                k,
                json!({"type": "comments.activity", "account_id": "acme", "actor_id": format!("actor{k}"),
                       "recipients": [u], "object": {"type": "activity", "id": format!("obj-{u}"), "name": "Q4"}}),
            ));
        }
    }
    let ids = release(&c, events).await;
    for id in &ids {
        c.a.api.wait_processed(id).await;
    }
    for (u, tok) in &users {
        let feed = c.b.api.feed(tok).await;
        assert_eq!(feed.len(), 1, "{u} has {} items: {feed:?}", feed.len());
        assert_eq!(feed[0]["count"], json!(4), "{u}: {}", feed[0]);
        let mut actors: Vec<String> = feed[0]["actor_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        actors.sort_unstable();
        assert_eq!(actors, ["actor0", "actor1", "actor2", "actor3"], "{u}");
        assert_eq!(c.a.api.unread(tok).await, 1, "{u}");
    }
    // The tab on node B saw its item arrive and then change in place, whichever node
    // processed each comment: its last frame for the item carries the final count.
    let item = c.b.api.feed(watched_tok).await[0]["id"].clone();
    let mut last = None;
    while last.as_ref().is_none_or(|f: &Value| f["count"] != json!(4)) {
        let f = bell.expect_frame().await;
        if matches!(f.event.as_str(), "notification" | "notification_updated")
            && f.json()["id"] == item
        {
            last = Some(f.json());
        }
    }
    assert!(last.is_some(), "{watched}");
}

/// `HH:MM` of a minute of the day (UTC).
fn hhmm(minute_of_day: u64) -> String {
    let m = minute_of_day % (24 * 60);
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[tokio::test]
async fn quiet_hours_release_once_across_nodes() {
    let smtp = SmtpSink::start().await;
    let Some(c) = Cluster::start_with(&[
        ("VARSEL_SMTP_URL", smtp.url()),
        ("VARSEL_PROCESS_BATCH", "4".to_string()),
        ("VARSEL_JOB_BATCH", "1".to_string()),
    ])
    .await
    else {
        return;
    };
    // Quiet hours in UTC from an hour ago until the first whole minute at least 25 s away.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let of_day = now % 86_400;
    let end_minute = (of_day + 25).div_ceil(60);
    let end_at = now - of_day + end_minute * 60;
    let window = json!({"enabled": true, "start": hhmm(of_day / 60 + 24 * 60 - 60),
                        "end": hhmm(end_minute), "timezone": "UTC"});
    let users = c.users(10).await;
    for (i, (_, tok)) in users.iter().enumerate() {
        c.node(i)
            .patch(
                "/v1/me/preferences",
                &Auth::user(tok),
                json!({"quiet_hours": window}),
            )
            .await
            .ok(200);
    }
    // Three mentions per user, released together on both nodes: all held.
    let mut events = Vec::new();
    for (u, _) in &users {
        for k in 0..3 {
            events.push((
                k,
                json!({"type": "deals.mention", "account_id": "acme", "actor_id": "boss",
                       "recipients": [u], "object": {"type": "note", "id": format!("{u}-n{k}"), "name": "Deal"}}),
            ));
        }
    }
    let ids = release(&c, events).await;
    for id in &ids {
        let t = c.a.api.wait_processed(id).await;
        let (outcome, reason) = t.of(&t.users()[0], "email");
        assert_eq!(
            (outcome.as_str(), reason.ends_with(";quiet_hours")),
            ("scheduled", true),
            "{reason}"
        );
    }
    assert!(smtp.messages().is_empty(), "nothing before the window ends");
    // At its end: one summary email per user, from whichever node fired the batch.
    let left = end_at.saturating_sub(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    until(
        "one summary per user",
        Duration::from_secs(left + 30),
        || async { smtp.messages().len() >= users.len() },
    )
    .await;
    jobs_done(&c).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = smtp.messages();
    for (u, _) in &users {
        let to_u: Vec<_> = messages
            .iter()
            .filter(|m| m.to == [format!("<{u}@example.com>")])
            .collect();
        assert_eq!(to_u.len(), 1, "{u} got {} emails", to_u.len());
        assert_eq!(
            to_u[0].parsed().subject(),
            Some("3 notifications while quiet hours were on"),
            "{u}"
        );
    }
}
