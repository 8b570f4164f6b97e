//! Where emails go: an SMTP server, or — with none configured — the local outbox in the
//! database (listed by `GET /v1/outbox`, so the demo shows them). An outbox email is
//! written with its job's outcome, in the same transaction.

use std::time::Duration;

use varsel_delivery::email::{OutgoingEmail, SendError, SmtpLimits, SmtpMailer};
use varsel_store::OutboxEmail;

use crate::config::Config;

pub enum Mailer {
    Smtp(Box<SmtpMailer>),
    Outbox,
}

/// What the outbox needs besides the email.
pub struct Envelope<'a> {
    pub account_id: &'a str,
    pub user_id: &'a str,
    pub type_id: &'a str,
    pub now: i64,
}

impl Mailer {
    pub fn from_config(cfg: &Config) -> Result<Mailer, SendError> {
        if cfg.smtp_url.is_empty() {
            return Ok(Mailer::Outbox);
        }
        let limits = SmtpLimits {
            connect_timeout: Duration::from_secs(cfg.smtp_connect_timeout_seconds),
            send_timeout: Duration::from_secs(cfg.smtp_timeout_seconds),
            max_connections: cfg.smtp_max_connections,
            ..SmtpLimits::default()
        };
        Ok(Mailer::Smtp(Box::new(SmtpMailer::new(
            &cfg.smtp_url,
            limits,
        )?)))
    }

    /// The SMTP server (`smtp://host:port`), the circuit breaker's key; `None` for the
    /// outbox.
    pub fn destination(&self) -> Option<&str> {
        match self {
            Mailer::Smtp(m) => Some(m.destination()),
            Mailer::Outbox => None,
        }
    }
}

/// The outbox row of an email.
pub fn outbox_row(email: &OutgoingEmail, env: &Envelope<'_>) -> OutboxEmail {
    OutboxEmail {
        id: format!("out_{}", ulid::Ulid::new()),
        account_id: env.account_id.to_string(),
        user_id: env.user_id.to_string(),
        to: email.to.clone(),
        subject: email.content.subject.clone(),
        text: email.content.text.clone(),
        html: email.content.html.clone(),
        message_id: email.message_id.clone(),
        type_id: env.type_id.to_string(),
        created_at: env.now,
    }
}
