//! Group commits for the job engine: jobs hand in what they need written and wait; one
//! task writes everything handed in meanwhile in one transaction (one fsync) and answers
//! them all. While it writes, the next group gathers. Two groups run: job outcomes (the
//! attempt, the next state, delivery states, outbox rows) and daily-cap counts (taken
//! before an email is sent).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use varsel_store::{CapTake, JobOutcome, Store};

/// Most requests written in one transaction.
const MAX_GROUP: usize = 1024;

type Reply<R> = oneshot::Sender<Result<R, String>>;

/// A group of `Q` requests answered with `R` together: a group commit, or a batched read
/// (`lookup.rs`).
pub struct Group<Q, R> {
    tx: mpsc::Sender<(Q, Reply<R>)>,
}

impl<Q, R> Clone for Group<Q, R> {
    fn clone(&self) -> Self {
        Group {
            tx: self.tx.clone(),
        }
    }
}

impl<Q: Send + 'static, R: Send + 'static> Group<Q, R> {
    /// Starts the writer task; `write` writes one group and answers each request in order.
    pub fn start<F, Fut>(write: F) -> Group<Q, R>
    where
        F: Fn(Vec<Q>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<R>, String>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<(Q, Reply<R>)>(MAX_GROUP * 4);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(x) => group.push(x),
                        Err(_) => break,
                    }
                }
                let (reqs, replies): (Vec<Q>, Vec<Reply<R>>) = group.into_iter().unzip();
                match write(reqs).await {
                    Ok(answers) => {
                        for (reply, a) in replies.into_iter().zip(answers) {
                            let _ = reply.send(Ok(a));
                        }
                    }
                    Err(e) => {
                        for reply in replies {
                            let _ = reply.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Group { tx }
    }

    /// Hands in one request and waits until its group is written.
    pub async fn call(&self, q: Q) -> Result<R, String> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send((q, reply))
            .await
            .map_err(|_| "the writer stopped".to_string())?;
        rx.await.map_err(|_| "the writer stopped".to_string())?
    }
}

/// The engine's two group commits.
#[derive(Clone)]
pub struct Recorder {
    pub outcomes: Group<JobOutcome, ()>,
    pub caps: Group<CapTake, bool>,
    /// Emails handed to the SMTP server whose outcome is not written yet: a send takes a
    /// permit before it starts and gives it back once its outcome is committed. This
    /// bounds how many emails a crash can send twice (the server took them, the outcome
    /// was lost), however long the commit waits for the database.
    pub unrecorded_sends: Arc<tokio::sync::Semaphore>,
}

impl Recorder {
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn crate::clock::Clock>,
        max_unrecorded_sends: usize,
    ) -> Recorder {
        let (s1, c1) = (store.clone(), clock.clone());
        let outcomes = Group::start(move |v: Vec<JobOutcome>| {
            let (store, now) = (s1.clone(), c1.now_ms());
            async move {
                let n = v.len();
                store
                    .record_jobs(&v, now)
                    .await
                    .map(|()| vec![(); n])
                    .map_err(|e| e.to_string())
            }
        });
        let caps = Group::start(move |v: Vec<CapTake>| {
            let (store, now) = (store.clone(), clock.now_ms());
            async move {
                store
                    .take_email_caps(&v, now)
                    .await
                    .map_err(|e| e.to_string())
            }
        });
        Recorder {
            outcomes,
            caps,
            unrecorded_sends: Arc::new(tokio::sync::Semaphore::new(max_unrecorded_sends.max(1))),
        }
    }
}
