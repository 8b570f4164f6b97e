//! The scenarios. Each run starts from a fresh database and a fresh server and returns
//! its figures by key; `main` repeats runs and reports medians.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use crate::load::{Conn, Req, closed_loop, histogram, open_loop};
use crate::sse::SseStream;
use crate::target::{
    ACCOUNT, API_KEY, Backend, ChildServer, Direct, EMAIL_OFF, FreshDb, InProcess, Seed, seed,
    token,
};

/// Settings shared by every scenario.
pub struct Ctx {
    pub quick: bool,
    pub pg_admin: String,
    pub warmup: Duration,
    pub measure: Duration,
}

/// Figures of one run, by key.
pub type Figures = Vec<(&'static str, f64)>;

const INGEST_CONNS: usize = 64;
const INGEST_USERS: usize = 1000;
const BATCH: usize = 1000;
const BATCH_CONNS: usize = 4;

/// The ingest event: `deals.stage_changed` to one user (`u{k}`), from `actor`.
pub fn stage_changed(user: &str, k: usize, url: &str) -> serde_json::Value {
    json!({
        "type": "deals.stage_changed",
        "account_id": ACCOUNT,
        "actor_id": "actor",
        "recipients": [user],
        "object": {"type": "deal", "id": format!("d{k}"), "name": format!("Deal {k}"), "url": url},
        "data": {"stage": "won"},
    })
}

fn bytes(v: &serde_json::Value) -> Bytes {
    Bytes::from(v.to_string())
}

/// A fresh database, Varsel running on it in this process, and the seed.
pub async fn seeded(
    ctx: &Ctx,
    backend: Backend,
    configure: impl FnOnce(&mut varsel_server::config::Config),
    s: &Seed<'_>,
) -> anyhow::Result<(FreshDb, InProcess)> {
    let db = FreshDb::create(backend, &ctx.pg_admin).await?;
    let app = InProcess::start(&db, configure).await?;
    seed(&app.direct, s).await?;
    Ok((db, app))
}

/// Closes the direct connection and drops the run's database.
pub async fn finish(db: FreshDb, app: InProcess) -> anyhow::Result<()> {
    if std::env::var_os("VARSEL_BENCH_METRICS").is_some() {
        print_timings(app.addr).await?;
    }
    app.direct.close().await;
    db.drop_db().await
}

/// With `VARSEL_BENCH_METRICS=1`: the server's own timings (processing rounds by phase,
/// ingest commits, the SQLite writer's cycles) as its `/metrics` gives them. The
/// recorder is one per process, so the figures add up over the runs of one invocation.
async fn print_timings(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let text = crate::flood::metrics_text(addr).await?;
    let wanted = [
        "varsel_process_round",
        "varsel_ingest_commit",
        "varsel_ingest_group",
        "varsel_sqlite_cycle",
    ];
    for line in text.lines() {
        if wanted.iter().any(|w| line.starts_with(w)) {
            eprintln!("  {line}");
        }
    }
    Ok(())
}

/// Single `POST /v1/events` over 64 keep-alive connections, one recipient each.
pub async fn ingest(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    let (db, app) = seeded(ctx, backend, |_| {}, &Seed::bell_only("u", INGEST_USERS)).await?;
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..INGEST_USERS)
            .map(|k| bytes(&stage_changed(&format!("u{k}"), k, &format!("/deals/{k}"))))
            .collect(),
    );
    let make = Arc::new(move |ci: usize, i: u64| {
        Req::post(
            "/v1/events",
            API_KEY,
            bodies[(ci * 131 + i as usize) % INGEST_USERS].clone(),
        )
    });
    let started = Instant::now();
    let out = closed_loop(app.addr, INGEST_CONNS, ctx.warmup, ctx.measure, 202, make).await?;
    if let Some(e) = &out.first_error {
        eprintln!("  ingest: {} errors, first: {e}", out.errors);
    }
    let accepted = app.direct.count("SELECT COUNT(*) FROM events").await?;
    app.drained(Duration::from_secs(300)).await?;
    let processed = accepted as f64 / started.elapsed().as_secs_f64();
    finish(db, app).await?;
    Ok(vec![
        ("events_s", out.rate()),
        ("p50_ms", out.p(0.50)),
        ("p99_ms", out.p(0.99)),
        ("processed_s", processed),
    ])
}

fn batch_body(b: usize) -> Bytes {
    let events: Vec<serde_json::Value> = (0..BATCH)
        .map(|j| {
            let k = (b * BATCH + j) % INGEST_USERS;
            stage_changed(&format!("u{k}"), k, &format!("/deals/{k}"))
        })
        .collect();
    bytes(&json!({ "events": events }))
}

