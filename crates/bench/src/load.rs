//! The load generator: N keep-alive HTTP/1.1 connections (hyper), closed loop (each
//! connection sends its next request when the answer arrives) or open loop (requests at a
//! fixed rate, whatever the answers do), latencies in an HDR histogram.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Latencies in microseconds, 1 µs to 100 s, three significant figures.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    #[allow(clippy::unwrap_used)]
    Histogram::new_with_bounds(1, 100_000_000, 3).unwrap()
}

/// One request to send: method, path, bearer token and JSON body.
#[derive(Clone)]
pub struct Req {
    pub method: hyper::Method,
    pub path: String,
    pub bearer: Option<Arc<str>>,
    pub body: Bytes,
}

impl Req {
    pub fn post(path: &str, bearer: &str, body: Bytes) -> Req {
        Req {
            method: hyper::Method::POST,
            path: path.to_string(),
            bearer: Some(Arc::from(bearer)),
            body,
        }
    }
}

/// One keep-alive connection.
pub struct Conn {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { addr, sender })
    }

    /// Sends one request and reads the whole answer: (status, body).
    pub async fn send(&mut self, r: &Req) -> anyhow::Result<(u16, Bytes)> {
        let mut b = Request::builder()
            .method(r.method.clone())
            .uri(r.path.as_str())
            .header(hyper::header::HOST, self.addr.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(t) = &r.bearer {
            b = b.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = b.body(Full::new(r.body.clone()))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// What a load run measured.
pub struct Outcome {
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub latency: Histogram<u64>,
    /// The first unexpected answer, for the report.
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    pub fn p(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
    pub fn max_ms(&self) -> f64 {
        self.latency.max() as f64 / 1000.0
    }
}

/// What one connection's task counted.
struct Tally {
    latency: Histogram<u64>,
    ok: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            latency: histogram(),
            ok: 0,
            first_error: None,
        }
    }

    /// Counts an answer (its latency from `from`, when `counted`). False when the
    /// connection broke and another must be opened.
    fn answer(
        &mut self,
        res: anyhow::Result<(u16, Bytes)>,
        expect: u16,
        from: Instant,
        counted: bool,
        errors: &AtomicU64,
    ) -> bool {
        match res {
            Ok((status, _)) if status == expect => {
                if counted {
                    self.ok += 1;
                    let _ = self
                        .latency
                        .record(from.elapsed().as_micros().max(1) as u64);
                }
                true
            }
            Ok((status, body)) => {
                errors.fetch_add(1, Ordering::Relaxed);
                self.first_error
                    .get_or_insert_with(|| format!("{status}: {}", String::from_utf8_lossy(&body)));
                true
            }
            Err(e) => {
                errors.fetch_add(1, Ordering::Relaxed);
                self.first_error.get_or_insert_with(|| e.to_string());
                false
            }
        }
    }
}

/// Adds up the connections' tallies once they are all done (`elapsed` is the caller's).
async fn merge(
    tasks: Vec<tokio::task::JoinHandle<Tally>>,
    errors: &AtomicU64,
) -> anyhow::Result<Outcome> {
    let mut latency = histogram();
    let mut ok = 0;
    let mut first_error = None;
    for t in tasks {
        let tally = t.await?;
        latency.add(&tally.latency)?;
        ok += tally.ok;
        if first_error.is_none() {
            first_error = tally.first_error;
        }
    }
    Ok(Outcome {
        ok,
        errors: errors.load(Ordering::Relaxed),
        elapsed: Duration::ZERO,
        latency,
        first_error,
    })
}

/// Closed loop: `conns` connections each send `make(conn, i)` back to back. Requests that
/// start during `warmup` are not counted; the run is measured for `measure` after it.
pub async fn closed_loop(
    addr: SocketAddr,
    conns: usize,
    warmup: Duration,
    measure: Duration,
    expect: u16,
    make: Arc<dyn Fn(usize, u64) -> Req + Send + Sync>,
) -> anyhow::Result<Outcome> {
    let mut opened = Vec::with_capacity(conns);
    for _ in 0..conns {
        opened.push(Conn::open(addr).await?);
    }
    let start = Instant::now();
    let t0 = start + warmup;
    let t1 = t0 + measure;
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (ci, mut conn) in opened.into_iter().enumerate() {
        let make = make.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            let mut i = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= t1 {
                    break;
                }
                let req = make(ci, i);
                i += 1;
                let res = conn.send(&req).await;
                let counted = sent >= t0 && Instant::now() <= t1;
                if !tally.answer(res, expect, sent, counted, &errors) {
                    // The connection is gone: open another.
                    match Conn::open(addr).await {
                        Ok(c) => conn = c,
                        Err(_) => break,
                    }
                }
            }
            tally
        }));
    }
    let mut out = merge(tasks, &errors).await?;
    out.elapsed = measure;
    Ok(out)
}

/// Open loop: `total` requests at `rate` per second over `conns` connections; request `i`
/// is due at `start + i / rate`. Returns the start instant and the POST outcome (latency
/// from the due time, so a stalled server is not hidden by the generator waiting).
pub async fn open_loop(
    addr: SocketAddr,
    conns: usize,
    rate: f64,
    total: u64,
    expect: u16,
    start: Instant,
    make: Arc<dyn Fn(u64) -> Req + Send + Sync>,
) -> anyhow::Result<Outcome> {
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let mut conn = Conn::open(addr).await?;
        let (next, stop, errors, make) = (next.clone(), stop.clone(), errors.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let req = make(i);
                let res = conn.send(&req).await;
                if !tally.answer(res, expect, due, true, &errors) {
                    match Conn::open(addr).await {
                        Ok(c) => conn = c,
                        Err(_) => break,
                    }
                }
            }
            tally
        }));
    }
    let mut out = merge(tasks, &errors).await?;
    out.elapsed = start.elapsed();
    Ok(out)
}
