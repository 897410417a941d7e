//! The outbox as the rest of the server writes to it: events go in with the transaction of the
//! change that caused them, scheduled by the deployment's retry schedule, and this process's worker
//! is woken once they are committed (workers elsewhere find them when they next look).

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use tokio::sync::Notify;

use super::events::Event;
use super::tenant::WorkspaceId;
use super::webhook_deliveries;
use crate::problem::ApiError;
use crate::webhooks::schedule::{self, RetrySchedule};

pub struct Outbox {
    schedule: RetrySchedule,
    committed: Notify,
}

impl Outbox {
    pub fn new(schedule: RetrySchedule) -> Self {
        Self {
            schedule,
            committed: Notify::new(),
        }
    }

    pub fn schedule(&self) -> &RetrySchedule {
        &self.schedule
    }

    /// Writes `event` and its deliveries in `txn`. Call [`Self::committed`] after the commit.
    pub async fn add(
        &self,
        txn: &impl ConnectionTrait,
        workspace: &WorkspaceId,
        event: &Event,
    ) -> Result<(), ApiError> {
        let (first_attempt_at, deadline) =
            self.first_attempt(event.created_at, rand::random_range(-1.0..=1.0));
        webhook_deliveries::enqueue(txn, workspace, event, first_attempt_at, deadline).await?;
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

    /// Events were committed: wake this process's worker.
    pub fn committed(&self) {
        self.committed.notify_one();
    }

    /// Waits until events are committed in this process.
    pub async fn wait_for_commits(&self) {
        self.committed.notified().await;
    }
}
