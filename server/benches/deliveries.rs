//! Webhook delivery throughput and latency, in one process with the real parts: the outbox on a
//! real database, the worker, the HTTP client with its outbound policy, and a receiver on loopback
//! that answers `200` at once (on a runtime of its own, so the worker's threads are not its).
//!
//! - **The receiver alone**: the same signed `POST`s sent by the same client, without the database,
//!   at the worker's concurrency: what this client and receiver can do on this machine.
//! - **Sustained deliveries**: a backlog of events committed through the API's store path
//!   (`conversation.created`, fanned out to several endpoints) with no worker running, then one
//!   worker drains it: deliveries recorded per second, from its start to the last recorded one.
//! - **Commit to delivery at idle**: one event at a time, from its commit returning to the
//!   receiver's arrival, with the worker waiting.
//! - **Beside a hostile neighbour**: the same workspace's events, paced, timed alone and then while
//!   another workspace with endpoints at receivers that accept connections and never answer
//!   creates a conversation a second, in the same run: how much one tenant's broken receivers cost
//!   another's deliveries.
//!
//! On SQLite (a temporary file, as deployed) and on PostgreSQL (a database of its own). `cargo xtask
//! bench` builds and runs this (release profile) and reports its figures; it prints them as one JSON
//! object. Usage: `deliveries [POSTGRES_ADMIN_URL]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use hoverbot_server::config::Config;
use hoverbot_server::delivery::attempt::Sender;
use hoverbot_server::server::Services;
use hoverbot_server::store::Db;
use hoverbot_server::store::conversations::{self, NewConversation};
use hoverbot_server::store::tenant::WorkspaceId;
use hoverbot_server::store::webhook_endpoints::{self, NewEndpoint};
use hoverbot_server::store::{self, webhook_deliveries, workspaces};
use hoverbot_server::webhooks::signature::Secret;
use poem::listener::{Acceptor, Listener};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Events in the backlog, and the endpoints each goes to.
const EVENTS: usize = 2_000;
const ENDPOINTS: usize = 10;
/// Events timed one at a time at idle.
const IDLE_EVENTS: usize = 200;
/// Events timed alone and beside the hostile neighbour, one every [`PACE`]: together longer than
/// the attempt timeout, so that the neighbour's attempts time out, fail, retry and trip breakers
/// while they are timed.
const NEIGHBOUR_EVENTS: usize = 1_000;
const PACE: Duration = Duration::from_millis(20);
/// The neighbour's endpoints, spread over this many silent receivers (ports), and how often it
/// creates a conversation.
const HOSTILE_ENDPOINTS: usize = 50;
const SILENT_RECEIVERS: usize = 5;
const HOSTILE_EVERY: Duration = Duration::from_secs(1);

fn main() -> Result<()> {
    let postgres = std::env::args().nth(1);
    let receiver = Receiver::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(async {
        let alone = receiver_alone(&receiver).await?;
        let sqlite = on_sqlite(&receiver).await?;
        let postgres = match postgres {
            Some(url) => match on_postgres(&receiver, &url).await {
                Ok(figures) => figures,
                Err(err) => json!({ "skipped": format!("{err:#}") }),
            },
            None => json!({ "skipped": "no PostgreSQL URL given" }),
        };
        anyhow::Ok(json!({
            "events": EVENTS,
            "endpoints": ENDPOINTS,
            "concurrency": hoverbot_server::delivery::worker::MAX_IN_FLIGHT,
            "neighbourEvents": NEIGHBOUR_EVENTS,
            "paceMs": PACE.as_millis(),
            "hostileEndpoints": HOSTILE_ENDPOINTS,
            "receiverAlone": alone,
            "sqlite": sqlite,
            "postgres": postgres,
        }))
    })?;
    println!("{figures}");
    Ok(())
}

