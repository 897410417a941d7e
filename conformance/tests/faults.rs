//! The suites fail where they should: a fault-injecting proxy stands between them and a real
//! HoverBot server (SQLite, on loopback) and breaks one behaviour at a time; each fault must be
//! caught by the check made for it, and the unbroken proxy must pass. The server itself carries
//! no fault switches: the faults live here.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hoverbot_api::Scope;
use hoverbot_conformance::check::Findings;
use hoverbot_conformance::spec::Spec;
use hoverbot_conformance::{Options, run};
use hoverbot_server::config::Config;
use hoverbot_server::limits::Limit;
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
    /// A replayed response is not the stored one: a byte of its body changed.
    ReplayDiffers,
    /// `Retry-After` says three seconds more than the server does.
    RetryAfterTooLong,
    /// A webhook payload loses a field on its way to the receiver.
    WebhookFieldDropped,
    /// A webhook's signature is damaged on its way to the receiver.
    BadSignature,
    /// A retried webhook arrives with another `webhook-id` than its first attempt.
    WebhookIdChangedOnRetry,
    /// The receiver's `webhook-delivery` header (abort the message, disable the endpoint) never
    /// reaches the server, as if it ignored it.
    ControlIgnored,
    /// A response to a keyed request that ran says `Idempotent-Replayed: false`, where the spec
    /// says the header is absent.
    FirstMarkedFalse,
    /// Revoking an API key (with the suite's key) answers 204 and revokes nothing: the key keeps
    /// working.
    RevocationIgnored,
    /// Another workspace's key sending a message to a conversation is let through as the suite's
    /// own key: one operation that takes a resource id leaks across workspaces.
    OtherWorkspaceLetIn,
    /// The list of webhook endpoints ignores `cursor`: every page is the first.
    CursorIgnored,
    /// Deleting a webhook endpoint answers 204 and deletes nothing.
    DeletionIgnored,
    /// Deliveries stop after the sixteenth to a receiver, as when attempt slots are never given
    /// back: the rest are answered 204 and never reach it.
    DeliveriesStopAfterSixteen,
    /// A keyed request whose connection dropped before its body ended leaves its key claimed:
    /// every retry with it is `409 idempotency_in_progress`.
    DroppedKeyStaysClaimed,
    /// A key's `expiresAt` is dropped when it is created: a key made already expired works.
    ExpiryIgnored,
    /// A key made with an `expiresAt` is refused from the start, as if it had expired.
    ExpiringKeyRefused,
}

struct Proxy {
    upstream: String,
    fault: Fault,
    client: reqwest::Client,
    key: String,
    /// The key of another workspace.
    other: String,
    /// The idempotency keys of requests whose body never arrived whole.
    claimed: Mutex<HashSet<String>>,
    /// The secrets of keys made with an `expiresAt`.
    expiring: Mutex<HashSet<String>>,
}

