//! Rate limits: GCRA per key, where a key is a token, an installation or a client address (the
//! HTTP layer, `http::rate_limit`, decides which and sets the headers).
//!
//! A workspace's plan may set its own [`Limit`]; every token of it then gets that one.
//!
//! On SQLite (one node) the state lives in this process. On PostgreSQL it lives in the database, so
//! replicas together admit one quota, not one each: see [`shared`]. Either way a key idle long
//! enough to have its full burst back is the same as a new one, so idle keys are dropped.

pub mod gcra;
pub mod shared;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use gcra::{Decision, Quota};
use sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::store::Db;

/// Keys tracked in process before idle ones are dropped.
const MAX_KEYS: usize = 100_000;

enum State {
    Local {
        epoch: Instant,
        tats: Mutex<HashMap<String, u64>>,
    },
    Shared(Db),
}

/// A workspace's plan is kept with the workspace; the limiter reads it.
pub use crate::store::workspaces::Limit;

fn quota(limit: Limit) -> Quota {
    Quota::per_minute(limit.per_minute, limit.burst)
}

pub struct RateLimiter {
    state: State,
}

impl RateLimiter {
    /// In the database on PostgreSQL, in process otherwise.
    pub fn new(db: &Db) -> Self {
        let state = match db.get_database_backend() {
            DatabaseBackend::Postgres => State::Shared(db.clone()),
            _ => State::Local {
                epoch: Instant::now(),
                tats: Mutex::new(HashMap::new()),
            },
        };
        Self { state }
    }

    /// Decides a request of `key` under `limit`, and counts it when admitted.
    pub async fn check(&self, key: &str, limit: Limit) -> Decision {
        let quota = quota(limit);
        match &self.state {
            State::Local { epoch, tats } => check_local(quota, *epoch, tats, key),
            State::Shared(db) => match shared::check(db, quota, key).await {
                Ok(decision) => decision,
                Err(err) => {
                    // Failing open: an unreachable database fails the request anyway, and a
                    // limiter hiccup should not take the API down with it.
                    tracing::warn!("rate limiter unavailable, admitting: {err}");
                    gcra::describe(quota, 0, 0, true)
                }
            },
        }
    }

    /// Whether a request of `key` would be admitted now, without counting one.
    pub async fn would_admit(&self, key: &str, limit: Limit) -> bool {
        let quota = quota(limit);
        match &self.state {
            State::Local { epoch, tats } => {
                let now = local_now(*epoch);
                let tats = tats.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let tat = tats.get(key).copied().unwrap_or(0);
                gcra::check(quota, tat, now).0.admitted
            }
            State::Shared(db) => shared::would_admit(db, quota, key).await.unwrap_or(true),
        }
    }
}

/// Where the in-process clock starts: past any tolerance, so that a key never seen (TAT 0) is idle
/// whatever its limit, and far enough from `u64::MAX` never to overflow.
const CLOCK_START_NS: u64 = 1 << 62;

fn local_now(epoch: Instant) -> u64 {
    CLOCK_START_NS + u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX >> 2)
}

fn check_local(
    quota: Quota,
    epoch: Instant,
    tats: &Mutex<HashMap<String, u64>>,
    key: &str,
) -> Decision {
    let now = local_now(epoch);
    let mut tats = tats.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Updated in place when known: one lookup and no allocation on the common path.
    if let Some(tat) = tats.get_mut(key) {
        let (decision, new_tat) = gcra::check(quota, *tat, now);
        *tat = new_tat;
        return decision;
    }
    let (decision, new_tat) = gcra::check(quota, 0, now);
    if decision.admitted {
        if tats.len() >= MAX_KEYS {
            tats.retain(|_, tat| *tat > now);
        }
        tats.insert(key.to_string(), new_tat);
    }
    decision
}