/// `POST /v1/events/batch` of 1,000 events over 4 connections.
pub async fn batch(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    let (db, app) = seeded(ctx, backend, |_| {}, &Seed::bell_only("u", INGEST_USERS)).await?;
    let bodies: Arc<Vec<Bytes>> = Arc::new((0..8).map(batch_body).collect());
    let make = Arc::new(move |ci: usize, i: u64| {
        Req::post(
            "/v1/events/batch",
            API_KEY,
            bodies[(ci + i as usize) % bodies.len()].clone(),
        )
    });
    let out = closed_loop(app.addr, BATCH_CONNS, ctx.warmup, ctx.measure, 202, make).await?;
    if let Some(e) = &out.first_error {
        eprintln!("  batch: {} errors, first: {e}", out.errors);
    }
    finish(db, app).await?;
    Ok(vec![
        ("events_s", out.rate() * BATCH as f64),
        ("p99_ms", out.p(0.99)),
    ])
}

/// The HTTP ceiling: the same load against a handler that only reads the body.
pub async fn http_ceiling(ctx: &Ctx) -> anyhow::Result<Figures> {
    let addr = crate::ceiling::trivial_http().await?;
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..INGEST_USERS)
            .map(|k| bytes(&stage_changed(&format!("u{k}"), k, &format!("/deals/{k}"))))
            .collect(),
    );
    let make = Arc::new(move |ci: usize, i: u64| {
        Req::post(
            "/v1/events",
            API_KEY,
            bodies[(ci * 131 + i as usize) % INGEST_USERS].clone(),
        )
    });
    let single = closed_loop(addr, INGEST_CONNS, ctx.warmup, ctx.measure, 202, make).await?;
    let batches: Arc<Vec<Bytes>> = Arc::new((0..8).map(batch_body).collect());
    let make = Arc::new(move |ci: usize, i: u64| {
        Req::post(
            "/v1/events/batch",
            API_KEY,
            batches[(ci + i as usize) % batches.len()].clone(),
        )
    });
    let batch = closed_loop(addr, BATCH_CONNS, ctx.warmup, ctx.measure, 202, make).await?;
    Ok(vec![
        ("single_s", single.rate()),
        ("single_p99_ms", single.p(0.99)),
        ("batch_events_s", batch.rate() * BATCH as f64),
    ])
}

/// The storage ceilings: groups of 64 (the most one commit can gather from 64
/// connections) and of 1,000 (a batch).
pub async fn storage_ceiling(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    let mut out = Vec::new();
    for (group, per_row, multi) in [
        (INGEST_CONNS, "group64_rows_s", "group64_multi_s"),
        (BATCH, "group1000_rows_s", "group1000_multi_s"),
    ] {
        let rows =
            crate::ceiling::storage(backend, &ctx.pg_admin, group, false, ctx.measure).await?;
        let m = crate::ceiling::storage(backend, &ctx.pg_admin, group, true, ctx.measure).await?;
        out.push((per_row, rows));
        out.push((multi, m));
        let best = rows.max(m);
        out.push((
            if group == BATCH {
                "group1000_s"
            } else {
                "group64_s"
            },
            best,
        ));
    }
    Ok(out)
}

/// One `conversations.unassigned` event to a team of 10,000 primary members: time from
/// the POST until every feed item is stored (the event is done: its items, decisions and
/// deliveries commit together).
pub async fn fanout(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    let n = if ctx.quick { 2_000 } else { 10_000 };
    let (db, app) = seeded(
        ctx,
        backend,
        |_| {},
        &Seed {
            prefix: "f",
            n,
            flags: r#"{"visited_inbox":true}"#,
            prefs: "{}",
            team: Some("support"),
        },
    )
    .await?;
    let body = bytes(&json!({
        "type": "conversations.unassigned",
        "account_id": ACCOUNT,
        "team_id": "support",
        "object": {"type": "conversation", "id": "c1", "name": "Help with my order", "url": "/inbox/c1"},
        "data": {"inbox": "Support"},
    }));
    let mut conn = Conn::open(app.addr).await?;
    let t0 = Instant::now();
    let (status, answer) = conn.send(&Req::post("/v1/events", API_KEY, body)).await?;
    anyhow::ensure!(
        status == 202,
        "fan-out POST: {status} {}",
        String::from_utf8_lossy(&answer)
    );
    let post_ms = t0.elapsed().as_secs_f64() * 1000.0;
    app.drained(Duration::from_secs(120)).await?;
    let total = t0.elapsed().as_secs_f64();
    let stored = app
        .direct
        .count("SELECT COUNT(*) FROM notifications WHERE in_feed")
        .await?;
    anyhow::ensure!(
        stored as usize == n,
        "fan-out stored {stored} feed items, expected {n}"
    );
    finish(db, app).await?;
    Ok(vec![("seconds", total), ("post_ms", post_ms)])
}

