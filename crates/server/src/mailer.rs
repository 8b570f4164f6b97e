//! Where emails go: an SMTP server, or — with none configured — the local outbox in the
//! database (listed by `GET /v1/outbox`, so the demo shows them).

use std::sync::Arc;
use std::time::Duration;

use varsel_delivery::email::{OutgoingEmail, SendError, SmtpMailer};
use varsel_store::{OutboxEmail, Store};

pub enum Mailer {
    Smtp(SmtpMailer),
    Outbox(Arc<dyn Store>),
}

/// What the outbox needs besides the email.
pub struct Envelope<'a> {
    pub account_id: &'a str,
    pub user_id: &'a str,
    pub type_id: &'a str,
    pub now: i64,
}

impl Mailer {
    pub fn from_config(
        smtp_url: &str,
        timeout_seconds: u64,
        store: Arc<dyn Store>,
    ) -> Result<Mailer, SendError> {
        if smtp_url.is_empty() {
            Ok(Mailer::Outbox(store))
        } else {
            Ok(Mailer::Smtp(SmtpMailer::new(
                smtp_url,
                Duration::from_secs(timeout_seconds),
            )?))
        }
    }

    pub async fn send(&self, email: &OutgoingEmail, env: &Envelope<'_>) -> Result<(), SendError> {
        match self {
            Mailer::Smtp(smtp) => smtp.send(email).await,
            Mailer::Outbox(store) => {
                // The message id is unique in the outbox: a retried send keeps one copy.
                let row = OutboxEmail {
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
                };
                store.insert_outbox(&row).await.map_err(|e| SendError {
                    retryable: true,
                    message: e.to_string(),
                })
            }
        }
    }
}
