//! Webhook delivery end to end: events written with the changes that cause them, delivered by the
//! worker to a real receiver on loopback, signed, retried on the (compressed) schedule, and shown
//! in the delivery log.

use std::collections::HashMap;
use std::time::Duration;

use hoverbot_server::webhooks::signature::Secret;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    Received, Receiver, Reply, ServerProcess, TestServer, assert_problem, assert_schema,
    eventually, execute, header, lock_waiters, log_once, other_transaction, require_postgres,
    workspace_of,
};

/// Servers that may call loopback receivers, with `schedule`.
async fn servers(schedule: &str) -> Vec<TestServer> {
    TestServer::each_configured(|config| {
        config.allow_private_networks = true;
        config.webhook_retry_schedule = schedule.to_string();
    })
    .await
}

/// Subscribes `url`; returns the endpoint id and its secret.
async fn subscribe(server: &TestServer, body: Value) -> (String, Secret) {
    let (status, created) = server
        .send(Method::POST, "/v1/webhook-endpoints", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["id"].as_str().unwrap().to_string(),
        Secret::parse(created["secret"].as_str().unwrap()).unwrap(),
    )
}

fn all_over(deliveries: &[Value], count: usize) -> bool {
    deliveries.len() == count && deliveries.iter().all(|d| d["status"] != "pending")
}

/// Checks the Standard Webhooks headers of a delivery against `secret`; returns the event.
fn verified(received: &Received, secret: &Secret) -> Value {
    let headers = &received.headers;
    let id = header(headers, "webhook-id");
    let timestamp: i64 = header(headers, "webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    assert_eq!(
        header(headers, "webhook-signature"),
        secret.sign(id, timestamp, &received.body)
    );
    assert_eq!(header(headers, "idempotency-key"), id);
    assert_eq!(header(headers, "content-type"), "application/json");
    assert!(header(headers, "user-agent").starts_with("HoverBot-Webhooks/"));
    let event = received.json();
    assert_eq!(event["id"], id);
    event
}

