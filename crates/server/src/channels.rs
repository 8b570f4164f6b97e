//! The delivery adapters of other apps and mobile, built once from the configuration:
//! Slack and Teams (per-account connections, their secrets sealed at rest), Web Push
//! (the VAPID key generated on first start and kept in the database), FCM and APNs
//! (configured per server: they belong to the host's mobile app).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use varsel_delivery::apns::{ApnsClient, ApnsKey};
use varsel_delivery::fcm::{FcmClient, ServiceAccount};
use varsel_delivery::guard::Guard;
use varsel_delivery::slack::SlackClient;
use varsel_delivery::teams::TeamsClient;
use varsel_delivery::webpush::{VapidKey, WebPushClient};
use varsel_store::Store;

use crate::config::Config;
use crate::secrets::Sealer;

/// The name the VAPID private key is stored under.
const VAPID_KEY: &str = "vapid_private_key";

pub struct Providers {
    /// Seals connection secrets; `None` when neither `secret_key` nor `token_secret` is
    /// set (a random per-process secret could not open them after a restart).
    pub sealer: Option<Sealer>,
    pub slack: SlackClient,
    pub teams: TeamsClient,
    pub webpush: WebPushClient,
    pub fcm: Option<Arc<FcmClient>>,
    pub apns: Option<Arc<ApnsClient>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("slack", &self.slack.base_url())
            .field("fcm", &self.fcm.is_some())
            .field("apns", &self.apns.is_some())
            .finish_non_exhaustive()
    }
}

/// The VAPID contact: configured, or `mailto:` the sender address of emails.
fn webpush_contact(cfg: &Config) -> String {
    if !cfg.webpush_contact.is_empty() {
        return cfg.webpush_contact.clone();
    }
    let from = &cfg.email_from;
    let addr = match (from.find('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => &from[a + 1..b],
        _ => from.as_str(),
    };
    format!("mailto:{}", addr.trim())
}

impl Providers {
    pub async fn build(
        cfg: &Config,
        store: &Arc<dyn Store>,
        now: i64,
    ) -> anyhow::Result<Providers> {
        let timeout = Duration::from_secs(cfg.channel_timeout_seconds);
        let key = if cfg.secret_key.is_empty() {
            &cfg.token_secret
        } else {
            &cfg.secret_key
        };
        let sealer = (!key.is_empty()).then(|| Sealer::new(key));
        let slack = SlackClient::new(&cfg.slack_api_url, timeout)
            .map_err(|e| anyhow::anyhow!("configuration setting `slack_api_url`: {e}"))?;
        // Teams webhooks and Web Push endpoints are set through the API: one guard keeps
        // them on allowed, public hosts (docs/SECURITY.md).
        let guard = Guard::new().allow_private(cfg.outbound_test_mode);
        let teams = TeamsClient::guarded(timeout, guard.clone().hosts(&cfg.teams_hosts))
            .map_err(|e| anyhow::anyhow!("the Teams HTTP client: {e}"))?;

        let fresh = VapidKey::generate()?;
        // Sealed like the connection secrets; without a configured secret (a random one
        // per run could not open it after a restart) it is kept as it is.
        let fresh_stored = match &sealer {
            Some(s) => s
                .seal("", VAPID_KEY, &fresh.private_key())
                .map_err(|e| anyhow::anyhow!("sealing the VAPID key: {e}"))?,
            None => fresh.private_key(),
        };
        let stored = store
            .server_key(VAPID_KEY, &fresh_stored, now)
            .await
            .context("loading the VAPID key")?;
        let opened = match &sealer {
            Some(s) if stored.starts_with("v1.") => s.open("", VAPID_KEY, &stored).map_err(|e| {
                anyhow::anyhow!(
                    "the stored VAPID key cannot be opened with this secret_key/token_secret: {e}"
                )
            })?,
            // Stored before keys were sealed, or without a configured secret.
            _ => stored,
        };
        let vapid = VapidKey::from_private_key(&opened).context("the stored VAPID key")?;
        let webpush = WebPushClient::guarded(
            vapid,
            &webpush_contact(cfg),
            timeout,
            guard.hosts(&cfg.webpush_hosts),
        )
        .map_err(|e| anyhow::anyhow!("configuration setting `webpush_contact`: {e}"))?;

        let fcm = if cfg.fcm_service_account.is_empty() {
            None
        } else {
            let json = Config::file_or_value(&cfg.fcm_service_account)
                .context("configuration setting `fcm_service_account`: reading the key file")?;
            let mut account = ServiceAccount::from_json(&json)
                .map_err(|e| anyhow::anyhow!("configuration setting `fcm_service_account`: {e}"))?;
            if !cfg.fcm_token_url.is_empty() {
                account.token_uri = cfg.fcm_token_url.clone();
            }
            Some(Arc::new(
                FcmClient::new(account, &cfg.fcm_api_url, timeout).map_err(|e| {
                    anyhow::anyhow!("configuration setting `fcm_service_account`: {e}")
                })?,
            ))
        };
        let apns = if cfg.apns_key.is_empty() {
            None
        } else {
            let pem = Config::file_or_value(&cfg.apns_key)
                .context("configuration setting `apns_key`: reading the key file")?;
            let key = ApnsKey::from_p8(&pem, &cfg.apns_key_id, &cfg.apns_team_id)
                .map_err(|e| anyhow::anyhow!("configuration setting `apns_key`: {e}"))?;
            Some(Arc::new(
                ApnsClient::new(key, &cfg.apns_topic, &cfg.apns_url, timeout)
                    .map_err(|e| anyhow::anyhow!("configuration setting `apns_key`: {e}"))?,
            ))
        };
        Ok(Providers {
            sealer,
            slack,
            teams,
            webpush,
            fcm,
            apns,
        })
    }

    /// Whether devices of `kind` can be delivered to by this server.
    pub fn accepts(&self, kind: &str) -> bool {
        match kind {
            "webpush" => true,
            "fcm" => self.fcm.is_some(),
            "apns" => self.apns.is_some(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vapid_contact_defaults_to_the_email_sender() {
        let mut c = Config::defaults();
        c.email_from = "Varsel <alerts@example.com>".into();
        assert_eq!(webpush_contact(&c), "mailto:alerts@example.com");
        c.email_from = "ops@example.com".into();
        assert_eq!(webpush_contact(&c), "mailto:ops@example.com");
        c.webpush_contact = "https://example.com/contact".into();
        assert_eq!(webpush_contact(&c), "https://example.com/contact");
    }
}
