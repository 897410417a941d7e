//! Assembles the HTTP application and runs it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hyper::body::Bytes;
use poem::endpoint::make_sync;
use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, handler};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::api::HoverBot;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::delivery::attempt::Sender;
use crate::delivery::worker::{Worker, watch_queue};
use crate::http::caller::{self, Callers};
use crate::http::idempotency::{self, Idempotency};
use crate::http::rate_limit::{self, Limits};
use crate::http::{
    access_log, authorization, availability, parameters, problems, request_id, transport_security,
    validation,
};
use crate::knowledge::crawl::Crawler;
use crate::knowledge::index::{self, KnowledgeIndex};
use crate::knowledge::sync::Syncer;
use crate::limits::{Limit, RateLimiter};
use crate::metrics::{self, Metrics};
use crate::oauth::{self, OAuth};
use crate::sealing::Sealer;
use crate::store;
use crate::store::Db;
use crate::store::availability::Availability;
use crate::store::oauth_tokens::Lifetimes;
use crate::store::outbox::Outbox;
use crate::transcript_links::TranscriptLinks;
use crate::transport::{self, tls};

/// How long in-flight requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How often housekeeping runs.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// How long webhook events and their delivery logs are kept once their deliveries are over.
const WEBHOOK_RETENTION: chrono::Duration = chrono::Duration::days(30);

/// What the API and the webhook worker share.
pub struct Services {
    pub metrics: Arc<Metrics>,
    pub outbox: Arc<Outbox>,
    pub sender: Arc<Sender>,
    pub sealer: Arc<Sealer>,
    /// Wakes this process's knowledge syncer when a source is queued.
    pub syncs: Arc<Notify>,
    /// This process's retrieval index, and what wakes it when a sync is recorded here.
    pub knowledge: Arc<KnowledgeIndex>,
    pub synced: Arc<Notify>,
    pub crawler: Arc<Crawler>,
    /// Whether the database answers, as this process's watch last saw.
    pub availability: Arc<Availability>,
}

impl Services {
    pub fn new(db: &Db, config: &Config) -> Result<Self> {
        Ok(Self {
            metrics: Arc::new(Metrics::new(db.connection().clone())),
            outbox: Arc::new(Outbox::new(config.webhook_delivery()?.schedule)),
            sender: Arc::new(Sender::new(config.outbound_policy())),
            sealer: Arc::new(config.sealer()?),
            syncs: Arc::new(Notify::new()),
            knowledge: Arc::new(
                KnowledgeIndex::new(config.embedder()?)
                    .context("cannot create the knowledge index")?,
            ),
            synced: Arc::new(Notify::new()),
            availability: Arc::default(),
            crawler: Arc::new(Crawler::new(
                config.outbound_policy(),
                config.crawl_politeness(),
            )),
        })
    }

    /// A knowledge syncer on `db`.
    pub fn syncer(&self, db: Db) -> Syncer {
        Syncer {
            db,
            wake: self.syncs.clone(),
            synced: self.synced.clone(),
            crawler: self.crawler.clone(),
            embedder: self.knowledge.embedder().clone(),
        }
    }

    /// A webhook delivery worker on `db`.
    pub fn worker(&self, db: Db) -> Worker {
        Worker {
            db,
            outbox: self.outbox.clone(),
            sender: self.sender.clone(),
            sealer: self.sealer.clone(),
            metrics: self.metrics.clone(),
        }
    }

    /// The handlers' shared state.
    pub fn api(&self, db: Db, config: &Config) -> Result<HoverBot> {
        Ok(HoverBot {
            auth: Arc::new(Authenticator::new(db.clone())),
            db,
            webhooks: Arc::new(config.webhook_delivery()?),
            sealer: self.sealer.clone(),
            sender: self.sender.clone(),
            outbox: self.outbox.clone(),
            links: Arc::new(TranscriptLinks::new(&self.sealer, config.public_url()?)),
            lead_qualification_threshold: config.lead_qualification_threshold,
            syncs: self.syncs.clone(),
            knowledge: self.knowledge.clone(),
            language_model: config.language_model()?.map(Arc::new),
            oauth_issuer: oauth::issuer(&config.public_url()?),
            turns: Default::default(),
        })
    }
}

