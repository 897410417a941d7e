//! Webhook endpoints: subscribing, updating, deleting, rotating secrets, and the outbound URL policy.

use hoverbot_server::delivery::attempt::Sender;
use hoverbot_server::outbound::Policy;
use hoverbot_server::sealing::Sealer;
use hoverbot_server::store::entity::webhook_endpoint;
use hoverbot_server::store::webhook_endpoints::signing_secrets;
use hoverbot_server::webhooks::signature::Secret;
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::json;

use crate::support::{
    Received, Receiver, SECRET_KEY, TestServer, assert_problem, assert_schema, header,
};

// A public address, so that no test depends on DNS.
const RECEIVER: &str = "https://93.184.216.34/hoverbot";

#[tokio::test]
async fn an_endpoint_is_created_shown_updated_and_deleted() {
    for server in TestServer::each().await {
        let (status, created) = server
            .send(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": RECEIVER, "description": "Production receiver"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_schema("WebhookEndpointWithSecret", &created);
        let id = created["id"].as_str().unwrap();
        assert!(id.starts_with("whep_"));
        assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
        assert_eq!(created["enabledEvents"], json!(["*"]));
        assert_eq!(created["enabled"], true);
        assert_eq!(created["disabledReason"], serde_json::Value::Null);

        // The secret is shown once.
        let path = format!("/v1/webhook-endpoints/{id}");
        let (status, shown) = server.send(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{shown}");
        assert_schema("WebhookEndpoint", &shown);
        assert!(shown.get("secret").is_none());
        let (_, list) = server
            .send(Method::GET, "/v1/webhook-endpoints", None)
            .await;
        assert_schema("WebhookEndpointList", &list);
        assert_eq!(list["data"][0]["id"], id);

        // Absent fields stay, `null` clears, `*` among other types means every type.
        let (status, updated) = server
            .send(
                Method::PATCH,
                &path,
                Some(json!({
                    "enabled": false,
                    "description": null,
                    "destination": "zendesk",
                    "enabledEvents": ["escalation.created", "*"],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_schema("WebhookEndpoint", &updated);
        assert_eq!(updated["url"], RECEIVER);
        assert_eq!(updated["description"], serde_json::Value::Null);
        assert_eq!(updated["destination"], "zendesk");
        assert_eq!(updated["enabledEvents"], json!(["*"]));
        assert_eq!(updated["disabledReason"], "disabled");
        let (_, updated) = server
            .send(
                Method::PATCH,
                &path,
                Some(json!({"enabled": true, "enabledEvents": ["lead.qualified"]})),
            )
            .await;
        assert_eq!(updated["disabledReason"], serde_json::Value::Null);
        assert_eq!(updated["enabledEvents"], json!(["lead.qualified"]));
        assert_eq!(updated["destination"], "zendesk");

        // Another workspace sees nothing of it.
        let other = server
            .new_workspace_key("other", hoverbot_api::Scope::ALL)
            .await;
        for method in [Method::GET, Method::DELETE] {
            let response = server
                .request(method, &path, Some(&other))
                .send()
                .await
                .unwrap();
            assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        }

        let (status, _) = server.send(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let response = server
            .request(Method::GET, &path, Some(&server.key))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_rotation_signs_with_both_secrets_for_a_day_and_keeps_them_sealed() {
    for server in TestServer::each().await {
        let (_, created) = server
            .send(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": RECEIVER})),
            )
            .await;
        let id = created["id"].as_str().unwrap();
        let old = created["secret"].as_str().unwrap();
        let (status, rotated) = server
            .send(
                Method::POST,
                &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        assert_schema("WebhookSecret", &rotated);
        let new = rotated["secret"].as_str().unwrap();
        assert_ne!(new, old);

        let row = webhook_endpoint::Entity::find_by_id(id.to_string())
            .one(&server.db)
            .await
            .unwrap()
            .unwrap();
        // At rest, neither secret is readable.
        let stored = format!("{row:?}");
        assert!(!stored.contains(new) && !stored.contains(old));
        let sealer = Sealer::from_base64(SECRET_KEY).unwrap();
        let now = chrono::Utc::now();
        let secrets: Vec<String> = signing_secrets(&sealer, &row, now)
            .unwrap()
            .iter()
            .map(|secret| secret.expose().to_string())
            .collect();
        assert_eq!(secrets, [new, old]);
        let after_a_day = now + chrono::Duration::hours(24) + chrono::Duration::seconds(1);
        assert_eq!(
            signing_secrets(&sealer, &row, after_a_day).unwrap().len(),
            1
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn private_receivers_are_refused_unless_the_deployment_allows_them() {
    for server in TestServer::each().await {
        for url in [
            "https://127.0.0.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]:8443/hook",
            "https://localhost/hook",
            "http://93.184.216.34/hook",
            "https://user:password@hooks.example.com/",
        ] {
            let response = server
                .request(Method::POST, "/v1/webhook-endpoints", Some(&server.key))
                .json(&json!({"url": url}))
                .send()
                .await
                .unwrap();
            let problem = assert_problem(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "url_not_allowed",
            )
            .await;
            assert_eq!(problem["errors"][0]["pointer"], "/url", "{url}");
        }
        // Nothing was created.
        let (_, list) = server
            .send(Method::GET, "/v1/webhook-endpoints", None)
            .await;
        assert_eq!(list["data"], json!([]));
        server.finish().await;
    }
    for server in TestServer::each_configured(|config| config.allow_private_networks = true).await {
        let (status, body) = server
            .send(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": "http://127.0.0.1:9/hook"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        // Plain http still needs a private address.
        let response = server
            .request(Method::POST, "/v1/webhook-endpoints", Some(&server.key))
            .json(&json!({"url": "http://93.184.216.34/hook"}))
            .send()
            .await
            .unwrap();
        assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "url_not_allowed",
        )
        .await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_workspace_has_at_most_a_hundred_endpoints() {
    for server in TestServer::each().await {
        for _ in 0..100 {
            let (status, body) = server
                .send(
                    Method::POST,
                    "/v1/webhook-endpoints",
                    Some(json!({"url": RECEIVER})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let response = server
            .request(Method::POST, "/v1/webhook-endpoints", Some(&server.key))
            .json(&json!({"url": RECEIVER}))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::CONFLICT, "limit_reached").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn endpoints_belong_to_whoever_manages_webhooks() {
    for server in TestServer::each().await {
        let reader = server.key_with_scopes(&["conversations:read"]).await;
        let response = server
            .request(Method::GET, "/v1/webhook-endpoints", Some(&reader))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_test_event_arrives_signed_as_standard_webhooks_says() {
    for server in TestServer::each_configured(|config| config.allow_private_networks = true).await {
        let mut receiver = Receiver::start().await;
        let (_, created) = server
            .send(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": receiver.url})),
            )
            .await;
        let id = created["id"].as_str().unwrap();
        let secret = Secret::parse(created["secret"].as_str().unwrap()).unwrap();
        let test = format!("/v1/webhook-endpoints/{id}/test");
        let (status, result) = server.send(Method::POST, &test, None).await;
        assert_eq!(status, StatusCode::OK, "{result}");
        assert_schema("WebhookTestResult", &result);
        assert_eq!(result["delivered"], true, "{result}");
        assert_eq!(result["statusCode"], 204);

        let Received { headers, body, .. } = receiver.next().await;
        let event_id = header(&headers, "webhook-id");
        assert_eq!(event_id, result["eventId"]);
        assert_eq!(header(&headers, "idempotency-key"), event_id);
        assert_eq!(header(&headers, "content-type"), "application/json");
        assert!(header(&headers, "user-agent").starts_with("HoverBot-Webhooks/"));
        let timestamp: i64 = header(&headers, "webhook-timestamp").parse().unwrap();
        assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
        assert_eq!(
            header(&headers, "webhook-signature"),
            secret.sign(event_id, timestamp, &body)
        );
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_schema("WebhookTestEvent", &event);
        assert_eq!(event["data"]["webhookEndpointId"], id);

        // During a rotation, both secrets sign.
        let (_, rotated) = server
            .send(
                Method::POST,
                &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
                None,
            )
            .await;
        let new = Secret::parse(rotated["secret"].as_str().unwrap()).unwrap();
        server.send(Method::POST, &test, None).await;
        let Received { headers, body, .. } = receiver.next().await;
        let (event_id, timestamp) = (
            header(&headers, "webhook-id"),
            header(&headers, "webhook-timestamp").parse().unwrap(),
        );
        assert_eq!(
            header(&headers, "webhook-signature"),
            format!(
                "{} {}",
                new.sign(event_id, timestamp, &body),
                secret.sign(event_id, timestamp, &body)
            )
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn a_strict_deployment_calls_no_private_address_whatever_the_name() {
    let mut receiver = Receiver::start().await;
    let sender = Sender::new(Policy {
        allow_private_networks: false,
    });
    let secrets = [Secret::generate()];
    let port = receiver.url.split(':').nth(2).unwrap().to_string();
    // A name resolved at delivery time, and a literal address.
    for url in [format!("http://localhost:{port}"), receiver.url.clone()] {
        let outcome = sender.send(&url, "evt_1", &secrets, b"{}").await;
        assert_eq!(outcome.status, None, "{url}");
        assert!(outcome.error.unwrap().contains("refused"), "{url}");
    }
    // The same receiver is reachable where private networks are allowed.
    let lenient = Sender::new(Policy {
        allow_private_networks: true,
    });
    let outcome = lenient
        .send(
            &format!("http://localhost:{port}"),
            "evt_2",
            &secrets,
            b"{}",
        )
        .await;
    assert_eq!(outcome.status, Some(204), "{:?}", outcome.error);
    assert_eq!(
        header(&receiver.next().await.headers, "webhook-id"),
        "evt_2"
    );
}