/// A receiver on loopback, on two threads of its own, answering `200` to everything; it counts
/// requests and reports each one's arrival.
struct Receiver {
    url: String,
    count: Arc<AtomicU64>,
    arrivals: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Instant)>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    fn start() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let count = Arc::new(AtomicU64::new(0));
        let (sender, arrivals) = mpsc::unbounded_channel();
        let counter = count.clone();
        let app = poem::endpoint::make(move |request: poem::Request| {
            let counter = counter.clone();
            let sender = sender.clone();
            async move {
                let body = request.into_body().into_bytes().await.unwrap_or_default();
                let id = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|event| Some(event["data"]["conversationId"].as_str()?.to_string()))
                    .unwrap_or_default();
                counter.fetch_add(1, Ordering::Relaxed);
                let _ = sender.send((id, Instant::now()));
                poem::Response::builder().body("{}")
            }
        });
        let acceptor =
            runtime.block_on(poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor())?;
        let addr = *acceptor.local_addr()[0]
            .as_socket_addr()
            .context("a TCP address")?;
        runtime.spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        Ok(Self {
            url: format!("http://{addr}/hook"),
            count,
            arrivals: tokio::sync::Mutex::new(arrivals),
            _runtime: runtime,
        })
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Forgets the arrivals so far.
    async fn drain(&self) {
        let mut arrivals = self.arrivals.lock().await;
        while arrivals.try_recv().is_ok() {}
    }

    /// When each of the `count` deliveries about `conversation` arrived, waiting for them.
    async fn arrivals_of(&self, conversation: &str, count: usize) -> Result<Vec<Instant>> {
        let mut arrivals = self.arrivals.lock().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut times = Vec::with_capacity(count);
        while times.len() < count {
            let (arrived, at) = tokio::time::timeout_at(deadline, arrivals.recv())
                .await
                .context("no delivery within 30 s")?
                .context("the receiver stopped")?;
            if arrived == conversation {
                times.push(at);
            }
        }
        Ok(times)
    }
}

/// A deployment configuration that lets the client reach the loopback receiver.
fn config() -> Config {
    Config {
        allow_private_networks: true,
        secret_key: Some("YmVuY2gtc2VjcmV0LWtleS10aGlydHktdHdvLWJ5dGU=".to_string()),
        ..Config::default()
    }
}