#[handler]
async fn forward(request: &Request, body: Body, Data(proxy): Data<&Arc<Proxy>>) -> Response {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let route = request.uri().path();
    let key = request.header("idempotency-key").map(str::to_string);
    if key
        .as_ref()
        .is_some_and(|key| proxy.claimed.lock().unwrap().contains(key))
    {
        return Response::builder()
            .status(StatusCode::CONFLICT)
            .header("content-type", "application/problem+json")
            .header("retry-after", "1")
            .body(r#"{"status":409,"code":"idempotency_in_progress"}"#);
    }
    // The key is claimed before the body is read and given back once it is whole: a request
    // whose connection drops mid-body (this handler is then cancelled, or its read fails) leaves
    // it claimed.
    let claim = key.filter(|_| proxy.fault == Fault::DroppedKeyStaysClaimed);
    if let Some(key) = &claim {
        proxy.claimed.lock().unwrap().insert(key.clone());
    }
    let Ok(mut body) = body.into_vec().await else {
        return StatusCode::BAD_REQUEST.into();
    };
    if let Some(key) = &claim {
        proxy.claimed.lock().unwrap().remove(key);
    }
    let path = if proxy.fault == Fault::CursorIgnored
        && request.method() == "GET"
        && route == "/v1/webhook-endpoints"
    {
        let query: Vec<&str> = request
            .uri()
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.starts_with("cursor="))
            .collect();
        format!("{route}?{}", query.join("&"))
    } else {
        path.to_string()
    };
    let creates_key = request.method() == "POST" && route == "/v1/api-keys";
    let mut expires = false;
    if creates_key && let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&body) {
        expires = json.get("expiresAt").is_some();
        if proxy.fault == Fault::ExpiryIgnored && expires {
            json.as_object_mut().unwrap().remove("expiresAt");
            body = json.to_string().into_bytes();
        }
    }
    let bearer = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "));
    if bearer.is_some_and(|secret| proxy.expiring.lock().unwrap().contains(secret)) {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", "Bearer error=\"invalid_token\"")
            .header("content-type", "application/problem+json")
            .body(r#"{"status":401,"code":"unauthorized"}"#);
    }
    let own_key = request.header("authorization") == Some(&format!("Bearer {}", proxy.key));
    let other_key = request.header("authorization") == Some(&format!("Bearer {}", proxy.other));
    if proxy.fault == Fault::DeletionIgnored
        && own_key
        && request.method() == "DELETE"
        && route.starts_with("/v1/webhook-endpoints/")
    {
        return StatusCode::NO_CONTENT.into();
    }
    let mut outgoing = proxy.client.request(
        request.method().clone(),
        format!("{}{path}", proxy.upstream),
    );
    let let_in = proxy.fault == Fault::OtherWorkspaceLetIn
        && other_key
        && request.method() == "POST"
        && route.starts_with("/v1/conversations/")
        && route.ends_with("/messages");
    for (name, value) in request.headers() {
        if name == "authorization" && let_in {
            outgoing = outgoing.bearer_auth(&proxy.key);
        } else if name != "host" && name != "content-length" {
            outgoing = outgoing.header(name, value);
        }
    }
    if proxy.fault == Fault::NoChallenge && request.header("authorization").is_none() {
        outgoing = outgoing.bearer_auth(&proxy.key);
    }
    if proxy.fault == Fault::RevocationIgnored
        && request.method() == "DELETE"
        && route.starts_with("/v1/api-keys/")
        && own_key
    {
        return StatusCode::NO_CONTENT.into();
    }
    let upstream = match outgoing.body(body).send().await {
        Ok(response) => response,
        Err(_) => return StatusCode::BAD_GATEWAY.into(),
    };
    let status = upstream.status();
    let headers = upstream.headers().clone();
    let mut body = upstream.bytes().await.unwrap_or_default().to_vec();
    if proxy.fault == Fault::ExpiringKeyRefused
        && creates_key
        && expires
        && let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body)
        && let Some(secret) = json["secret"].as_str()
    {
        proxy.expiring.lock().unwrap().insert(secret.to_string());
    }
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
    let replay = headers
        .get("idempotent-replayed")
        .is_some_and(|value| value == "true");
    if proxy.fault == Fault::ReplayDiffers && replay && !body.is_empty() {
        body.push(b' ');
    }
    let mut response = Response::builder().status(status).body(body);
    if proxy.fault == Fault::FirstMarkedFalse
        && request.header("idempotency-key").is_some()
        && !replay
    {
        response.headers_mut().insert(
            HeaderName::from_static("idempotent-replayed"),
            "false".parse().unwrap(),
        );
    }
    for (name, value) in &headers {
        if proxy.fault == Fault::RetryAfterTooLong && name == "retry-after" {
            let seconds: u64 = value.to_str().unwrap().parse().unwrap();
            response
                .headers_mut()
                .insert(name, (seconds + 3).to_string().parse().unwrap());
            continue;
        }
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

/// Between the server and the suite's receiver: forwards each delivery, broken as `fault` says.
struct WebhookProxy {
    receiver: SocketAddr,
    fault: Fault,
    client: reqwest::Client,
    seen: Mutex<HashSet<String>>,
}

#[handler]
async fn deliver(request: &Request, body: Body, Data(proxy): Data<&Arc<WebhookProxy>>) -> Response {
    let path = request.uri().path();
    let mut body = body.into_vec().await.unwrap_or_default();
    let mut headers = request.headers().clone();
    headers.remove("host");
    match proxy.fault {
        Fault::WebhookFieldDropped => {
            let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            if let Some(data) = json["data"].as_object_mut() {
                data.remove("conversationId");
            }
            body = json.to_string().into_bytes();
        }
        Fault::BadSignature => {
            let signature = headers["webhook-signature"].to_str().unwrap().to_string();
            let damaged = signature.replacen("v1,", "v1,AAAA", 1);
            headers.insert("webhook-signature", damaged.parse().unwrap());
        }
        Fault::WebhookIdChangedOnRetry => {
            let id = headers["webhook-id"].to_str().unwrap().to_string();
            if !proxy.seen.lock().unwrap().insert(id.clone()) {
                headers.insert("webhook-id", format!("{id}x").parse().unwrap());
            }
        }
        Fault::DeliveriesStopAfterSixteen => {
            let mut seen = proxy.seen.lock().unwrap();
            seen.insert(headers["webhook-id"].to_str().unwrap().to_string());
            if seen.len() > 16 {
                return StatusCode::NO_CONTENT.into();
            }
        }
        _ => {}
    }
    headers.remove("content-length");
    let sent = proxy
        .client
        .post(format!("http://{}{path}", proxy.receiver))
        .headers(headers)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(answer) => {
            let status = answer.status();
            let mut passed = vec!["retry-after"];
            if proxy.fault != Fault::ControlIgnored {
                passed.push("webhook-delivery");
            }
            let headers: Vec<_> = passed
                .into_iter()
                .filter_map(|name| Some((name, answer.headers().get(name)?.clone())))
                .collect();
            let mut response = Response::builder()
                .status(status)
                .body(answer.bytes().await.unwrap_or_default().to_vec());
            for (name, value) in headers {
                response.headers_mut().insert(name, value);
            }
            response
        }
        // The receiver hung up or timed out: so does the proxy.
        Err(_) => StatusCode::BAD_GATEWAY.into(),
    }
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

/// A real server on a fresh SQLite database (receivers on loopback allowed, and a retry schedule
/// of seconds), an all-scopes key of its workspace, and one of a second workspace whose limit is
/// 20 requests a minute with bursts of 5.
/// A server with three workspaces, and a key of each: the suites', a rate-limited one's, and
/// another's, for the isolation checks.
async fn hoverbot(name: &str) -> (Running, [String; 3], std::path::PathBuf) {
    hoverbot_on(name, "0s,1s,2s").await
}

/// [`hoverbot`] with another webhook retry schedule.
async fn hoverbot_on(name: &str, schedule: &str) -> (Running, [String; 3], std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "hoverbot-conformance-{name}-{}",
        std::process::id()
    ));
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
        allow_private_networks: true,
        webhook_retry_schedule: schedule.into(),
        ..Config::default()
    };
    let running = server::start(db.clone(), &config).await.unwrap();
    let mut keys = Vec::new();
    for (name, limit) in [
        ("conformance", None),
        (
            "limited",
            Some(Limit {
                per_minute: 20,
                burst: 5,
            }),
        ),
        ("other", None),
    ] {
        let workspace = workspaces::create(&db, name).await.unwrap();
        let workspace = workspaces::find(&db, &workspace.id).await.unwrap().unwrap();
        workspaces::set_rate_limit(&db, &workspace, limit)
            .await
            .unwrap();
        keys.push(
            api_keys::create(&db, &workspace, "suite", Scope::ALL, None)
                .await
                .unwrap()
                .secret,
        );
    }
    (running, keys.try_into().unwrap(), dir)
}