#[tokio::test]
async fn every_event_arrives_signed_and_as_the_spec_describes_it() {
    for server in servers("0s,1s").await {
        let mut receiver = Receiver::scripted(vec![Reply::status(200); 4]).await;
        let (endpoint, secret) = subscribe(&server, json!({"url": receiver.url})).await;
        let (_, conversation) = server
            .send(
                Method::POST,
                "/v1/conversations",
                Some(json!({"channel": "whatsapp", "externalUserId": "visitor_9"})),
            )
            .await;
        let conversation_id = conversation["id"].as_str().unwrap();
        let (_, exchange) = server
            .send(
                Method::POST,
                &format!("/v1/conversations/{conversation_id}/messages"),
                Some(json!({"text": "Could we book a demo? I'm Jane Doe from Northwind Traders, jane@northwind.example"})),
            )
            .await;
        let (status, escalation) = server
            .send(
                Method::POST,
                "/v1/escalations",
                Some(json!({
                    "conversationId": conversation_id,
                    "reasonCode": "user_requested",
                    "destination": "zendesk",
                    "priority": "high",
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{escalation}");

        // Delivery order is not promised: gather the four by type.
        let mut events: HashMap<String, Value> = HashMap::new();
        for _ in 0..4 {
            let event = verified(&receiver.next().await, &secret);
            events.insert(event["type"].as_str().unwrap().to_string(), event);
        }
        let workspace = events["conversation.created"]["tenantId"].clone();
        for (kind, schema) in [
            ("conversation.created", "ConversationCreatedEvent"),
            ("message.responded", "MessageRespondedEvent"),
            ("lead.qualified", "LeadQualifiedEvent"),
            ("escalation.created", "EscalationCreatedEvent"),
        ] {
            assert_schema(schema, &events[kind]);
            assert_eq!(events[kind]["tenantId"], workspace);
            assert!(events[kind]["id"].as_str().unwrap().starts_with("evt_"));
        }
        let created = &events["conversation.created"]["data"];
        assert_eq!(created["conversationId"], conversation_id);
        assert_eq!(created["channel"], "whatsapp");
        assert_eq!(created["externalUserId"], "visitor_9");
        assert_eq!(created["startedAt"], conversation["createdAt"]);
        let responded = &events["message.responded"]["data"];
        assert_eq!(responded["conversationId"], conversation_id);
        assert_eq!(responded["messageId"], exchange["assistantMessage"]["id"]);
        assert_eq!(responded["replyToMessageId"], exchange["userMessage"]["id"]);
        assert_eq!(responded["latencyMs"], exchange["trace"]["latencyMs"]);
        assert_eq!(responded["confidence"], exchange["trace"]["confidence"]);
        assert_eq!(responded["intent"], "demo_request");
        assert_eq!(responded["leadScore"], exchange["trace"]["leadScore"]);
        let qualified = &events["lead.qualified"]["data"];
        assert_eq!(qualified["conversationId"], conversation_id);
        assert_eq!(qualified["leadScore"], exchange["trace"]["leadScore"]);
        assert!(
            qualified["leadScore"].as_i64().unwrap() >= 70,
            "{qualified}"
        );
        assert_eq!(qualified["intent"], "demo_request");
        assert_eq!(
            qualified["contactFields"],
            json!({"email": "jane@northwind.example", "phone": null, "name": "Jane Doe", "company": "Northwind Traders"})
        );
        // The transcript link opens without an API key, and shows this conversation.
        let link = qualified["transcriptUrl"].as_str().unwrap();
        assert!(
            link.starts_with(&server.url("/v1/shared-transcripts/")),
            "{link}"
        );
        let (status, transcript) =
            crate::support::json(server.client.get(link).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{transcript}");
        assert_schema("ConversationTranscript", &transcript);
        assert_eq!(transcript["conversation"]["id"], conversation_id);
        assert_eq!(transcript["outcomes"]["leadQualified"], true);
        let escalated = &events["escalation.created"]["data"];
        assert_eq!(escalated["escalationId"], escalation["id"]);
        assert_eq!(escalated["destination"], "zendesk");
        assert_eq!(escalated["priority"], "high");
        assert_eq!(escalated["reasonCode"], "user_requested");

        // The log says each was delivered at the first attempt.
        let log = log_once(&server, &endpoint, |d| all_over(d, 4)).await;
        for delivery in &log {
            assert_eq!(delivery["status"], "succeeded", "{delivery}");
            assert_eq!(delivery["attemptCount"], 1);
            assert_eq!(delivery["nextAttemptAt"], Value::Null);
            assert_eq!(delivery["attempts"][0]["statusCode"], 200);
            assert_eq!(
                delivery["attempts"][0]["responseSnippet"],
                "receiver says hello"
            );
            let event = &events[delivery["eventType"].as_str().unwrap()];
            assert_eq!(delivery["eventId"], event["id"]);
        }
        // The log can be filtered, and one delivery read alone.
        let path = format!(
            "/v1/webhook-endpoints/{endpoint}/deliveries?eventType=escalation.created&status=succeeded"
        );
        let (_, page) = server.send(Method::GET, &path, None).await;
        assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
        let id = page["data"][0]["id"].as_str().unwrap();
        let (status, one) = server
            .send(Method::GET, &format!("/v1/webhook-deliveries/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_schema("WebhookDelivery", &one);
        assert_eq!(one, page["data"][0]);
        server.finish().await;
    }
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_event_again_on_the_schedule() {
    for server in servers("0s,1s,2s,1s").await {
        let mut receiver = Receiver::scripted(vec![
            Reply::status(500),
            Reply::status(502),
            Reply::status(204),
        ])
        .await;
        let (endpoint, secret) = subscribe(
            &server,
            json!({"url": receiver.url, "enabledEvents": ["conversation.created"]}),
        )
        .await;
        server.create_conversation().await;
        let attempts = [
            receiver.next().await,
            receiver.next().await,
            receiver.next().await,
        ];
        let id = header(&attempts[0].headers, "webhook-id");
        for attempt in &attempts {
            assert_eq!(verified(attempt, &secret)["id"], id);
        }
        // Never earlier than the schedule allows (1 s, then 2 s, each less at most a fifth).
        let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
        assert!(gaps[0] >= Duration::from_millis(790), "{gaps:?}");
        assert!(gaps[1] >= Duration::from_millis(1590), "{gaps:?}");

        let log = log_once(&server, &endpoint, |d| all_over(d, 1)).await;
        let delivery = &log[0];
        assert_eq!(delivery["status"], "succeeded", "{delivery}");
        assert_eq!(delivery["eventId"], id);
        assert_eq!(delivery["attemptCount"], 3);
        let statuses: Vec<&Value> = delivery["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|attempt| &attempt["statusCode"])
            .collect();
        assert_eq!(statuses, [&json!(500), &json!(502), &json!(204)]);
        server.finish().await;
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    for server in servers("0s,1s,5s").await {
        let mut receiver = Receiver::scripted(vec![Reply {
            retry_after: Some(3),
            ..Reply::status(429)
        }])
        .await;
        subscribe(&server, json!({"url": receiver.url})).await;
        server.create_conversation().await;
        let first = receiver.next().await;
        let second = receiver.next().await;
        assert_eq!(
            header(&first.headers, "webhook-id"),
            header(&second.headers, "webhook-id")
        );
        assert!(second.at - first.at >= Duration::from_millis(2_990));
        server.finish().await;
    }
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_within_the_timeout_is_retried() {
    for server in servers("0s,1s").await {
        let mut receiver = Receiver::scripted(vec![Reply {
            delay: Duration::from_secs(20),
            ..Reply::status(200)
        }])
        .await;
        let (endpoint, _) = subscribe(&server, json!({"url": receiver.url})).await;
        server.create_conversation().await;
        let first = receiver.next().await;
        let second = receiver.next().await;
        assert_eq!(
            header(&first.headers, "webhook-id"),
            header(&second.headers, "webhook-id")
        );
        let log = log_once(&server, &endpoint, |d| all_over(d, 1)).await;
        let attempts = log[0]["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "{log:?}");
        assert_eq!(attempts[0]["statusCode"], Value::Null);
        assert!(
            attempts[0]["error"]
                .as_str()
                .unwrap()
                .contains("timed out after 15 s")
        );
        assert!(attempts[0]["durationMs"].as_i64().unwrap() >= 15_000);
        assert_eq!(log[0]["status"], "succeeded");
        server.finish().await;
    }
}

#[tokio::test]
async fn the_last_failure_fails_the_delivery_and_a_retry_sends_it_once_more() {
    for server in servers("0s,1s").await {
        let mut receiver = Receiver::scripted(vec![
            Reply::status(500),
            Reply::status(503),
            Reply::status(200),
        ])
        .await;
        let (endpoint, _) = subscribe(&server, json!({"url": receiver.url})).await;
        server.create_conversation().await;
        let log = log_once(&server, &endpoint, |d| all_over(d, 1)).await;
        let delivery = &log[0];
        assert_eq!(delivery["status"], "failed", "{delivery}");
        assert_eq!(delivery["attemptCount"], 2);
        assert_eq!(delivery["nextAttemptAt"], Value::Null);
        let id = header(&receiver.next().await.headers, "webhook-id").to_string();
        receiver.next().await;

        let retry = format!(
            "/v1/webhook-deliveries/{}/retry",
            delivery["id"].as_str().unwrap()
        );
        let (status, retried) = server.send(Method::POST, &retry, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
        assert_schema("WebhookDelivery", &retried);
        assert_eq!(retried["status"], "pending");
        assert_eq!(header(&receiver.next().await.headers, "webhook-id"), id);
        let log = log_once(&server, &endpoint, |d| {
            d.len() == 1 && d[0]["status"] == "succeeded"
        })
        .await;
        assert_eq!(log[0]["attemptCount"], 3);

        // A pending delivery is already going to be retried.
        let (_, other) = server
            .send(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": "http://127.0.0.1:9/closed"})),
            )
            .await;
        server.create_conversation().await;
        let other = other["id"].as_str().unwrap();
        let pending = log_once(&server, other, |d| {
            d.len() == 1 && d[0]["status"] == "pending"
        })
        .await;
        let response = server
            .request(
                Method::POST,
                &format!(
                    "/v1/webhook-deliveries/{}/retry",
                    pending[0]["id"].as_str().unwrap()
                ),
                Some(&server.key),
            )
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::CONFLICT, "delivery_pending").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_receiver_that_answers_410_disables_its_endpoint() {
    for server in servers("0s,1s").await {
        let mut receiver = Receiver::scripted(vec![Reply::status(410)]).await;
        let (endpoint, _) = subscribe(&server, json!({"url": receiver.url})).await;
        server.create_conversation().await;
        receiver.next().await;
        let log = log_once(&server, &endpoint, |d| all_over(d, 1)).await;
        assert_eq!(log[0]["status"], "failed");
        assert_eq!(log[0]["attemptCount"], 1);
        assert_eq!(log[0]["attempts"][0]["statusCode"], 410);
        let (_, shown) = server
            .send(
                Method::GET,
                &format!("/v1/webhook-endpoints/{endpoint}"),
                None,
            )
            .await;
        assert_eq!(shown["enabled"], false, "{shown}");
        assert_eq!(shown["disabledReason"], "gone");
        // A disabled endpoint gets no more deliveries, and its failed ones cannot be retried.
        server.create_conversation().await;
        assert_eq!(log_once(&server, &endpoint, |_| true).await.len(), 1);
        let response = server
            .request(
                Method::POST,
                &format!(
                    "/v1/webhook-deliveries/{}/retry",
                    log[0]["id"].as_str().unwrap()
                ),
                Some(&server.key),
            )
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::CONFLICT, "endpoint_disabled").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn escalations_reach_the_endpoint_of_their_destination() {
    for server in servers("0s").await {
        let mut zendesk = Receiver::start().await;
        let (routed, _) = subscribe(
            &server,
            json!({"url": zendesk.url, "enabledEvents": ["lead.qualified"], "destination": "zendesk"}),
        )
        .await;
        let (unrouted, _) = subscribe(
            &server,
            json!({"url": "http://127.0.0.1:9/other", "enabledEvents": ["lead.qualified"], "destination": "hubspot"}),
        )
        .await;
        let conversation = server.create_conversation().await;
        server
            .send(
                Method::POST,
                "/v1/escalations",
                Some(json!({"conversationId": conversation, "reasonCode": "user_requested", "destination": "zendesk"})),
            )
            .await;
        assert_eq!(zendesk.next().await.json()["type"], "escalation.created");
        let log = log_once(&server, &routed, |d| all_over(d, 1)).await;
        assert_eq!(log[0]["eventType"], "escalation.created");
        // Neither subscribed to the other events nor labelled for this destination.
        assert!(log_once(&server, &unrouted, |_| true).await.is_empty());
        server.finish().await;
    }
}

#[tokio::test]
async fn a_change_of_hands_or_an_end_of_an_escalation_reaches_its_destination() {
    for server in servers("0s").await {
        let mut zendesk = Receiver::start().await;
        let (routed, _) = subscribe(
            &server,
            json!({"url": zendesk.url, "enabledEvents": ["lead.qualified"], "destination": "zendesk"}),
        )
        .await;
        let conversation = server.create_conversation().await;
        let (_, escalation) = server
            .send(
                Method::POST,
                "/v1/escalations",
                Some(json!({"conversationId": conversation, "reasonCode": "user_requested", "destination": "zendesk"})),
            )
            .await;
        let path = format!("/v1/escalations/{}", escalation["id"].as_str().unwrap());
        // Each change is delivered before the next is made, so the order of arrival is the order
        // of the changes.
        assert_eq!(zendesk.next().await.json()["type"], "escalation.created");
        let steps = [
            (
                json!({"owner": "jane"}),
                Some(("assigned", "assigned", json!("jane"), json!(null))),
            ),
            (
                json!({"owner": "li"}),
                Some(("assigned", "assigned", json!("li"), json!("jane"))),
            ),
            (json!({"priority": "urgent", "note": "called twice"}), None),
            (
                json!({"status": "open"}),
                Some(("released", "open", json!(null), json!("li"))),
            ),
            (
                json!({"status": "resolved"}),
                Some(("resolved", "resolved", json!(null), json!(null))),
            ),
        ];
        let mut expected = 1;
        for (change, news) in steps {
            let (status, updated) = server.send(Method::PATCH, &path, Some(change)).await;
            assert_eq!(status, StatusCode::OK, "{updated}");
            let Some((what, state, owner, previous)) = news else {
                continue;
            };
            expected += 1;
            let event = zendesk.next().await.json();
            assert_schema("EscalationUpdatedEvent", &event);
            let data = &event["data"];
            assert_eq!(data["escalationId"], escalation["id"]);
            assert_eq!(data["conversationId"], conversation);
            assert_eq!(
                (
                    &data["change"],
                    &data["status"],
                    &data["owner"],
                    &data["previousOwner"]
                ),
                (&json!(what), &json!(state), &owner, &previous),
                "{event}"
            );
        }
        // The note and priority change sent nothing: the log holds exactly the events above.
        let log = log_once(&server, &routed, |d| all_over(d, expected)).await;
        assert_eq!(
            log.iter()
                .filter(|d| d["eventType"] == "escalation.updated")
                .count(),
            expected - 1
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn an_attempt_in_flight_at_shutdown_is_finished_and_recorded() {
    for mut server in servers("0s,1h").await {
        let slow = Reply {
            delay: Duration::from_secs(2),
            ..Reply::status(200)
        };
        let mut receiver = Receiver::scripted(vec![slow]).await;
        let (endpoint, _) = subscribe(&server, json!({"url": receiver.url})).await;
        server.create_conversation().await;
        // The attempt has reached the receiver, which takes its time to answer; the server stops
        // meanwhile, and the new one starts only once the old one is done.
        receiver.next().await;
        server.restart().await;
        // Recorded as made and acknowledged: nothing is left to make again after a lease runs out.
        let (_, log) = server
            .send(
                Method::GET,
                &format!("/v1/webhook-endpoints/{endpoint}/deliveries"),
                None,
            )
            .await;
        let delivery = &log["data"][0];
        assert_eq!(delivery["status"], "succeeded", "{log}");
        assert_eq!(delivery["attemptCount"], 1);
        assert_eq!(delivery["attempts"][0]["statusCode"], 200);
        server.finish().await;
    }
}

#[tokio::test]
async fn a_refused_connection_is_logged_and_the_log_belongs_to_the_workspace() {
    for server in servers("0s,1h").await {
        let (endpoint, _) = subscribe(&server, json!({"url": "http://127.0.0.1:9/closed"})).await;
        server.create_conversation().await;
        // Nothing listens there: the attempt is logged with why it failed, and retried.
        let log = log_once(&server, &endpoint, |d| {
            d.len() == 1 && d[0]["attemptCount"] == 1
        })
        .await;
        let attempt = &log[0]["attempts"][0];
        assert_eq!(attempt["statusCode"], Value::Null, "{attempt}");
        assert!(
            attempt["error"]
                .as_str()
                .unwrap()
                .contains("could not connect"),
            "{attempt}"
        );
        assert_eq!(log[0]["status"], "pending");
        assert!(log[0]["nextAttemptAt"].is_string());
        let other = server
            .new_workspace_key("other", &[hoverbot_api::Scope::WebhooksManage])
            .await;
        for path in [
            format!("/v1/webhook-endpoints/{endpoint}/deliveries"),
            format!("/v1/webhook-deliveries/{}", log[0]["id"].as_str().unwrap()),
        ] {
            let response = server
                .request(Method::GET, &path, Some(&other))
                .send()
                .await
                .unwrap();
            assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        server.finish().await;
    }
}

#[tokio::test]
async fn an_event_committed_before_a_kill_is_delivered_after_the_restart() {
    let mut receiver = Receiver::start().await;
    // The in-process server only prepares the database; it delivers nothing.
    for server in TestServer::each_configured(|config| config.webhook_worker = false).await {
        let url = server.database_url().to_string();
        let env = [("HOVERBOT_ALLOW_PRIVATE_NETWORKS", "true")];
        // A server that commits events but does not deliver them, killed without warning.
        let quiet = ServerProcess::spawn_with(&url, &env, &["--no-worker"]).await;
        let client = reqwest::Client::new();
        let base = quiet.base.clone();
        let post = |path: &str, body: Value| {
            client
                .post(format!("{base}{path}"))
                .bearer_auth(&server.key)
                .json(&body)
                .send()
        };
        let created = post("/v1/webhook-endpoints", json!({"url": receiver.url}))
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let conversation: Value = post("/v1/conversations", json!({"channel": "web"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        quiet.kill_9().await;
        // The next server delivers it.
        let _delivering = ServerProcess::spawn(&url, &env).await;
        let event = receiver.next().await.json();
        assert_eq!(event["type"], "conversation.created");
        assert_eq!(event["data"]["conversationId"], conversation["id"]);
        server.finish().await;
    }
}

#[tokio::test]
#[cfg_attr(
    no_test_postgres,
    ignore = "needs PostgreSQL: set HOVERBOT_TEST_DATABASE_URL"
)]
async fn replicas_on_postgres_deliver_each_event_once() {
    require_postgres();
    const EVENTS: usize = 100;
    for server in servers("0s,1s").await {
        if server.backend != "postgres" {
            server.finish().await;
            continue;
        }
        let replicas = [server.replica().await, server.replica().await];
        let mut receiver = Receiver::start().await;
        let (endpoint, _) = subscribe(
            &server,
            json!({"url": receiver.url, "enabledEvents": ["conversation.created"]}),
        )
        .await;
        for _ in 0..EVENTS {
            server.create_conversation().await;
        }
        let mut ids = std::collections::HashSet::new();
        for _ in 0..EVENTS {
            ids.insert(header(&receiver.next().await.headers, "webhook-id").to_string());
        }
        assert_eq!(ids.len(), EVENTS);
        // Once every delivery is recorded as done, no attempt is left in flight anywhere: a second
        // delivery of any event would have arrived by now.
        let log = log_once(&server, &endpoint, |d| all_over(d, EVENTS)).await;
        assert!(
            log.iter()
                .all(|d| d["status"] == "succeeded" && d["attemptCount"] == 1)
        );
        assert_eq!(receiver.received_so_far().len(), 0);
        for replica in replicas {
            replica.stop().await.unwrap();
        }
        server.finish().await;
    }
}

/// What a worker does to claim: leases every due delivery it may take, as of `now`.
async fn claim(
    db: &hoverbot_server::store::Db,
    now: chrono::DateTime<chrono::Utc>,
    lease: chrono::Duration,
) -> Vec<hoverbot_server::store::webhook_deliveries::Claimed> {
    use hoverbot_server::store::webhook_deliveries;
    let due = webhook_deliveries::due(db, now, 16, &Default::default())
        .await
        .unwrap();
    let ids = due.into_iter().map(|due| due.id).collect();
    webhook_deliveries::lease(db, ids, now, lease)
        .await
        .unwrap()
}

/// The outbox a worker records with.
fn outbox() -> hoverbot_server::store::outbox::Outbox {
    hoverbot_server::store::outbox::Outbox::new(Default::default())
}

#[tokio::test]
async fn the_worker_is_woken_by_events_with_deliveries_only() {
    use futures_util::FutureExt;
    use hoverbot_server::store::conversations::{self, NewConversation};
    use hoverbot_server::store::workspaces;
    for server in TestServer::each_configured(|config| config.webhook_worker = false).await {
        let conversation = server.create_conversation().await;
        let owner = workspace_of(&server, "conversations", &conversation).await;
        let workspace = workspaces::find(&server.db, &owner).await.unwrap().unwrap();
        let outbox = outbox();
        let new = || NewConversation {
            channel: hoverbot_api::Channel::Web,
            external_user_id: None,
            locale: None,
            metadata: "{}".to_string(),
        };
        conversations::create(&server.db, &outbox, &workspace, new())
            .await
            .unwrap();
        // No endpoint receives it: nothing is due, and the worker is left alone.
        assert!(outbox.wait_for_commits().now_or_never().is_none());
        subscribe(&server, json!({"url": "https://receiver.example/hook"})).await;
        conversations::create(&server.db, &outbox, &workspace, new())
            .await
            .unwrap();
        assert!(outbox.wait_for_commits().now_or_never().is_some());
        server.finish().await;
    }
}

#[tokio::test]
async fn a_lease_that_runs_out_lets_another_worker_take_the_delivery() {
    use hoverbot_server::store::webhook_deliveries::{self, Attempted, Next, Verdict};
    for server in TestServer::each_configured(|config| config.webhook_worker = false).await {
        let (endpoint, _) =
            subscribe(&server, json!({"url": "https://receiver.example/hook"})).await;
        server.create_conversation().await;
        let now = chrono::Utc::now();
        let lease = chrono::Duration::seconds(60);
        let first = claim(&server.db, now, lease).await;
        assert_eq!(first.len(), 1);
        // Held: nobody else gets it while the lease lasts.
        assert!(claim(&server.db, now, lease).await.is_empty());
        // The holder died; once its lease has run out, another worker takes the delivery over.
        let later = now + lease + chrono::Duration::seconds(1);
        let second = claim(&server.db, later, lease).await;
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].delivery.id, first[0].delivery.id);
        let attempted = |claimed: &webhook_deliveries::Claimed| Attempted {
            delivery: claimed.delivery.clone(),
            attempted_at: later,
            status_code: Some(200),
            duration_ms: 5,
            error: None,
            response_snippet: String::new(),
            next: Next::Succeeded,
            verdict: Verdict::Healthy,
            health_at_claim: Default::default(),
        };
        // The first holder, come back to life, cannot record over the new one.
        assert_eq!(
            webhook_deliveries::record(&server.db, &outbox(), &[attempted(&first[0])])
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            webhook_deliveries::record(&server.db, &outbox(), &[attempted(&second[0])])
                .await
                .unwrap(),
            1
        );
        let log = log_once(&server, &endpoint, |d| all_over(d, 1)).await;
        assert_eq!(log[0]["status"], "succeeded");
        assert_eq!(log[0]["attemptCount"], 1);
        server.finish().await;
    }
}

#[tokio::test]
async fn a_batch_of_mixed_outcomes_records_each_under_its_own_lease() {
    use hoverbot_server::store::webhook_deliveries::{self, Attempted, Next, Verdict};
    for server in TestServer::each_configured(|config| config.webhook_worker = false).await {
        let (endpoint, _) =
            subscribe(&server, json!({"url": "https://receiver.example/hook"})).await;
        for _ in 0..4 {
            server.create_conversation().await;
        }
        let now = chrono::Utc::now();
        let lease = chrono::Duration::seconds(60);
        let earlier = claim(&server.db, now, lease).await;
        // The first holder's leases ran out and a second worker took all four over.
        let later = now + lease + chrono::Duration::seconds(1);
        let mut held = claim(&server.db, later, lease).await;
        assert_eq!((earlier.len(), held.len()), (4, 4));
        held.sort_by(|a, b| a.delivery.id.cmp(&b.delivery.id));
        let stale = earlier
            .iter()
            .find(|claimed| claimed.delivery.id == held[3].delivery.id)
            .unwrap();
        let retry_at = later + chrono::Duration::minutes(5);
        let attempted =
            |claimed: &webhook_deliveries::Claimed, status: u16, next: Next| Attempted {
                delivery: claimed.delivery.clone(),
                attempted_at: later,
                status_code: Some(i32::from(status)),
                duration_ms: 5,
                error: None,
                response_snippet: String::new(),
                next,
                verdict: Verdict::Unjudged,
                health_at_claim: Default::default(),
            };
        let batch = [
            attempted(&held[0], 200, Next::Succeeded),
            attempted(&held[1], 500, Next::RetryAt(retry_at)),
            attempted(&held[2], 500, Next::Failed),
            // Made under the lease that ran out: not the first holder's to record.
            attempted(stale, 200, Next::Succeeded),
        ];
        assert_eq!(
            webhook_deliveries::record(&server.db, &outbox(), &batch)
                .await
                .unwrap(),
            3
        );
        let log = log_once(&server, &endpoint, |d| d.len() == 4).await;
        let entry = |claimed: &webhook_deliveries::Claimed| {
            log.iter()
                .find(|d| d["id"] == claimed.delivery.id.as_str())
                .unwrap()
                .clone()
        };
        let (succeeded, retrying, failed, untouched) = (
            entry(&held[0]),
            entry(&held[1]),
            entry(&held[2]),
            entry(&held[3]),
        );
        assert_eq!(
            (&succeeded["status"], &succeeded["attemptCount"]),
            (&json!("succeeded"), &json!(1))
        );
        assert_eq!(
            (&retrying["status"], &retrying["attemptCount"]),
            (&json!("pending"), &json!(1))
        );
        let next: chrono::DateTime<chrono::Utc> =
            retrying["nextAttemptAt"].as_str().unwrap().parse().unwrap();
        assert_eq!(next.timestamp(), retry_at.timestamp());
        assert_eq!(
            (&failed["status"], &failed["attemptCount"]),
            (&json!("failed"), &json!(1))
        );
        assert_eq!(
            (&untouched["status"], &untouched["attemptCount"]),
            (&json!("pending"), &json!(0)),
            "{untouched}"
        );
        // The second holder's own attempt at it is still recorded.
        let own = attempted(&held[3], 200, Next::Succeeded);
        assert_eq!(
            webhook_deliveries::record(&server.db, &outbox(), &[own])
                .await
                .unwrap(),
            1
        );
        server.finish().await;
    }
}

/// PostgreSQL: a deletion of an endpoint takes the endpoint and then its deliveries, one by one,
/// while the worker records attempts at them. The recording never holds one delivery while it
/// waits for another (it leaves the ones being deleted alone), so the two cannot deadlock: both
/// finish, and the endpoint is gone.
#[tokio::test]
#[cfg_attr(
    no_test_postgres,
    ignore = "needs PostgreSQL: set HOVERBOT_TEST_DATABASE_URL"
)]
async fn recording_attempts_never_deadlocks_with_a_deletion_of_their_endpoint() {
    use hoverbot_server::store::webhook_deliveries::{self, Attempted, Next, Verdict};

    require_postgres();
    for server in TestServer::each_configured(|config| {
        config.allow_private_networks = true;
        config.webhook_worker = false;
    })
    .await
    {
        if server.backend != "postgres" {
            server.finish().await;
            continue;
        }
        let (endpoint, _) = subscribe(
            &server,
            json!({"url": "http://127.0.0.1:9/hooks", "enabledEvents": ["conversation.created"]}),
        )
        .await;
        server.create_conversation().await;
        server.create_conversation().await;
        let claimed = claim(&server.db, chrono::Utc::now(), chrono::Duration::minutes(5)).await;
        let ids: Vec<String> = claimed.iter().map(|c| c.delivery.id.clone()).collect();
        assert_eq!(ids.len(), 2, "both deliveries are claimed");

        // The deletion has taken the endpoint and come as far as the second delivery.
        let deletion = other_transaction(&server).await;
        let lock = "SELECT id FROM webhook_endpoints WHERE id = $1 FOR UPDATE";
        execute(&deletion, lock, &endpoint).await.unwrap();
        let lock = "SELECT id FROM webhook_deliveries WHERE id = $1 FOR UPDATE";
        execute(&deletion, lock, &ids[1]).await.unwrap();

        let attempts: Vec<Attempted> = claimed
            .into_iter()
            .map(|claimed| Attempted {
                delivery: claimed.delivery,
                attempted_at: chrono::Utc::now(),
                status_code: Some(200),
                duration_ms: 1,
                error: None,
                response_snippet: String::new(),
                next: Next::Succeeded,
                verdict: Verdict::Healthy,
                health_at_claim: Default::default(),
            })
            .collect();
        let db = server.db.clone();
        let recording =
            tokio::spawn(
                async move { webhook_deliveries::record(&db, &outbox(), &attempts).await },
            );
        eventually("the recording to end or to wait for a lock", || async {
            (recording.is_finished() || lock_waiters(&server).await > 0).then_some(())
        })
        .await;

        // The deletion goes on: it cascades to every delivery of the endpoint.
        let delete = "DELETE FROM webhook_endpoints WHERE id = $1";
        execute(&deletion, delete, &endpoint)
            .await
            .expect("the deletion of the endpoint goes through");
        deletion.commit().await.unwrap();
        let recorded = recording.await.unwrap().expect("the attempts are recorded");
        assert_eq!(recorded, 1, "the delivery being deleted was left alone");
        let (status, _) = server
            .send(
                Method::GET,
                &format!("/v1/webhook-endpoints/{endpoint}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        server.finish().await;
    }
}
