//! The suites fail where they should: a fault-injecting proxy stands between them and a real
//! HoverBot server (SQLite, on loopback) and breaks one behaviour at a time; each fault must be
//! caught by the check made for it, and the unbroken proxy must pass. The server itself carries
//! no fault switches: the faults live here.

use std::net::SocketAddr;
use std::sync::Arc;

use hoverbot_conformance::spec::Spec;
use hoverbot_conformance::{Options, run};
use hoverbot_server::api::generated::Scope;
use hoverbot_server::config::Config;
use hoverbot_server::server::{self, Running};
use hoverbot_server::store::{self, api_keys, workspaces};
use poem::http::{HeaderName, StatusCode};
use poem::listener::{Acceptor, Listener};
use poem::web::Data;
use poem::{Body, EndpointExt, Request, Response, Route, handler};

/// One behaviour broken on the way back to the suite.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    /// The `RateLimit` header is dropped from every response.
    MissingRateLimitHeader,
    /// A conversation's `id` arrives as a number.
    WrongFieldType,
    /// Creating a conversation fails with a 500.
    ServerError,
    /// A replayed response says it is not one.
    ReplayNotMarked,
    /// A request without a token is let through as if it had the suite's key.
    NoChallenge,
}

struct Proxy {
    upstream: String,
    fault: Fault,
    client: reqwest::Client,
    key: String,
}

#[handler]
async fn forward(request: &Request, body: Body, Data(proxy): Data<&Arc<Proxy>>) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let mut outgoing = proxy.client.request(
        request.method().clone(),
        format!("{}{path}", proxy.upstream),
    );
    for (name, value) in request.headers() {
        if name != "host" {
            outgoing = outgoing.header(name, value);
        }
    }
    if proxy.fault == Fault::NoChallenge && request.header("authorization").is_none() {
        outgoing = outgoing.bearer_auth(&proxy.key);
    }
    let body = body.into_vec().await.unwrap_or_default();
    let upstream = match outgoing.body(body).send().await {
        Ok(response) => response,
        Err(_) => return StatusCode::BAD_GATEWAY.into(),
    };
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let mut body = upstream.bytes().await.unwrap_or_default().to_vec();
    let creates_conversation =
        request.method() == "POST" && request.uri().path() == "/v1/conversations";
    if proxy.fault == Fault::ServerError && creates_conversation {
        return StatusCode::INTERNAL_SERVER_ERROR.into();
    }
    if proxy.fault == Fault::WrongFieldType
        && creates_conversation
        && let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&body)
        && json.get("id").is_some()
    {
        json["id"] = serde_json::json!(42);
        body = json.to_string().into_bytes();
    }
    let mut response = Response::builder().status(status).body(body);
    for (name, value) in &headers {
        if name == "content-length" || name == "transfer-encoding" {
            continue;
        }
        if proxy.fault == Fault::MissingRateLimitHeader && name == "ratelimit" {
            continue;
        }
        if proxy.fault == Fault::ReplayNotMarked && name == "idempotent-replayed" {
            response.headers_mut().insert(
                HeaderName::from_static("idempotent-replayed"),
                "false".parse().unwrap(),
            );
            continue;
        }
        response.headers_mut().append(name, value.clone());
    }
    response
}

async fn serve(app: impl poem::Endpoint + 'static) -> SocketAddr {
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    addr
}

/// A real server on a fresh SQLite database, and an all-scopes key of its workspace.
async fn hoverbot() -> (Running, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("hoverbot-conformance-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("test.db").display());
    let db = store::connect(&url).await.unwrap();
    store::migrate(&db).await.unwrap();
    let config = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: Some(url),
        secret_key: Some("dGVzdC1zZWNyZXQta2V5LXRoaXJ0eS10d28tYnl0ZXM=".into()),
        rate_limit_per_minute: 6_000_000,
        rate_limit_burst: 1_000_000,
        ..Config::default()
    };
    let running = server::start(db.clone(), &config).await.unwrap();
    let workspace = workspaces::create(&db, "conformance").await.unwrap();
    let workspace = workspaces::find(&db, &workspace.id).await.unwrap().unwrap();
    let key = api_keys::create(&db, &workspace, "suite", Scope::ALL, None)
        .await
        .unwrap()
        .secret;
    (running, key, dir)
}

/// The failed checks of `suites` run through a proxy with `fault`, as `suite/check` names.
async fn failed_checks(upstream: &str, key: &str, fault: Fault, suites: &[&str]) -> Vec<String> {
    let proxy = Arc::new(Proxy {
        upstream: upstream.to_string(),
        fault,
        client: reqwest::Client::new(),
        key: key.to_string(),
    });
    let addr = serve(Route::new().at("/*path", forward).data(proxy)).await;
    let findings = run(
        &Spec::builtin(),
        &Options {
            base_url: format!("http://{addr}"),
            api_key: key.to_string(),
            second_api_key: None,
            suites: suites.iter().map(|suite| suite.to_string()).collect(),
            max_examples: 5,
            // The faults are caught on the first case; no need to shrink them.
            max_shrinks: 0,
            seed: 1,
        },
    )
    .await
    .unwrap();
    let mut failed: Vec<String> = findings
        .failures
        .iter()
        .map(|failure| format!("{}/{}", failure.suite, failure.check))
        .collect();
    failed.sort();
    failed.dedup();
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_behaviour_is_caught_by_its_check() {
    let (running, key, dir) = hoverbot().await;
    let upstream = format!("http://{}", running.addr);

    let clean = failed_checks(
        &upstream,
        &key,
        Fault::None,
        &["schema", "auth", "idempotency"],
    )
    .await;
    assert!(clean.is_empty(), "the unbroken server failed {clean:?}");

    for (fault, suites, caught) in [
        (
            Fault::MissingRateLimitHeader,
            &["schema"][..],
            "schema/required_headers",
        ),
        (Fault::WrongFieldType, &["schema"][..], "schema/body_schema"),
        (
            Fault::ServerError,
            &["schema"][..],
            "schema/not_a_server_error",
        ),
        (
            Fault::ReplayNotMarked,
            &["idempotency"][..],
            "idempotency/replay_identical",
        ),
        (Fault::NoChallenge, &["auth"][..], "auth/missing_token"),
    ] {
        let failed = failed_checks(&upstream, &key, fault, suites).await;
        assert!(
            failed.iter().any(|check| check == caught),
            "{fault:?}: expected {caught} among the failures, got {failed:?}"
        );
    }
    running.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
