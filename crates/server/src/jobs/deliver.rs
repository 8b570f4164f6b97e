//! The delivery job of Slack, Teams, mobile push and Web Push: one job per notification
//! and channel. It builds the message in the user's language (the notification's
//! rendered text, the unread count as badge, the type's sound), sends it through the
//! channel's adapter, prunes devices the provider reports gone, and records the delivery
//! state. A provider's `Retry-After` sets the next attempt.

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use varsel_core::model::User;
use varsel_delivery::apns::ApnsDevice;
use varsel_delivery::channel::{Channel as _, Message, Outcome};
use varsel_delivery::slack::{SlackTarget, SlackToken};
use varsel_delivery::teams::{TeamsTarget, TeamsWebhookUrl};
use varsel_delivery::webpush::PushSubscription;
use varsel_store::{Connection, Device, FeedItem, Job, JobKind, NewJob, UserLink};

use super::breaker::{failed, gate};
use super::observe_send;
use super::{Effects, JobError, JobErrorKind, JobRun};
use crate::processor::shared::new_job;
use crate::state::AppState;

/// What a delivery job sends: one notification on one channel (`slack`, `teams`,
/// `mobile` or `webpush`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliverJob {
    pub notification_id: String,
    pub channel: String,
    /// The type's sound for the user, decided with the notification.
    #[serde(default)]
    pub sound: Option<String>,
}

impl DeliverJob {
    pub fn job(
        account: &str,
        notification_id: &str,
        channel: &str,
        sound: &str,
        run_at: i64,
    ) -> NewJob {
        new_job(
            JobKind::Deliver,
            format!("deliver:{notification_id}:{channel}"),
            account,
            serde_json::json!({
                "notification_id": notification_id, "channel": channel, "sound": sound,
            }),
            run_at,
        )
    }
}

/// How many sends of each channel run at once on this node.
pub struct ChannelLimits {
    slack: Semaphore,
    teams: Semaphore,
    webpush: Semaphore,
    mobile: Semaphore,
}

impl ChannelLimits {
    pub fn new(per_channel: usize) -> ChannelLimits {
        let n = per_channel.max(1);
        ChannelLimits {
            slack: Semaphore::new(n),
            teams: Semaphore::new(n),
            webpush: Semaphore::new(n),
            mobile: Semaphore::new(n),
        }
    }

    fn of(&self, channel: &str) -> Option<&Semaphore> {
        match channel {
            "slack" => Some(&self.slack),
            "teams" => Some(&self.teams),
            "webpush" => Some(&self.webpush),
            "mobile" => Some(&self.mobile),
            _ => None,
        }
    }
}

fn set(fx: &mut Effects, d: &DeliverJob, st: &str, reason: Option<&str>) -> Result<(), JobError> {
    fx.delivery(&d.notification_id, &d.channel, st, reason);
    Ok(())
}

/// Tells the destination's circuit breaker how a send went: a retryable outcome (no
/// answer, 5xx, 429) is the destination failing; any other answer is it working. A
/// failure while the breaker is already open returns the wait to take instead.
fn observe(
    state: &AppState,
    dest: &str,
    channel: &'static str,
    started: std::time::Instant,
    outcome: &Outcome,
) -> Option<JobError> {
    match outcome {
        Outcome::Retry { after, .. } => {
            observe_send(channel, started, "retry");
            failed(state, dest, *after)
        }
        Outcome::Delivered => {
            state.breakers.success(dest);
            observe_send(channel, started, "delivered");
            None
        }
        Outcome::Permanent { .. } | Outcome::Gone { .. } => {
            state.breakers.success(dest);
            observe_send(channel, started, "refused");
            None
        }
    }
}

/// The host of a URL, the circuit breaker's key for per-address providers.
fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?', '#']).next())
        .map(|h| h.rsplit('@').next().unwrap_or(h).to_ascii_lowercase())
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl JobRun for DeliverJob {
    const KIND: JobKind = JobKind::Deliver;

    fn about(&self) -> (Option<&str>, Option<&str>) {
        (Some(&self.notification_id), Some(&self.channel))
    }

    /// A failed attempt on the delivery: `retrying`, `waiting` (destination backed off),
    /// or `failed` when given up.
    fn failed(&self, _job: &Job, error: &JobError, dead: bool, fx: &mut Effects) {
        let st = match error.kind {
            JobErrorKind::Wait(_) => "waiting",
            _ if dead => "failed",
            _ => "retrying",
        };
        fx.delivery(
            &self.notification_id,
            &self.channel,
            st,
            Some(&error.message),
        );
    }

    async fn run(&self, state: &AppState, _job: &Job, fx: &mut Effects) -> Result<(), JobError> {
        let _permit = match state.channel_limits.of(&self.channel) {
            Some(s) => Some(
                s.acquire()
                    .await
                    .map_err(|_| JobError::retry("shutting down"))?,
            ),
            None => None,
        };
        send(state, self, fx).await
    }
}

