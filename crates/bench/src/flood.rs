//! A stream flood: one user token opening real-time streams as fast as it can on
//! `varsel serve` (the release binary), holding every connection it gets, until its file
//! limit. Meanwhile a health checker asks `GET /healthz` every 10 ms on its own
//! connection. Then the flooding client dies (every socket dropped at once) and the run
//! measures how long the node takes to release what it held: no stream and no
//! connection of the attacker left, and the same user able to open a stream again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::load::{Conn, Req, histogram};
use crate::scenarios::{Ctx, Figures};
use crate::sse::SseStream;
use crate::target::{API_KEY, Backend, ChildServer, Direct, FreshDb, Seed, seed, token};

/// Attempts in a full run (the finding this answers was ~20,000 streams from one token);
/// fewer when the client's own file limit is lower.
const ATTEMPTS: usize = 20_000;
const CONCURRENCY: usize = 256;

/// What one attempt got: the status and, to hold it, the connection.
async fn attempt(addr: SocketAddr, path: &str, tok: &str) -> anyhow::Result<(u16, TcpStream)> {
    let mut tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nAuthorization: Bearer {tok}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await?;
    // The status line is in the first bytes of the answer.
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = tcp.read(&mut buf[got..]).await?;
        anyhow::ensure!(n > 0, "closed before the status line");
        got += n;
    }
    let line = std::str::from_utf8(&buf[..got]).unwrap_or("");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status in {line:?}"))?;
    Ok((status, tcp))
}

/// The server's `/metrics` page, asked on `conn`.
async fn metrics_page(conn: &mut Conn) -> anyhow::Result<String> {
    let req = Req {
        method: hyper::Method::GET,
        path: "/metrics".into(),
        bearer: Some(Arc::from(API_KEY)),
        body: bytes::Bytes::new(),
    };
    let (status, body) = conn.send(&req).await?;
    anyhow::ensure!(status == 200, "/metrics answered {status}");
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The `/metrics` page of the server at `addr`, on a connection of its own.
pub async fn metrics_text(addr: SocketAddr) -> anyhow::Result<String> {
    metrics_page(&mut Conn::open(addr).await?).await
}

/// One gauge from `/metrics` (0 when absent).
async fn gauge(conn: &mut Conn, name: &str) -> anyhow::Result<f64> {
    let text = metrics_page(conn).await?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == name).then(|| v.trim().parse().ok()).flatten()
        })
        .unwrap_or(0.0))
}

pub async fn flood(ctx: &Ctx, backend: Backend) -> anyhow::Result<Figures> {
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| soft as usize)
        .unwrap_or(1024);
    let attempts = if ctx.quick { 3_000 } else { ATTEMPTS }.min(limit.saturating_sub(500));
    let db = FreshDb::create(backend, &ctx.pg_admin).await?;
    let server = ChildServer::start(&db).await?;
    let direct = Direct::open(&db.url).await?;
    seed(&direct, &Seed::bell_only("f", 1)).await?;
    let addr = server.addr;
    let tok = token("f0")?;

    // The health checker: its own keep-alive connection, a request every 10 ms.
    let checking = Arc::new(AtomicBool::new(true));
    let checker = {
        let checking = checking.clone();
        let mut conn = Conn::open(addr).await?;
        tokio::spawn(async move {
            let mut lat = histogram();
            let mut failed = 0u64;
            let req = Req {
                method: hyper::Method::GET,
                path: "/healthz".into(),
                bearer: None,
                body: bytes::Bytes::new(),
            };
            while checking.load(Ordering::Relaxed) {
                let t = Instant::now();
                match conn.send(&req).await {
                    Ok((200, _)) => {
                        let _ = lat.record(t.elapsed().as_micros().max(1) as u64);
                    }
                    _ => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (lat, failed)
        })
    };

    // Opened before the flood: a new connection is refused while the node is full.
    let mut metrics = Conn::open(addr).await?;
    gauge(&mut metrics, "varsel_http_connections").await?;

    // The flood: every connection held, whatever it was answered.
    let (ok, refused, busy) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let t0 = Instant::now();
    let held: Vec<TcpStream> = futures::stream::iter(0..attempts)
        .map(|i| {
            let (tok, ok, refused, busy) = (tok.clone(), ok.clone(), refused.clone(), busy.clone());
            async move {
                let path = format!("/v1/me/stream?tab_id=t{i}&active=true");
                if i > 0 && i % 5000 == 0 {
                    eprintln!("  flood: {i} attempts, {:.1} s", t0.elapsed().as_secs_f64());
                }
                // A connect that the kernel keeps retrying counts as refused.
                match tokio::time::timeout(Duration::from_secs(10), attempt(addr, &path, &tok))
                    .await
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("no answer in 10 s")))
                {
                    Ok((status, tcp)) => {
                        match status {
                            200 => ok.fetch_add(1, Ordering::Relaxed),
                            429 => refused.fetch_add(1, Ordering::Relaxed),
                            _ => busy.fetch_add(1, Ordering::Relaxed),
                        };
                        Some(tcp)
                    }
                    Err(_) => {
                        busy.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .filter_map(|t| async move { t })
        .collect()
        .await;
    let flood_s = t0.elapsed().as_secs_f64();
    eprintln!("  flood: {attempts} attempts in {flood_s:.1} s; the client dies");
    let rss_mib = server.rss_kib()? as f64 / 1024.0;

    // The client dies: every socket closed at once.
    let at_drop = gauge(&mut metrics, "varsel_http_connections").await?;
    drop(held);
    let t1 = Instant::now();
    let deadline = t1 + Duration::from_secs(120);
    let recovered = loop {
        let streams = gauge(&mut metrics, "varsel_sse_connections").await?;
        // Left: the health checker's and this connection.
        let conns = gauge(&mut metrics, "varsel_http_connections").await?;
        if streams == 0.0 && conns <= 2.0 {
            break t1.elapsed().as_secs_f64();
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "flood: {streams} streams and {conns} connections still held after 120 s"
        );
        if t1.elapsed().as_millis() % 5000 < 20 {
            eprintln!("  flood: {streams} streams, {conns} connections held");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The same user can open a stream again.
    let mut again = SseStream::open(addr, "/v1/me/stream?tab_id=after", &tok).await?;
    anyhow::ensure!(again.next().await.is_some(), "flood: the new stream ended");
    let reopen_s = t1.elapsed().as_secs_f64();
    drop(again);
    checking.store(false, Ordering::Relaxed);
    let (lat, failed) = checker.await?;
    server.stop();
    direct.close().await;
    db.drop_db().await?;
    Ok(vec![
        ("attempts", attempts as f64),
        ("accepted", ok.load(Ordering::Relaxed) as f64),
        ("refused_429", refused.load(Ordering::Relaxed) as f64),
        ("refused_other", busy.load(Ordering::Relaxed) as f64),
        ("flood_s", flood_s),
        ("conns_at_drop", at_drop),
        ("health_p99_ms", lat.value_at_quantile(0.99) as f64 / 1000.0),
        ("health_max_ms", lat.max() as f64 / 1000.0),
        ("health_failed", failed as f64),
        ("rss_mib", rss_mib),
        ("recovery_s", recovered),
        ("reopen_s", reopen_s),
    ])
}
