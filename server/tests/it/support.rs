//! A test server per backend, with a fresh database, a workspace and an all-scopes key.

use std::net::SocketAddr;

use hoverbot_api::Scope;
use hoverbot_server::config::Config;
use hoverbot_server::server::{self, Running};
use hoverbot_server::store::{self, Db, api_keys, workspaces};
use reqwest::{Client, Method, Response, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::Value;

pub struct TestServer {
    pub backend: &'static str,
    pub client: Client,
    pub key: String,
    base: String,
    running: Option<Running>,
    pub db: Db,
    config: Config,
    /// The PostgreSQL database to drop afterwards, with the admin URL.
    postgres: Option<(String, String)>,
}

/// For the tests that need PostgreSQL (compiled as ignored without it, see `build.rs`): fails
/// rather than pass without testing, if the variable went missing after the build.
pub fn require_postgres() {
    assert!(
        std::env::var_os("HOVERBOT_TEST_DATABASE_URL").is_some(),
        "this test was built with HOVERBOT_TEST_DATABASE_URL set; run it with it too"
    );
}

/// A fresh database URL on every configured backend. CI must test both: there, a missing
/// PostgreSQL fails the tests instead of halving them.
async fn fresh_databases() -> Vec<(&'static str, String, Option<(String, String)>)> {
    assert!(
        std::env::var_os("CI").is_none()
            || std::env::var_os("HOVERBOT_TEST_DATABASE_URL").is_some(),
        "CI runs every test on PostgreSQL too: set HOVERBOT_TEST_DATABASE_URL"
    );
    let mut databases = Vec::new();
    let dir = std::env::temp_dir().join(format!("hoverbot-it-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    databases.push((
        "sqlite",
        format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
        None,
    ));
    if let Ok(admin_url) = std::env::var("HOVERBOT_TEST_DATABASE_URL") {
        let name = format!(
            "hoverbot_it_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let admin = store::connect(&admin_url)
            .await
            .expect("HOVERBOT_TEST_DATABASE_URL connects");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("a database URL ends in /<database>");
        databases.push((
            "postgres",
            format!("{base}/{name}"),
            Some((admin_url.clone(), name)),
        ));
    }
    databases
}

impl TestServer {
    /// One server per configured backend.
    pub async fn each() -> Vec<TestServer> {
        Self::each_configured(|_| {}).await
    }

    /// One server per configured backend, with `configure` applied to the test configuration.
    pub async fn each_configured(configure: impl Fn(&mut Config)) -> Vec<TestServer> {
        let mut servers = Vec::new();
        for (backend, url, postgres) in fresh_databases().await {
            let mut config = Config {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                database_url: Some(url.clone()),
                max_body_bytes: 64 * 1024,
                secret_key: Some(SECRET_KEY.to_string()),
                ..Config::default()
            };
            configure(&mut config);
            servers.push(Self::start(backend, &url, postgres, &config).await);
        }
        servers
    }

    async fn start(
        backend: &'static str,
        url: &str,
        postgres: Option<(String, String)>,
        config: &Config,
    ) -> Self {
        let db = store::connect(url).await.unwrap();
        store::migrate(&db).await.unwrap();
        let running = server::start(db.clone(), config).await.unwrap();
        let mut server = Self {
            backend,
            client: Client::new(),
            key: String::new(),
            base: format!(
                "{}://{}",
                if running.tls { "https" } else { "http" },
                running.addr
            ),
            running: Some(running),
            db,
            config: config.clone(),
            postgres,
        };
        server.key = server.new_workspace_key("test", Scope::ALL).await;
        server
    }

    /// A key of a new workspace with `scopes`.
    pub async fn new_workspace_key(&self, name: &str, scopes: &[Scope]) -> String {
        let workspace = workspaces::create(&self.db, &format!("{name}-{}", ulid::Ulid::new()))
            .await
            .unwrap();
        let workspace = workspaces::find(&self.db, &workspace.id)
            .await
            .unwrap()
            .unwrap();
        api_keys::create(&self.db, &workspace, name, scopes, None)
            .await
            .unwrap()
            .secret
    }

    /// Another key of the test workspace, with `scopes`, made through the API.
    pub async fn key_with_scopes(&self, scopes: &[&str]) -> String {
        let (status, body) = self
            .send(
                Method::POST,
                "/v1/api-keys",
                Some(serde_json::json!({"name": "limited", "scopes": scopes})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["secret"].as_str().unwrap().to_string()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Sends with the test key; returns the status and the JSON body (`Null` when empty).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send_as(&self.key.clone(), method, path, body).await
    }

    pub async fn send_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.request(method, path, Some(key));
        if let Some(body) = body {
            request = request.json(&body);
        }
        json(request.send().await.unwrap()).await
    }

    pub async fn create_conversation(&self) -> String {
        let (status, body) = self
            .send(
                Method::POST,
                "/v1/conversations",
                Some(serde_json::json!({"channel": "web", "externalUserId": "visitor_123"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Stops the server and starts a new one on the same database and port.
    pub async fn restart(&mut self) {
        let running = self.running.take().expect("the server runs");
        let addr = running.addr;
        running.stop().await.unwrap();
        let config = Config {
            listen: addr,
            ..self.config.clone()
        };
        self.running = Some(server::start(self.db.clone(), &config).await.unwrap());
    }

    /// Another server on the same database and configuration, as a replica would be.
    pub async fn replica(&self) -> Running {
        let db = store::connect(self.database_url()).await.unwrap();
        server::start(db, &self.config).await.unwrap()
    }

    /// A replica configured apart (one that runs no knowledge syncer, say).
    pub async fn replica_configured(&self, configure: impl Fn(&mut Config)) -> Running {
        let db = store::connect(self.database_url()).await.unwrap();
        let mut config = self.config.clone();
        configure(&mut config);
        server::start(db, &config).await.unwrap()
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.running.as_ref().expect("the server runs").addr
    }

    /// The database URL the server uses.
    pub fn database_url(&self) -> &str {
        self.config
            .database_url
            .as_deref()
            .expect("test servers name their database")
    }

    /// Stops the server and drops its PostgreSQL database.
    pub async fn finish(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.unwrap();
        }
        self.db.clone().close().await.unwrap();
        if let Some((admin_url, name)) = self.postgres.take() {
            let admin = store::connect(&admin_url).await.unwrap();
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
    }
}

pub async fn json(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, body)
}

/// The spec's JSON Schema for a component, to check responses against.
pub fn assert_schema(name: &str, instance: &Value) {
    let spec: Value = serde_json::from_str(hoverbot_api::SPEC_JSON).unwrap();
    let root = serde_json::json!({"$ref": format!("#/components/schemas/{name}"), "components": spec["components"]});
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} does not match the spec: {errors:#?}\n{instance:#}"
    );
}

/// Checks a problem+json response: status, `code`, and the request id in body and header agree.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let (_, body) = json(response).await;
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["requestId"], request_id.as_str());
    assert_schema("Problem", &body);
    body
}

/// Runs `hoverbot ARGS`, where `ARGS` says which database (the environment's is ignored):
/// success, stdout lines, stderr.
pub async fn hoverbot_cli(args: &[&str]) -> (bool, Vec<String>, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hoverbot"))
        .args(args)
        .env_remove("HOVERBOT_DATA_DIR")
        .env_remove("HOVERBOT_DATABASE_URL")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    (
        output.status.success(),
        stdout,
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// A `hoverbot serve` process of its own, on a free loopback port; killed when dropped.
/// The deployment secret key of test servers (the base64 of 32 bytes), so that none writes a key
/// file into the working directory.
pub const SECRET_KEY: &str = "dGVzdC1zZWNyZXQta2V5LXRoaXJ0eS10d28tYnl0ZXM=";

pub struct ServerProcess {
    pub base: String,
    log: tokio::sync::mpsc::UnboundedReceiver<String>,
    child: tokio::process::Child,
}

impl ServerProcess {
    pub async fn spawn(database_url: &str, env: &[(&str, &str)]) -> Self {
        Self::spawn_with(database_url, env, &[]).await
    }

    pub async fn spawn_with(database_url: &str, env: &[(&str, &str)], args: &[&str]) -> Self {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hoverbot"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .args(args)
            .env("RUST_LOG", "info")
            .env("HOVERBOT_SECRET_KEY", SECRET_KEY)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let base = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    return rest.split_whitespace().next().unwrap().to_string();
                }
            }
            panic!("the server exited before listening");
        })
        .await
        .expect("the server listens within a minute");
        // Keep draining the log so the process never blocks on a full pipe.
        let (sender, log) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = sender.send(line);
            }
        });
        Self { base, log, child }
    }

    /// Kills the process with SIGKILL, as a crash would, and waits for it to be gone.
    pub async fn kill_9(mut self) {
        self.child.kill().await.unwrap();
    }

    /// The process id, to send it signals.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// The next log line that contains `needle`, waiting up to ten seconds for it.
    pub async fn log_line_containing(&mut self, needle: &str) -> String {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                let line = self.log.recv().await.expect("the server is running");
                if line.contains(needle) {
                    return line;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no log line with `{needle}` within ten seconds"))
    }
}

