//! A small SMTP server for the tests: it speaks enough of RFC 5321 for lettre (EHLO,
//! MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT, pipelined commands), keeps
//! every message whole, and can be taken down and brought back on the same port.
//!
//! It can misbehave on demand ([`SmtpFault`]): never greet, stall in DATA, close after
//! DATA without a reply, answer with temporary or permanent errors, answer slowly,
//! require STARTTLS or refuse authentication. A fault is decided per connection when it
//! is accepted ([`SmtpSink::set_fault`] for every new connection, [`SmtpSink::fault_next`]
//! for the next few), so a pooled client keeps what its connection got.
//!
//! It is fast enough for the email benchmarks: a command costs no allocation, replies to
//! pipelined commands go out in one write, and nothing is logged.

#![allow(clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{ReadHalf, WriteHalf};
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

/// How a connection misbehaves. Decided when the connection is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpFault {
    /// Accepts the TCP connection and never sends the 220 greeting.
    NeverGreet,
    /// Answers 354 to DATA, reads the message, then never answers (the message is not
    /// recorded).
    StallInData,
    /// Reads the whole message and records it (the server has it), then closes the
    /// connection without a reply (the at-least-once window).
    CloseAfterData,
    /// Answers MAIL FROM with this temporary code (421 closes the connection after the
    /// reply, as RFC 5321 says; 451 keeps it).
    Temporary(u16),
    /// Answers RCPT TO with 550 (mailbox unavailable).
    Permanent,
    /// Waits this long before every reply (including the greeting).
    Slow(Duration),
    /// Advertises STARTTLS and answers MAIL FROM with 530 "Must issue a STARTTLS command
    /// first" (STARTTLS itself gets 454: this server has no certificate).
    RequireStartTls,
    /// Advertises AUTH PLAIN LOGIN, answers AUTH with 535, and MAIL FROM without auth
    /// with 530.
    AuthRefused,
}

/// What the connections get, and how many there are.
#[derive(Default)]
struct Control {
    standing: Mutex<Option<SmtpFault>>,
    /// (connections left, fault), served first.
    next: Mutex<VecDeque<(usize, SmtpFault)>>,
    accepted: AtomicUsize,
    open: AtomicUsize,
}

