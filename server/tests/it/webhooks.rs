//! Webhook delivery settings: what the deployment promises, readable by receivers and checkers.

use reqwest::{Method, StatusCode};

use crate::support::{TestServer, assert_problem, assert_schema};

#[tokio::test]
async fn the_published_schedule_is_readable() {
    for server in TestServer::each().await {
        let (status, body) = server.send(Method::GET, "/v1/webhook-settings", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_schema("WebhookSettings", &body);
        assert_eq!(
            body,
            serde_json::json!({
                "retrySchedule": ["0s", "5s", "5m", "30m", "2h", "5h", "10h", "10h"],
                "attemptOffsetsSeconds": [0, 5, 305, 2105, 9305, 27305, 63305, 86400],
                "jitter": 0.2,
                "retryWindowSeconds": 86400,
                "timeoutSeconds": 15,
                "signatureScheme": "standard-webhooks-v1",
                "allowPrivateNetworks": false,
            })
        );
        // The settings belong to whoever manages webhooks.
        let reader = server.key_with_scopes(&["conversations:read"]).await;
        let response = server
            .request(Method::GET, "/v1/webhook-settings", Some(&reader))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_test_deployment_compresses_the_schedule() {
    for server in TestServer::each_configured(|config| {
        config.webhook_retry_schedule = "1s,2s,3s".to_string();
        config.allow_private_networks = true;
    })
    .await
    {
        let (status, body) = server.send(Method::GET, "/v1/webhook-settings", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["retrySchedule"], serde_json::json!(["1s", "2s", "3s"]));
        assert_eq!(body["attemptOffsetsSeconds"], serde_json::json!([1, 3, 6]));
        assert_eq!(body["allowPrivateNetworks"], true);
        server.finish().await;
    }
}
