//! Rate limits: GCRA per token (per client address for requests without one), with the
//! `RateLimit`/`RateLimit-Policy` headers of the IETF httpapi draft and the `X-RateLimit-*` ones on
//! every `/v1` response, and an exact `Retry-After` on 429.
//!
//! State lives in this process; a key idle long enough to have its full burst back is
//! indistinguishable from a new one, so idle keys are dropped when the table grows.

pub mod gcra;
pub mod layer;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use gcra::{Decision, Quota};

/// Keys tracked before idle ones are dropped.
const MAX_KEYS: usize = 100_000;

pub struct RateLimiter {
    pub quota: Quota,
    /// Requests per minute, as advertised in `RateLimit-Policy`.
    pub per_minute: u32,
    epoch: Instant,
    states: Mutex<HashMap<String, u64>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self {
            quota: Quota::per_minute(per_minute, burst),
            per_minute,
            epoch: Instant::now(),
            states: Mutex::new(HashMap::new()),
        }
    }

    /// Nanoseconds on this limiter's clock; starts past the tolerance so a new key is idle.
    fn now(&self) -> u64 {
        let elapsed = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX / 2);
        elapsed + self.quota.burst * self.quota.interval_ns
    }

    pub fn check(&self, key: &str) -> Decision {
        let now = self.now();
        let mut states = self
            .states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let tat = states.get(key).copied().unwrap_or(0);
        let (decision, new_tat) = gcra::check(self.quota, tat, now);
        if decision.admitted {
            if states.len() >= MAX_KEYS && !states.contains_key(key) {
                states.retain(|_, tat| *tat > now);
            }
            states.insert(key.to_string(), new_tat);
        }
        decision
    }
}
