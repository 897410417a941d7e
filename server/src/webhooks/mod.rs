//! What a deployment promises about webhook delivery, which the API shows
//! (`GET /v1/webhook-settings`) so that receivers and checkers can rely on it: the retry schedule,
//! the Standard Webhooks signature, the attempt timeout and the endpoints' circuit breaker. Plain
//! values and arithmetic, shared by the store's outbox (which schedules the first attempt and
//! records what came of each) and the delivery engine (`delivery`), which makes the attempts.

pub mod breaker;
pub mod schedule;
pub mod signature;

use std::time::Duration;

use schedule::RetrySchedule;

/// How long an attempt waits for the receiver's response.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// How deliveries are signed: Standard Webhooks, `v1` HMAC-SHA256 signatures.
pub const SIGNATURE_SCHEME: &str = "standard-webhooks-v1";

/// The deployment's delivery settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub schedule: RetrySchedule,
    /// Whether receivers on loopback, private and link-local addresses are allowed.
    pub allow_private_networks: bool,
}
