//! SMTP sending with Varsel's own connection pool over lettre's connection API.
//!
//! lettre's pooled transport gives no deadline to the greeting or to the commands, and a
//! send abandoned half-way returns its connection to the pool, where the next send finds
//! it mid-conversation. So Varsel keeps its own pool: at most `max_connections` open to
//! the server (the permits), every step under a deadline (connect + greeting + EHLO +
//! STARTTLS + AUTH within `connect_timeout`; MAIL, RCPT and DATA within `send_timeout`),
//! and a connection that failed or ran past a deadline is dropped, never reused.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::Semaphore;
use tokio::time::timeout;

use crate::email::{OutgoingEmail, SendError, build_message};

/// Limits of the SMTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmtpLimits {
    /// TCP connect, greeting, EHLO, STARTTLS and AUTH together.
    pub connect_timeout: Duration,
    /// One message: MAIL, RCPT, DATA and the reply to the data.
    pub send_timeout: Duration,
    /// Connections open to the server at once (sends beyond wait for one).
    pub max_connections: usize,
    /// An idle connection older than this is closed instead of reused.
    pub idle_timeout: Duration,
}

impl Default for SmtpLimits {
    fn default() -> SmtpLimits {
        SmtpLimits {
            connect_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(30),
            max_connections: 8,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

enum Security {
    Plain,
    /// `smtp+starttls://` or `smtp://…?tls=required`: STARTTLS, or no sending.
    StartTls(TlsParameters),
    /// `smtps://`: TLS from the first byte.
    Wrapper(TlsParameters),
}

/// Sends email over SMTP: `smtp://host:port` (plain), `smtp+starttls://…` (STARTTLS
/// required), `smtps://…` (TLS); user and password may be in the URL.
pub struct SmtpMailer {
    host: String,
    port: u16,
    tls: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
    limits: SmtpLimits,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    permits: Semaphore,
    destination: String,
}

fn config_error(message: String) -> SendError {
    SendError {
        retryable: false,
        destination: false,
        message,
    }
}

/// A failure of the server or the connection: retry later, and it counts against the
/// destination (the circuit breaker).
fn destination_error(message: String) -> SendError {
    SendError {
        retryable: true,
        destination: true,
        message,
    }
}

/// How an error from lettre is handled. Connection problems, timeouts and 421 are the
/// server's; 530/535 (STARTTLS or authentication required or refused) are the
/// configuration's and hit every message alike, so they count against the server too
/// and are retried; other 4xx are retried for this message; other 5xx refuse it.
fn classify(e: &SmtpError) -> SendError {
    let message = format!("smtp: {e}");
    let code = e.status().map(|c| {
        let s = c.to_string();
        s.parse::<u16>().unwrap_or(0)
    });
    match code {
        Some(421 | 530 | 534 | 535 | 538) => destination_error(message),
        Some(c) if (400..500).contains(&c) => SendError {
            retryable: true,
            destination: false,
            message,
        },
        Some(_) => SendError {
            retryable: false,
            destination: false,
            message,
        },
        None => destination_error(message),
    }
}

impl SmtpMailer {
    pub fn new(url: &str, limits: SmtpLimits) -> Result<SmtpMailer, SendError> {
        let parsed = url::Url::parse(url).map_err(|e| config_error(format!("smtp url: {e}")))?;
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| config_error("smtp url: no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls_param = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.to_string());
        let params =
            || TlsParameters::new(host.clone()).map_err(|e| config_error(format!("smtp tls: {e}")));
        let (tls, default_port) = match (parsed.scheme(), tls_param.as_deref()) {
            ("smtp", None) => (Security::Plain, 25),
            ("smtp", Some("required")) | ("smtp+starttls", None) => {
                (Security::StartTls(params()?), 587)
            }
            ("smtps", None) => (Security::Wrapper(params()?), 465),
            (scheme, tls) => {
                return Err(config_error(format!(
                    "smtp url: unknown scheme `{scheme}` or tls `{}` (use smtp://, smtp+starttls:// or smtps://)",
                    tls.unwrap_or("")
                )));
            }
        };
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.to_string())
                .unwrap_or_default()
        };
        let credentials = parsed
            .password()
            .map(|p| Credentials::new(decode(parsed.username()), decode(p)));
        let hello = match parsed.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_string()),
        };
        let port = parsed.port().unwrap_or(default_port);
        Ok(SmtpMailer {
            destination: format!("smtp://{host}:{port}"),
            host,
            port,
            tls,
            hello,
            credentials,
            limits: SmtpLimits {
                max_connections: limits.max_connections.max(1),
                ..limits
            },
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(limits.max_connections.max(1)),
        })
    }