/// The whole application: the API, the spec, the docs, and the layers around them.
pub fn app(db: Db, config: &Config, services: &Services) -> Result<impl Endpoint + 'static> {
    let spec: serde_json::Value =
        serde_json::from_str(hoverbot_api::SPEC_JSON).context("the bundled spec is not JSON")?;
    let validators = Arc::new(validation::Validators::new(&spec, config.max_body_bytes)?);
    let parameters = Arc::new(parameters::Parameters::new(&spec)?);
    let (served_yaml, served_json) = served_spec(spec.clone(), config.public_url.as_deref())?;
    let hoverbot = services.api(db.clone(), config)?;
    let auth = hoverbot.auth.clone();
    let metrics = services.metrics.clone();
    let idempotency_state = Arc::new(Idempotency {
        db: db.clone(),
        max_body_bytes: config.max_body_bytes,
        metrics: metrics.clone(),
        sealer: services.sealer.clone(),
        running: idempotency::Running::default(),
    });
    let default_limit = Limit {
        per_minute: config.rate_limit_per_minute,
        burst: config.rate_limit_burst,
    };
    let limiter = Arc::new(RateLimiter::new(&db));
    let limits = config.rate_limit_enabled.then(|| {
        Arc::new(Limits {
            limiter: limiter.clone(),
            default: default_limit,
            default_policy: rate_limit::policy(default_limit),
            trust_proxy: config.trust_proxy,
            metrics: metrics.clone(),
        })
    });
    let callers = Arc::new(Callers {
        auth: auth.clone(),
        db: db.clone(),
        flood_guard: config
            .rate_limit_enabled
            .then(|| (limiter.clone(), default_limit)),
        trust_proxy: config.trust_proxy,
    });
    let trust_proxy = config.trust_proxy;
    let access_metrics = metrics.clone();
    let available = services.availability.clone();
    let docs = Arc::new(swagger_config());
    let oauth = Arc::new(OAuth {
        db: db.clone(),
        auth: auth.clone(),
        sealer: services.sealer.clone(),
        issuer: hoverbot.oauth_issuer.clone(),
        lifetimes: Lifetimes {
            access: chrono::Duration::seconds(config.oauth_access_token_ttl_secs.into()),
            family: chrono::Duration::days(config.oauth_refresh_family_days.into()),
        },
        trust_proxy: config.trust_proxy,
        limiter: limiter.clone(),
        rate_limited: config.rate_limit_enabled,
    });
    let route = Route::new()
        .nest("/", hoverbot_api::service(hoverbot))
        .nest("/oauth", oauth::routes(oauth))
        .at(
            "/openapi.yaml",
            make_sync(move |_| spec_response(served_yaml.clone(), "application/yaml")),
        )
        .at(
            "/openapi.json",
            make_sync(move |_| spec_response(served_json.clone(), "application/json")),
        )
        .at(
            "/docs",
            make_sync(|_| {
                Response::builder()
                    .status(StatusCode::FOUND)
                    .header(header::LOCATION, "/docs/")
                    .finish()
            }),
        )
        .at("/docs/*path", swagger_ui.data(docs))
        .at(
            "/metrics",
            make_sync(move |_| {
                Response::builder()
                    .header(header::CONTENT_TYPE, metrics::CONTENT_TYPE)
                    .body(metrics.render())
            }),
        );
    Ok(route
        .around(move |next, request| parameters::layer(next, request, parameters.clone()))
        .around(move |next, request| validation::layer(next, request, validators.clone()))
        .around(move |next, request| idempotency::layer(next, request, idempotency_state.clone()))
        .around(authorization::layer)
        .around(problems::layer)
        .around(move |next, request| {
            let limits = limits.clone();
            async move {
                match limits {
                    Some(limits) => rate_limit::layer(next, request, limits).await,
                    None => next.call(request).await.map(IntoResponse::into_response),
                }
            }
        })
        .around(move |next, request| transport_security::layer(next, request, trust_proxy))
        .around(move |next, request| access_log::layer(next, request, access_metrics.clone()))
        .around(move |next, request| caller::layer(next, request, callers.clone()))
        // Boxed here, so that the availability layer races a small future against an outage
        // rather than copying the whole chain's (large, in debug builds) onto a worker's stack.
        .boxed()
        .around(move |next, request| availability::layer(next, request, available.clone()))
        .around(request_id::layer))
}

