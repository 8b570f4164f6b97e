//! Snoozed bell items coming back. Snoozing an item schedules a `wake` job at the end of
//! the snooze; when it runs, the item returns unread at the top of the list (a new
//! position) and every open tab of the user, on any node, gets it as a new frame. A job
//! for an older snooze (the user snoozed again, or un-snoozed) finds nothing due and
//! does nothing.

use serde::{Deserialize, Serialize};
use varsel_store::{Job, JobKind, NewJob};

use super::{Effects, JobError, JobRun};
use crate::processor::shared::new_job;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WakeJob {
    pub account_id: String,
    pub user_id: String,
    pub notification_id: String,
    /// The snooze's end (Unix ms).
    pub until: i64,
}

/// The job that ends the snooze of `id` at `until`.
pub fn wake_job(account: &str, user: &str, id: &str, until: i64) -> NewJob {
    new_job(
        JobKind::Wake,
        format!("wake:{id}:{until}"),
        account,
        serde_json::json!({
            "account_id": account,
            "user_id": user,
            "notification_id": id,
            "until": until,
        }),
        until,
    )
}

#[async_trait::async_trait]
impl JobRun for WakeJob {
    const KIND: JobKind = JobKind::Wake;

    fn about(&self) -> (Option<&str>, Option<&str>) {
        (Some(&self.notification_id), None)
    }

    async fn run(&self, state: &AppState, _job: &Job, _fx: &mut Effects) -> Result<(), JobError> {
        let woken = state
            .store
            .wake(
                &self.account_id,
                &self.user_id,
                &self.notification_id,
                Some(self.until),
            )
            .await?;
        if let Some(item) = woken {
            crate::fanout::push(state, vec![item]).await;
        }
        Ok(())
    }
}
