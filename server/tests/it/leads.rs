//! Lead qualification: the score grows with what the user says, `lead.qualified` is sent once per
//! conversation when the score first reaches the workspace's threshold, and its transcript link
//! opens without an API key until it expires.

use chrono::{Duration, Utc};
use hoverbot_server::sealing::Sealer;
use hoverbot_server::transcript_links::{LIFETIME, TranscriptLinks};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{
    Receiver, Reply, SECRET_KEY, TestServer, assert_problem, assert_schema, cited_answer, json,
    log_once, say, workspace_of,
};

const QUALIFYING: &str =
    "Could we book a demo? I'm Jane Doe from Northwind Traders, jane@northwind.example";

/// A workspace that knows its plans and demos, once the index answers from it.
async fn with_sales_knowledge(server: &TestServer) {
    let source = json!({"type": "text", "name": "Sales", "documents": [
        {"title": "Pricing", "body": "The Pro plan costs 49 EUR per month per user."},
        {"title": "Demos", "body": "You can book a demo with our sales team. A demo takes 30 minutes."},
    ]});
    let (status, created) = server
        .send(Method::POST, "/v1/knowledge-sources", Some(source))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    cited_answer(server, "How much is the Pro plan?").await;
}

/// How many of the events delivered to `endpoint` are of `kind`, once all `events` events so far
/// have been delivered.
async fn delivered(server: &TestServer, endpoint: &str, events: usize, kind: &str) -> usize {
    let deliveries = log_once(server, endpoint, |data| {
        data.len() == events && data.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    deliveries.iter().filter(|d| d["eventType"] == kind).count()
}

#[tokio::test]
async fn a_lead_qualifies_once_when_its_score_first_reaches_the_threshold() {
    let servers = TestServer::each_configured(|config| config.allow_private_networks = true).await;
    for server in servers {
        // Knowledge that answers the pricing and demo questions, so that the assistant is not
        // unsure twice in a row (which would hand the conversation to a person).
        with_sales_knowledge(&server).await;
        let receiver = Receiver::scripted(vec![Reply::status(200); 8]).await;
        let (_, endpoint) = server
            .send(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": receiver.url, "enabledEvents": ["*"]})),
            )
            .await;
        let endpoint = endpoint["id"].as_str().unwrap();
        let conversation = server.create_conversation().await;

        // A pricing question alone is not enough at the default threshold (70)…
        let exchange = say(
            &server,
            &conversation,
            "How much is the Pro plan per month?",
        )
        .await;
        assert_eq!(exchange["trace"]["intent"], "pricing");
        let first = exchange["trace"]["leadScore"].as_i64().unwrap();
        assert!((1..70).contains(&first), "{first}");
        assert_eq!(delivered(&server, endpoint, 2, "lead.qualified").await, 0);

        // …contact details bring it over: one lead.qualified (with the second message.responded).
        let exchange = say(
            &server,
            &conversation,
            "I'm Ana Lima, I work at Acme Corp: ana@acme.example. Can I book a demo?",
        )
        .await;
        let second = exchange["trace"]["leadScore"].as_i64().unwrap();
        assert!(second >= 70 && second > first, "{first} then {second}");
        assert_eq!(delivered(&server, endpoint, 4, "lead.qualified").await, 1);

        // More qualifying messages do not send it again.
        say(&server, &conversation, QUALIFYING).await;
        assert_eq!(delivered(&server, endpoint, 5, "lead.qualified").await, 1);

        let (_, transcript) = server
            .send(
                Method::GET,
                &format!("/v1/conversations/{conversation}"),
                None,
            )
            .await;
        assert_schema("ConversationTranscript", &transcript);
        let outcomes = &transcript["outcomes"];
        assert_eq!(outcomes["leadQualified"], true);
        assert_eq!(outcomes["intent"], "demo_request");
        // A detail given again replaces the earlier one.
        assert_eq!(outcomes["contactFields"]["email"], "jane@northwind.example");
        assert_eq!(outcomes["contactFields"]["company"], "Northwind Traders");
        server.finish().await;
    }
}

#[tokio::test]
async fn the_workspace_chooses_its_threshold() {
    for server in TestServer::each().await {
        let (status, settings) = server
            .send(Method::GET, "/v1/assistant-settings", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{settings}");
        assert_schema("AssistantSettings", &settings);
        assert_eq!(
            settings,
            json!({
                "leadQualificationThreshold": 70,
                "confidenceThreshold": 0.45,
                "escalateQualifiedLeads": false,
                "escalationDestination": "helpdesk",
                "conversationRetentionDays": null,
                "defaults": {
                    "leadQualificationThreshold": 70,
                    "confidenceThreshold": 0.45,
                    "escalationDestination": "helpdesk"
                }
            })
        );

        let (status, settings) = server
            .send(
                Method::PATCH,
                "/v1/assistant-settings",
                Some(json!({"leadQualificationThreshold": 100})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{settings}");
        assert_eq!(settings["leadQualificationThreshold"], 100);
        let conversation = server.create_conversation().await;
        let exchange = say(&server, &conversation, QUALIFYING).await;
        assert!(exchange["trace"]["leadScore"].as_i64().unwrap() < 100);
        let (_, transcript) = server
            .send(
                Method::GET,
                &format!("/v1/conversations/{conversation}"),
                None,
            )
            .await;
        assert_eq!(transcript["outcomes"]["leadQualified"], false);

        // Back to the deployment's default: the next message qualifies.
        let (_, settings) = server
            .send(
                Method::PATCH,
                "/v1/assistant-settings",
                Some(json!({"leadQualificationThreshold": null})),
            )
            .await;
        assert_eq!(settings["leadQualificationThreshold"], 70);
        say(&server, &conversation, "thanks").await;
        let (_, transcript) = server
            .send(
                Method::GET,
                &format!("/v1/conversations/{conversation}"),
                None,
            )
            .await;
        assert_eq!(transcript["outcomes"]["leadQualified"], true);

        // Out of range, or another workspace's settings through a key without the scope.
        for bad in [json!({"leadQualificationThreshold": 0}), json!({})] {
            let response = server
                .request(Method::PATCH, "/v1/assistant-settings", Some(&server.key))
                .json(&bad)
                .send()
                .await
                .unwrap();
            assert_problem(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
        }
        let reader = server.key_with_scopes(&["conversations:read"]).await;
        let response = server
            .request(Method::GET, "/v1/assistant-settings", Some(&reader))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_transcript_link_opens_without_a_key_refuses_forgeries_and_expires() {
    for server in TestServer::each().await {
        let conversation = server.create_conversation().await;
        say(&server, &conversation, "hello").await;
        let workspace = workspace_of(&server, "conversations", &conversation).await;
        let base = url::Url::parse(&server.url("/")).unwrap();
        let ours = TranscriptLinks::new(&Sealer::from_base64(SECRET_KEY).unwrap(), base.clone());
        let now = Utc::now();

        let link = ours.issue(&workspace, &conversation, now);
        let (status, transcript) = json(server.client.get(&link).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{transcript}");
        assert_schema("ConversationTranscript", &transcript);
        assert_eq!(transcript["messages"][0]["text"], "hello");

        let expired = ours.issue(
            &workspace,
            &conversation,
            now - LIFETIME - Duration::minutes(1),
        );
        let response = server.client.get(&expired).send().await.unwrap();
        assert_problem(response, StatusCode::GONE, "link_expired").await;

        // Signed with another secret; naming another workspace; not a token at all.
        let theirs = TranscriptLinks::new(&Sealer::new(&[1; 32]), base);
        let other_workspace = ours.issue("ws_someone_else", &conversation, now);
        for refused in [
            theirs.issue(&workspace, &conversation, now),
            other_workspace,
            server.url("/v1/shared-transcripts/not-a-token"),
        ] {
            let response = server.client.get(&refused).send().await.unwrap();
            assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        let overlong = server.url(&format!("/v1/shared-transcripts/{}", "a".repeat(301)));
        let response = server.client.get(&overlong).send().await.unwrap();
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        assert_eq!(
            problem["errors"][0]["message"],
            "must be the signed token of a shared transcript link, with at most 300 characters \
             (it has 301 characters)"
        );
        server.finish().await;
    }
}
