//! A small SMTP server for the tests: it speaks enough of RFC 5321 for lettre (EHLO,
//! MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT), keeps every message whole,
//! and can be taken down and brought back on the same port.

#![allow(clippy::expect_used)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One received message.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("a parsable message")
    }

    pub fn message_id(&self) -> String {
        self.parsed().message_id().unwrap_or_default().to_string()
    }
}

pub struct SmtpSink {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    task: Option<JoinHandle<()>>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let received = Arc::new(Mutex::new(Vec::new()));
        let task = Some(tokio::spawn(serve(listener, received.clone())));
        SmtpSink {
            port,
            received,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops accepting: new connections are refused.
    pub fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("rebind smtp");
        self.task = Some(tokio::spawn(serve(listener, self.received.clone())));
    }

    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.down();
    }
}

async fn serve(listener: TcpListener, received: Arc<Mutex<Vec<Received>>>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        conns.spawn(session(sock, received.clone()));
    }
}

async fn session(sock: TcpStream, received: Arc<Mutex<Vec<Received>>>) {
    let (r, mut w) = sock.into_split();
    let mut lines = BufReader::new(r);
    let _ = w.write_all(b"220 sink.test ESMTP\r\n").await;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().to_string();
            to.clear();
            b"250 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().to_string());
            b"250 ok\r\n"
        } else if upper == "DATA" {
            let _ = w.write_all(b"354 go ahead\r\n").await;
            let mut data = Vec::new();
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                let l = l.strip_prefix('.').map(str::to_string).unwrap_or(l);
                data.extend_from_slice(l.as_bytes());
            }
            if let Ok(mut v) = received.lock() {
                v.push(Received {
                    from: from.clone(),
                    to: to.clone(),
                    data,
                });
            }
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            let _ = w.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 ok\r\n"
        };
        if w.write_all(reply).await.is_err() {
            return;
        }
    }
}
