//! The delivery worker: claims due deliveries from the outbox, sends each attempt, and records what
//! came of it. `serve` runs one unless told not to; `hoverbot worker` runs one on its own. Any
//! number may run against one database: claims are leased, so each attempt is made once, and a
//! worker that dies mid-attempt loses only its lease (the delivery is claimed again when the lease
//! runs out, and the receiver sees the same `webhook-id` again). A worker told to stop claims
//! nothing more, finishes the attempts in flight (each bounded by the attempt timeout) and records
//! them, so that a restart neither abandons an attempt nor makes it twice.
//!
//! Attempts run concurrently, up to [`MAX_IN_FLIGHT`], shared out among workspaces, endpoints and
//! receiving hosts ([`super::shares`]) so that no tenant's slow receivers hold every slot; their
//! results are written in batches, one transaction each, so that a busy outbox costs few commits.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use hoverbot_api::DisabledReason;
use sea_orm::DbErr;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;

use super::attempt::{Control, Sender};
use super::shares::{Limits, Share, Shares};
use crate::metrics::Metrics;
use crate::sealing::Sealer;
use crate::store::Db;
use crate::store::outbox::Outbox;
use crate::store::webhook_deliveries::{self, Attempted, Claimed, Next, Verdict};
use crate::store::webhook_endpoints;
use crate::webhooks::ATTEMPT_TIMEOUT;

/// Attempts in flight at once, per worker.
pub const MAX_IN_FLIGHT: usize = 128;
/// How the slots are shared out: an endpoint takes at most a few (a receiver that answers at once
/// needs no more to keep up with thousands of events a second); a workspace's endpoints at one
/// host start with a few more, down to a couple while the host hangs and up to the workspace's
/// limit while it answers at once; and a workspace takes at most half, so that the other half is
/// always there for the rest.
pub const LIMITS: Limits = Limits {
    per_endpoint: 16,
    per_host: 32,
    host_floor: 2,
    per_workspace: MAX_IN_FLIGHT / 2,
};
/// How long a claim holds a delivery: the attempt's timeout and ample time to record it.
const LEASE: Duration = Duration::from_secs(4 * ATTEMPT_TIMEOUT.as_secs());
/// The longest a worker waits before looking for due deliveries again; commits in this process and
/// the earliest scheduled attempt wake it sooner.
const POLL: Duration = Duration::from_millis(500);
/// How many attempts in flight must end before the slots and shares they free are claimed again
/// (or all of them, if fewer are in flight): deliveries the shares held back wait for a claim that
/// leases several at once, not one small transaction per attempt that ends. New events and due
/// retries are claimed at once.
const CLAIM_AFTER: usize = 16;
/// How long a worker backs off after the database failed it.
const BACKOFF: Duration = Duration::from_secs(1);
/// Most results written in one transaction.
const RECORD_BATCH: usize = 256;
/// How often a batch of results is offered to the database.
const RECORD_TRIES: u32 = 5;
/// How often the queue gauges are read.
const QUEUE_READ_INTERVAL: Duration = Duration::from_secs(5);

pub struct Worker {
    pub db: Db,
    pub outbox: Arc<Outbox>,
    pub sender: Arc<Sender>,
    pub sealer: Arc<Sealer>,
    pub metrics: Arc<Metrics>,
}

/// The attempts that ended since the last claim, and a wake-up for each.
#[derive(Default)]
struct Freed {
    count: AtomicUsize,
    notify: Notify,
}