async fn receiver_alone(receiver: &Receiver) -> Result<Value> {
    let sender = Arc::new(Sender::new(config().outbound_policy()));
    let secrets = Arc::new(vec![Secret::generate()]);
    let body = Arc::new(br#"{"id":"evt_bench","type":"conversation.created"}"#.to_vec());
    let total = EVENTS * ENDPOINTS;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let next = Arc::new(AtomicU64::new(0));
    for _ in 0..hoverbot_server::delivery::worker::MAX_IN_FLIGHT {
        let (sender, secrets, body, next, url) = (
            sender.clone(),
            secrets.clone(),
            body.clone(),
            next.clone(),
            receiver.url.clone(),
        );
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total as u64 {
                let outcome = sender.send(&url, "evt_bench", &secrets, &body).await;
                ensure!(
                    outcome.succeeded(),
                    "the receiver failed: {:?}",
                    outcome.error
                );
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(json!({ "requests": total, "seconds": seconds, "perSecond": total as f64 / seconds }))
}

async fn on_sqlite(receiver: &Receiver) -> Result<Value> {
    let dir =
        std::env::temp_dir().join(format!("hoverbot-bench-deliveries-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}?mode=rwc", dir.join("hoverbot.db").display());
    let figures = measure(receiver, store::connect(&url).await?).await;
    let _ = std::fs::remove_dir_all(&dir);
    figures
}

async fn on_postgres(receiver: &Receiver, admin_url: &str) -> Result<Value> {
    let admin = store::connect(admin_url)
        .await
        .with_context(|| format!("cannot reach PostgreSQL at {}", store::redact(admin_url)))?;
    let name = format!("hoverbot_bench_deliveries_{}", std::process::id());
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    let (server, _) = admin_url
        .rsplit_once('/')
        .context("a database URL ends in /<database>")?;
    let figures = measure(receiver, store::connect(&format!("{server}/{name}")).await?).await;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    figures
}

async fn measure(receiver: &Receiver, db: Db) -> Result<Value> {
    store::migrate(&db).await?;
    let config = config();
    let services = Services::new(&db, &config)?;
    let workspace = workspaces::create(&db, "bench").await?;
    let workspace = workspaces::find(&db, &workspace.id)
        .await?
        .context("the workspace vanished")?;
    for n in 0..ENDPOINTS {
        let new = NewEndpoint {
            url: receiver.url.clone(),
            description: Some(format!("bench {n}")),
            enabled_events: r#"["*"]"#.to_string(),
            enabled: true,
            destination: None,
        };
        webhook_endpoints::create(&db, &services.sealer, &workspace, new)
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
    }

    // The backlog, committed with no worker running.
    for _ in 0..EVENTS {
        commit_event(&db, &services, &workspace).await?;
    }
    let total = (EVENTS * ENDPOINTS) as u64;
    let before = receiver.count();
    let started = Instant::now();
    // Aborted below, once everything is delivered.
    let worker = tokio::spawn(services.worker(db.clone()).run(std::future::pending()));
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (pending, _) = webhook_deliveries::queue(&db).await?;
        if pending == 0 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "{pending} deliveries still pending after 5 min"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let received = receiver.count() - before;
    ensure!(
        received >= total,
        "the receiver got {received} of {total} deliveries"
    );

    // At idle: one event at a time, the worker waiting for it.
    receiver.drain().await;
    let mut latencies = Vec::with_capacity(IDLE_EVENTS * ENDPOINTS);
    for _ in 0..IDLE_EVENTS {
        let (conversation, committed) = commit_event(&db, &services, &workspace).await?;
        for arrived in receiver.arrivals_of(&conversation, ENDPOINTS).await? {
            latencies.push(arrived.saturating_duration_since(committed));
        }
        // Every delivery recorded before the next event, so that each starts from idle.
        while webhook_deliveries::queue(&db).await?.0 > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let idle = percentiles(latencies);

    // Beside a hostile neighbour, side by side with the same events alone.
    let alone = percentiles(paced(receiver, &db, &services, &workspace, None).await?);
    let silent = Silent::start(SILENT_RECEIVERS).await?;
    let hostile = workspaces::create(&db, "hostile").await?;
    let hostile = workspaces::find(&db, &hostile.id)
        .await?
        .context("the workspace vanished")?;
    for n in 0..HOSTILE_ENDPOINTS {
        let new = NewEndpoint {
            url: silent.urls[n % silent.urls.len()].clone(),
            description: Some(format!("silent {n}")),
            enabled_events: r#"["*"]"#.to_string(),
            enabled: true,
            destination: None,
        };
        webhook_endpoints::create(&db, &services.sealer, &hostile, new)
            .await
            .map_err(|err| anyhow::anyhow!("{err}"))?;
    }
    // The neighbour's attempts take all the slots they may before the timing starts.
    let deadline = Instant::now() + Duration::from_secs(30);
    while silent.open() < hoverbot_server::delivery::worker::LIMITS.per_workspace {
        ensure!(
            Instant::now() < deadline,
            "the neighbour's attempts never took their share"
        );
        commit_event(&db, &services, &hostile).await?;
        tokio::time::sleep(HOSTILE_EVERY).await;
    }
    let beside = percentiles(paced(receiver, &db, &services, &workspace, Some(&hostile)).await?);
    let most = silent.most();
    worker.abort();
    db.close().await?;
    Ok(json!({
        "deliveries": total,
        "seconds": seconds,
        "perSecond": total as f64 / seconds,
        "idle": {
            "events": IDLE_EVENTS,
            "deliveries": IDLE_EVENTS * ENDPOINTS,
            "p50Ns": idle.0,
            "p99Ns": idle.1,
        },
        "neighbour": {
            "alone": { "p50Ns": alone.0, "p99Ns": alone.1 },
            "beside": { "p50Ns": beside.0, "p99Ns": beside.1 },
            "mostInFlight": most,
        },
    }))
}

/// The p50 and p99 of `latencies`, in nanoseconds.
fn percentiles(mut latencies: Vec<Duration>) -> (u64, u64) {
    latencies.sort_unstable();
    let at = |share: f64| {
        let latency =
            latencies[((latencies.len() as f64 * share) as usize).min(latencies.len() - 1)];
        u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX)
    };
    (at(0.50), at(0.99))
}

/// [`NEIGHBOUR_EVENTS`] of `workspace`, one every [`PACE`], each delivery timed from its commit to
/// its arrival; with `hostile`, that workspace creates a conversation every [`HOSTILE_EVERY`]
/// meanwhile.
async fn paced(
    receiver: &Receiver,
    db: &Db,
    services: &Services,
    workspace: &WorkspaceId,
    hostile: Option<&WorkspaceId>,
) -> Result<Vec<Duration>> {
    receiver.drain().await;
    let mut latencies = Vec::with_capacity(NEIGHBOUR_EVENTS * ENDPOINTS);
    let mut last_hostile = Instant::now();
    for _ in 0..NEIGHBOUR_EVENTS {
        if let Some(hostile) = hostile
            && last_hostile.elapsed() >= HOSTILE_EVERY
        {
            commit_event(db, services, hostile).await?;
            last_hostile = Instant::now();
        }
        let (conversation, committed) = commit_event(db, services, workspace).await?;
        for arrived in receiver.arrivals_of(&conversation, ENDPOINTS).await? {
            latencies.push(arrived.saturating_duration_since(committed));
        }
        tokio::time::sleep(PACE).await;
    }
    Ok(latencies)
}

/// Receivers on loopback that accept connections and never answer: they read what they are sent
/// until the sender gives up and closes.
struct Silent {
    urls: Vec<String>,
    /// Connections open now, and the most open at once.
    open: Arc<AtomicU64>,
    most: Arc<AtomicU64>,
    _tasks: tokio::task::JoinSet<()>,
}

impl Silent {
    async fn start(count: usize) -> Result<Self> {
        let (open, most) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut urls = Vec::new();
        for _ in 0..count {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            urls.push(format!("http://{}/hook", listener.local_addr()?));
            let (open, most) = (open.clone(), most.clone());
            tasks.spawn(async move {
                let mut connections = tokio::task::JoinSet::new();
                while let Ok((mut socket, _)) = listener.accept().await {
                    let now = open.fetch_add(1, Ordering::Relaxed) + 1;
                    most.fetch_max(now, Ordering::Relaxed);
                    let open = open.clone();
                    connections.spawn(async move {
                        use tokio::io::AsyncReadExt;
                        let mut buffer = [0; 4096];
                        while matches!(socket.read(&mut buffer).await, Ok(read) if read > 0) {}
                        open.fetch_sub(1, Ordering::Relaxed);
                    });
                }
            });
        }
        Ok(Self {
            urls,
            open,
            most,
            _tasks: tasks,
        })
    }

    /// Connections open now: the neighbour's attempts in flight.
    fn open(&self) -> usize {
        usize::try_from(self.open.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    /// The most that were open at once.
    fn most(&self) -> u64 {
        self.most.load(Ordering::Relaxed)
    }
}

/// Creates a conversation through the store path the API uses; returns its id and when the commit
/// (of the conversation and its event) returned.
async fn commit_event(
    db: &Db,
    services: &Services,
    workspace: &WorkspaceId,
) -> Result<(String, Instant)> {
    let new = NewConversation {
        channel: hoverbot_api::Channel::Web,
        external_user_id: Some("bench".to_string()),
        locale: None,
        metadata: "{}".to_string(),
    };
    let row = conversations::create(db, &services.outbox, workspace, new)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    Ok((row.id, Instant::now()))
}