/// How a [`Receiver`] answers one delivery.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<u64>,
    /// How long the receiver waits before it answers.
    pub delay: std::time::Duration,
    /// What it asks of the sender with `webhook-delivery`.
    pub delivery_control: Option<&'static str>,
}

impl Reply {
    pub const fn status(status: u16) -> Self {
        Self {
            status,
            retry_after: None,
            delay: std::time::Duration::ZERO,
            delivery_control: None,
        }
    }
}

/// A request a [`Receiver`] got, and when.
pub struct Received {
    pub headers: poem::http::HeaderMap,
    pub body: Vec<u8>,
    pub at: std::time::Instant,
    /// `at` on the wall clock, to compare with the times the API shows.
    pub wall: chrono::DateTime<chrono::Utc>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver on loopback: it records what it gets and answers with its script, one reply
/// per request, then `204` once the script is done.
pub struct Receiver {
    pub url: String,
    requests: tokio::sync::mpsc::UnboundedReceiver<Received>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::scripted(Vec::new()).await
    }

    pub async fn scripted(script: Vec<Reply>) -> Self {
        let script = std::sync::Arc::new(std::sync::Mutex::new(
            script
                .into_iter()
                .collect::<std::collections::VecDeque<_>>(),
        ));
        let (sender, requests) = tokio::sync::mpsc::unbounded_channel();
        let app = poem::endpoint::make(move |request: poem::Request| {
            let sender = sender.clone();
            let script = script.clone();
            async move {
                let (at, wall) = (std::time::Instant::now(), chrono::Utc::now());
                let headers = request.headers().clone();
                let body = request.into_body().into_vec().await.unwrap_or_default();
                let reply = script
                    .lock()
                    .unwrap()
                    .pop_front()
                    .unwrap_or(Reply::status(204));
                let _ = sender.send(Received {
                    headers,
                    body,
                    at,
                    wall,
                });
                tokio::time::sleep(reply.delay).await;
                let mut response =
                    poem::Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
                if let Some(seconds) = reply.retry_after {
                    response = response.header("retry-after", seconds.to_string());
                }
                if let Some(control) = reply.delivery_control {
                    response = response.header("webhook-delivery", control);
                }
                response.body("receiver says hello")
            }
        });
        let addr = serve_on_loopback(app).await;
        Self {
            url: format!("http://{addr}/hook"),
            requests,
        }
    }

