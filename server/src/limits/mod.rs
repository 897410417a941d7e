//! Rate limits: GCRA per token (per client address for requests without one), with the
//! `RateLimit`/`RateLimit-Policy` headers of the IETF httpapi draft and the `X-RateLimit-*` ones on
//! every `/v1` response, and an exact `Retry-After` on 429.
//!
//! On SQLite (one node) the state lives in this process. On PostgreSQL it lives in the database, so
//! replicas together admit one quota, not one each: see [`shared`]. Either way a key idle long
//! enough to have its full burst back is the same as a new one, so idle keys are dropped.

pub mod gcra;
pub mod layer;
pub mod shared;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use gcra::{Decision, Quota};
use sea_orm::{DatabaseBackend, DatabaseConnection};

/// Keys tracked in process before idle ones are dropped.
const MAX_KEYS: usize = 100_000;

enum State {
    Local {
        epoch: Instant,
        tats: Mutex<HashMap<String, u64>>,
    },
    Shared(DatabaseConnection),
}

pub struct RateLimiter {
    pub quota: Quota,
    /// Requests per minute, as advertised in `RateLimit-Policy`.
    pub per_minute: u32,
    state: State,
}

impl RateLimiter {
    /// In the database on PostgreSQL, in process otherwise.
    pub fn new(per_minute: u32, burst: u32, db: &DatabaseConnection) -> Self {
        let state = match db.get_database_backend() {
            DatabaseBackend::Postgres => State::Shared(db.clone()),
            _ => State::Local {
                epoch: Instant::now(),
                tats: Mutex::new(HashMap::new()),
            },
        };
        Self {
            quota: Quota::per_minute(per_minute, burst),
            per_minute,
            state,
        }
    }

    pub async fn check(&self, key: &str) -> Decision {
        match &self.state {
            State::Local { epoch, tats } => self.check_local(*epoch, tats, key),
            State::Shared(db) => match shared::check(db, self.quota, key).await {
                Ok(decision) => decision,
                Err(err) => {
                    // Failing open: an unreachable database fails the request anyway, and a
                    // limiter hiccup should not take the API down with it.
                    tracing::warn!("rate limiter unavailable, admitting: {err}");
                    gcra::describe(self.quota, 0, 0, true)
                }
            },
        }
    }

    fn check_local(
        &self,
        epoch: Instant,
        tats: &Mutex<HashMap<String, u64>>,
        key: &str,
    ) -> Decision {
        // The clock starts past the tolerance so that a key never seen is idle.
        let elapsed = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX / 2);
        let now = elapsed + self.quota.burst * self.quota.interval_ns;
        let mut tats = tats.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let tat = tats.get(key).copied().unwrap_or(0);
        let (decision, new_tat) = gcra::check(self.quota, tat, now);
        if decision.admitted {
            if tats.len() >= MAX_KEYS && !tats.contains_key(key) {
                tats.retain(|_, tat| *tat > now);
            }
            tats.insert(key.to_string(), new_tat);
        }
        decision
    }
}
