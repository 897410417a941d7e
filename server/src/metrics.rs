//! What `/metrics` exposes, in the Prometheus (OpenMetrics) text format: requests by operation and
//! status, latency histograms, requests in flight, rate-limited requests, idempotent replays, the
//! database pool, and webhook attempts and the outbox queue. Labels are spec operation ids, status
//! codes and outcomes only, never paths, workspaces or tokens, so the series stay few and the page
//! tells nothing about tenants.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sea_orm::{DatabaseBackend, DatabaseConnection};

/// The content type of the text exposition format this page uses.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds: from a cached read to the request deadline.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CountedLabels {
    counted_by: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

type LatencyFamily = Family<OperationLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    in_flight: Gauge,
    rate_limited: Family<CountedLabels, Counter>,
    idempotent_replays: Counter,
    pool: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
    webhook_attempts: Family<OutcomeLabels, Counter>,
    webhook_attempt_latency: Histogram,
    webhook_queue_depth: Gauge,
    webhook_oldest_pending_age: Gauge,
    db: DatabaseConnection,
}

impl Metrics {
    pub fn new(db: DatabaseConnection) -> Self {
        let mut registry = Registry::with_prefix("hoverbot");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by spec operation id (`-` outside the API) and status",
            requests.clone(),
        );
        let latency: LatencyFamily =
            Family::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS));
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to its response, by spec operation id",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        let rate_limited = Family::<CountedLabels, Counter>::default();
        registry.register(
            "rate_limited_requests",
            "Requests refused with 429, by what they were counted against (token or address)",
            rate_limited.clone(),
        );
        let idempotent_replays = Counter::default();
        registry.register(
            "idempotent_replays",
            "Responses replayed for a repeated Idempotency-Key",
            idempotent_replays.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections, by state (idle or in_use)",
            pool.clone(),
        );
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_max_connections",
            "The most connections the database pool opens",
            pool_max.clone(),
        );
        let webhook_attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts made by this process, by outcome (succeeded, retrying, failed, \
             gone)",
            webhook_attempts.clone(),
        );
        let webhook_attempt_latency = Histogram::new(LATENCY_BUCKETS);
        registry.register(
            "webhook_attempt_duration_seconds",
            "Time from sending a webhook attempt to the receiver's answer (or the timeout)",
            webhook_attempt_latency.clone(),
        );
        let webhook_queue_depth = Gauge::default();
        registry.register(
            "webhook_deliveries_pending",
            "Webhook deliveries with attempts still to make, across the deployment",
            webhook_queue_depth.clone(),
        );
        let webhook_oldest_pending_age = Gauge::default();
        registry.register(
            "webhook_oldest_pending_age_seconds",
            "Age of the oldest pending webhook delivery (0 when none is pending)",
            webhook_oldest_pending_age.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            in_flight,
            rate_limited,
            idempotent_replays,
            pool,
            pool_max,
            webhook_attempts,
            webhook_attempt_latency,
            webhook_queue_depth,
            webhook_oldest_pending_age,
            db,
        }
    }

    /// A webhook attempt ended with `outcome` after `seconds`.
    pub fn webhook_attempt(&self, outcome: &'static str, seconds: f64) {
        self.webhook_attempts
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        self.webhook_attempt_latency.observe(seconds);
    }

    /// The outbox as last read: pending deliveries, and the oldest one's age.
    pub fn webhook_queue(&self, depth: u64, oldest_age_seconds: i64) {
        self.webhook_queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        self.webhook_oldest_pending_age
            .set(oldest_age_seconds.max(0));
    }

    /// A request started; the guard counts it out again when dropped.
    pub fn request_started(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    pub fn request_finished(&self, operation: &'static str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels { operation, status })
            .inc();
        self.latency
            .get_or_create(&OperationLabels { operation })
            .observe(seconds);
    }

    pub fn rate_limited(&self, counted_by: &'static str) {
        self.rate_limited
            .get_or_create(&CountedLabels { counted_by })
            .inc();
    }

    pub fn idempotent_replay(&self) {
        self.idempotent_replays.inc();
    }

    /// The page, with the pool read as it is now.
    pub fn render(&self) -> String {
        let (size, idle, max) = match self.db.get_database_backend() {
            DatabaseBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            DatabaseBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => (0, 0, 0),
        };
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        self.pool
            .get_or_create(&PoolLabels { state: "idle" })
            .set(idle);
        self.pool
            .get_or_create(&PoolLabels { state: "in_use" })
            .set((i64::from(size) - idle).max(0));
        self.pool_max.set(i64::from(max));
        let mut page = String::new();
        encode(&mut page, &self.registry).expect("writing to a String cannot fail");
        page
    }
}

/// Counts a request out of the in-flight gauge, however its handling ends.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
