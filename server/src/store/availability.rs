//! Whether the database answers. A watch asks it every [`PROBE_INTERVAL`] over a connection of its
//! own (so a busy pool is not mistaken for a dead database), with [`PROBE_DEADLINE`] to answer.
//! While it does not, the HTTP layer refuses requests that need it at once (`503
//! database_unavailable` with `Retry-After`) instead of letting each wait for a connection that
//! will not come, answers so the requests it had let through (which would otherwise wait on a
//! connection that went quiet), and `/readyz` says so within its own deadline. Nothing is lost: a
//! refused request changed nothing (its transaction, if any, never commits), and the watch lets
//! requests through again as soon as the database answers.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tokio::sync::watch;

/// How often the watch asks.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// How long the database has to answer, connection included.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct Availability {
    /// Whether the database failed the last time it was asked.
    down: watch::Sender<bool>,
}

impl Default for Availability {
    fn default() -> Self {
        Self {
            down: watch::Sender::new(false),
        }
    }
}

impl Availability {
    /// Whether the database answered the last time it was asked.
    pub fn answering(&self) -> bool {
        !*self.down.borrow()
    }

    /// Returns once the database does not answer (at once if it already does not).
    pub async fn gone(&self) {
        let mut down = self.down.subscribe();
        // The sender lives as long as `self`, so the wait ends only when the database goes.
        let _ = down.wait_for(|down| *down).await;
    }

    /// Asks the database at `url` until the task is dropped.
    pub async fn watch(self: Arc<Self>, url: String) {
        let mut probe: Option<DatabaseConnection> = None;
        let mut every = tokio::time::interval(PROBE_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let answered =
                tokio::time::timeout(PROBE_DEADLINE, ask(&mut probe, &url)).await == Ok(true);
            if !answered {
                // A connection that did not answer in time may never do so: start afresh.
                probe = None;
            }
            let was_down = self.down.send_replace(!answered);
            match (was_down, answered) {
                (false, false) => tracing::error!(
                    "the database does not answer within {PROBE_DEADLINE:?}: refusing requests \
                     that need it (503 database_unavailable) until it does"
                ),
                (true, true) => tracing::info!("the database answers again"),
                _ => {}
            }
        }
    }
}

/// Whether the database answers a ping over the probe's connection, made first if need be.
async fn ask(probe: &mut Option<DatabaseConnection>, url: &str) -> bool {
    if probe.is_none() {
        let mut options = ConnectOptions::new(url);
        options
            .sqlx_logging(false)
            .max_connections(1)
            .min_connections(0)
            .connect_timeout(PROBE_DEADLINE)
            .acquire_timeout(PROBE_DEADLINE);
        *probe = Database::connect(options).await.ok();
    }
    match probe {
        Some(connection) => connection.ping().await.is_ok(),
        None => false,
    }
}