/// A free loopback port, for a receiver whose address the webhook proxy must know first.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where a fault is injected.
#[derive(Clone, Copy, PartialEq)]
enum Through {
    /// Between the suites and the server.
    Api,
    /// Also between the server and the suites' webhook receiver.
    Webhooks,
}

/// The failed checks of `suites` run through proxies with `fault`, as `suite/check` names.
async fn failed_checks(
    upstream: &str,
    (key, other): (&str, &str),
    fault: Fault,
    through: Through,
    suites: &[&str],
) -> Vec<String> {
    let findings = findings_through(upstream, (key, other), fault, through, suites).await;
    if fault == Fault::None {
        // The clean run must find nothing; say what it found, so that the failure explains itself.
        for failure in &findings.failures {
            eprintln!(
                "the unbroken server failed {}/{} on {}: expected {}, seen {}",
                failure.suite, failure.check, failure.operation, failure.expected, failure.seen
            );
        }
    }
    let mut failed: Vec<String> = findings
        .failures
        .iter()
        .map(|failure| format!("{}/{}", failure.suite, failure.check))
        .collect();
    failed.sort();
    failed.dedup();
    failed
}

/// What `suites` find through proxies with `fault`; the run itself must not fail (the command
/// would exit 2, a usage error, where the deployment broke a promise).
async fn findings_through(
    upstream: &str,
    (key, other): (&str, &str),
    fault: Fault,
    through: Through,
    suites: &[&str],
) -> Findings {
    let proxy = Arc::new(Proxy {
        upstream: upstream.to_string(),
        fault,
        client: reqwest::Client::new(),
        key: key.to_string(),
        other: other.to_string(),
        claimed: Mutex::default(),
        expiring: Mutex::default(),
    });
    let addr = serve(Route::new().at("/*path", forward).data(proxy)).await;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let webhook_public_url = if through == Through::Webhooks {
        let proxy = Arc::new(WebhookProxy {
            receiver: listen,
            fault,
            client: reqwest::Client::new(),
            seen: Mutex::default(),
        });
        let addr = serve(Route::new().at("/*path", deliver).data(proxy)).await;
        Some(format!("http://{addr}/"))
    } else {
        None
    };
    run(
        &Spec::builtin(),
        &Options {
            base_url: format!("http://{addr}"),
            api_key: key.to_string(),
            second_api_key: Some(other.to_string()),
            suites: suites.iter().map(|suite| suite.to_string()).collect(),
            max_examples: 5,
            // The faults are caught on the first case; no need to shrink them.
            max_shrinks: 0,
            seed: 1,
            workers: 4,
            webhook_listen: Some(listen.to_string()),
            webhook_public_url,
        },
    )
    .await
    .unwrap()
}

