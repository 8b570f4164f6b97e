//! The email job: waits while the SMTP server is backed off, checks the daily cap, renders the email in the recipient's language
//! from the template files, sends it (SMTP or the local outbox) with a Message-ID that is
//! stable per delivery, and records the delivery state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use varsel_delivery::email::OutgoingEmail;
use varsel_store::{CapTake, Job, JobKind, NewJob};

use super::breaker::{failed, gate};
use super::observe_send;
use super::{Effects, JobError, JobErrorKind, JobRun};
use crate::mailer::{Envelope, Mailer, outbox_row};
use crate::processor::shared::new_job;
use crate::state::AppState;

/// What an email job sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "email", rename_all = "snake_case")]
pub enum EmailJob {
    /// One notification, or several replies of one thread (grouped), or what quiet hours
    /// held (`held`: several are one summary of the night).
    Notifications {
        ids: Vec<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        held: bool,
    },
    /// The weekly summary of a digest batch.
    Digest { batch_id: String },
    /// The account defaults changed what this user receives.
    DefaultsChanged {
        account_id: String,
        user_id: String,
        changed: usize,
    },
}

impl EmailJob {
    pub fn job(&self, account: &str, dedupe_key: String, run_at: i64) -> NewJob {
        new_job(
            JobKind::Email,
            dedupe_key,
            account,
            serde_json::to_value(self).unwrap_or_default(),
            run_at,
        )
    }
}

/// The domain of the sender address, for Message-IDs.
fn id_domain(from: &str) -> &str {
    from.rsplit('@')
        .next()
        .unwrap_or("varsel")
        .trim_end_matches('>')
        .trim()
}

/// The key of the delivery that carries the cap flag and the Message-ID.
fn delivery_key(job: &Job, e: &EmailJob) -> String {
    match e {
        EmailJob::Notifications { ids, .. } => {
            ids.first().cloned().unwrap_or_else(|| job.id.clone())
        }
        _ => job.id.clone(),
    }
}

fn notification_ids(e: &EmailJob) -> Vec<String> {
    match e {
        EmailJob::Notifications { ids, .. } => ids.clone(),
        _ => Vec::new(),
    }
}

/// The keys of the deliveries the job updates: its notifications, or the job itself.
fn keys(job: &Job, e: &EmailJob) -> Vec<String> {
    let ids = notification_ids(e);
    if ids.is_empty() {
        vec![job.id.clone()]
    } else {
        ids
    }
}

/// Marks every notification of the job (or the job's own delivery) with a state.
fn mark(fx: &mut Effects, job: &Job, e: &EmailJob, st: &str, reason: Option<&str>) {
    for k in keys(job, e) {
        fx.delivery(&k, "email", st, reason);
    }
}

#[async_trait::async_trait]
impl JobRun for EmailJob {
    const KIND: JobKind = JobKind::Email;

    fn about(&self) -> (Option<&str>, Option<&str>) {
        match self {
            EmailJob::Notifications { ids, .. } => (ids.first().map(String::as_str), Some("email")),
            _ => (None, Some("email")),
        }
    }

    fn failed(&self, job: &Job, error: &JobError, dead: bool, fx: &mut Effects) {
        let (st, reason) = match &error.kind {
            JobErrorKind::Wait(_) => ("waiting", error.message.clone()),
            _ if dead => ("failed", format!("gave up: {error}")),
            _ => ("pending", format!("retrying: {error}")),
        };
        mark(fx, job, self, st, Some(&reason));
    }

    async fn run(&self, state: &AppState, job: &Job, fx: &mut Effects) -> Result<(), JobError> {
        // A backed-off SMTP server: wait, without spending an attempt or a cap count.
        if let Some(dest) = state.mailer.destination() {
            gate(state, dest)?;
        }
        send(state, job, self, fx).await
    }
}