    /// The requests received and not yet taken, without waiting.
    pub fn received_so_far(&mut self) -> Vec<Received> {
        std::iter::from_fn(|| self.requests.try_recv().ok()).collect()
    }

    /// The next request, waiting up to 30 seconds for it.
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(std::time::Duration::from_secs(30), self.requests.recv())
            .await
            .expect("a delivery within 30 s")
            .unwrap()
    }
}

pub fn header<'a>(headers: &'a poem::http::HeaderMap, name: &str) -> &'a str {
    headers.get(name).unwrap().to_str().unwrap()
}

/// Calls `check` until it gives a value, for up to 30 seconds.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Sends the user message `text` to the conversation; the exchange, checked against the spec.
pub async fn say(server: &TestServer, conversation: &str, text: &str) -> Value {
    let (status, exchange) = server
        .send(
            Method::POST,
            &format!("/v1/conversations/{conversation}/messages"),
            Some(serde_json::json!({ "text": text })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{exchange}");
    assert_schema("MessageExchange", &exchange);
    exchange
}

/// The exchange once `question` gets a cited answer: the index has caught up with a sync. Each
/// try is a new conversation, since two unsure replies in one would hand it to a person.
pub async fn cited_answer(server: &TestServer, question: &str) -> Value {
    eventually("a cited answer", || async {
        let conversation = server.create_conversation().await;
        let (status, exchange) = server
            .send(
                Method::POST,
                &format!("/v1/conversations/{conversation}/messages"),
                Some(serde_json::json!({ "text": question })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{exchange}");
        (!exchange["assistantMessage"]["citations"]
            .as_array()
            .is_none_or(Vec::is_empty))
        .then_some(exchange)
    })
    .await
}

/// Serves `app` on a free loopback port, in the background.
pub async fn serve_on_loopback(app: impl poem::Endpoint + 'static) -> SocketAddr {
    use poem::listener::{Acceptor, Listener};
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    addr
}

/// The workspace that owns row `id` of `table`, read from the database as an operator could.
pub async fn workspace_of(server: &TestServer, table: &str, id: &str) -> String {
    use sea_orm::{DatabaseBackend, Statement};
    let backend = server.db.get_database_backend();
    let placeholder = match backend {
        DatabaseBackend::Postgres => "$1",
        _ => "?",
    };
    let row = server
        .db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!("SELECT workspace_id FROM {table} WHERE id = {placeholder}"),
            [id.into()],
        ))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{table} has no row {id}"));
    row.try_get("", "workspace_id").unwrap()
}

/// The endpoint's delivery log, once `done` holds for it.
pub async fn log_once(
    server: &TestServer,
    endpoint: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let path = format!("/v1/webhook-endpoints/{endpoint}/deliveries?limit=100");
    eventually("the delivery log", || async {
        let (status, page) = server.send(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_schema("WebhookDeliveryList", &page);
        let deliveries = page["data"].as_array().unwrap().clone();
        done(&deliveries).then_some(deliveries)
    })
    .await
}

/// A TCP proxy on loopback that can be told to stall: while stalled it passes no byte either way
/// and connects nothing new, as a database host that stopped answering would; resumed, it carries
/// on where it stopped.
pub struct StallingProxy {
    pub addr: SocketAddr,
    stalled: tokio::sync::watch::Sender<bool>,
}

impl StallingProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stalled = tokio::sync::watch::Sender::new(false);
        let flowing = stalled.subscribe();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut flowing = flowing.clone();
                tokio::spawn(async move {
                    let _ = flowing.wait_for(|stalled| !stalled).await;
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        Self::pump(client_read, server_write, flowing.clone()),
                        Self::pump(server_read, client_write, flowing),
                    );
                });
            }
        });
        Self { addr, stalled }
    }

    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mut flowing: tokio::sync::watch::Receiver<bool>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buffer = vec![0; 16 * 1024];
        loop {
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => {
                    if flowing.wait_for(|stalled| !stalled).await.is_err()
                        || to.write_all(&buffer[..read]).await.is_err()
                    {
                        return;
                    }
                }
            }
        }
    }

    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    pub fn resume(&self) {
        self.stalled.send_replace(false);
    }
}

/// PostgreSQL: a transaction on a connection of its own, as another node holds one; statements run
/// in it with [`execute`].
pub async fn other_transaction(server: &TestServer) -> sea_orm::DatabaseTransaction {
    use sea_orm::TransactionTrait;
    let connection = sea_orm::Database::connect(server.database_url())
        .await
        .unwrap();
    connection.begin().await.unwrap()
}

/// PostgreSQL: runs `sql`, whose one parameter is `id`, in `txn`.
pub async fn execute(
    txn: &sea_orm::DatabaseTransaction,
    sql: &str,
    id: &str,
) -> Result<(), sea_orm::DbErr> {
    let statement = sea_orm::Statement::from_sql_and_values(
        sea_orm::DatabaseBackend::Postgres,
        sql,
        [id.into()],
    );
    txn.execute_raw(statement).await.map(drop)
}

/// PostgreSQL: how many sessions of the server's database wait for a lock.
pub async fn lock_waiters(server: &TestServer) -> i64 {
    let row = server
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT count(*) AS waiting FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "waiting").unwrap()
}
