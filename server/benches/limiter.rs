//! The rate limiter's cost per request, in one process: the decision alone (the GCRA check on a
//! token's key), and the whole middleware (one request through the caller and rate-limit layers to
//! a trivial endpoint: token hashing, the auth cache, the decision and five headers) next to the same request
//! sent to that endpoint directly (the baseline). In process (the SQLite deployment's limiter) and on
//! PostgreSQL (the shared limiter: one upsert per request), with `SELECT 1` on the same pool as
//! the database baseline.
//!
//! `cargo xtask bench` builds and runs this (release profile) and puts its figures in the report;
//! it prints them as one JSON object. Usage: `limiter [POSTGRES_ADMIN_URL]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hoverbot_api::Scope;
use hoverbot_server::auth::Authenticator;
use hoverbot_server::http::caller::{self, Callers};
use hoverbot_server::http::rate_limit::{self, Limits};
use hoverbot_server::limits::{Limit, RateLimiter};
use hoverbot_server::metrics::Metrics;
use hoverbot_server::secrets;
use hoverbot_server::store::Db;
use hoverbot_server::store::{self, api_keys, workspaces};
use poem::endpoint::BoxEndpoint;
use poem::endpoint::make_sync;
use poem::{Endpoint, EndpointExt, Request, Response};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

/// Tokens the requests rotate through, all of one workspace.
const KEYS: usize = 100;
/// In process: requests timed together (a single one is too short for the clock), and batches.
const BATCH: u32 = 200;
const BATCHES: usize = 2_000;
/// On PostgreSQL: requests per measurement, and the concurrent clients of the second one.
const DATABASE_REQUESTS: usize = 4_000;
const CONCURRENCY: usize = 8;
/// High enough that nothing is refused: the cost of deciding, not of refusing, is measured.
const UNLIMITED: Limit = Limit {
    per_minute: 1_000_000_000,
    burst: 1_000_000_000,
};

/// Per-request times: median and 99th percentile.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub p50: Duration,
    pub p99: Duration,
}

impl Sample {
    fn of(mut times: Vec<Duration>) -> Self {
        times.sort_unstable();
        let at = |share: f64| times[((times.len() as f64 * share) as usize).min(times.len() - 1)];
        Self {
            p50: at(0.50),
            p99: at(0.99),
        }
    }

    fn json(self) -> Value {
        json!({
            "p50Ns": u64::try_from(self.p50.as_nanos()).unwrap_or(u64::MAX),
            "p99Ns": u64::try_from(self.p99.as_nanos()).unwrap_or(u64::MAX),
        })
    }
}

struct Postgres {
    layer: Sample,
    select_one: Sample,
    layer_concurrent: Sample,
    select_one_concurrent: Sample,
}

struct Setup {
    limiter: Arc<RateLimiter>,
    /// The trivial endpoint behind the caller and rate-limit layers, as the server stacks them.
    layered: BoxEndpoint<'static, Response>,
    tokens: Vec<String>,
}

async fn setup(db: &Db) -> Result<Setup> {
    store::migrate(db).await?;
    let workspace = workspaces::create(db, &format!("bench-{}", std::process::id())).await?;
    let workspace = workspaces::find(db, &workspace.id)
        .await?
        .context("the bench workspace vanished")?;
    let mut tokens = Vec::with_capacity(KEYS);
    for _ in 0..KEYS {
        let created = api_keys::create(db, &workspace, "bench", &[Scope::ConversationsRead], None)
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        tokens.push(created.secret);
    }
    let limiter = Arc::new(RateLimiter::new(db));
    let limits = Arc::new(Limits {
        limiter: limiter.clone(),
        default: UNLIMITED,
        default_policy: rate_limit::policy(UNLIMITED),
        trust_proxy: false,
        metrics: Arc::new(Metrics::new(db.connection().clone())),
    });
    let callers = Arc::new(Callers {
        auth: Arc::new(Authenticator::new(db.clone())),
        db: db.clone(),
        flood_guard: Some((limiter.clone(), UNLIMITED)),
        trust_proxy: false,
    });
    let layered = trivial()
        .around(move |next, request| rate_limit::layer(next, request, limits.clone()))
        .around(move |next, request| caller::layer(next, request, callers.clone()))
        .boxed();
    Ok(Setup {
        limiter,
        layered,
        tokens,
    })
}

fn request(token: &str) -> Request {
    Request::builder()
        .uri_str("/v1/conversations")
        .header("authorization", format!("Bearer {token}"))
        .finish()
}

fn trivial() -> impl Endpoint<Output = Response> + 'static {
    make_sync(|_| "ok").map_to_response()
}

async fn through_layer(setup: &Setup, n: usize) -> Result<()> {
    let token = &setup.tokens[n % setup.tokens.len()];
    let response = setup.layered.call(request(token)).await?;
    anyhow::ensure!(
        response.status().is_success(),
        "the limiter refused a request"
    );
    Ok(())
}

