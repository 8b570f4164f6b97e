//! A lighter path for long-lived streams. A connection whose first request is
//! `GET /v1/me/stream` is served here instead of by hyper: the request head is read once
//! into a small buffer and dropped, the router answers it as usual (auth, limits, spans,
//! the hub), and the response is written straight to the socket as it is produced, one
//! chunk per frame. Hyper keeps a read and a write buffer per connection (16 KiB and
//! 8 KiB once a request was read, at least 8 KiB each) for as long as the connection
//! lives; an open stream here holds none. The connection closes when the stream ends.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

/// The request line this path takes.
const PREFIX: &[u8] = b"GET /v1/me/stream";
/// The most a stream request's head may hold.
const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 48;

/// Whether the connection's first request is a stream request (looks at the bytes that
/// have arrived without taking them).
pub async fn is_stream(tcp: &TcpStream) -> bool {
    let mut first = [0u8; PREFIX.len()];
    match tcp.peek(&mut first).await {
        Ok(n) => n == PREFIX.len() && first == PREFIX,
        Err(_) => false,
    }
}

/// Serves the stream request on `tcp`, then closes it.
pub async fn serve(mut tcp: TcpStream, peer: SocketAddr, app: Router, head_timeout: Duration) {
    let (req, version) = match tokio::time::timeout(head_timeout, read_head(&mut tcp, peer)).await {
        Ok(Ok(req)) => req,
        Ok(Err(status)) => {
            let _ = tcp
                .write_all(
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
            return;
        }
        Err(_) => return,
    };
    let Ok(resp) = app.oneshot(req).await;
    let (parts, body) = resp.into_parts();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    );
    for (name, value) in &parts.headers {
        if name == axum::http::header::CONTENT_LENGTH
            || name == axum::http::header::TRANSFER_ENCODING
            || name == axum::http::header::CONNECTION
        {
            continue;
        }
        head.push_str(name.as_str());
        head.push_str(": ");
        head.push_str(&String::from_utf8_lossy(value.as_bytes()));
        head.push_str("\r\n");
    }
    // HTTP/1.0 has no chunks: the body runs until the connection closes.
    let chunked = version == 1;
    if chunked {
        head.push_str("transfer-encoding: chunked\r\n");
    }
    head.push_str("connection: close\r\n\r\n");
    if tcp.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    drop(head);
    let (mut rd, mut wr) = tcp.into_split();
    let mut frames = body.into_data_stream();
    let mut probe = [0u8; 1];
    loop {
        tokio::select! {
            frame = frames.next() => match frame {
                Some(Ok(data)) if data.is_empty() => {}
                Some(Ok(data)) => {
                    let sent = async {
                        if chunked {
                            wr.write_all(format!("{:x}\r\n", data.len()).as_bytes()).await?;
                        }
                        wr.write_all(&data).await?;
                        if chunked {
                            wr.write_all(b"\r\n").await?;
                        }
                        Ok::<(), std::io::Error>(())
                    };
                    if sent.await.is_err() {
                        return;
                    }
                }
                Some(Err(_)) => return,
                None => {
                    if chunked {
                        let _ = wr.write_all(b"0\r\n\r\n").await;
                    }
                    let _ = wr.shutdown().await;
                    return;
                }
            },
            // The client closed (or sent something a stream does not expect): done.
            _ = rd.read(&mut probe) => return,
        }
    }
}

/// Reads and parses the request head; the error is the status line to answer.
/// The request and its HTTP/1 minor version.
async fn read_head(
    tcp: &mut TcpStream,
    peer: SocketAddr,
) -> Result<(axum::http::Request<Body>, u8), &'static str> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let end = loop {
        if buf.len() >= MAX_HEAD {
            return Err("431 Request Header Fields Too Large");
        }
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await.map_err(|_| "400 Bad Request")?;
        if n == 0 {
            return Err("400 Bad Request");
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    if end != buf.len() {
        // A body or a pipelined request after a GET: not a stream request's shape.
        return Err("400 Bad Request");
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(&buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => return Err("400 Bad Request"),
    }
    let version = parsed.version.unwrap_or(1);
    let mut req = axum::http::Request::builder()
        .version(if version == 0 {
            axum::http::Version::HTTP_10
        } else {
            axum::http::Version::HTTP_11
        })
        .method(parsed.method.unwrap_or("GET"))
        .uri(parsed.path.unwrap_or("/"));
    for h in parsed.headers.iter() {
        req = req.header(h.name, h.value);
    }
    let mut req = req.body(Body::empty()).map_err(|_| "400 Bad Request")?;
    req.extensions_mut().insert(ConnectInfo(peer));
    Ok((req, version))
}
