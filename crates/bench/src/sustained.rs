//! Sustained load: single `POST /v1/events` offered at a fixed rate (an open loop, so a
//! slow server is not hidden by the generator waiting), one or ten recipients per event,
//! while the backlog of accepted but unprocessed events is sampled. Processing keeps up
//! when the backlog stays bounded during the load and drains soon after it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use crate::load::{Req, open_loop};
use crate::scenarios::{Ctx, Figures, finish, seeded, stage_changed};
use crate::target::{API_KEY, Backend, Seed};

const USERS: usize = 1000;
const CONNS: usize = 64;

/// One recipient per event, offered at 8,000 events/s.
pub async fn sustained(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    run(ctx, backend, 1, 8_000.0).await
}

/// Ten recipients per event, offered at 2,000 events/s (20,000 decisions/s).
pub async fn sustained10(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    run(ctx, backend, 10, 2_000.0).await
}

async fn run(ctx: &Ctx, backend: Backend, recipients: usize, rate: f64) -> anyhow::Result<Figures> {
    let (db, app) = seeded(ctx, backend, |_| {}, &Seed::bell_only("u", USERS)).await?;
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        (0..USERS)
            .map(|k| {
                let to: Vec<String> = (0..recipients)
                    .map(|r| format!("u{}", (k * recipients + r) % USERS))
                    .collect();
                let mut e = stage_changed("", k, &format!("/deals/{k}"));
                e["recipients"] = json!(to);
                Bytes::from(e.to_string())
            })
            .collect(),
    );
    let seconds = if ctx.quick { 3.0 } else { 15.0 };
    let total = (rate * seconds) as u64;
    let make = Arc::new(move |i: u64| {
        Req::post("/v1/events", API_KEY, bodies[i as usize % USERS].clone())
    });
    // The backlog, sampled every 250 ms while the load runs.
    let store = app.state.store.clone();
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if let Ok(n) = store.pending_events().await {
                    samples.push(n);
                }
            }
            samples
        })
    };
    let start = Instant::now();
    let out = open_loop(app.addr, CONNS, rate, total, 202, start, make).await?;
    let load_s = start.elapsed().as_secs_f64();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let samples = sampler.await?;
    let at_end = app.state.store.pending_events().await?;
    let drain = app.drained(Duration::from_secs(600)).await?;
    let accepted = app.direct.count("SELECT COUNT(*) FROM events").await?;
    let processed_s = accepted as f64 / start.elapsed().as_secs_f64();
    if let Some(e) = &out.first_error {
        eprintln!("  sustained: {} errors, first: {e}", out.errors);
    }
    finish(db, app).await?;
    Ok(vec![
        ("offered_s", rate),
        ("accepted_s", accepted as f64 / load_s),
        ("processed_s", processed_s),
        (
            "max_backlog",
            samples.iter().copied().max().unwrap_or(0).max(at_end) as f64,
        ),
        ("backlog_at_end", at_end as f64),
        ("drain_s", drain.as_secs_f64()),
        ("p99_ms", out.p(0.99)),
    ])
}
