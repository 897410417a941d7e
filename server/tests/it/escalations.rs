//! Escalations: the conversation changes state, and the bot stays quiet while a human handles it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestServer, assert_problem, assert_schema};

#[tokio::test]
async fn an_escalation_hands_the_conversation_to_a_human() {
    for server in TestServer::each().await {
        let id = server.create_conversation().await;
        let (status, escalation) = server
            .send(
                Method::POST,
                "/v1/escalations",
                Some(json!({"conversationId": id, "reasonCode": "user_requested", "destination": "zendesk", "priority": "high", "note": "wants a refund"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{escalation}");
        assert_schema("Escalation", &escalation);
        assert_eq!(escalation["status"], "open");
        assert_eq!(escalation["priority"], "high");

        let (_, transcript) = server
            .send(Method::GET, &format!("/v1/conversations/{id}"), None)
            .await;
        assert_eq!(transcript["conversation"]["status"], "escalated");
        assert_eq!(transcript["escalation"]["state"], "open");
        assert_eq!(transcript["escalation"]["escalationId"], escalation["id"]);
        assert_eq!(transcript["escalation"]["destination"], "zendesk");
        assert_eq!(transcript["outcomes"]["escalated"], true);

        let (status, exchange) = server
            .send(
                Method::POST,
                &format!("/v1/conversations/{id}/messages"),
                Some(json!({"text": "hello?"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_schema("MessageExchange", &exchange);
        assert!(
            exchange["assistantMessage"].is_null(),
            "the bot does not answer while a human handles it"
        );
        assert_eq!(exchange["trace"]["escalated"], true);
        assert_eq!(exchange["trace"]["modelTier"], "none");

        let response = server
            .request(Method::POST, "/v1/escalations", Some(&server.key))
            .json(&json!({"conversationId": id, "reasonCode": "manual", "destination": "hubspot"}))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::CONFLICT, "escalation_already_open").await;

        let (_, list) = server
            .send(
                Method::GET,
                &format!("/v1/escalations?conversationId={id}&status=open"),
                None,
            )
            .await;
        assert_schema("EscalationList", &list);
        assert_eq!(list["data"].as_array().unwrap().len(), 1);
        let escalation_id = escalation["id"].as_str().unwrap();
        let (status, fetched) = server
            .send(
                Method::GET,
                &format!("/v1/escalations/{escalation_id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fetched, escalation);
        server.finish().await;
    }
}

#[tokio::test]
async fn an_owner_makes_it_assigned_and_an_unknown_conversation_is_404() {
    for server in TestServer::each().await {
        let id = server.create_conversation().await;
        let (_, escalation) = server
            .send(Method::POST, "/v1/escalations", Some(json!({"conversationId": id, "reasonCode": "sales_opportunity", "destination": "salesforce", "owner": "ana@example.com"})))
            .await;
        assert_eq!(escalation["status"], "assigned");
        assert_eq!(escalation["priority"], "normal");
        let response = server
            .request(Method::POST, "/v1/escalations", Some(&server.key))
            .json(&json!({"conversationId": "conv_missing", "reasonCode": "manual", "destination": "zendesk"}))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        server.finish().await;
    }
}