/// The message of a notification for one channel: its rendered text (already in the
/// user's language), the unread count as badge (push only), the sound decided with it.
async fn message(
    state: &AppState,
    n: &FeedItem,
    user: &User,
    d: &DeliverJob,
) -> Result<Message, JobError> {
    // Only push shows a badge; Slack and Teams have their own unread marks.
    let badge = match d.channel.as_str() {
        "webpush" | "mobile" => Some(state.store.unread_count(&n.account_id, &n.user_id).await?),
        _ => None,
    };
    Ok(Message {
        id: format!("{}:{}", n.id, d.channel),
        title: n.title.clone(),
        body: n.body.clone(),
        url: n.url.clone(),
        sound: d.sound.clone().or_else(|| n.popup_sound.clone()),
        badge,
        locale: user.locale.clone(),
    })
}

/// Turns an adapter's outcome into the job's result and the delivery's state.
fn settle(fx: &mut Effects, d: &DeliverJob, outcome: Outcome) -> Result<(), JobError> {
    match outcome {
        Outcome::Delivered => set(fx, d, "delivered", None),
        Outcome::Retry { after, reason } => Err(JobError::retry(reason).after(after)),
        Outcome::Permanent { reason } => Err(JobError::permanent(reason)),
        Outcome::Gone { reason } => set(fx, d, "failed", Some(&format!("gone: {reason}"))),
    }
}

async fn send(state: &AppState, d: &DeliverJob, fx: &mut Effects) -> Result<(), JobError> {
    let Some(n) = state.lookups.notification(&d.notification_id).await? else {
        return Ok(());
    };
    let Some(user) = state.lookups.user(&n.account_id, &n.user_id).await? else {
        return set(fx, d, "skipped", Some("unknown_user"));
    };
    let msg = message(state, &n, &user, d).await?;
    match d.channel.as_str() {
        "slack" => slack(state, d, &user, &msg, fx).await,
        "teams" => teams(state, d, &user, &msg, fx).await,
        "webpush" | "mobile" => devices(state, d, &user, &msg, fx).await,
        other => Err(JobError::permanent(format!("unknown channel `{other}`"))),
    }
}

/// Opens an account's connection secret (sealed by `secrets.rs`).
fn open_secret(state: &AppState, c: &Connection) -> Result<String, JobError> {
    let sealer =
        state.providers.sealer.as_ref().ok_or_else(|| {
            JobError::permanent("no secret_key configured to open the connection")
        })?;
    sealer
        .open(&c.account_id, &c.provider, &c.secret)
        .map_err(JobError::permanent)
}

/// The account's connection secret, opened; `None` (and the delivery skipped) when the
/// account is not connected.
async fn secret(
    state: &AppState,
    d: &DeliverJob,
    account: &str,
    provider: &str,
    fx: &mut Effects,
) -> Result<Option<String>, JobError> {
    let Some(c) = state.store.connection(account, provider).await? else {
        let reason = format!("not_connected:{provider}");
        set(fx, d, "skipped", Some(&reason))?;
        return Ok(None);
    };
    open_secret(state, &c).map(Some)
}

/// Remembers whom `user`'s current address matched in Slack (`None`: nobody).
async fn remember_match(
    state: &AppState,
    user: &User,
    external_id: Option<String>,
) -> Result<(), JobError> {
    let link = UserLink {
        user_id: user.id.clone(),
        provider: "slack".into(),
        email: user.email.clone(),
        external_id,
        checked_at: state.now(),
    };
    state.store.put_user_link(&user.account_id, &link).await?;
    Ok(())
}

async fn slack(
    state: &AppState,
    d: &DeliverJob,
    user: &User,
    msg: &Message,
    fx: &mut Effects,
) -> Result<(), JobError> {
    let dest = format!("slack:{}", host_of(state.providers.slack.base_url()));
    gate(state, &dest)?;
    let Some(token) = secret(state, d, &user.account_id, "slack", fx).await? else {
        return Ok(());
    };
    let token = SlackToken::new(token);
    let links = state
        .store
        .user_links(&user.account_id, "slack", std::slice::from_ref(&user.id))
        .await?;
    let known = links.into_iter().find(|l| l.is_for(&user.email));
    let slack_id = match known {
        Some(l) => l.external_id,
        None => match_once(state, &token, user).await?,
    };
    let Some(slack_id) = slack_id else {
        return set(fx, d, "skipped", Some("not_connected:slack"));
    };
    let target = SlackTarget {
        token,
        user_id: slack_id,
    };
    let started = std::time::Instant::now();
    let outcome = state.providers.slack.deliver(&target, msg).await;
    if let Some(wait) = observe(state, &dest, "slack", started, &outcome) {
        return Err(wait);
    }
    if matches!(outcome, Outcome::Gone { .. }) {
        // The Slack user is gone: not connected until a lookup finds them again.
        remember_match(state, user, None).await?;
    }
    settle(fx, d, outcome)
}