/// Swagger UI on the spec, ready to authorize through the OAuth flow: an integrator registers
/// a public app with the docs' redirect URI and gives its `client_id`; PKCE is always on.
fn swagger_config() -> utoipa_swagger_ui::Config<'static> {
    utoipa_swagger_ui::Config::with_oauth_config(
        ["/openapi.json"],
        utoipa_swagger_ui::oauth::Config::new().use_pkce_with_authorization_code_grant(true),
    )
}

fn spec_response(body: Bytes, content_type: &'static str) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
}

/// The spec as served, in YAML and JSON: the bundled document with this server first among its
/// `servers`, so that Swagger UI's "Try it out", and a client generated from the served document,
/// call this deployment by default rather than the hosted service. This server is its
/// `public_url` when one is configured, else `/`: the address the document was fetched from.
/// The YAML gains the entry as text, so the rest of it stays byte for byte the bundled file.
fn served_spec(mut spec: serde_json::Value, public_url: Option<&str>) -> Result<(Bytes, Bytes)> {
    let url = public_url.unwrap_or("/");
    const DESCRIPTION: &str = "This server.";
    let servers = spec["servers"]
        .as_array_mut()
        .context("the bundled spec has no servers")?;
    servers.insert(
        0,
        serde_json::json!({ "url": url, "description": DESCRIPTION }),
    );
    let json = serde_json::to_string(&spec)?;
    let yaml = hoverbot_api::SPEC_YAML.replacen(
        "\nservers:\n",
        &format!(
            "\nservers:\n  - url: '{}'\n    description: {DESCRIPTION}\n",
            url.replace('\'', "''")
        ),
        1,
    );
    anyhow::ensure!(
        yaml.len() > hoverbot_api::SPEC_YAML.len(),
        "the bundled spec's YAML has no top-level `servers:`"
    );
    Ok((Bytes::from(yaml), Bytes::from(json)))
}

