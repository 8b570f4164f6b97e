//! The scaffold every HTTP test server stands on (Slack, Teams, Web Push, FCM, APNs).
//!
//! - [`serve`]: one accept loop, HTTP/1.1 or (for APNs) HTTP/2 only, that hands each
//!   request a handle on its TCP connection, so a request can drop the connection.
//! - [`Faults`]: one queue per faulty endpoint. It holds, in the order they were asked
//!   for, the provider's own error answers (`P`: a status with the provider's error body
//!   and `Retry-After`) and the [`Misbehaviour`]s every server can be told to do. Each
//!   request takes the next entry; a provider answer reaches the handler through the
//!   [`Injected`] extractor, a misbehaviour is carried out before the handler runs.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

/// Something any HTTP provider server can be told to do instead of answering properly
/// (`misbehave_next` on each server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Reads the request and never answers (until the server is dropped); the request is
    /// not handled. Only the client's timeout ends it.
    Hang,
    /// Answers correctly after this long. The request is handled even when the client
    /// has given up by then, as a provider would: a client that timed out and retries
    /// sends it twice.
    Slow(Duration),
    /// Closes the TCP connection with a reset (RST), without an HTTP answer; the request
    /// is not handled. Over HTTP/2 every stream on that connection fails with it.
    Reset,
    /// Answers HTTP 200 with an HTML page instead of the provider's answer (a proxy or a
    /// captive portal in the way); the request is not handled.
    InvalidBody,
}

/// The body of [`Misbehaviour::InvalidBody`].
pub const INVALID_BODY: &str = "<!doctype html><html><head><title>Sign in</title></head>\
     <body><h1>Sign in to continue</h1></body></html>\n";

/// The HTTP version a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    /// HTTP/2 only, with prior knowledge (h2c), as APNs.
    Http2,
}

/// Binds 127.0.0.1 on a free port.
pub(crate) async fn bind(what: &str) -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind {what}: {e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    (listener, port)
}