/// The user's Slack match for their current address, looked up once on every node:
/// deliveries of a user not matched yet (a burst of notifications, on several nodes) take
/// turns on the match lock, and whoever gets it after the lookup reads its answer instead
/// of asking Slack again (`users.lookupByEmail` is rate limited per workspace).
async fn match_once(
    state: &AppState,
    token: &SlackToken,
    user: &User,
) -> Result<Option<String>, JobError> {
    let current = || async {
        let links = state
            .store
            .user_links(&user.account_id, "slack", std::slice::from_ref(&user.id))
            .await?;
        Ok::<_, JobError>(links.into_iter().find(|l| l.is_for(&user.email)))
    };
    loop {
        if let Some(lock) = state
            .store
            .try_lock_match(&user.account_id, &user.id, "slack")
            .await?
        {
            // Read again under the lock: the caller's read may predate a lookup that ended.
            let found = match current().await? {
                Some(l) => Ok(l.external_id),
                None => match_user(state, token, user).await,
            };
            lock.release().await?;
            return found;
        }
        // Another delivery is looking the user up; its answer is stored before it lets go.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if let Some(l) = current().await? {
            return Ok(l.external_id);
        }
    }
}

/// Looks the user up in Slack by email and remembers the answer (found or not).
pub async fn match_user(
    state: &AppState,
    token: &SlackToken,
    user: &User,
) -> Result<Option<String>, JobError> {
    if user.email.is_empty() {
        return Ok(None);
    }
    let found = match state
        .providers
        .slack
        .lookup_by_email(token, &user.email)
        .await
    {
        Ok(found) => found,
        Err(e) => {
            return Err(match e.outcome() {
                Outcome::Retry { after, reason } => JobError::retry(reason).after(after),
                other => JobError::permanent(format!("{other:?}")),
            });
        }
    };
    remember_match(state, user, found.clone()).await?;
    Ok(found)
}

async fn teams(
    state: &AppState,
    d: &DeliverJob,
    user: &User,
    msg: &Message,
    fx: &mut Effects,
) -> Result<(), JobError> {
    let Some(url) = secret(state, d, &user.account_id, "teams", fx).await? else {
        return Ok(());
    };
    if user.email.is_empty() {
        return set(fx, d, "skipped", Some("no_email"));
    }
    let dest = format!("teams:{}", host_of(&url));
    gate(state, &dest)?;
    let target = TeamsTarget {
        webhook: TeamsWebhookUrl::new(url),
        recipient_email: user.email.clone(),
    };
    let started = std::time::Instant::now();
    let outcome = state.providers.teams.post(&target, msg).await;
    if let Some(wait) = observe(state, &dest, "teams", started, &outcome) {
        return Err(wait);
    }
    settle(fx, d, outcome)
}

/// Of two waits, the one that ends first.
fn earliest(a: Option<JobError>, b: JobError) -> JobError {
    match (a, &b.kind) {
        (
            Some(
                a @ JobError {
                    kind: JobErrorKind::Wait(x),
                    ..
                },
            ),
            JobErrorKind::Wait(y),
        ) if x <= *y => a,
        _ => b,
    }
}

/// The circuit breaker's key of a device: its push service's host (Web Push), or the
/// provider (FCM, APNs).
fn device_destination(dev: &Device) -> String {
    match dev.kind.as_str() {
        "webpush" => format!(
            "webpush:{}",
            host_of(dev.data["endpoint"].as_str().unwrap_or_default())
        ),
        other => other.to_string(),
    }
}

/// Sends to one device with its kind's adapter; `None` when this server cannot send to
/// that kind (FCM or APNs not configured).
async fn to_device(state: &AppState, dev: &Device, msg: &Message) -> Option<Outcome> {
    let p = &state.providers;
    Some(match dev.kind.as_str() {
        "webpush" => match serde_json::from_value::<PushSubscription>(dev.data.clone()) {
            Ok(sub) => p.webpush.deliver(&sub, msg).await,
            Err(e) => Outcome::Gone {
                reason: format!("unreadable subscription: {e}"),
            },
        },
        "fcm" => p.fcm.as_ref()?.deliver(&dev.token, msg).await,
        "apns" => {
            let device = ApnsDevice {
                token: dev.token.clone(),
                topic: dev.app_id.clone(),
            };
            p.apns.as_ref()?.deliver(&device, msg).await
        }
        _ => return None,
    })
}

