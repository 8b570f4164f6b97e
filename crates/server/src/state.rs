//! The state every handler and worker shares.

use std::collections::HashSet;
use std::ops::Deref;
use std::sync::{Arc, RwLock};

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;
use varsel_core::Catalog;
use varsel_core::render::Renderer;
use varsel_store::{Bus, Store};

use crate::auth::Tokens;
use crate::clock::Clock;
use crate::config::Config;
use crate::hub::Hub;
use crate::ingest::Ingest;

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub catalog: Arc<Catalog>,
    pub renderer: Renderer,
    pub hub: Hub,
    pub ingest: Ingest,
    pub tokens: Tokens,
    /// Signs and checks the links in emails.
    pub links: crate::links::Links,
    pub api_key: Option<String>,
    pub clock: Arc<dyn Clock>,
    pub metrics: PrometheusHandle,
    /// Wakes the event processor.
    pub wake: Arc<Notify>,
    /// Wakes the job worker.
    pub jobs_wake: Arc<Notify>,
    pub mailer: crate::mailer::Mailer,
    pub email_templates: varsel_delivery::email::EmailTemplates,
    /// This node's id on the bus.
    pub node_id: String,
    /// This process's id on the bus (changes when the node restarts).
    pub instance: String,
    /// The bus to other nodes (PostgreSQL), if any.
    pub bus: Option<Arc<dyn Bus>>,
    /// Accounts known to exist (only ever added: accounts are not deleted).
    pub known_accounts: RwLock<HashSet<String>>,
    /// Slack, Teams, Web Push, FCM and APNs.
    pub providers: crate::channels::Providers,
    /// Request rate limits of this node.
    pub limits: crate::limits::Limits,
    /// The job engine's group commits (outcomes, daily-cap counts).
    pub recorder: crate::jobs::record::Recorder,
    /// The job engine's batched reads (notifications, recipients).
    pub lookups: crate::jobs::lookup::Lookups,
    /// Account facts kept between processing rounds.
    pub facts: crate::processor::shared::FactsCache,
    /// Circuit breakers per destination.
    pub breakers: crate::jobs::breaker::Breakers,
    /// Sends of each other-apps and push channel running at once.
    pub channel_limits: crate::jobs::deliver::ChannelLimits,
    /// New feed items on their way to open streams.
    pub fanout: crate::fanout::Fanout,
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Whether the account exists, from memory when seen before.
    pub async fn account_exists(&self, id: &str) -> Result<bool, varsel_store::StoreError> {
        if self
            .known_accounts
            .read()
            .map(|s| s.contains(id))
            .unwrap_or(false)
        {
            return Ok(true);
        }
        let found = self.store.get_account(id).await?.is_some();
        if found {
            self.remember_account(id);
        }
        Ok(found)
    }

    pub fn remember_account(&self, id: &str) {
        if let Ok(mut s) = self.known_accounts.write() {
            s.insert(id.to_string());
        }
    }
}
