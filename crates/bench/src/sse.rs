//! A minimal Server-Sent Events client over one hyper connection: `GET` the stream and
//! read `event:`/`data:` blocks as they arrive.

use std::net::SocketAddr;

use anyhow::Context;
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One open stream.
pub struct SseStream {
    body: Incoming,
    buf: BytesMut,
}

/// One SSE event: its name (`message` when none) and its data lines joined.
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

impl SseStream {
    /// Opens `path` (e.g. `/v1/me/stream?tab_id=t1&active=true`) with a bearer token.
    pub async fn open(addr: SocketAddr, path: &str, token: &str) -> anyhow::Result<SseStream> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::get(path)
            .header(hyper::header::HOST, addr.to_string())
            .header(hyper::header::ACCEPT, "text/event-stream")
            .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Empty::new())?;
        let resp = sender.send_request(req).await?;
        anyhow::ensure!(
            resp.status() == 200,
            "stream answered {}",
            resp.status().as_u16()
        );
        Ok(SseStream {
            body: resp.into_body(),
            buf: BytesMut::new(),
        })
    }

    /// The next event; `None` when the stream ends.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(pos) = find_blank_line(&self.buf) {
                let block = self.buf.split_to(pos);
                self.buf.advance(2);
                if let Some(ev) = parse_block(&block) {
                    return Some(ev);
                }
                continue;
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buf.extend_from_slice(&data);
            }
        }
    }
}

fn find_blank_line(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n")
}

fn parse_block(block: &[u8]) -> Option<SseEvent> {
    let text = std::str::from_utf8(block).ok()?;
    let mut event = None;
    let mut data = String::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim_start().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    if event.is_none() && data.is_empty() {
        return None; // a comment (keep-alive)
    }
    Some(SseEvent {
        event: event.unwrap_or_else(|| "message".into()),
        data,
    })
}
