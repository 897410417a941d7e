//! Receivers that fail, and tenants side by side: an endpoint's circuit breaker opens after failures
//! in a row, holds its deliveries back, probes and closes; an endpoint failing for longer than a
//! retry window is disabled with a `webhook_endpoint.disabled` event; a receiver may stop the
//! retries of a message or disable its endpoint; and one workspace's receivers that never answer
//! do not hold up another workspace's deliveries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Receiver, Reply, TestServer, assert_schema, eventually, log_once};

/// Servers that may call loopback receivers, with `schedule`.
async fn servers(schedule: &str) -> Vec<TestServer> {
    TestServer::each_configured(|config| {
        config.allow_private_networks = true;
        config.webhook_retry_schedule = schedule.to_string();
    })
    .await
}

async fn subscribe(server: &TestServer, key: &str, url: &str, events: &[&str]) -> String {
    let (status, created) = server
        .send_as(
            key,
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": url, "enabledEvents": events})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_string()
}

async fn endpoint(server: &TestServer, id: &str) -> Value {
    let (status, shown) = server
        .send(Method::GET, &format!("/v1/webhook-endpoints/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_schema("WebhookEndpoint", &shown);
    shown
}

fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// The next `webhook_endpoint.disabled` event `watcher` gets, checked against the spec.
async fn disabled_event(watcher: &mut Receiver) -> Value {
    let event = watcher.next().await.json();
    assert_eq!(event["type"], "webhook_endpoint.disabled", "{event}");
    assert_schema("WebhookEndpointDisabledEvent", &event);
    event
}

#[tokio::test]
async fn the_breaker_opens_after_failures_in_a_row_then_a_probe_closes_it() {
    for server in servers("0s,3s,3s,3s").await {
        let mut receiver = Receiver::scripted(vec![Reply::status(500); 5]).await;
        let id = subscribe(
            &server,
            &server.key,
            &receiver.url,
            &["conversation.created"],
        )
        .await;
        for _ in 0..5 {
            server.create_conversation().await;
        }

        // Five failures in a row: open, with the deliveries due no sooner than the pause's end.
        let open = eventually("the breaker to open", || async {
            let shown = endpoint(&server, &id).await;
            (shown["health"]["circuit"] == "open").then_some(shown)
        })
        .await;
        assert_eq!(open["health"]["consecutiveFailures"], 5, "{open}");
        assert!(open["enabled"].as_bool().unwrap());
        let paused_until = time(&open["health"]["pausedUntil"]);
        let log = log_once(&server, &id, |_| true).await;
        assert_eq!(log.len(), 5);
        for delivery in &log {
            assert_eq!(delivery["status"], "pending", "{delivery}");
            assert!(
                time(&delivery["nextAttemptAt"]) >= paused_until,
                "{delivery}"
            );
        }
        for _ in 0..5 {
            assert_eq!(receiver.next().await.json()["type"], "conversation.created");
        }

        // Nothing goes out before the pause ends; then the probe succeeds, and the rest follow.
        let probe = receiver.next().await;
        assert!(
            probe.wall >= paused_until,
            "{} < {paused_until}",
            probe.wall
        );
        let log = log_once(&server, &id, |log| {
            log.iter().all(|delivery| delivery["status"] == "succeeded")
        })
        .await;
        assert!(log.iter().all(|delivery| delivery["attemptCount"] == 2));
        let closed = endpoint(&server, &id).await;
        assert_eq!(
            closed["health"],
            json!({"circuit": "closed", "consecutiveFailures": 0, "failingSince": null, "pausedUntil": null})
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn an_endpoint_failing_for_longer_than_a_retry_window_is_disabled_with_an_event() {
    // A retry window of one second.
    for server in servers("0s,1s").await {
        let mut watcher = Receiver::start().await;
        subscribe(
            &server,
            &server.key,
            &watcher.url,
            &["webhook_endpoint.disabled"],
        )
        .await;
        let refused = "http://127.0.0.1:9/closed";
        let id = subscribe(&server, &server.key, refused, &["conversation.created"]).await;

        // One event runs out of attempts: failing, but not for longer than a window.
        server.create_conversation().await;
        log_once(&server, &id, |log| {
            log.len() == 1 && log[0]["status"] == "failed"
        })
        .await;
        let failing = endpoint(&server, &id).await;
        assert_eq!(failing["enabled"], true, "{failing}");
        assert_eq!(failing["health"]["consecutiveFailures"], 2);
        let since = time(&failing["health"]["failingSince"]);

        // The next event's attempt, after the window: still failing, so the endpoint is disabled.
        eventually("a retry window to pass", || async {
            (chrono::Utc::now() > since + chrono::Duration::milliseconds(1100)).then_some(())
        })
        .await;
        server.create_conversation().await;
        let event = disabled_event(&mut watcher).await;
        assert_eq!(event["data"]["webhookEndpointId"], id.as_str());
        assert_eq!(event["data"]["url"], refused);
        assert_eq!(event["data"]["reason"], "failing");
        assert_eq!(event["data"]["consecutiveFailures"], 3);
        assert_eq!(time(&event["data"]["failingSince"]), since);
        let disabled = endpoint(&server, &id).await;
        assert_eq!(disabled["enabled"], false);
        assert_eq!(disabled["disabledReason"], "failing");

        // Enabled again, it starts afresh.
        let (status, enabled) = server
            .send(
                Method::PATCH,
                &format!("/v1/webhook-endpoints/{id}"),
                Some(json!({"enabled": true})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{enabled}");
        assert_eq!(enabled["health"]["consecutiveFailures"], 0);
        assert_eq!(enabled["health"]["failingSince"], Value::Null);
        server.finish().await;
    }
}

#[tokio::test]
async fn a_receiver_can_stop_the_retries_of_a_message_or_disable_its_endpoint() {
    for server in servers("0s,1s").await {
        let mut watcher = Receiver::start().await;
        subscribe(
            &server,
            &server.key,
            &watcher.url,
            &["webhook_endpoint.disabled"],
        )
        .await;
        let mut receiver = Receiver::scripted(vec![
            Reply {
                delivery_control: Some("abort-message"),
                ..Reply::status(500)
            },
            Reply {
                delivery_control: Some("disable"),
                ..Reply::status(200)
            },
        ])
        .await;
        let id = subscribe(
            &server,
            &server.key,
            &receiver.url,
            &["conversation.created"],
        )
        .await;

        server.create_conversation().await;
        receiver.next().await;
        let log = log_once(&server, &id, |log| {
            log.len() == 1 && log[0]["status"] == "failed"
        })
        .await;
        assert_eq!(log[0]["attemptCount"], 1, "no retry: {log:?}");
        assert_eq!(log[0]["attempts"][0]["statusCode"], 500);
        assert!(
            log[0]["attempts"][0]["error"]
                .as_str()
                .unwrap()
                .contains("webhook-delivery: abort-message")
        );
        assert_eq!(endpoint(&server, &id).await["enabled"], true);

        server.create_conversation().await;
        receiver.next().await;
        let event = disabled_event(&mut watcher).await;
        assert_eq!(event["data"]["webhookEndpointId"], id.as_str());
        assert_eq!(event["data"]["reason"], "requested");
        let disabled = endpoint(&server, &id).await;
        assert_eq!(disabled["enabled"], false);
        assert_eq!(disabled["disabledReason"], "requested");
        let log = log_once(&server, &id, |log| log.len() == 2).await;
        assert_eq!(log[0]["status"], "succeeded", "the message was received");
        server.finish().await;
    }
}

/// Receivers that accept connections and never answer, on `count` ports of loopback; how many
/// connections they have accepted. Dropping the guard closes them all.
struct Silent {
    urls: Vec<String>,
    accepted: Arc<AtomicUsize>,
    tasks: tokio::task::JoinSet<()>,
}

impl Silent {
    async fn start(count: usize) -> Self {
        let accepted = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        let mut urls = Vec::new();
        for _ in 0..count {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            urls.push(format!("http://{}/hook", listener.local_addr().unwrap()));
            let accepted = accepted.clone();
            tasks.spawn(async move {
                let mut held = Vec::new();
                while let Ok((socket, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    held.push(socket);
                }
            });
        }
        Self {
            urls,
            accepted,
            tasks,
        }
    }
}

#[tokio::test]
async fn a_neighbours_silent_receivers_do_not_hold_up_a_workspaces_deliveries() {
    use hoverbot_server::delivery::worker::LIMITS;
    // A failed attempt is retried only after an hour: only first attempts are made here.
    for server in servers("0s,1h").await {
        // The neighbour: 50 endpoints at receivers that never answer, each attempt holding its
        // slot for the whole attempt timeout.
        let neighbour = server
            .new_workspace_key("neighbour", hoverbot_api::Scope::ALL)
            .await;
        let silent = Silent::start(5).await;
        let mut silent_endpoints = Vec::new();
        for n in 0..50 {
            let url = &silent.urls[n % silent.urls.len()];
            silent_endpoints
                .push(subscribe(&server, &neighbour, url, &["conversation.created"]).await);
        }
        for _ in 0..3 {
            let (status, body) = server
                .send_as(
                    &neighbour,
                    Method::POST,
                    "/v1/conversations",
                    Some(json!({"channel": "web"})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        // It holds its share of the slots, and no more.
        eventually("the neighbour's attempts to take its share", || async {
            (silent.accepted.load(Ordering::SeqCst) == LIMITS.per_workspace).then_some(())
        })
        .await;

        // This workspace's deliveries go out beside them, every one while the neighbour's attempts
        // still hang: none of those has ended (each would, after the attempt timeout).
        let mut receiver = Receiver::start().await;
        let id = subscribe(
            &server,
            &server.key,
            &receiver.url,
            &["conversation.created"],
        )
        .await;
        for _ in 0..10 {
            server.create_conversation().await;
        }
        for _ in 0..10 {
            receiver.next().await;
        }
        log_once(&server, &id, |log| {
            log.len() == 10 && log.iter().all(|d| d["status"] == "succeeded")
        })
        .await;
        let (status, page) = server
            .send_as(
                &neighbour,
                Method::GET,
                &format!("/v1/webhook-endpoints/{}/deliveries", silent_endpoints[0]),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["attemptCount"] == 0),
            "a neighbour's attempt ended first: {page}"
        );
        assert_eq!(
            silent.accepted.load(Ordering::SeqCst),
            LIMITS.per_workspace,
            "the neighbour never held more than its share"
        );
        // Closing the silent receivers ends the neighbour's attempts at once.
        drop(silent.tasks);
        server.finish().await;
    }
}
