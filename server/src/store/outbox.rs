//! The outbox as the rest of the server writes to it: events go in with the transaction of the
//! change that caused them, scheduled by the deployment's retry schedule, and this process's worker
//! is woken once they are committed (workers elsewhere find them when they next look).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::db::Write;
use super::events::Event;
use super::tenant::WorkspaceId;
use super::webhook_deliveries;
use crate::problem::ApiError;
use crate::webhooks::schedule::{self, RetrySchedule};

pub struct Outbox {
    schedule: RetrySchedule,
    committed: Arc<Notify>,
}

impl Outbox {
    pub fn new(schedule: RetrySchedule) -> Self {
        Self {
            schedule,
            committed: Arc::new(Notify::new()),
        }
    }

    pub fn schedule(&self) -> &RetrySchedule {
        &self.schedule
    }

    /// Writes `event` and its deliveries in `txn`; when it has any, this process's worker is woken
    /// once `txn` commits. An event no endpoint receives leaves the worker alone: waking it would
    /// cost a claim and a look at the queue for every such change, in a workspace without
    /// endpoints for every conversation created.
    pub async fn add(
        &self,
        txn: &Write,
        workspace: &WorkspaceId,
        event: &Event,
    ) -> Result<(), ApiError> {
        let (first_attempt_at, deadline) =
            self.first_attempt(event.created_at, rand::random_range(-1.0..=1.0));
        let queued =
            webhook_deliveries::enqueue(txn, workspace, event, first_attempt_at, deadline).await?;
        if queued > 0 {
            self.wake_after_commit(txn);
        }
        Ok(())
    }

    /// When the first attempt of an event that occurred at `at` is due, and the deadline of its
    /// last, [`schedule::WINDOW`] after the first is due before jitter.
    fn first_attempt(&self, at: DateTime<Utc>, jitter: f64) -> (DateTime<Utc>, DateTime<Utc>) {
        let first = self.schedule.delays()[0];
        let to_chrono = |delay| chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        (
            at + to_chrono(schedule::jittered(first, jitter)),
            at + to_chrono(first + schedule::WINDOW),
        )
    }

    /// Wakes this process's worker once `txn`, which made a delivery due, commits.
    pub fn wake_after_commit(&self, txn: &Write) {
        txn.wake_after_commit(&self.committed);
    }

    /// A delivery is due sooner than the worker knew, and committed: wake the worker.
    pub fn committed(&self) {
        self.committed.notify_one();
    }

    /// Waits until events are committed in this process.
    pub async fn wait_for_commits(&self) {
        self.committed.notified().await;
    }
}
