//! The published flow: create a conversation, send a message, read the transcript; and lists.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestServer, assert_schema};

#[tokio::test]
async fn a_message_gets_an_honest_reply_and_lands_in_the_transcript() {
    for server in TestServer::each().await {
        let (status, conversation) = server
            .send(
                Method::POST,
                "/v1/conversations",
                Some(json!({"channel": "web", "externalUserId": "visitor_123", "locale": "en-US", "metadata": {"plan": "pro"}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{}", server.backend);
        assert_schema("Conversation", &conversation);
        assert!(conversation["id"].as_str().unwrap().starts_with("conv_"));
        assert_eq!(conversation["metadata"], json!({"plan": "pro"}));
        assert_eq!(conversation["status"], "active");
        let id = conversation["id"].as_str().unwrap();

        let (status, exchange) = server
            .send(
                Method::POST,
                &format!("/v1/conversations/{id}/messages"),
                Some(json!({"text": "Can I change my shipping address?"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_schema("MessageExchange", &exchange);
        assert_eq!(
            exchange["userMessage"]["text"],
            "Can I change my shipping address?"
        );
        assert_eq!(
            exchange["userMessage"]["channel"], "web",
            "a message inherits the conversation's channel"
        );
        assert_eq!(exchange["assistantMessage"]["role"], "assistant");
        assert_eq!(exchange["trace"]["confidence"], 0.0);
        assert_eq!(exchange["trace"]["policyFlags"], json!(["no_knowledge"]));
        assert_eq!(exchange["trace"]["modelTier"], "extractive");

        let (status, transcript) = server
            .send(Method::GET, &format!("/v1/conversations/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_schema("ConversationTranscript", &transcript);
        let messages = transcript["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["id"], exchange["userMessage"]["id"]);
        assert_eq!(messages[1]["id"], exchange["assistantMessage"]["id"]);
        assert_eq!(transcript["conversation"]["messageCount"], 2);
        assert_eq!(transcript["escalation"]["state"], "none");
        assert_eq!(transcript["outcomes"]["escalated"], false);
        server.finish().await;
    }
}

#[tokio::test]
async fn lists_page_newest_first_without_gaps_or_repeats() {
    for server in TestServer::each().await {
        let mut created = Vec::new();
        for _ in 0..5 {
            created.push(server.create_conversation().await);
        }
        created.reverse();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(cursor) => format!("/v1/conversations?limit=2&cursor={cursor}"),
                None => "/v1/conversations?limit=2".to_string(),
            };
            let (status, page) = server.send(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            assert_schema("ConversationList", &page);
            seen.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["id"].as_str().unwrap().to_string()),
            );
            if page["hasMore"] == false {
                assert!(page["nextCursor"].is_null());
                break;
            }
            cursor = Some(page["nextCursor"].as_str().unwrap().to_string());
        }
        assert_eq!(seen, created, "{}", server.backend);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 5);
        server.finish().await;
    }
}

#[tokio::test]
async fn lists_filter_by_external_user_and_status() {
    for server in TestServer::each().await {
        let mine = server.create_conversation().await;
        let (_, _) = server
            .send(
                Method::POST,
                "/v1/conversations",
                Some(json!({"channel": "sms", "externalUserId": "someone_else"})),
            )
            .await;
        let (_, page) = server
            .send(
                Method::GET,
                "/v1/conversations?externalUserId=visitor_123",
                None,
            )
            .await;
        let ids: Vec<&str> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![mine.as_str()]);
        let (_, page) = server
            .send(Method::GET, "/v1/conversations?status=escalated", None)
            .await;
        assert_eq!(page["data"], json!([]));
        server.finish().await;
    }
}

#[tokio::test]
async fn concurrent_messages_to_one_conversation_are_all_kept_in_order() {
    for server in TestServer::each().await {
        let id = server.create_conversation().await;
        let mut sends = tokio::task::JoinSet::new();
        for n in 0..8 {
            let request = server
                .request(
                    Method::POST,
                    &format!("/v1/conversations/{id}/messages"),
                    Some(&server.key),
                )
                // Greetings: replies the assistant is sure of, so that it keeps replying (two
                // unsure replies in a row would hand the conversation to a person).
                .json(&json!({"text": format!("Hello, hello ({n})")}));
            sends.spawn(async move { request.send().await.unwrap().status() });
        }
        let statuses = sends.join_all().await;
        assert!(
            statuses.iter().all(|status| *status == StatusCode::CREATED),
            "{statuses:?} on {}",
            server.backend
        );
        let (_, transcript) = server
            .send(Method::GET, &format!("/v1/conversations/{id}"), None)
            .await;
        let messages = transcript["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 16);
        assert_eq!(transcript["conversation"]["messageCount"], 16);
        for pair in messages.chunks(2) {
            assert_eq!(pair[0]["role"], "user");
            assert_eq!(pair[1]["role"], "assistant");
        }
        server.finish().await;
    }
}