impl Worker {
    /// Delivers until `stop` completes, then drains: no more claims, the attempts in flight
    /// finish and are recorded, and `run` returns. Dropping the future instead abandons the
    /// attempts in flight; their leases run out and another worker makes them again.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let worker = Arc::new(self);
        let (finished, results) = mpsc::channel(MAX_IN_FLIGHT);
        let mut tasks = JoinSet::new();
        tasks.spawn(worker.clone().record(results));
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let shares = Shares::new(LIMITS);
        // An attempt ended: its slot and its share are free, which may let a held-back one go.
        let freed = Arc::new(Freed::default());
        let lease = chrono::Duration::from_std(LEASE).expect("the lease fits");
        // `stop` is heeded only while waiting, never between a claim and its attempts, which
        // would leave the claimed deliveries leased and unsent.
        loop {
            // Wait for a free slot, then claim as many deliveries as there are free slots and
            // shares allow.
            tokio::select! {
                biased;
                () = &mut stop => break,
                slot = slots.acquire() => drop(slot),
            }
            freed.count.store(0, Ordering::Relaxed);
            let free = slots.available_permits();
            let claimed = match worker.claim(&shares, free, lease).await {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::warn!("webhook worker: cannot claim deliveries: {err}");
                    tokio::time::sleep(BACKOFF).await;
                    continue;
                }
            };
            let more = claimed.len() == free;
            for (claimed, share) in claimed {
                let permit = slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let worker = worker.clone();
                let finished = finished.clone();
                let freed = freed.clone();
                tasks.spawn(async move {
                    let started = Instant::now();
                    let attempted = worker.attempt(claimed).await;
                    share.ended(started.elapsed());
                    // The recorder ends only with this worker.
                    let _ = finished.send(attempted).await;
                    drop(permit);
                    freed.count.fetch_add(1, Ordering::Relaxed);
                    freed.notify.notify_one();
                });
            }
            while tasks.try_join_next().is_some() {}
            if !more {
                tokio::select! {
                    biased;
                    () = &mut stop => break,
                    () = worker.idle(&freed, MAX_IN_FLIGHT - slots.available_permits()) => {}
                }
            }
        }
        let in_flight = MAX_IN_FLIGHT - slots.available_permits();
        tracing::info!(
            in_flight,
            "webhook worker: stopping once the attempts in flight are recorded"
        );
        // The recorder ends once every attempt has sent its result and this sender is gone.
        drop(finished);
        while tasks.join_next().await.is_some() {}
    }

    /// Leases up to `free` due deliveries, as `shares` allow; each with its share.
    async fn claim(
        &self,
        shares: &Arc<Shares>,
        free: usize,
        lease: chrono::Duration,
    ) -> Result<Vec<(Claimed, Share)>, DbErr> {
        let now = Utc::now();
        let full = shares.full();
        let due = webhook_deliveries::due(&self.db, now, LIMITS.per_endpoint as u64, &full).await?;
        let mut chosen = shares.pick(due, free);
        let ids = chosen.iter().map(|(due, _)| due.id.clone()).collect();
        let claimed = webhook_deliveries::lease(&self.db, ids, now, lease).await?;
        // Each claimed delivery keeps its share; those another worker took give theirs back.
        Ok(claimed
            .into_iter()
            .filter_map(|claimed| {
                let at = chosen
                    .iter()
                    .position(|(due, _)| due.id == claimed.delivery.id)?;
                Some((claimed, chosen.swap_remove(at).1))
            })
            .collect())
    }

    /// Waits for commits in this process, for enough of the `in_flight` attempts to end that a
    /// claim is worth its transaction (see [`Freed`]), or for the next delivery to fall due; at
    /// most [`POLL`].
    async fn idle(&self, freed: &Freed, in_flight: usize) {
        let now = Utc::now();
        let wait = match webhook_deliveries::next_due(&self.db, now).await {
            Ok(Some(due)) => (due - now).to_std().unwrap_or_default().min(POLL),
            Ok(None) => POLL,
            Err(err) => {
                tracing::warn!("webhook worker: cannot read the queue: {err}");
                BACKOFF
            }
        };
        let enough = in_flight.clamp(1, CLAIM_AFTER);
        let ended = async {
            while freed.count.load(Ordering::Relaxed) < enough {
                freed.notify.notified().await;
            }
        };
        tokio::select! {
            () = self.outbox.wait_for_commits() => {}
            () = ended => {}
            () = tokio::time::sleep(wait) => {}
        }
    }

    /// Makes one attempt and decides what follows it.
    async fn attempt(&self, claimed: Claimed) -> Attempted {
        let Claimed {
            delivery,
            body,
            endpoint,
        } = claimed;
        let attempted_at = Utc::now();
        let health_at_claim = webhook_endpoints::health(&endpoint);
        let not_sent = |error: String| Attempted {
            delivery: delivery.clone(),
            attempted_at,
            status_code: None,
            duration_ms: 0,
            error: Some(error),
            response_snippet: String::new(),
            next: Next::Failed,
            verdict: Verdict::Unjudged,
            health_at_claim,
        };
        if !endpoint.enabled {
            return not_sent("not sent: the endpoint is disabled".to_string());
        }
        let secrets =
            match webhook_endpoints::signing_secrets(&self.sealer, &endpoint, attempted_at) {
                Ok(secrets) => secrets,
                Err(err) => {
                    tracing::error!("webhook worker: {err}");
                    return not_sent("not sent: the signing secret cannot be opened".to_string());
                }
            };
        let outcome = self
            .sender
            .send(&endpoint.url, &delivery.event_id, &secrets, body.as_bytes())
            .await;
        let mut error = outcome.error.clone();
        let (next, verdict) = if outcome.status == Some(410) {
            (Next::Failed, Verdict::Disable(DisabledReason::Gone))
        } else if outcome.control == Some(Control::Disable) {
            let next = if outcome.succeeded() {
                Next::Succeeded
            } else {
                Next::Failed
            };
            (next, Verdict::Disable(DisabledReason::Requested))
        } else if outcome.succeeded() {
            (Next::Succeeded, Verdict::Healthy)
        } else if outcome.control == Some(Control::AbortMessage) {
            error = Some(
                "the receiver asked for no more attempts (webhook-delivery: abort-message)"
                    .to_string(),
            );
            (Next::Failed, Verdict::Unjudged)
        } else {
            let retry_after = outcome
                .retry_after
                .filter(|_| matches!(outcome.status, Some(429 | 503)));
            let made = usize::try_from(delivery.attempts).unwrap_or(usize::MAX) + 1;
            let due = delivery.next_attempt_at.unwrap_or(attempted_at);
            let next = match self.outbox.schedule().next_attempt(
                made,
                due,
                delivery.deadline,
                Utc::now(),
                retry_after,
                rand::random_range(-1.0..=1.0),
            ) {
                Some(at) => Next::RetryAt(at),
                None => Next::Failed,
            };
            (next, Verdict::Failing)
        };
        self.metrics.webhook_attempt(
            match (next, verdict) {
                (_, Verdict::Disable(DisabledReason::Gone)) => "gone",
                (Next::Succeeded, _) => "succeeded",
                (Next::Failed, _) => "failed",
                (Next::RetryAt(_), _) => "retrying",
            },
            outcome.duration.as_secs_f64(),
        );
        Attempted {
            delivery,
            attempted_at,
            status_code: outcome.status.map(i32::from),
            duration_ms: i64::try_from(outcome.duration.as_millis()).unwrap_or(i64::MAX),
            error,
            response_snippet: outcome.snippet,
            next,
            verdict,
            health_at_claim,
        }
    }

    /// Writes finished attempts, as many at once as have finished.
    async fn record(self: Arc<Self>, mut results: mpsc::Receiver<Attempted>) {
        let mut batch = Vec::with_capacity(RECORD_BATCH);
        while results.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            let retrying = batch
                .iter()
                .any(|attempted| matches!(attempted.next, Next::RetryAt(_)));
            // Retried a few times: an attempt already made should not be made again. If the
            // database stays unwilling, the leases run out and the deliveries come back.
            for tries in 1..=RECORD_TRIES {
                match webhook_deliveries::record(&self.db, &self.outbox, &batch).await {
                    Ok(_) => break,
                    Err(err) if tries < RECORD_TRIES => {
                        tracing::warn!("webhook worker: cannot record attempts, retrying: {err}");
                        tokio::time::sleep(BACKOFF).await;
                    }
                    Err(err) => tracing::error!(
                        "webhook worker: cannot record {} attempts; they will be made again: {err}",
                        batch.len()
                    ),
                }
            }
            batch.clear();
            if retrying {
                // The next due time may now be sooner than the claimer's wait.
                self.outbox.committed();
            }
        }
    }
}

/// Keeps the queue gauges of `/metrics` current: they describe the deployment's outbox, so every
/// server reads them, whether or not it runs a worker.
pub async fn watch_queue(db: Db, metrics: Arc<Metrics>) {
    let mut every = tokio::time::interval(QUEUE_READ_INTERVAL);
    loop {
        every.tick().await;
        match webhook_deliveries::queue(&db).await {
            Ok((depth, oldest)) => {
                let age = oldest.map_or(0, |oldest| (Utc::now() - oldest).num_seconds());
                metrics.webhook_queue(depth, age);
            }
            Err(err) => tracing::warn!("cannot read the webhook queue: {err}"),
        }
    }
}
