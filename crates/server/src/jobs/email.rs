//! The email job: checks the daily cap, renders the email in the recipient's language
//! from the template files, sends it (SMTP or the local outbox) with a Message-ID that is
//! stable per delivery, and records the delivery state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use varsel_core::model::User;
use varsel_delivery::email::OutgoingEmail;
use varsel_store::{FeedItem, Job, NewJob};

use super::JobError;
use crate::mailer::Envelope;
use crate::processor::plan::new_job;
use crate::state::AppState;

/// What an email job sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "email", rename_all = "snake_case")]
pub enum EmailJob {
    /// One notification, or several replies of one thread (grouped).
    Notifications { ids: Vec<String> },
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
            "email",
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

fn preferences_url(state: &AppState) -> String {
    format!("{}/ui/preferences", state.config.base_url())
}

async fn user(state: &AppState, account: &str, id: &str) -> Result<Option<User>, JobError> {
    Ok(state.store.get_user(account, id).await?)
}

/// The key of the delivery that carries the cap flag and the Message-ID.
fn delivery_key(job: &Job, e: &EmailJob) -> String {
    match e {
        EmailJob::Notifications { ids } => ids.first().cloned().unwrap_or_else(|| job.id.clone()),
        _ => job.id.clone(),
    }
}

fn notification_ids(e: &EmailJob) -> Vec<String> {
    match e {
        EmailJob::Notifications { ids } => ids.clone(),
        _ => Vec::new(),
    }
}

/// Marks every notification of the job (or the job's own delivery) with a state.
async fn mark(
    state: &AppState,
    job: &Job,
    e: &EmailJob,
    st: &str,
    reason: Option<&str>,
    counted: bool,
) -> Result<(), JobError> {
    let now = state.now();
    let mut keys = notification_ids(e);
    if keys.is_empty() {
        keys.push(job.id.clone());
    }
    for k in keys {
        state
            .store
            .set_delivery(&k, "email", st, reason, counted, now)
            .await?;
    }
    Ok(())
}

/// Records a failed attempt on the deliveries: still pending (retrying) or failed.
pub async fn record_failure(
    state: &AppState,
    job: &Job,
    error: &str,
    dead: bool,
) -> Result<(), JobError> {
    let e: EmailJob = serde_json::from_value(job.payload.clone()).map_err(JobError::permanent)?;
    let key = delivery_key(job, &e);
    let counted = state
        .store
        .deliveries(&[key])
        .await?
        .first()
        .is_some_and(|d| d.cap_counted);
    let (st, reason) = if dead {
        ("failed", format!("gave up: {error}"))
    } else {
        ("pending", format!("retrying: {error}"))
    };
    mark(state, job, &e, st, Some(&reason), counted).await
}

/// Runs an email job.
pub async fn send(state: &AppState, job: &Job) -> Result<(), JobError> {
    let e: EmailJob = serde_json::from_value(job.payload.clone()).map_err(JobError::permanent)?;
    let (to, type_id, kinds, mut ctx) = match &e {
        EmailJob::Notifications { ids } => {
            let mut items: Vec<FeedItem> = Vec::new();
            for id in ids {
                if let Some(n) = state.store.notification(id).await? {
                    items.push(n);
                }
            }
            let Some(first) = items.first().cloned() else {
                return Ok(());
            };
            let Some(u) = user(state, &first.account_id, &first.user_id).await? else {
                return mark(state, job, &e, "dropped", Some("unknown_user"), false).await;
            };
            let ctx = serde_json::json!({
                "title": first.title, "body": first.body, "url": first.url, "count": first.count,
                "items": items.iter().map(|i| serde_json::json!({"title": i.title, "body": i.body, "url": i.url})).collect::<Vec<_>>(),
                "preferences_url": preferences_url(state),
                "recipient": {"name": u.name},
            });
            let kinds: Vec<String> = if items.len() > 1 {
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
            let Some(u) = user(state, &b.account_id, &b.user_id).await? else {
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
                "workflows": workflows, "total": items.len(), "preferences_url": preferences_url(state),
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
            let Some(u) = user(state, account_id, user_id).await? else {
                return Ok(());
            };
            let account_name = state
                .store
                .get_account(account_id)
                .await?
                .map(|a| a.name)
                .unwrap_or_default();
            let ctx = serde_json::json!({
                "account_name": account_name, "changed": changed, "preferences_url": preferences_url(state),
            });
            (
                u,
                "defaults_changed".to_string(),
                vec!["defaults_changed".into()],
                ctx,
            )
        }
    };

    // The daily cap counts each delivery once, even when its sending is retried.
    let key = delivery_key(job, &e);
    let counted = state
        .store
        .deliveries(std::slice::from_ref(&key))
        .await?
        .first()
        .is_some_and(|d| d.cap_counted);
    let capped = !matches!(e, EmailJob::DefaultsChanged { .. });
    if capped && !counted {
        let day = varsel_core::schedule::utc_day(state.now());
        if !state
            .store
            .take_email_cap(&to.email, &type_id, &day, state.config.email_daily_cap)
            .await?
        {
            metrics::counter!("varsel_emails_total", "outcome" => "dropped").increment(1);
            return mark(state, job, &e, "dropped", Some("daily_cap"), false).await;
        }
        state
            .store
            .set_delivery(&key, "email", "sending", None, true, state.now())
            .await?;
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
    let env = Envelope {
        account_id: &to.account_id,
        user_id: &to.id,
        type_id: &type_id,
        now: state.now(),
    };
    match state.mailer.send(&email, &env).await {
        Ok(()) => {
            metrics::counter!("varsel_emails_total", "outcome" => "sent").increment(1);
            mark(state, job, &e, "sent", None, capped).await
        }
        Err(err) => Err(JobError {
            retryable: err.retryable,
            message: err.message,
            after: None,
        }),
    }
}