impl Control {
    /// The fault of a connection accepted now.
    fn fault_for_new(&self) -> Option<SmtpFault> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((left, fault)) = next.front_mut() {
            let fault = fault.clone();
            *left -= 1;
            if *left == 0 {
                next.pop_front();
            }
            return Some(fault);
        }
        drop(next);
        self.standing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Counts an open connection while it lives.
struct OpenGuard(Arc<Control>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

pub struct SmtpSink {
    pub port: u16,
    pub received: Arc<Mutex<Vec<Received>>>,
    control: Arc<Control>,
    task: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Starts on 127.0.0.1 and a free port, behaving.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let received = Arc::new(Mutex::new(Vec::new()));
        let control = Arc::new(Control::default());
        let task = Some(tokio::spawn(serve(
            listener,
            received.clone(),
            control.clone(),
        )));
        SmtpSink {
            port,
            received,
            control,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Stops accepting: new connections are refused and open ones are dropped.
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
        self.task = Some(tokio::spawn(serve(
            listener,
            self.received.clone(),
            self.control.clone(),
        )));
    }

    /// Every message received (recorded), in order.
    pub fn messages(&self) -> Vec<Received> {
        self.received.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Every new connection from now on gets `fault` (None: behave).
    pub fn set_fault(&self, fault: Option<SmtpFault>) {
        *self
            .control
            .standing
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = fault;
    }

    /// The next `n` new connections get `fault`; later ones get the standing one.
    pub fn fault_next(&self, n: usize, fault: SmtpFault) {
        if n > 0 {
            self.control
                .next
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_back((n, fault));
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.control.accepted.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.control.open.load(Ordering::Relaxed)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.down();
    }
}

async fn serve(listener: TcpListener, received: Arc<Mutex<Vec<Received>>>, control: Arc<Control>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        while conns.try_join_next().is_some() {}
        control.accepted.fetch_add(1, Ordering::Relaxed);
        control.open.fetch_add(1, Ordering::Relaxed);
        let guard = OpenGuard(control.clone());
        let fault = control.fault_for_new();
        let received = received.clone();
        conns.spawn(async move {
            let _guard = guard;
            let _ = session(sock, &received, fault).await;
        });
    }
}

type Reader<'a> = BufReader<ReadHalf<'a>>;
type Writer<'a> = BufWriter<WriteHalf<'a>>;

/// The EHLO answers: plain, with STARTTLS, with AUTH.
const EHLO: &[u8] = b"250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n";
const EHLO_TLS: &[u8] =
    b"250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n250 PIPELINING\r\n";
const EHLO_AUTH: &[u8] =
    b"250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING\r\n";

/// Whether `line` starts with `prefix`, ignoring ASCII case.
fn is(line: &[u8], prefix: &[u8]) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// The argument after `prefix` (`MAIL FROM:`…), trimmed.
fn arg(line: &[u8], prefix: usize) -> String {
    String::from_utf8_lossy(line[prefix..].trim_ascii()).into_owned()
}

/// Reads one line into `line` (cleared first). Replies still buffered go out first when
/// no more pipelined input is waiting. `false` at the end of the connection.
async fn read_line(r: &mut Reader<'_>, w: &mut Writer<'_>, line: &mut Vec<u8>) -> bool {
    line.clear();
    if r.buffer().is_empty() && w.flush().await.is_err() {
        return false;
    }
    matches!(r.read_until(b'\n', line).await, Ok(n) if n > 0)
}

/// Reads and discards until the client closes.
async fn drain(r: &mut (impl AsyncRead + Unpin)) {
    let mut buf = [0u8; 1024];
    while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Writes `reply` (after `delay`).
async fn say(w: &mut Writer<'_>, delay: Option<Duration>, reply: &[u8]) -> std::io::Result<()> {
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    w.write_all(reply).await
}

/// Reads a message after 354 into `data`, dot-unstuffed, without the final `.` line.
/// `false` when the connection ended first.
async fn read_data(r: &mut Reader<'_>, data: &mut Vec<u8>) -> bool {
    loop {
        let start = data.len();
        match r.read_until(b'\n', data).await {
            Ok(n) if n > 0 => {}
            _ => return false,
        }
        let line = &data[start..];
        if line == b".\r\n" || line == b".\n" {
            data.truncate(start);
            return true;
        }
        if line[0] == b'.' {
            data.remove(start);
        }
    }
}

async fn session(
    mut sock: TcpStream,
    received: &Mutex<Vec<Received>>,
    fault: Option<SmtpFault>,
) -> std::io::Result<()> {
    let (r, w) = sock.split();
    let mut r = BufReader::new(r);
    let mut w = BufWriter::new(w);
    if fault == Some(SmtpFault::NeverGreet) {
        drain(&mut r).await;
        return Ok(());
    }
    let delay = match fault {
        Some(SmtpFault::Slow(d)) => Some(d),
        _ => None,
    };
    let ehlo = match fault {
        Some(SmtpFault::RequireStartTls) => EHLO_TLS,
        Some(SmtpFault::AuthRefused) => EHLO_AUTH,
        _ => EHLO,
    };
    say(&mut w, delay, b"220 sink.test ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = Vec::with_capacity(256);
    while read_line(&mut r, &mut w, &mut line).await {
        let cmd = line.trim_ascii_end();
        let reply: &[u8] = if is(cmd, b"EHLO") {
            ehlo
        } else if is(cmd, b"HELO") {
            b"250 sink.test\r\n"
        } else if is(cmd, b"STARTTLS") {
            b"454 4.7.0 TLS not available\r\n"
        } else if is(cmd, b"AUTH") {
            match fault {
                Some(SmtpFault::AuthRefused) => b"535 5.7.8 Authentication credentials invalid\r\n",
                _ => b"502 5.5.1 AUTH not offered\r\n",
            }
        } else if is(cmd, b"MAIL FROM:") {
            match fault {
                Some(SmtpFault::Temporary(code)) => {
                    let text = format!("{code} 4.3.0 Try again later\r\n");
                    say(&mut w, delay, text.as_bytes()).await?;
                    if code == 421 {
                        return w.flush().await;
                    }
                    continue;
                }
                Some(SmtpFault::RequireStartTls) => {
                    b"530 5.7.0 Must issue a STARTTLS command first\r\n"
                }
                Some(SmtpFault::AuthRefused) => b"530 5.7.0 Authentication required\r\n",
                _ => {
                    from = arg(cmd, 10);
                    to.clear();
                    b"250 ok\r\n"
                }
            }
        } else if is(cmd, b"RCPT TO:") {
            if fault == Some(SmtpFault::Permanent) {
                b"550 5.1.1 Mailbox unavailable\r\n"
            } else {
                to.push(arg(cmd, 8));
                b"250 ok\r\n"
            }
        } else if is(cmd, b"DATA") {
            if to.is_empty() {
                b"554 5.5.1 No valid recipients\r\n"
            } else {
                say(&mut w, delay, b"354 go ahead\r\n").await?;
                w.flush().await?;
                let mut data = Vec::new();
                if !read_data(&mut r, &mut data).await {
                    return Ok(());
                }
                if fault == Some(SmtpFault::StallInData) {
                    drain(&mut r).await;
                    return Ok(());
                }
                if let Ok(mut v) = received.lock() {
                    v.push(Received {
                        from: std::mem::take(&mut from),
                        to: std::mem::take(&mut to),
                        data,
                    });
                }
                if fault == Some(SmtpFault::CloseAfterData) {
                    return Ok(());
                }
                b"250 queued\r\n"
            }
        } else if is(cmd, b"RSET") {
            from.clear();
            to.clear();
            b"250 ok\r\n"
        } else if is(cmd, b"QUIT") {
            say(&mut w, delay, b"221 bye\r\n").await?;
            return w.flush().await;
        } else {
            b"250 ok\r\n"
        };
        say(&mut w, delay, reply).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-driven SMTP client.
    struct Client(BufReader<TcpStream>);

    impl Client {
        async fn connect(sink: &SmtpSink) -> Client {
            let sock = TcpStream::connect(("127.0.0.1", sink.port))
                .await
                .expect("connect");
            Client(BufReader::new(sock))
        }

        async fn send(&mut self, text: &str) {
            self.0
                .get_mut()
                .write_all(text.as_bytes())
                .await
                .expect("write");
        }

        /// The next reply's code (the last line of a multi-line reply); 0 when the
        /// server closed the connection.
        async fn reply(&mut self) -> u16 {
            loop {
                let mut line = String::new();
                if self.0.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return 0;
                }
                if line.as_bytes().get(3) != Some(&b'-') {
                    return line[..3].parse().expect("a reply code");
                }
            }
        }

        /// Greeting, EHLO and MAIL FROM: the MAIL FROM reply.
        async fn mail(&mut self) -> u16 {
            assert_eq!(self.reply().await, 220);
            self.send("EHLO test\r\n").await;
            assert_eq!(self.reply().await, 250);
            self.send("MAIL FROM:<varsel@example.com>\r\n").await;
            self.reply().await
        }
    }

    async fn until_closed(sink: &SmtpSink) {
        for _ in 0..500 {
            if sink.open_connections() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} connections still open", sink.open_connections());
    }

    #[tokio::test]
    async fn pipelined_commands_and_dot_stuffed_data() {
        let sink = SmtpSink::start().await;
        let mut c = Client::connect(&sink).await;
        assert_eq!(c.reply().await, 220);
        c.send("EHLO test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
            .await;
        for code in [250, 250, 250, 354] {
            assert_eq!(c.reply().await, code);
        }
        c.send("Subject: x\r\n\r\n..a dot\r\n.\r\nQUIT\r\n").await;
        assert_eq!(c.reply().await, 250);
        assert_eq!(c.reply().await, 221);
        let got = sink.messages();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].from, "<a@example.com>");
        assert_eq!(got[0].to, ["<b@example.com>"]);
        assert_eq!(got[0].data, b"Subject: x\r\n\r\n.a dot\r\n");
        drop(c);
        until_closed(&sink).await;
        assert_eq!(sink.connections(), 1);
    }

    #[tokio::test]
    async fn faults_go_to_the_next_connections_then_the_standing_one() {
        let sink = SmtpSink::start().await;
        sink.set_fault(Some(SmtpFault::Permanent));
        sink.fault_next(2, SmtpFault::Temporary(451));
        sink.fault_next(1, SmtpFault::Temporary(421));
        let mut codes = Vec::new();
        for _ in 0..3 {
            let mut c = Client::connect(&sink).await;
            codes.push(c.mail().await);
            c.send("NOOP\r\n").await;
            codes.push(c.reply().await);
        }
        // 451 keeps the connection; 421 closes it.
        assert_eq!(codes, [451, 250, 451, 250, 421, 0]);
        let mut c = Client::connect(&sink).await;
        assert_eq!(c.mail().await, 250);
        c.send("RCPT TO:<b@example.com>\r\nDATA\r\n").await;
        assert_eq!(c.reply().await, 550);
        assert_eq!(c.reply().await, 554);
        sink.set_fault(None);
        let mut c = Client::connect(&sink).await;
        assert_eq!(c.mail().await, 250);
        assert_eq!(sink.connections(), 5);
    }

    #[tokio::test]
    async fn a_silent_connection_stays_open_until_the_client_leaves() {
        let sink = SmtpSink::start().await;
        sink.fault_next(1, SmtpFault::NeverGreet);
        let mut c = Client::connect(&sink).await;
        let greeting = tokio::time::timeout(Duration::from_millis(200), c.reply()).await;
        assert!(greeting.is_err(), "got a greeting: {greeting:?}");
        assert_eq!(sink.open_connections(), 1);
        drop(c);
        until_closed(&sink).await;
    }
}