async fn send(state: &AppState, job: &Job, e: &EmailJob, fx: &mut Effects) -> Result<(), JobError> {
    let (to, type_id, kinds, mut ctx) = match e {
        EmailJob::Notifications { ids, held } => {
            let items = state.lookups.notifications(ids).await?;
            let Some(first) = items.first().cloned() else {
                return Ok(());
            };
            let Some(u) = state
                .lookups
                .user(&first.account_id, &first.user_id)
                .await?
            else {
                mark(fx, job, e, "dropped", Some("unknown_user"));
                return Ok(());
            };
            let ctx = serde_json::json!({
                "title": first.title, "body": first.body, "url": first.url, "count": first.count,
                "items": items.iter().map(|i| serde_json::json!({"title": i.title, "body": i.body, "url": i.url})).collect::<Vec<_>>(),
                "recipient": {"name": u.name},
            });
            let kinds: Vec<String> = if items.len() > 1 && *held {
                vec!["quiet".into()]
            } else if items.len() > 1 {
                vec!["group".into()]
            } else {
                vec![first.kind.clone(), "notification".into()]
            };
            (u, first.kind.clone(), kinds, ctx)
        }
        EmailJob::Digest { batch_id } => {
            let Some((b, items)) = state.store.batch(batch_id).await? else {
                return Ok(());
            };
            let Some(u) = state.lookups.user(&b.account_id, &b.user_id).await? else {
                return Ok(());
            };
            let mut per: BTreeMap<String, usize> = BTreeMap::new();
            for i in &items {
                let name = i.item["data"]["workflow"]
                    .as_str()
                    .or_else(|| i.item["object"]["name"].as_str())
                    .or_else(|| i.item["object"]["id"].as_str())
                    .unwrap_or("?")
                    .to_string();
                *per.entry(name).or_default() += 1;
            }
            if per.is_empty() {
                return Ok(());
            }
            let workflows: Vec<_> = per
                .iter()
                .map(|(n, c)| serde_json::json!({"name": n, "count": c}))
                .collect();
            let ctx = serde_json::json!({
                "workflows": workflows, "total": items.len()
            });
            (
                u,
                b.type_id.clone(),
                vec![format!("{}.digest", b.type_id), "digest".into()],
                ctx,
            )
        }
        EmailJob::DefaultsChanged {
            account_id,
            user_id,
            changed,
        } => {
            let Some(u) = state.lookups.user(account_id, user_id).await? else {
                return Ok(());
            };
            let account_name = state
                .store
                .get_account(account_id)
                .await?
                .map(|a| a.name)
                .unwrap_or_default();
            let ctx = serde_json::json!({
                "account_name": account_name, "changed": changed
            });
            (
                u,
                "defaults_changed".to_string(),
                vec!["defaults_changed".into()],
                ctx,
            )
        }
    };

    // The daily cap counts each delivery once, even when its sending is retried: a first
    // attempt has not counted yet; a later one reads whether an earlier one did.
    let key = delivery_key(job, e);
    let counted = job.attempts > 1
        && state
            .store
            .deliveries(std::slice::from_ref(&key))
            .await?
            .iter()
            .any(|d| d.channel == "email" && d.cap_counted);
    let capped = !matches!(e, EmailJob::DefaultsChanged { .. });
    if capped && !counted {
        let take = CapTake {
            address: to.email.clone(),
            type_id: type_id.clone(),
            day: varsel_core::schedule::utc_day(state.now()),
            cap: state.config.email_daily_cap,
            delivery: key.clone(),
        };
        let granted = state
            .recorder
            .caps
            .call(take)
            .await
            .map_err(JobError::retry)?;
        if !granted {
            metrics::counter!("varsel_emails_total", "outcome" => "dropped").increment(1);
            mark(fx, job, e, "dropped", Some("daily_cap"));
            return Ok(());
        }
    }

    let links = crate::links::email_links(state, &to, &type_id);
    links.add_to(&mut ctx);
    let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
    let content = state
        .email_templates
        .render(&kinds, &to.locale, &ctx)
        .map_err(JobError::permanent)?;
    let email = OutgoingEmail {
        from: state.config.email_from.clone(),
        to: to.email.clone(),
        to_name: to.name.clone(),
        message_id: format!("{key}.email@{}", id_domain(&state.config.email_from)),
        content,
        unsubscribe_url: links.unsubscribe.clone(),
    };
    let started = std::time::Instant::now();
    match &state.mailer {
        Mailer::Outbox => {
            let env = Envelope {
                account_id: &to.account_id,
                user_id: &to.id,
                type_id: &type_id,
                now: state.now(),
            };
            fx.outbox.push(outbox_row(&email, &env));
        }
        Mailer::Smtp(smtp) => {
            let permit = state
                .recorder
                .unrecorded_sends
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| JobError::retry("shutting down"))?;
            fx.hold.push(permit);
            if let Err(err) = smtp.send(&email).await {
                observe_send("email", started, "failed");
                if err.destination
                    && let Some(wait) = failed(state, smtp.destination(), None)
                {
                    return Err(wait);
                }
                return Err(if err.retryable {
                    JobError::retry(err.message)
                } else {
                    JobError::permanent(err.message)
                });
            }
            state.breakers.success(smtp.destination());
        }
    }
    observe_send("email", started, "sent");
    metrics::counter!("varsel_emails_total", "outcome" => "sent").increment(1);
    mark(fx, job, e, "sent", None);
    Ok(())
}
