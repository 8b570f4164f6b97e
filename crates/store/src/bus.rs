//! The bus between Varsel nodes that share one PostgreSQL database: `NOTIFY` carries
//! small messages (ids, never payloads), every node `LISTEN`s. SQLite has one node and no
//! bus.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::mpsc;

/// The `LISTEN/NOTIFY` channel name.
const CHANNEL: &str = "varsel";
/// NOTIFY payloads must stay under 8,000 bytes; ids are about 30 bytes.
const IDS_PER_MESSAGE: usize = 150;

/// What one node tells the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BusMsg {
    /// New feed items (notification ids) to push to open streams.
    Feed { origin: String, ids: Vec<String> },
    /// A user's unread count changed (read, read-all).
    Unread {
        origin: String,
        account: String,
        user: String,
    },
    /// New events were accepted: wake the processors.
    Events { origin: String },
}

impl BusMsg {
    pub fn origin(&self) -> &str {
        match self {
            BusMsg::Feed { origin, .. }
            | BusMsg::Unread { origin, .. }
            | BusMsg::Events { origin } => origin,
        }
    }
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    async fn publish(&self, msg: &BusMsg) -> crate::Result<()>;
    /// A stream of every message published by any node (including this one).
    async fn subscribe(&self) -> crate::Result<mpsc::Receiver<BusMsg>>;
}

/// `NOTIFY` / `LISTEN` on PostgreSQL.
pub struct PgBus {
    pool: PgPool,
}

impl PgBus {
    pub fn new(pool: PgPool) -> PgBus {
        PgBus { pool }
    }

    async fn notify(&self, msg: &BusMsg) -> crate::Result<()> {
        // A notification carries ids of rows already committed durably; its own commit
        // need not wait for the WAL flush (an fsync per message otherwise). Listeners
        // get it at commit either way.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(serde_json::to_string(msg)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl Bus for PgBus {
    async fn publish(&self, msg: &BusMsg) -> crate::Result<()> {
        match msg {
            BusMsg::Feed { origin, ids } if ids.len() > IDS_PER_MESSAGE => {
                for chunk in ids.chunks(IDS_PER_MESSAGE) {
                    self.notify(&BusMsg::Feed {
                        origin: origin.clone(),
                        ids: chunk.to_vec(),
                    })
                    .await?;
                }
                Ok(())
            }
            _ => self.notify(msg).await,
        }
    }

    async fn subscribe(&self) -> crate::Result<mpsc::Receiver<BusMsg>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(async move {
            loop {
                // `recv` reconnects by itself after a lost connection.
                match listener.recv().await {
                    Ok(n) => match serde_json::from_str::<BusMsg>(n.payload()) {
                        Ok(msg) => {
                            if tx.send(msg).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "unreadable bus message"),
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "bus listener error; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    }
                }
            }
        });
        Ok(rx)
    }
}