/// Swagger UI, bundled in the binary (no asset is loaded from elsewhere), on the source spec.
#[handler]
fn swagger_ui(
    Path(path): Path<String>,
    config: poem::web::Data<&Arc<utoipa_swagger_ui::Config<'static>>>,
) -> Response {
    let path = if path.is_empty() {
        "index.html".to_string()
    } else {
        path
    };
    match utoipa_swagger_ui::serve(&path, config.0.clone()) {
        Ok(Some(file)) => Response::builder()
            .header(header::CONTENT_TYPE, file.content_type)
            .body(file.bytes.into_owned()),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(err) => {
            tracing::error!("swagger ui: {err}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A server running in the background.
pub struct Running {
    pub addr: SocketAddr,
    /// Whether it speaks HTTPS.
    pub tls: bool,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
    /// The webhook worker, if this server runs one, and how to tell it to stop.
    worker: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    /// Housekeeping, knowledge syncs and certificate reloading.
    background: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests and webhook attempts finish, and waits.
    pub async fn stop(self) -> Result<()> {
        for task in &self.background {
            task.abort();
        }
        let _ = self.shutdown.send(());
        let delivering = async {
            match self.worker {
                Some((stop, worker)) => {
                    let _ = stop.send(());
                    worker.await
                }
                None => Ok(()),
            }
        };
        let (served, delivered) = tokio::join!(self.task, delivering);
        served?;
        delivered?;
        Ok(())
    }

    /// Stops on SIGINT or SIGTERM.
    pub async fn run_until_signal(self) -> Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests and webhook attempts");
        self.stop().await
    }
}

/// Binds `config.listen` and serves the application, over TLS when configured.
pub async fn start(db: Db, config: &Config) -> Result<Running> {
    let tls = config
        .tls()
        .map(tls::Reloading::load)
        .transpose()?
        .map(Arc::new);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Links without a `public_url` start with the address actually bound (port 0 picks one).
    let config = &Config {
        listen: addr,
        ..config.clone()
    };
    if config.public_url.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            "public_url is not set: links in webhook events point at {}; set HOVERBOT_PUBLIC_URL \
             to the address clients use",
            config.public_url()?
        );
    }
    let services = Services::new(&db, config)?;
    let app = app(db.clone(), config, &services)?
        .map_to_response()
        .boxed();
    let mut background = vec![
        tokio::spawn(watch_queue(db.clone(), services.metrics.clone())),
        tokio::spawn(maintain(db.clone(), services.outbox.clone())),
        tokio::spawn(services.availability.clone().watch(config.database_url())),
        tokio::spawn(index::follow(
            db.clone(),
            services.knowledge.clone(),
            services.synced.clone(),
        )),
    ];
    if config.knowledge_syncer {
        background.push(tokio::spawn(services.syncer(db.clone()).run()));
    }
    let worker = config.webhook_worker.then(|| {
        let (stop, stopped) = oneshot::channel::<()>();
        let worker = services.worker(db).run(async {
            let _ = stopped.await;
        });
        (stop, tokio::spawn(worker))
    });
    match &tls {
        Some(tls) => background.push(tokio::spawn(tls.clone().watch())),
        // SIGHUP would otherwise end the process; operators send it to reload certificates.
        None => background.push(tokio::spawn(tls::ignore_hangups())),
    }
    let (shutdown, signal) = oneshot::channel::<()>();
    let task = tokio::spawn(transport::serve(
        listener,
        tls.clone(),
        app,
        config.connection_limits(),
        async {
            let _ = signal.await;
        },
        SHUTDOWN_GRACE,
    ));
    Ok(Running {
        addr,
        tls: tls.is_some(),
        shutdown,
        task,
        worker,
        background,
    })
}

/// Periodic housekeeping, from start: conversations past their workspace's retention window,
/// expired idempotency keys, OAuth codes and tokens, idle shared rate-limit keys and webhook events
/// past their retention go.
async fn maintain(db: Db, outbox: Arc<Outbox>) {
    let mut every = tokio::time::interval(MAINTENANCE_INTERVAL);
    loop {
        every.tick().await;
        match store::erasure::purge_expired(&db, &outbox, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "deleted conversations past their retention"),
            Err(err) => tracing::warn!("cannot delete conversations past their retention: {err:?}"),
        }
        let cutoff = chrono::Utc::now() - WEBHOOK_RETENTION;
        match store::webhook_deliveries::purge(&db, cutoff).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged webhook events past their retention"),
            Err(err) => tracing::warn!("cannot purge old webhook events: {err}"),
        }
        // A day's grace, so that a token presented just after it expired is still recognised.
        match store::oauth_tokens::purge(&db, chrono::Utc::now() - chrono::Duration::days(1)).await
        {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired OAuth codes and tokens"),
            Err(err) => tracing::warn!("cannot purge expired OAuth codes and tokens: {err}"),
        }
        match store::idempotency::purge_expired(&db, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired idempotency keys"),
            Err(err) => tracing::warn!("cannot purge expired idempotency keys: {err}"),
        }
        if db.connection().get_database_backend() == sea_orm::DatabaseBackend::Postgres
            && let Err(err) = crate::limits::shared::purge_idle(&db).await
        {
            tracing::warn!("cannot purge idle rate-limit keys: {err}");
        }
    }
}

pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
