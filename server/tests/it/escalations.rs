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

async fn escalate(server: &TestServer, conversation: &str) -> String {
    let (status, escalation) = server
        .send(
            Method::POST,
            "/v1/escalations",
            Some(json!({"conversationId": conversation, "reasonCode": "user_requested", "destination": "zendesk"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{escalation}");
    escalation["id"].as_str().unwrap().to_string()
}

async fn patch(
    server: &TestServer,
    escalation: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    server
        .request(
            Method::PATCH,
            &format!("/v1/escalations/{escalation}"),
            Some(&server.key),
        )
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn resolving_an_escalation_hands_the_conversation_back_to_the_bot() {
    for server in TestServer::each().await {
        let conversation = server.create_conversation().await;
        let escalation = escalate(&server, &conversation).await;

        let (status, assigned) = crate::support::json(
            patch(
                &server,
                &escalation,
                json!({"owner": "ana@support.example"}),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{assigned}");
        assert_schema("Escalation", &assigned);
        assert_eq!(assigned["status"], "assigned");
        assert_eq!(assigned["owner"], "ana@support.example");
        let (_, transcript) = server
            .send(
                Method::GET,
                &format!("/v1/conversations/{conversation}"),
                None,
            )
            .await;
        assert_eq!(transcript["escalation"]["state"], "assigned");
        assert_eq!(transcript["escalation"]["owner"], "ana@support.example");

        let (status, resolved) = crate::support::json(
            patch(
                &server,
                &escalation,
                json!({"status": "resolved", "note": "address changed", "priority": "low"}),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{resolved}");
        assert_eq!(resolved["status"], "resolved");
        assert_eq!(resolved["note"], "address changed");
        assert_eq!(resolved["priority"], "low");
        assert_eq!(resolved["owner"], "ana@support.example");
        assert_ne!(resolved["updatedAt"], resolved["createdAt"]);

        let (_, transcript) = server
            .send(
                Method::GET,
                &format!("/v1/conversations/{conversation}"),
                None,
            )
            .await;
        assert_eq!(transcript["conversation"]["status"], "active");
        assert_eq!(transcript["escalation"]["state"], "resolved");
        assert_eq!(transcript["outcomes"]["escalated"], true);

        // The bot answers again.
        let (status, exchange) = server
            .send(
                Method::POST,
                &format!("/v1/conversations/{conversation}/messages"),
                Some(json!({"text": "thanks, one more question"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert!(exchange["assistantMessage"].is_object(), "{exchange}");
        assert_eq!(exchange["trace"]["escalated"], false);

        // Resolved is final; a new escalation may be opened.
        let response = patch(&server, &escalation, json!({"status": "open"})).await;
        assert_problem(response, StatusCode::CONFLICT, "escalation_resolved").await;
        let again = escalate(&server, &conversation).await;
        assert_ne!(again, escalation);
        server.finish().await;
    }
}

#[tokio::test]
async fn an_assignment_needs_an_owner_and_a_release_clears_it() {
    for server in TestServer::each().await {
        let conversation = server.create_conversation().await;
        let escalation = escalate(&server, &conversation).await;

        let response = patch(&server, &escalation, json!({"status": "assigned"})).await;
        assert_problem(response, StatusCode::CONFLICT, "owner_required").await;
        let (_, assigned) = crate::support::json(
            patch(
                &server,
                &escalation,
                json!({"status": "assigned", "owner": "tier-2"}),
            )
            .await,
        )
        .await;
        assert_eq!(assigned["status"], "assigned");

        let response = patch(
            &server,
            &escalation,
            json!({"status": "open", "owner": "tier-3"}),
        )
        .await;
        assert_problem(response, StatusCode::CONFLICT, "owner_required").await;
        let (_, released) =
            crate::support::json(patch(&server, &escalation, json!({"owner": null})).await).await;
        assert_eq!(released["status"], "open");
        assert_eq!(released["owner"], serde_json::Value::Null);
        let (_, reassigned) =
            crate::support::json(patch(&server, &escalation, json!({"owner": "tier-3"})).await)
                .await;
        assert_eq!(reassigned["status"], "assigned");
        let (_, back) =
            crate::support::json(patch(&server, &escalation, json!({"status": "open"})).await)
                .await;
        assert_eq!(back["status"], "open");
        assert_eq!(back["owner"], serde_json::Value::Null);

        // Nothing to change, an unknown status, an unknown or another workspace's escalation.
        for bad in [json!({}), json!({"status": "closed"}), json!({"owner": ""})] {
            let response = patch(&server, &escalation, bad).await;
            assert_problem(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        }
        let response = patch(&server, "esc_missing", json!({"status": "resolved"})).await;
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        let other = server
            .new_workspace_key("other", hoverbot_api::Scope::ALL)
            .await;
        let response = server
            .request(
                Method::PATCH,
                &format!("/v1/escalations/{escalation}"),
                Some(&other),
            )
            .json(&json!({"status": "resolved"}))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        let (_, unchanged) = server
            .send(Method::GET, &format!("/v1/escalations/{escalation}"), None)
            .await;
        assert_eq!(unchanged["status"], "open");
        server.finish().await;
    }
}