/// Latency from the POST (its due time) to the SSE `notification` frame at the
/// recipient, at a steady rate.
pub async fn e2e(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    const USERS: usize = 100;
    let rate = 2_000.0;
    let total = (rate * ctx.measure.as_secs_f64()) as u64;
    let (db, app) = seeded(ctx, backend, |_| {}, &Seed::bell_only("e", USERS)).await?;
    let start_at: Arc<std::sync::OnceLock<Instant>> = Arc::new(std::sync::OnceLock::new());
    let hist = Arc::new(Mutex::new(histogram()));
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for u in 0..USERS {
        let tok = token(&format!("e{u}"))?;
        let mut s = SseStream::open(
            app.addr,
            &format!("/v1/me/stream?tab_id=t{u}&active=true"),
            &tok,
        )
        .await?;
        // The first frame is the unread count: the stream is registered.
        s.next()
            .await
            .ok_or_else(|| anyhow::anyhow!("stream ended"))?;
        let (start_at, hist, received) = (start_at.clone(), hist.clone(), received.clone());
        readers.push(tokio::spawn(async move {
            while let Some(ev) = s.next().await {
                let now = Instant::now();
                if ev.event != "notification" {
                    continue;
                }
                let Some(start) = start_at.get() else {
                    continue;
                };
                let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap_or_default();
                let Some(i) = v["url"]
                    .as_str()
                    .and_then(|u| u.strip_prefix("/e/"))
                    .and_then(|i| i.parse::<u64>().ok())
                else {
                    continue;
                };
                let due = *start + Duration::from_secs_f64(i as f64 / rate);
                let us = now.saturating_duration_since(due).as_micros().max(1) as u64;
                if let Ok(mut h) = hist.lock() {
                    let _ = h.record(us);
                }
                received.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let start = Instant::now() + Duration::from_millis(200);
    let _ = start_at.set(start);
    let make = Arc::new(move |i: u64| {
        let k = i as usize % USERS;
        Req::post(
            "/v1/events",
            API_KEY,
            bytes(&stage_changed(&format!("e{k}"), k, &format!("/e/{i}"))),
        )
    });
    let posted = open_loop(app.addr, INGEST_CONNS, rate, total, 202, start, make).await?;
    if let Some(e) = &posted.first_error {
        eprintln!("  e2e: {} errors, first: {e}", posted.errors);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::Relaxed) < posted.ok && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for r in readers {
        r.abort();
    }
    let got = received.load(Ordering::Relaxed);
    let h = hist
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    finish(db, app).await?;
    Ok(vec![
        ("p50_ms", h.value_at_quantile(0.50) as f64 / 1000.0),
        ("p99_ms", h.value_at_quantile(0.99) as f64 / 1000.0),
        ("max_ms", h.max() as f64 / 1000.0),
        ("delivered", got as f64 / posted.ok.max(1) as f64 * 100.0),
        (
            "achieved_s",
            posted.ok as f64 / posted.elapsed.as_secs_f64(),
        ),
    ])
}

/// 10,000 concurrent SSE streams on one `varsel serve` (a child process): its resident
/// memory per stream, and one event to all of them (a team) reaching every stream.
pub async fn connections(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    let n = if ctx.quick { 2_000 } else { 10_000 };
    let db = FreshDb::create(backend, &ctx.pg_admin).await?;
    let server = ChildServer::start(&db).await?;
    let direct = Direct::open(&db.url).await?;
    seed(
        &direct,
        &Seed {
            prefix: "s",
            n,
            flags: r#"{"visited_inbox":true}"#,
            prefs: EMAIL_OFF,
            team: Some("all"),
        },
    )
    .await?;
    // Warm the server up with a few streams opened and closed.
    for u in 0..16 {
        let tok = token(&format!("s{u}"))?;
        let mut s = SseStream::open(server.addr, "/v1/me/stream?tab_id=w", &tok).await?;
        s.next().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib()?;
    let addr = server.addr;
    let streams: Vec<SseStream> = futures::stream::iter(0..n)
        .map(|u| async move {
            let tok = token(&format!("s{u}"))?;
            let mut s = SseStream::open(
                addr,
                &format!("/v1/me/stream?tab_id=t{u}&active=true"),
                &tok,
            )
            .await?;
            s.next()
                .await
                .ok_or_else(|| anyhow::anyhow!("stream {u} ended"))?;
            anyhow::Ok(s)
        })
        .buffer_unordered(128)
        .try_collect()
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib()?;
    let per_conn = (after.saturating_sub(before)) as f64 / n as f64;
    let got = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::with_capacity(n);
    for mut s in streams {
        let got = got.clone();
        readers.push(tokio::spawn(async move {
            while let Some(ev) = s.next().await {
                if ev.event == "notification" {
                    got.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
            s
        }));
    }
    let body = bytes(&json!({
        "type": "conversations.unassigned",
        "account_id": ACCOUNT,
        "team_id": "all",
        "object": {"type": "conversation", "id": "c1", "name": "Everyone", "url": "/inbox/c1"},
    }));
    let mut conn = Conn::open(addr).await?;
    let t0 = Instant::now();
    let (status, _) = conn.send(&Req::post("/v1/events", API_KEY, body)).await?;
    anyhow::ensure!(status == 202, "connections POST: {status}");
    let deadline = Instant::now() + Duration::from_secs(120);
    while (got.load(Ordering::Relaxed) as usize) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all_s = t0.elapsed().as_secs_f64();
    let delivered = got.load(Ordering::Relaxed) as f64 / n as f64 * 100.0;
    let peak = server.rss_kib()?;
    for r in readers {
        r.abort();
    }
    server.stop();
    direct.close().await;
    db.drop_db().await?;
    Ok(vec![
        ("kib_per_conn", per_conn),
        ("delivered", delivered),
        ("frames_s", all_s),
        ("rss_mib", peak as f64 / 1024.0),
    ])
}

/// Resident memory of a freshly started `varsel serve` (the release binary).
pub async fn idle(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    let db = FreshDb::create(backend, &ctx.pg_admin).await?;
    let server = ChildServer::start(&db).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = server.rss_kib()?;
    server.stop();
    db.drop_db().await?;
    Ok(vec![("mib", rss as f64 / 1024.0)])
}

/// Emails per second to a loopback SMTP server: events (batches of up to 1,000) to
/// distinct users with email on, from the POST until the last message is received.
pub async fn email(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    let n = if ctx.quick { 300 } else { 2_000 };
    let sink = varsel_testkit::smtp::SmtpSink::start().await;
    let url = sink.url();
    let seed = Seed {
        prefix: "m",
        n,
        flags: "{}",
        prefs: "{}",
        team: None,
    };
    let (db, app) = seeded(ctx, backend, |c| c.smtp_url = url, &seed).await?;
    let mut conn = Conn::open(app.addr).await?;
    let t0 = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(BATCH) {
        let events: Vec<serde_json::Value> = chunk
            .iter()
            .map(|&k| stage_changed(&format!("m{k}"), k, &format!("/deals/{k}")))
            .collect();
        let (status, _) = conn
            .send(&Req::post(
                "/v1/events/batch",
                API_KEY,
                bytes(&json!({ "events": events })),
            ))
            .await?;
        anyhow::ensure!(status == 202, "email batch: {status}");
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    let received = || sink.received.lock().map(|v| v.len()).unwrap_or(0);
    while received() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let got = received();
    let secs = t0.elapsed().as_secs_f64();
    finish(db, app).await?;
    anyhow::ensure!(got >= n, "only {got} of {n} emails arrived");
    Ok(vec![("emails_s", n as f64 / secs)])
}

/// The process's peak resident memory so far (MiB), from `/proc/self/status`.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(0.0, |k| k / 1024.0)
}

/// End to end, bell and email: `n` events (batches of 1,000 over 4 connections, as fast
/// as they are accepted) to users with email on and no SMTP server (the outbox is the
/// sink), each with `recipients` recipients. Measures the accepted rate, then the time
/// until everything is done: every event processed (bell items) and every job recorded
/// (emails in the outbox), and how far the email backlog trailed the load.
async fn delivery_run(ctx: &Ctx, backend: Backend, recipients: usize) -> anyhow::Result<Figures> {
    let n = if ctx.quick { 5_000 } else { 40_000 } / recipients.max(1);
    let users = 1_000;
    let seed = Seed {
        prefix: "e",
        n: users,
        flags: "{}",
        prefs: "{}",
        team: None,
    };
    let (db, app) = seeded(ctx, backend, |_| {}, &seed).await?;
    let bodies: Vec<Bytes> = (0..n.div_ceil(BATCH))
        .map(|b| {
            let events: Vec<serde_json::Value> = (0..BATCH.min(n - b * BATCH))
                .map(|j| {
                    let k = b * BATCH + j;
                    let to: Vec<String> = (0..recipients)
                        .map(|r| format!("e{}", (k * recipients + r) % users))
                        .collect();
                    let mut e = stage_changed("", k, &format!("https://crm.example/deals/{k}"));
                    e["recipients"] = json!(to);
                    e
                })
                .collect();
            bytes(&json!({ "events": events }))
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut posts = Vec::new();
    for _ in 0..BATCH_CONNS {
        let (bodies, next, addr) = (bodies.clone(), next.clone(), app.addr);
        posts.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(body) = bodies.get(i) else {
                    return anyhow::Ok(());
                };
                let (status, _) = conn
                    .send(&Req::post("/v1/events/batch", API_KEY, body.clone()))
                    .await?;
                anyhow::ensure!(status == 202, "batch: {status}");
            }
        }));
    }
    for p in posts {
        p.await??;
    }
    let accepted_s = t0.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut bell_s = None;
    loop {
        let p = app.state.store.pending_oldest().await?;
        if p.events.is_none() && bell_s.is_none() {
            bell_s = Some(t0.elapsed().as_secs_f64());
        }
        if p.events.is_none() && p.jobs.is_none() {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "backlog not drained after 900 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done_s = t0.elapsed().as_secs_f64();
    let emails = app.direct.count("SELECT COUNT(*) FROM outbox").await?;
    let expected = (n * recipients) as i64;
    finish(db, app).await?;
    anyhow::ensure!(
        emails == expected,
        "{emails} emails in the outbox, {expected} expected"
    );
    Ok(vec![
        ("accepted_s", n as f64 / accepted_s),
        ("bell_s", n as f64 / bell_s.unwrap_or(done_s)),
        ("e2e_s", n as f64 / done_s),
        ("emails_s", expected as f64 / done_s),
        ("trail_s", done_s - accepted_s),
        ("peak_mib", peak_rss_mib()),
    ])
}

/// A million queued jobs (quick: 100,000): written straight into a fresh database, due
/// at once, then `varsel serve` (the release binary) starts and works through them.
/// Each is an email job whose notification is gone, so it finishes without sending:
/// what is measured is the engine itself — claiming, running and recording — and the
/// server's memory while the queue is that deep.
pub async fn queued(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    let n: i64 = if ctx.quick { 100_000 } else { 1_000_000 };
    let db = FreshDb::create(backend, &ctx.pg_admin).await?;
    // Started once for the migrations.
    ChildServer::start(&db).await?.stop();
    let direct = Direct::open(&db.url).await?;
    direct
        .exec_all(&[format!(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) \
             INSERT INTO jobs (id, kind, dedupe_key, account_id, payload, run_at, created_at, updated_at) \
             SELECT 'job_q' || x, 'email', 'email:q' || x, 'bench', \
             '{{\"email\":\"notifications\",\"ids\":[\"ntf_gone_' || x || '\"]}}', 0, 0, 0 FROM c"
        )])
        .await?;
    let t0 = Instant::now();
    let server = ChildServer::start(&db).await?;
    let mut peak = 0u64;
    let deadline = Instant::now() + Duration::from_secs(1_800);
    loop {
        peak = peak.max(server.rss_kib()?);
        let left = direct
            .count("SELECT COUNT(*) FROM jobs WHERE state = 'scheduled'")
            .await?;
        if left == 0 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "{left} jobs left after 30 min");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    peak = peak.max(server.rss_kib()?);
    server.stop();
    direct.close().await;
    db.drop_db().await?;
    Ok(vec![
        ("jobs_s", n as f64 / secs),
        ("peak_mib", peak as f64 / 1024.0),
    ])
}

/// [`delivery_run`] with one recipient per event.
pub async fn delivery(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    delivery_run(ctx, backend, 1).await
}

/// [`delivery_run`] with ten recipients per event.
pub async fn delivery10(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    delivery_run(ctx, backend, 10).await
}

/// Calls of the pure decision function per second on one thread (each decides the 7
/// channels of one recipient).
pub fn decisions(ctx: &Ctx) -> Figures {
    let input = crate::decide_input::Input::new();
    let measure = ctx.measure;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < measure {
        for _ in 0..10_000 {
            std::hint::black_box(input.decide());
        }
        n += 10_000;
    }
    vec![("per_s", n as f64 / start.elapsed().as_secs_f64())]
}