/// Web Push or mobile: every device of the kind(s). Delivered when any device took it;
/// devices reported gone are removed; retried (at the longest `Retry-After`) only when
/// no device took it and one may later. A device whose push service is backed off is
/// not tried; when every device's is, the job waits for the earliest.
async fn devices(
    state: &AppState,
    d: &DeliverJob,
    user: &User,
    msg: &Message,
    fx: &mut Effects,
) -> Result<(), JobError> {
    let all = state
        .store
        .devices(&user.account_id, std::slice::from_ref(&user.id))
        .await?;
    let mine: Vec<&Device> = all
        .iter()
        .filter(|dev| match d.channel.as_str() {
            "webpush" => dev.kind == "webpush",
            _ => dev.kind == "fcm" || dev.kind == "apns",
        })
        .collect();
    let (mut delivered, mut retry, mut failed) =
        (0, None::<(Option<std::time::Duration>, String)>, Vec::new());
    let (mut tried, mut waiting) = (0, None::<JobError>);
    let channel: &'static str = if d.channel == "webpush" {
        "webpush"
    } else {
        "mobile"
    };
    for dev in mine {
        let dest = device_destination(dev);
        if let Err(w) = gate(state, &dest) {
            waiting = Some(earliest(waiting, w));
            continue;
        }
        let started = std::time::Instant::now();
        let Some(outcome) = to_device(state, dev, msg).await else {
            continue;
        };
        if let Some(w) = observe(state, &dest, channel, started, &outcome) {
            waiting = Some(earliest(waiting, w));
            continue;
        }
        tried += 1;
        match outcome {
            Outcome::Delivered => delivered += 1,
            Outcome::Retry { after, reason } => {
                let later = retry.as_ref().and_then(|(a, _)| *a).max(after);
                retry = Some((later, reason));
            }
            Outcome::Permanent { reason } => failed.push(reason),
            Outcome::Gone { reason } => {
                tracing::info!(device.id = %dev.id, device.kind = %dev.kind, "pruning a device the provider reports gone");
                state
                    .store
                    .delete_device_token(&dev.kind, &dev.token)
                    .await?;
                failed.push(format!("gone: {reason}"));
            }
        }
    }
    if delivered > 0 {
        let note = (delivered < tried).then(|| format!("{delivered} of {tried} devices"));
        return set(fx, d, "delivered", note.as_deref());
    }
    if let Some((after, reason)) = retry {
        return Err(JobError::retry(reason).after(after));
    }
    if let Some(w) = waiting {
        return Err(w);
    }
    if tried == 0 {
        let reason = if d.channel == "webpush" {
            "no_device:webpush"
        } else {
            "no_device:mobile"
        };
        return set(fx, d, "skipped", Some(reason));
    }
    set(fx, d, "failed", Some(&failed.join("; ")))
}

/// The job that matches every user of an account to their Slack user after Slack is
/// connected, so preferences show who is connected before anything is sent. Users
/// matched for their current address are skipped, so a retried job (after Slack's rate
/// limit) carries on where it stopped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SlackMatchJob {
    pub account_id: String,
}

pub fn match_job(account: &str, now: i64) -> NewJob {
    new_job(
        JobKind::SlackMatch,
        format!("slack_match:{account}:{now}"),
        account,
        serde_json::json!({ "account_id": account }),
        now,
    )
}

#[async_trait::async_trait]
impl JobRun for SlackMatchJob {
    const KIND: JobKind = JobKind::SlackMatch;

    async fn run(&self, state: &AppState, _job: &Job, _fx: &mut Effects) -> Result<(), JobError> {
        let account = self.account_id.as_str();
        let Some(c) = state.store.connection(account, "slack").await? else {
            return Ok(());
        };
        let token = SlackToken::new(open_secret(state, &c)?);
        let users: Vec<User> = state
            .store
            .account_users(account)
            .await?
            .into_iter()
            .map(|(u, _)| u)
            .filter(|u| !u.email.is_empty())
            .collect();
        let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        let links = state.store.user_links(account, "slack", &ids).await?;
        for u in &users {
            let current = links
                .iter()
                .any(|l| l.user_id == u.id && l.is_for(&u.email));
            if !current {
                match_once(state, &token, u).await?;
            }
        }
        Ok(())
    }
}