    /// The server as `smtp://host:port`, without credentials: the circuit breaker's key and
    /// what logs may name.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// The most connections this mailer opens at once.
    pub fn max_connections(&self) -> usize {
        self.limits.max_connections
    }

    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().ok()?;
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < self.limits.idle_timeout && !conn.has_broken() {
                return Some(conn);
            }
            // Too old: the server may have closed it; dropping it closes the socket.
        }
        None
    }

    fn park(&self, conn: AsyncSmtpConnection) {
        if conn.has_broken() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((conn, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let mut conn = match &self.tls {
            Security::Wrapper(p) => AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(self.limits.connect_timeout),
                &self.hello,
                Some(p.clone()),
                None,
            )
            .await
            .map_err(|e| classify(&e))?,
            _ => {
                // Our own socket, for TCP_NODELAY: SMTP is a conversation of small
                // commands, and with Nagle's algorithm each one waits for the delayed ACK
                // of the last (~40 ms a command on loopback; measured 178 emails/s).
                let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(|e| destination_error(format!("smtp: connecting: {e}")))?;
                tcp.set_nodelay(true)
                    .map_err(|e| destination_error(format!("smtp: socket: {e}")))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                    .await
                    .map_err(|e| classify(&e))?
            }
        };
        if let Security::StartTls(p) = &self.tls {
            if !conn.can_starttls() {
                return Err(destination_error(
                    "smtp: the server does not offer STARTTLS, which the url requires".into(),
                ));
            }
            conn.starttls(p.clone(), &self.hello)
                .await
                .map_err(|e| classify(&e))?;
        }
        if let Some(c) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, c)
                .await
                .map_err(|e| classify(&e))?;
        }
        Ok(conn)
    }

    async fn transact(
        &self,
        conn: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<(), (SendError, bool)> {
        match timeout(self.limits.send_timeout, conn.send(envelope, bytes)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                // Not an answer from the server: the connection itself failed.
                let broken = !e.is_response();
                Err((classify(&e), broken))
            }
            Err(_) => Err((
                destination_error(format!(
                    "smtp: no answer to the message within {} s",
                    self.limits.send_timeout.as_secs_f32()
                )),
                false,
            )),
        }
    }

    /// Sends one email. Waits for a free connection slot first (not counted against the
    /// deadlines), then connects or reuses an idle connection.
    pub async fn send(&self, e: &OutgoingEmail) -> Result<(), SendError> {
        let msg = build_message(e)?;
        let envelope = msg.envelope().clone();
        let bytes = msg.formatted();
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| destination_error("smtp: the mailer is shut down".into()))?;
        if let Some(mut conn) = self.take_idle() {
            match self.transact(&mut conn, &envelope, &bytes).await {
                Ok(()) => {
                    self.park(conn);
                    return Ok(());
                }
                // An idle connection the server closed meanwhile: once more on a new one.
                Err((_, true)) => {}
                Err((err, false)) => {
                    if !err.destination {
                        self.park(conn);
                    }
                    return Err(err);
                }
            }
        }
        let mut conn = match timeout(self.limits.connect_timeout, self.connect()).await {
            Ok(conn) => conn?,
            Err(_) => {
                return Err(destination_error(format!(
                    "smtp: no greeting from {} within {} s",
                    self.destination,
                    self.limits.connect_timeout.as_secs_f32()
                )));
            }
        };
        match self.transact(&mut conn, &envelope, &bytes).await {
            Ok(()) => {
                self.park(conn);
                Ok(())
            }
            Err((err, _)) => {
                // A refused message leaves the connection usable; anything else drops it.
                if !err.destination && !conn.has_broken() {
                    self.park(conn);
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let m = SmtpMailer::new("smtp://mail.example:2525", SmtpLimits::default()).unwrap();
        assert_eq!(m.destination(), "smtp://mail.example:2525");
        assert!(m.credentials.is_none());
        let m = SmtpMailer::new(
            "smtp+starttls://u%40x:p%2Fw@mail.example",
            SmtpLimits::default(),
        )
        .unwrap();
        assert_eq!(m.destination(), "smtp://mail.example:587");
        assert!(matches!(m.tls, Security::StartTls(_)));
        assert!(m.credentials.is_some());
        let m = SmtpMailer::new("smtps://mail.example", SmtpLimits::default()).unwrap();
        assert_eq!(m.port, 465);
        assert!(matches!(m.tls, Security::Wrapper(_)));
        assert!(SmtpMailer::new("http://x", SmtpLimits::default()).is_err());
        assert!(SmtpMailer::new("smtp://", SmtpLimits::default()).is_err());
    }
}