/// What a test runs: the suites that must pass through the unbroken proxies, and each fault with
/// the suites that must catch it, by the check named.
struct Case<'a> {
    clean: (&'a [&'a str], Through),
    faults: &'a [(Fault, Through, &'a [&'a str], &'a str)],
    /// Whether to run with the key of the workspace with a small rate limit.
    limited: bool,
    /// Whether the runs may share the server at once (suites that change no workspace setting).
    at_once: bool,
}

async fn caught(name: &str, case: Case<'_>) {
    let (running, [key, limited_key, other], dir) = hoverbot(name).await;
    let key = if case.limited { limited_key } else { key };
    let keys = (key.as_str(), other.as_str());
    let upstream = format!("http://{}", running.addr);
    let (clean, through) = case.clean;
    let baseline = failed_checks(&upstream, keys, Fault::None, through, clean);
    let broken = case.faults.iter().map(|(fault, through, suites, _)| {
        failed_checks(&upstream, keys, *fault, *through, suites)
    });
    let (baseline, broken) = if case.at_once {
        tokio::join!(baseline, futures_util::future::join_all(broken))
    } else {
        let baseline = baseline.await;
        let mut results = Vec::new();
        for run in broken {
            results.push(run.await);
        }
        (baseline, results)
    };
    assert!(
        baseline.is_empty(),
        "the unbroken server failed {baseline:?}"
    );
    for ((fault, _, _, check), failed) in case.faults.iter().zip(broken) {
        assert!(
            failed.iter().any(|failed| failed == check),
            "{fault:?}: expected {check} among the failures, got {failed:?}"
        );
    }
    running.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_response_is_caught_by_its_check() {
    caught(
        "responses",
        Case {
            clean: (&["schema", "auth", "idempotency"], Through::Api),
            faults: &[
                (
                    Fault::MissingRateLimitHeader,
                    Through::Api,
                    &["schema"],
                    "schema/required_headers",
                ),
                (
                    Fault::WrongFieldType,
                    Through::Api,
                    &["schema"],
                    "schema/body_schema",
                ),
                (
                    Fault::ServerError,
                    Through::Api,
                    &["schema"],
                    "schema/not_a_server_error",
                ),
                (
                    Fault::ReplayNotMarked,
                    Through::Api,
                    &["idempotency"],
                    "idempotency/replay_identical",
                ),
                (
                    Fault::ReplayDiffers,
                    Through::Api,
                    &["idempotency"],
                    "idempotency/replay_identical",
                ),
                (
                    Fault::FirstMarkedFalse,
                    Through::Api,
                    &["idempotency"],
                    "idempotency/first_not_marked",
                ),
                (
                    Fault::NoChallenge,
                    Through::Api,
                    &["auth"],
                    "auth/missing_token",
                ),
                (
                    Fault::DroppedKeyStaysClaimed,
                    Through::Api,
                    &["idempotency"],
                    "idempotency/dropped_connection",
                ),
                (
                    Fault::ExpiryIgnored,
                    Through::Api,
                    &["auth"],
                    "auth/expired_token",
                ),
                (
                    Fault::ExpiringKeyRefused,
                    Through::Api,
                    &["auth"],
                    "auth/wrong_scope",
                ),
            ],
            limited: false,
            at_once: false,
        },
    )
    .await;
}

/// Tenancy, paging and deletion, each broken for one operation of one kind of resource: the
/// checks that go through every operation and every kind find it. The runs share the server at
/// once, as on a busy workspace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leak_a_broken_cursor_and_an_ignored_deletion_are_caught() {
    caught(
        "kinds",
        Case {
            clean: (&["auth", "stateful"], Through::Api),
            faults: &[
                (
                    Fault::OtherWorkspaceLetIn,
                    Through::Api,
                    &["auth"],
                    "auth/other_workspace",
                ),
                (
                    Fault::CursorIgnored,
                    Through::Api,
                    &["stateful"],
                    "stateful/pages_complete",
                ),
                (
                    Fault::DeletionIgnored,
                    Through::Api,
                    &["stateful"],
                    "stateful/deleted_is_gone",
                ),
            ],
            limited: false,
            at_once: true,
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_delivery_is_caught_by_its_check() {
    caught(
        "deliveries",
        Case {
            clean: (&["webhooks", "stateful"], Through::Webhooks),
            faults: &[
                (
                    Fault::WebhookFieldDropped,
                    Through::Webhooks,
                    &["webhooks"],
                    "webhooks/payload_schema",
                ),
                (
                    Fault::BadSignature,
                    Through::Webhooks,
                    &["webhooks"],
                    "webhooks/signature",
                ),
                (
                    Fault::DeliveriesStopAfterSixteen,
                    Through::Webhooks,
                    &["webhooks"],
                    "webhooks/burst_delivered",
                ),
            ],
            limited: false,
            at_once: false,
        },
    )
    .await;
}

/// The proxy answers 502 where the receiver drops a connection, so the clean run of `retries`
/// goes straight to the receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_retry_is_caught_by_its_check() {
    caught(
        "retries",
        Case {
            clean: (&["retries"], Through::Api),
            faults: &[
                (
                    Fault::WebhookIdChangedOnRetry,
                    Through::Webhooks,
                    &["retries"],
                    "retries/same_webhook_id",
                ),
                (
                    Fault::ControlIgnored,
                    Through::Webhooks,
                    &["retries"],
                    "retries/delivery_control",
                ),
            ],
            limited: false,
            // Each run's endpoints hear the other's conversation too, and the first 410 its
            // `gone` receiver answers disables that endpoint: were it the other run's event, its
            // own would never be sent.
            at_once: false,
        },
    )
    .await;
}

/// A run of `limits` spends one window of the policy (60 s); the clean run and the broken one
/// share it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dishonest_retry_after_is_caught() {
    caught(
        "limits",
        Case {
            clean: (&["limits"], Through::Api),
            faults: &[(
                Fault::RetryAfterTooLong,
                Through::Api,
                &["limits"],
                "limits/retry_after_honest",
            )],
            limited: true,
            // Each run spends a key of its own.
            at_once: true,
        },
    )
    .await;
}

/// A broken promise found while a suite prepares is a failed check like any other: a revocation
/// that does not take fails `auth/revoked_token` (exit 1, in the reports), the suite's other
/// checks still run, and so does the next suite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_that_keeps_working_is_a_failed_check_and_the_run_goes_on() {
    let (running, [key, _, other], dir) = hoverbot("revocation").await;
    let upstream = format!("http://{}", running.addr);
    let findings = findings_through(
        &upstream,
        (&key, &other),
        Fault::RevocationIgnored,
        Through::Api,
        &["auth", "idempotency"],
    )
    .await;
    let failed: Vec<String> = findings
        .failures
        .iter()
        .map(|failure| format!("{}/{}", failure.suite, failure.check))
        .collect();
    assert_eq!(failed, ["auth/revoked_token"], "{:#?}", findings.failures);
    assert!(findings.failures[0].curl.contains("/v1/api-keys"));
    let passed = |suite: &str, check: &str| findings.counts[suite][check].0;
    assert!(passed("auth", "missing_token") > 0 && passed("auth", "wrong_scope") > 0);
    assert!(passed("idempotency", "replay_identical") > 0);
    running.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// One attempt and no retry is a valid schedule: the delivery to a receiver that hangs is
/// `failed` only once the deployment gives up on that attempt, and `retries` waits for that
/// before it reads the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_of_one_attempt_passes_retries() {
    let (running, [key, _, other], dir) = hoverbot_on("one-attempt", "0s").await;
    let upstream = format!("http://{}", running.addr);
    let failed = failed_checks(
        &upstream,
        (&key, &other),
        Fault::None,
        Through::Api,
        &["retries"],
    )
    .await;
    assert!(
        failed.is_empty(),
        "a schedule of one attempt failed {failed:?}"
    );
    running.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
