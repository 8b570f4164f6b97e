//! Group commit for accepted events: concurrent requests queue their events; one task
//! writes everything queued so far in one transaction (one fsync) and answers them all.
//! While a commit runs the next group gathers, so throughput rises with load instead of
//! each request paying for its own sync.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc, oneshot};
use varsel_store::{Bus, BusMsg, Inserted, NewEvent, Store};

/// Most events written in one transaction.
const MAX_GROUP: usize = 4096;

struct Job {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Vec<Inserted>, String>>,
}

/// The handle requests use to submit events.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
}

impl Ingest {
    /// Starts the committer task; `wake` is signalled after each commit.
    /// Other nodes hear of new events through `bus`.
    pub fn start(
        store: Arc<dyn Store>,
        wake: Arc<Notify>,
        bus: Option<Arc<dyn Bus>>,
        node: String,
    ) -> Ingest {
        let (tx, rx) = mpsc::channel::<Job>(8192);
        tokio::spawn(run(store, rx, wake, bus, node));
        Ingest { tx }
    }

    /// Stores the events durably; returns once they are committed.
    pub async fn submit(&self, events: Vec<NewEvent>) -> Result<Vec<Inserted>, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { events, reply })
            .await
            .map_err(|_| "ingest stopped".to_string())?;
        rx.await.map_err(|_| "ingest stopped".to_string())?
    }
}

async fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Job>,
    wake: Arc<Notify>,
    bus: Option<Arc<dyn Bus>>,
    node: String,
) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        let started = std::time::Instant::now();
        // The group is taken once the writer is free: requests that arrive while another
        // transaction (the processor's) holds it join this commit.
        let mut counts: Vec<usize> = Vec::new();
        let mut gather = || {
            let mut size = jobs[0].events.len();
            while size < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => {
                        size += job.events.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            counts = jobs.iter().map(|j| j.events.len()).collect();
            jobs.iter_mut()
                .flat_map(|j| std::mem::take(&mut j.events))
                .collect()
        };
        let result = store.insert_events_gathered(&mut gather).await;
        let total: usize = counts.iter().sum();
        metrics::histogram!("varsel_ingest_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("varsel_ingest_group_size").record(total as f64);
        match result {
            Ok(inserted) => {
                let fresh = inserted.iter().filter(|i| !i.duplicate).count();
                metrics::counter!("varsel_events_accepted_total").increment(fresh as u64);
                let mut rest = inserted.into_iter();
                for (job, n) in jobs.into_iter().zip(counts) {
                    let part: Vec<Inserted> = rest.by_ref().take(n).collect();
                    let _ = job.reply.send(Ok(part));
                }
                wake.notify_one();
                if let Some(bus) = &bus
                    && let Err(e) = bus
                        .publish(&BusMsg::Events {
                            origin: node.clone(),
                        })
                        .await
                {
                    tracing::warn!(error = %e, "could not tell other nodes of new events");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = total, "event commit failed");
                for job in jobs {
                    let _ = job.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}
