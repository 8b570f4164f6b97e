//! The HTTP edge: accepting connections with a cap per node, a header-read timeout, an
//! idle timeout, the caller's address for the limits, and request spans that never hold
//! credentials.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::config::Config;

/// How connections are accepted and kept.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    /// A request's head (request line and headers) must arrive within this time of the
    /// server waiting for it, which includes a kept-alive connection waiting for its next
    /// request.
    pub header_read_timeout: Duration,
    /// A connection that moves no byte either way for this long is closed (streams send
    /// a keep-alive comment every 15 seconds, so they stay open).
    pub idle_timeout: Duration,
    /// Open connections on this node; one more is answered 503 and closed.
    pub max_connections: usize,
}

impl EdgeLimits {
    pub fn from_config(cfg: &Config) -> EdgeLimits {
        EdgeLimits {
            header_read_timeout: Duration::from_secs(cfg.header_read_timeout_seconds),
            idle_timeout: Duration::from_secs(cfg.idle_timeout_seconds),
            max_connections: cfg.max_connections,
        }
    }
}

/// Serves `app` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, app: Router, limits: EdgeLimits) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors, most likely: let open connections finish
                // before accepting again (a tight loop would only burn CPU).
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::counter!("varsel_connections_refused_total").increment(1);
            tokio::spawn(refuse(tcp));
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            metrics::gauge!("varsel_http_connections").increment(1.0);
            // A stream request on a fresh connection takes the lighter path; nothing
            // arriving within the header timeout ends the connection as hyper would.
            let first =
                tokio::time::timeout(limits.header_read_timeout, crate::sse_edge::is_stream(&tcp))
                    .await;
            match first {
                Ok(true) => {
                    crate::sse_edge::serve(tcp, peer, app, limits.header_read_timeout).await;
                }
                Ok(false) => {
                    let io = TokioIo::new(IdleTimeout::new(tcp, limits.idle_timeout));
                    let service =
                        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                            req.extensions_mut().insert(ConnectInfo(peer));
                            app.clone().oneshot(req)
                        });
                    if let Err(e) = builder.serve_connection(io, service).await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                Err(_) => {}
            }
            metrics::gauge!("varsel_http_connections").decrement(1.0);
            drop(permit);
        });
    }
}

/// The answer to a connection over `max_connections`: 503 with the error envelope.
async fn refuse(mut tcp: TcpStream) {
    const BODY: &str = r#"{"error":{"code":"too_many_connections","message":"this server holds its maximum of open connections; try again shortly"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = tcp.write_all(answer.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

/// A connection that fails with `TimedOut` once no byte was read or written for
/// `timeout` while the server waits on it.
struct IdleTimeout<T> {
    inner: T,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl<T> IdleTimeout<T> {
    fn new(inner: T, timeout: Duration) -> IdleTimeout<T> {
        IdleTimeout {
            inner,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn progressed(&mut self) {
        let at = Instant::now() + self.timeout;
        self.sleep.as_mut().reset(at);
    }

    /// Called when the inner I/O is pending: an error once the deadline has passed.
    fn check(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.sleep.as_mut().poll(cx));
        Poll::Ready(Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connection idle",
        )))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => this.check(cx),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => this.check(cx).map(|r| r.map(|()| 0)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                this.progressed();
                Poll::Ready(r)
            }
            Poll::Pending => this.check(cx).map(|r| r.map(|()| 0)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Query parameters whose values are credentials.
const SECRET_PARAMS: [&str; 5] = ["token", "key", "api_key", "access_token", "sig"];

/// The query string with the values of credential parameters replaced by `***`.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.iter().any(|s| name.eq_ignore_ascii_case(s)) => {
                format!("{name}=***")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The span of one request: method, path and the query without credentials (the
/// stream's `?token=`, the outbox page's `?key=`).
pub fn request_span<B>(req: &axum::http::Request<B>) -> tracing::Span {
    let query = req.uri().query().map(redact_query).unwrap_or_default();
    tracing::debug_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        query = %query,
    )
}

/// The caller's address, as seen by this node.
pub fn peer(parts: &axum::http::request::Parts) -> Option<SocketAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::redact_query;

    #[test]
    fn credentials_never_reach_the_span() {
        assert_eq!(
            redact_query("tab_id=a&token=eyJ.x.y&active=true"),
            "tab_id=a&token=***&active=true"
        );
        assert_eq!(redact_query("KEY=abc"), "KEY=***");
        assert_eq!(redact_query("limit=5&cursor=9"), "limit=5&cursor=9");
        assert_eq!(redact_query("token"), "token");
    }
}
