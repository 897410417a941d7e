//! `Idempotency-Key`: a retried POST replays the first response and does nothing twice.

use chrono::{Duration, Utc};
use hoverbot_api::Scope;
use hoverbot_server::store::idempotency::{self, Found, StoredResponse};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestServer, assert_problem};

async fn post_with_key(
    server: &TestServer,
    key: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    server
        .request(Method::POST, "/v1/conversations", Some(&server.key))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn conversation_count(server: &TestServer) -> usize {
    let (_, list) = server
        .send(Method::GET, "/v1/conversations?limit=100", None)
        .await;
    list["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_retry_replays_the_first_response_byte_for_byte_even_after_a_restart() {
    for mut server in TestServer::each().await {
        let body = json!({"channel": "web", "externalUserId": "visitor_123"});
        let first = post_with_key(&server, "order-1", &body).await;
        assert_eq!(first.status(), StatusCode::CREATED);
        // Only a replay is marked; the spec says the header is absent otherwise.
        assert!(first.headers().get("idempotent-replayed").is_none());
        let first_bytes = first.bytes().await.unwrap();

        let again = post_with_key(&server, "order-1", &body).await;
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(
            again.headers()["content-type"],
            "application/json; charset=utf-8"
        );
        assert_eq!(again.bytes().await.unwrap(), first_bytes);

        server.restart().await;
        let after_restart = post_with_key(&server, "order-1", &body).await;
        assert_eq!(after_restart.headers()["idempotent-replayed"], "true");
        assert_eq!(after_restart.bytes().await.unwrap(), first_bytes);
        assert_eq!(
            conversation_count(&server).await,
            1,
            "{}: executed once",
            server.backend
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn a_stored_response_keeps_no_secret_in_the_clear() {
    for server in TestServer::each().await {
        let create = || {
            server
                .request(Method::POST, "/v1/api-keys", Some(&server.key))
                .header("Idempotency-Key", "new-key-1")
                .json(&json!({"name": "sync", "scopes": ["conversations:read"]}))
                .send()
        };
        let first = create().await.unwrap();
        assert_eq!(first.status(), StatusCode::CREATED);
        let first: serde_json::Value = first.json().await.unwrap();
        let secret = first["secret"].as_str().unwrap();

        // What the database holds for the key, read as an operator could.
        use sea_orm::{ConnectionTrait, Statement};
        let rows = server
            .db
            .query_all_raw(Statement::from_string(
                server.db.get_database_backend(),
                "SELECT response_body FROM idempotency_keys",
            ))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        let stored: Vec<u8> = rows[0].try_get("", "response_body").unwrap();
        assert!(!stored.is_empty());
        assert!(
            !stored
                .windows(secret.len())
                .any(|window| window == secret.as_bytes()),
            "the secret is stored in the clear"
        );

        // The retry still gets it.
        let again = create().await.unwrap();
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        let again: serde_json::Value = again.json().await.unwrap();
        assert_eq!(again["secret"], secret);
        server.finish().await;
    }
}

#[tokio::test]
async fn the_same_key_on_another_request_is_422_and_other_workspaces_have_their_own_keys() {
    for server in TestServer::each().await {
        let first = post_with_key(&server, "k", &json!({"channel": "web"})).await;
        assert_eq!(first.status(), StatusCode::CREATED);
        let other = post_with_key(&server, "k", &json!({"channel": "sms"})).await;
        assert_problem(
            other,
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
        )
        .await;

        let stranger = server.new_workspace_key("stranger", Scope::ALL).await;
        let response = server
            .request(Method::POST, "/v1/conversations", Some(&stranger))
            .header("Idempotency-Key", "k")
            .json(&json!({"channel": "web"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert!(response.headers().get("idempotent-replayed").is_none());
        assert_eq!(conversation_count(&server).await, 1);
        server.finish().await;
    }
}

#[tokio::test]
async fn concurrent_duplicates_execute_once() {
    for server in TestServer::each().await {
        let mut sends = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let request = server
                .request(Method::POST, "/v1/conversations", Some(&server.key))
                .header("Idempotency-Key", "burst")
                .json(&json!({"channel": "web"}));
            sends.spawn(async move {
                let response = request.send().await.unwrap();
                (
                    response.status(),
                    response.headers().get("idempotent-replayed").cloned(),
                )
            });
        }
        let results = sends.join_all().await;
        let executed = results
            .iter()
            .filter(|(status, replayed)| *status == StatusCode::CREATED && replayed.is_none())
            .count();
        assert_eq!(executed, 1, "{results:?}");
        assert!(
            results
                .iter()
                .all(|(status, _)| [StatusCode::CREATED, StatusCode::CONFLICT].contains(status)),
            "{results:?}"
        );
        assert_eq!(conversation_count(&server).await, 1, "{}", server.backend);
        server.finish().await;
    }
}

#[tokio::test]
async fn failed_validation_is_replayed_and_keys_expire_after_a_day() {
    for server in TestServer::each().await {
        let bad = post_with_key(&server, "bad", &json!({"channel": "fax"})).await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let again = post_with_key(&server, "bad", &json!({"channel": "fax"})).await;
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY);

        // A day later the key is free again, and the purge removes what expired.
        let response = post_with_key(&server, "expiring", &json!({"channel": "web"})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let principal = hoverbot_server::auth::Authenticator::new(server.db.clone())
            .resolve(&server.key, std::future::ready(true))
            .await
            .unwrap()
            .expect("the server's key is live");
        let later = Utc::now() + Duration::hours(25);
        let found = idempotency::find(
            &server.db,
            &principal.workspace,
            "expiring",
            "another request",
            later,
        )
        .await
        .unwrap();
        assert!(matches!(found, Found::Nothing), "an expired key is free");
        let txn = server.db.write().await.unwrap();
        let response = StoredResponse {
            status: 201,
            headers: Vec::new(),
            body: b"{}".to_vec(),
        };
        let saved = idempotency::save(
            &txn,
            &principal.workspace,
            "expiring",
            "another request",
            &response,
            None,
            later,
        )
        .await
        .unwrap();
        assert!(saved, "an expired key's row gives way to a new response");
        txn.commit().await.unwrap();
        let purged = idempotency::purge_expired(&server.db, later + Duration::hours(25))
            .await
            .unwrap();
        assert!(purged >= 2, "purged {purged}");
        server.finish().await;
    }
}

#[tokio::test]
async fn the_auth_scheme_is_case_insensitive_for_idempotency_too() {
    for server in TestServer::each().await {
        let body = json!({"channel": "web"});
        let mut replayed = Vec::new();
        for _ in 0..2 {
            let response = server
                .client
                .post(server.url("/v1/conversations"))
                .header("authorization", format!("bearer {}", server.key))
                .header("Idempotency-Key", "lowercase-scheme")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            replayed.push(response.headers().get("idempotent-replayed").cloned());
        }
        assert_eq!(replayed, [None, Some("true".parse().unwrap())]);
        assert_eq!(conversation_count(&server).await, 1, "{}", server.backend);
        server.finish().await;
    }
}