/// A running server. Dropping it stops accepting, drops every connection and ends every
/// hanging request.
pub(crate) struct Serving {
    task: JoinHandle<()>,
    _stop: watch::Sender<()>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` on `listener`.
pub(crate) fn serve(listener: TcpListener, app: Router, protocol: Protocol) -> Serving {
    let (stop, stopped) = watch::channel(());
    let task = tokio::spawn(accept(listener, app, protocol, stopped));
    Serving { task, _stop: stop }
}

/// What a request knows of its connection: how to drop it, and when the server stops.
#[derive(Clone)]
struct Conn {
    reset: Arc<Notify>,
    stopped: watch::Receiver<()>,
}

impl Conn {
    /// Waits until the server is dropped.
    async fn until_stopped(&self) {
        let mut stopped = self.stopped.clone();
        while stopped.changed().await.is_ok() {}
    }
}

async fn accept(
    listener: TcpListener,
    app: Router,
    protocol: Protocol,
    stopped: watch::Receiver<()>,
) {
    let mut conns = JoinSet::new();
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        while conns.try_join_next().is_some() {}
        // A second handle on the socket, to set a zero linger on it when the connection
        // is reset (closing it then sends RST instead of FIN).
        let Ok((sock, spare)) = sock
            .into_std()
            .and_then(|s| Ok((s.try_clone()?, s)))
            .and_then(|(s, spare)| Ok((TcpStream::from_std(s)?, spare)))
        else {
            continue;
        };
        let conn = Conn {
            reset: Arc::new(Notify::new()),
            stopped: stopped.clone(),
        };
        let reset = conn.reset.clone();
        let service = TowerToHyperService::new(app.clone().layer(Extension(conn)));
        conns.spawn(async move {
            let io = TokioIo::new(sock);
            let served = async {
                let _ = match protocol {
                    Protocol::Http1 => {
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await
                    }
                    Protocol::Http2 => {
                        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await
                    }
                };
            };
            tokio::select! {
                () = served => {}
                () = reset.notified() => {
                    if let Ok(s) = TcpStream::from_std(spare) {
                        let _ = s.set_zero_linger();
                    }
                }
            }
        });
    }
}

/// What the next requests to one endpoint get.
enum Planned<P> {
    /// The provider's own error answer.
    Answer(P),
    Misbehave(Misbehaviour),
}

/// The fault queue of one endpoint (see the module docs).
pub(crate) struct Faults<P> {
    queue: Mutex<VecDeque<Planned<P>>>,
}

impl<P: Clone + Send + Sync + 'static> Faults<P> {
    pub(crate) fn new() -> Arc<Faults<P>> {
        Arc::new(Faults {
            queue: Mutex::new(VecDeque::new()),
        })
    }

    fn push(&self, n: usize, planned: impl Fn() -> Planned<P>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.extend((0..n).map(|_| planned()));
    }

    /// The next `n` requests get the provider's error answer `answer`.
    pub(crate) fn answer_next(&self, n: usize, answer: P) {
        self.push(n, || Planned::Answer(answer.clone()));
    }

    /// The next `n` requests get `m`.
    pub(crate) fn misbehave_next(&self, n: usize, m: Misbehaviour) {
        self.push(n, || Planned::Misbehave(m.clone()));
    }

    fn pop(&self) -> Option<Planned<P>> {
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }

    /// `route` with this queue in front of it.
    pub(crate) fn on<S>(self: &Arc<Self>, route: MethodRouter<S>) -> MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        route.layer(middleware::from_fn_with_state(self.clone(), apply::<P>))
    }
}

/// A provider error answer taken from the queue for this request (`None`: answer for
/// real).
pub(crate) struct Injected<P>(pub Option<P>);

impl<S: Send + Sync, P: Clone + Send + Sync + 'static> FromRequestParts<S> for Injected<P> {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Injected(parts.extensions.remove::<Planned<P>>().and_then(
            |p| match p {
                Planned::Answer(a) => Some(a),
                Planned::Misbehave(_) => None,
            },
        )))
    }
}

impl<P: Clone> Clone for Planned<P> {
    fn clone(&self) -> Self {
        match self {
            Planned::Answer(a) => Planned::Answer(a.clone()),
            Planned::Misbehave(m) => Planned::Misbehave(m.clone()),
        }
    }
}

async fn apply<P: Clone + Send + Sync + 'static>(
    State(faults): State<Arc<Faults<P>>>,
    Extension(conn): Extension<Conn>,
    mut req: Request,
    next: Next,
) -> Response {
    match faults.pop() {
        None => next.run(req).await,
        Some(answer @ Planned::Answer(_)) => {
            req.extensions_mut().insert(answer);
            next.run(req).await
        }
        Some(Planned::Misbehave(m)) => match m {
            Misbehaviour::Hang => {
                conn.until_stopped().await;
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
            Misbehaviour::Slow(d) => {
                // Its own task, so that the request is handled even if the client gives
                // up and the connection goes.
                let handled = tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    next.run(req).await
                });
                handled
                    .await
                    .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
            Misbehaviour::Reset => {
                conn.reset.notify_one();
                conn.until_stopped().await;
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
            Misbehaviour::InvalidBody => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                INVALID_BODY,
            )
                .into_response(),
        },
    }
}

/// How long the helpers below wait before they fail the test.
const PATIENCE: Duration = Duration::from_secs(10);

/// Awaits `f`, failing the test (naming `what`) if it takes longer than 10 s: for sends
/// that only the client's own timeout may end, so that a missing timeout fails the test
/// instead of hanging it.
pub async fn ends<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(PATIENCE, f).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: still running after {PATIENCE:?}"),
    }
}

/// Waits until `done()` holds, checking every 10 ms; fails the test (naming `what`)
/// after 10 s.
pub async fn until(what: &str, done: impl Fn() -> bool) {
    let give_up = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "{what}: not after {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
