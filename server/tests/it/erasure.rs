//! Deleting conversations: one on request, every one of an end user, and those past the
//! workspace's retention window; each forgets everything about the conversation and says so with
//! `conversation.deleted`.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::{Value, json};

use crate::support::{
    Receiver, TestServer, assert_problem, assert_schema, eventually, execute, json, lock_waiters,
    log_once, other_transaction, require_postgres,
};

/// Servers that may call loopback receivers, retrying a failed delivery only after an hour.
async fn servers() -> Vec<TestServer> {
    TestServer::each_configured(|config| {
        config.allow_private_networks = true;
        config.webhook_retry_schedule = "0s,1h".to_string();
    })
    .await
}

async fn subscribe(server: &TestServer, url: &str) -> String {
    let (status, created) = server
        .send(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": url})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_string()
}

async fn conversation_of(server: &TestServer, key: &str, user: &str) -> String {
    let (status, created) = server
        .send_as(
            key,
            Method::POST,
            "/v1/conversations",
            Some(json!({"channel": "web", "externalUserId": user})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_string()
}

async fn delete(server: &TestServer, key: &str, conversation: &str) -> reqwest::Response {
    server
        .request(
            Method::DELETE,
            &format!("/v1/conversations/{conversation}"),
            Some(key),
        )
        .send()
        .await
        .unwrap()
}

/// The `conversation.deleted` events the receiver gets for `conversations`, in their order; other
/// events, and the order they come in, do not matter.
async fn deletions_of(receiver: &mut Receiver, conversations: &[&str]) -> Vec<Value> {
    let mut found: Vec<Option<Value>> = vec![None; conversations.len()];
    while found.iter().any(Option::is_none) {
        let event = receiver.next().await.json();
        let Some(at) = conversations
            .iter()
            .position(|id| event["data"]["conversationId"] == *id)
        else {
            continue;
        };
        if event["type"] == "conversation.deleted" {
            assert_schema("ConversationDeletedEvent", &event);
            found[at] = Some(event);
        }
    }
    found.into_iter().flatten().collect()
}

#[tokio::test]
async fn a_deleted_conversation_is_forgotten_everywhere() {
    for server in servers().await {
        let mut receiver = Receiver::start().await;
        subscribe(&server, &receiver.url).await;
        // Nothing answers here, so its deliveries stay pending for an hour after the first attempt.
        let stalled = subscribe(&server, "http://127.0.0.1:9/closed").await;
        let conversation = server.create_conversation().await;
        let path = format!("/v1/conversations/{conversation}/messages");
        let keyed = || {
            server
                .request(Method::POST, &path, Some(&server.key))
                .header("Idempotency-Key", "ask-once")
                .json(&json!({"text": "My email is erin@example.com, can I change my address?"}))
        };
        assert_eq!(keyed().send().await.unwrap().status(), StatusCode::CREATED);
        let (status, escalation) = server
            .send(
                Method::POST,
                "/v1/escalations",
                Some(json!({"conversationId": conversation, "reasonCode": "manual", "destination": "zendesk"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{escalation}");
        let escalation = escalation["id"].as_str().unwrap();
        // Three events tried once at the stalled endpoint, and pending.
        log_once(&server, &stalled, |log| {
            log.len() == 3 && log.iter().all(|d| d["attemptCount"] == 1)
        })
        .await;

        let deleted = delete(&server, &server.key, &conversation).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

        for gone in [
            format!("/v1/conversations/{conversation}"),
            format!("/v1/escalations/{escalation}"),
        ] {
            let response = server
                .request(Method::GET, &gone, Some(&server.key))
                .send()
                .await
                .unwrap();
            assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        let (_, listed) = server
            .send(
                Method::GET,
                "/v1/conversations?externalUserId=visitor_123",
                None,
            )
            .await;
        assert_eq!(listed["data"], json!([]));
        // The stored answer of the keyed message is forgotten too: the retry finds no conversation.
        assert_problem(
            keyed().send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        // Only the deletion is left to deliver; the events that carried the conversation are gone.
        let log = log_once(&server, &stalled, |log| log.len() == 1).await;
        assert_eq!(log[0]["eventType"], "conversation.deleted");
        let event = &deletions_of(&mut receiver, &[&conversation]).await[0];
        assert_eq!(event["data"]["reason"], "deleted");

        let again = delete(&server, &server.key, &conversation).await;
        assert_problem(again, StatusCode::NOT_FOUND, "not_found").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn an_erasure_deletes_the_end_users_conversations_and_no_one_elses() {
    for server in servers().await {
        let mut receiver = Receiver::start().await;
        subscribe(&server, &receiver.url).await;
        let key = &server.key;
        let erin = [
            conversation_of(&server, key, "erin").await,
            conversation_of(&server, key, "erin").await,
        ];
        let sam = conversation_of(&server, key, "sam").await;
        let neighbour = server
            .new_workspace_key("neighbour", hoverbot_api::Scope::ALL)
            .await;
        let neighbours_erin = conversation_of(&server, &neighbour, "erin").await;

        // Keyed, as a careful client sends it: the erasure runs once, and its retry is a replay.
        let erase = || {
            server
                .request(Method::POST, "/v1/erasures", Some(key))
                .header("Idempotency-Key", "erase-erin")
                .json(&json!({"externalUserId": "erin"}))
                .send()
        };
        let (status, erased) = json(erase().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{erased}");
        assert_schema("Erasure", &erased);
        assert_eq!(erased["conversationsDeleted"], 2);
        let replay = erase().await.unwrap();
        assert_eq!(replay.headers()["idempotent-replayed"], "true");
        assert_eq!(json(replay).await.1, erased);
        for event in deletions_of(&mut receiver, &[&erin[0], &erin[1]]).await {
            assert_eq!(event["data"]["reason"], "erased");
        }
        let (_, listed) = server
            .send(Method::GET, "/v1/conversations?externalUserId=erin", None)
            .await;
        assert_eq!(listed["data"], json!([]));
        let (status, _) = server
            .send(Method::GET, &format!("/v1/conversations/{sam}"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = server
            .send_as(
                &neighbour,
                Method::GET,
                &format!("/v1/conversations/{neighbours_erin}"),
                None,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "another workspace's end user is not erased"
        );

        // Repeating it is safe, and finds nothing.
        let (status, again) = server
            .send(
                Method::POST,
                "/v1/erasures",
                Some(json!({"externalUserId": "erin"})),
            )
            .await;
        assert_eq!(
            (status, &again["conversationsDeleted"]),
            (StatusCode::OK, &json!(0))
        );
        // Another workspace's conversation cannot be deleted from here.
        let response = delete(&server, key, &neighbours_erin).await;
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn deleting_needs_its_own_scope() {
    for server in TestServer::each().await {
        let writer = server
            .key_with_scopes(&["conversations:read", "conversations:write"])
            .await;
        let conversation = server.create_conversation().await;
        for (method, path, body) in [
            (
                Method::DELETE,
                format!("/v1/conversations/{conversation}"),
                None,
            ),
            (
                Method::POST,
                "/v1/erasures".to_string(),
                Some(json!({"externalUserId": "visitor_123"})),
            ),
        ] {
            let mut request = server.request(method, &path, Some(&writer));
            if let Some(body) = body {
                request = request.json(&body);
            }
            let problem = assert_problem(
                request.send().await.unwrap(),
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .contains("conversations:delete"),
                "{problem}"
            );
        }
        let (status, _) = server
            .send(
                Method::GET,
                &format!("/v1/conversations/{conversation}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        server.finish().await;
    }
}

/// Makes the conversation's last activity `days` ago, as if it had been quiet since.
async fn age(server: &TestServer, conversation: &str, days: i64) {
    let backend = server.db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::Postgres => {
            "UPDATE conversations SET created_at = $1, last_message_at = $1 WHERE id = $2"
        }
        _ => "UPDATE conversations SET created_at = ?, last_message_at = ? WHERE id = ?",
    };
    let then = chrono::Utc::now() - chrono::Duration::days(days);
    let values: Vec<sea_orm::Value> = match backend {
        DatabaseBackend::Postgres => vec![then.into(), conversation.into()],
        _ => vec![then.into(), then.into(), conversation.into()],
    };
    let aged = server
        .db
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap();
    assert_eq!(aged.rows_affected(), 1);
}

#[tokio::test]
async fn conversations_past_the_retention_window_are_deleted() {
    for mut server in servers().await {
        let mut receiver = Receiver::start().await;
        subscribe(&server, &receiver.url).await;
        let (status, settings) = server
            .send(
                Method::PATCH,
                "/v1/assistant-settings",
                Some(json!({"conversationRetentionDays": 30})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{settings}");
        assert_schema("AssistantSettings", &settings);
        assert_eq!(settings["conversationRetentionDays"], 30);
        let old = server.create_conversation().await;
        let recent = server.create_conversation().await;
        age(&server, &old, 31).await;
        age(&server, &recent, 29).await;
        // Housekeeping runs when a server starts, and every quarter of an hour after.
        server.restart().await;
        let event = &deletions_of(&mut receiver, &[&old]).await[0];
        assert_eq!(event["data"]["reason"], "retention");
        eventually("the old conversation gone", || async {
            let (status, _) = server
                .send(Method::GET, &format!("/v1/conversations/{old}"), None)
                .await;
            (status == StatusCode::NOT_FOUND).then_some(())
        })
        .await;
        let (status, _) = server
            .send(Method::GET, &format!("/v1/conversations/{recent}"), None)
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a conversation within the window stays"
        );

        let (_, settings) = server
            .send(
                Method::PATCH,
                "/v1/assistant-settings",
                Some(json!({"conversationRetentionDays": null})),
            )
            .await;
        assert_eq!(settings["conversationRetentionDays"], Value::Null);
        server.finish().await;
    }
}

/// PostgreSQL: an erasure while a deletion of an endpoint is under way. The deletion takes the
/// endpoint and then its deliveries; the erasure deletes deliveries (with the events of the
/// conversation) and refers to the endpoints when it writes `conversation.deleted`. It takes the
/// endpoints first, so the two cannot deadlock: both finish.
#[tokio::test]
#[cfg_attr(
    no_test_postgres,
    ignore = "needs PostgreSQL: set HOVERBOT_TEST_DATABASE_URL"
)]
async fn an_erasure_never_deadlocks_with_a_deletion_of_an_endpoint() {
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
        let endpoint = subscribe(&server, "http://127.0.0.1:9/hooks").await;
        conversation_of(&server, &server.key, "visitor-to-erase").await;

        // The deletion has taken the endpoint.
        let deletion = other_transaction(&server).await;
        let lock = "SELECT id FROM webhook_endpoints WHERE id = $1 FOR UPDATE";
        execute(&deletion, lock, &endpoint).await.unwrap();

        let erasure = server
            .request(Method::POST, "/v1/erasures", Some(&server.key))
            .json(&json!({"externalUserId": "visitor-to-erase"}))
            .send();
        let erasure = tokio::spawn(erasure);
        eventually("the erasure to wait for the endpoint", || async {
            (lock_waiters(&server).await > 0).then_some(())
        })
        .await;

        // The deletion goes on: it cascades to the endpoint's deliveries.
        let delete = "DELETE FROM webhook_endpoints WHERE id = $1";
        execute(&deletion, delete, &endpoint)
            .await
            .expect("the deletion of the endpoint goes through");
        deletion.commit().await.unwrap();
        let (status, erased) = json(erasure.await.unwrap().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{erased}");
        assert_eq!(erased["conversationsDeleted"], 1);
        server.finish().await;
    }
}