async fn direct(setup: &Setup, endpoint: &impl Endpoint, n: usize) -> Result<()> {
    let token = &setup.tokens[n % setup.tokens.len()];
    endpoint.call(request(token)).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let postgres_url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let figures = measure(&postgres_url).await?;
    println!("{figures}");
    Ok(())
}

async fn measure(postgres_url: &str) -> Result<Value> {
    let endpoint = trivial();
    let db = store::connect("sqlite::memory:").await?;
    let setup = setup(&db).await?;
    // Warm: every token looked up once and cached, as for a client already sending.
    for n in 0..KEYS {
        through_layer(&setup, n).await?;
    }
    let mut layered = Vec::with_capacity(BATCHES);
    let mut bare = Vec::with_capacity(BATCHES);
    let mut decisions = Vec::with_capacity(BATCHES);
    let keys: Vec<String> = setup
        .tokens
        .iter()
        .map(|token| secrets::hash(token))
        .collect();
    let mut n = 0;
    // Alternate batches, so a noisy moment hits all three.
    for _ in 0..BATCHES {
        let started = Instant::now();
        for _ in 0..BATCH {
            let decision = setup.limiter.check(&keys[n % KEYS], UNLIMITED).await;
            anyhow::ensure!(decision.admitted, "the limiter refused a request");
            n += 1;
        }
        decisions.push(started.elapsed() / BATCH);
        let started = Instant::now();
        for _ in 0..BATCH {
            through_layer(&setup, n).await?;
            n += 1;
        }
        layered.push(started.elapsed() / BATCH);
        let started = Instant::now();
        for _ in 0..BATCH {
            direct(&setup, &endpoint, n).await?;
            n += 1;
        }
        bare.push(started.elapsed() / BATCH);
    }
    let postgres = match measure_postgres(postgres_url).await {
        Ok(figures) => json!({
            "clients": CONCURRENCY,
            "layer": figures.layer.json(),
            "selectOne": figures.select_one.json(),
            "layerConcurrent": figures.layer_concurrent.json(),
            "selectOneConcurrent": figures.select_one_concurrent.json(),
        }),
        Err(err) => json!({ "skipped": format!("{err:#}") }),
    };
    Ok(json!({
        "requestsPerBatch": BATCH,
        "decision": Sample::of(decisions).json(),
        "inProcess": Sample::of(layered).json(),
        "inProcessBaseline": Sample::of(bare).json(),
        "postgres": postgres,
    }))
}

async fn measure_postgres(admin_url: &str) -> Result<Postgres> {
    let admin = store::connect(admin_url)
        .await
        .with_context(|| format!("cannot reach PostgreSQL at {}", store::redact(admin_url)))?;
    let name = format!("hoverbot_bench_{}", std::process::id());
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    let (server, _) = admin_url
        .rsplit_once('/')
        .context("a database URL ends in /<database>")?;
    let db = store::connect(&format!("{server}/{name}")).await?;
    let figures = async {
        let setup = setup(&db).await?;
        for n in 0..KEYS {
            through_layer(&setup, n).await?;
        }
        anyhow::Ok(Postgres {
            layer: timed(DATABASE_REQUESTS, |n| through_layer(&setup, n)).await?,
            select_one: timed(DATABASE_REQUESTS, |_| ping(&db)).await?,
            layer_concurrent: concurrently(|n| through_layer(&setup, n)).await?,
            select_one_concurrent: concurrently(|_| ping(&db)).await?,
        })
    }
    .await;
    db.close().await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    figures
}

async fn ping(db: &Db) -> Result<()> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}

/// Times `count` calls one after another.
async fn timed<F, Fut>(count: usize, mut call: F) -> Result<Sample>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut times = Vec::with_capacity(count);
    for n in 0..count {
        let started = Instant::now();
        call(n).await?;
        times.push(started.elapsed());
    }
    Ok(Sample::of(times))
}

/// Times `DATABASE_REQUESTS` calls made by `CONCURRENCY` clients at once.
async fn concurrently<F, Fut>(call: F) -> Result<Sample>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let per_client = DATABASE_REQUESTS / CONCURRENCY;
    let clients = (0..CONCURRENCY).map(|client| {
        let call = &call;
        async move {
            let mut times = Vec::with_capacity(per_client);
            for n in 0..per_client {
                let started = Instant::now();
                call(client * per_client + n).await?;
                times.push(started.elapsed());
            }
            anyhow::Ok(times)
        }
    });
    let mut all = Vec::with_capacity(DATABASE_REQUESTS);
    for times in futures_util::future::join_all(clients).await {
        all.extend(times?);
    }
    Ok(Sample::of(all))
}
