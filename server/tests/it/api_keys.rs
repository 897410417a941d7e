//! `/v1/api-keys`: the secret is shown once; revoking takes effect at once.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestServer, assert_problem, assert_schema};

#[tokio::test]
async fn a_new_key_works_is_listed_without_its_secret_and_dies_when_revoked() {
    for server in TestServer::each().await {
        let (status, created) = server
            .send(
                Method::POST,
                "/v1/api-keys",
                Some(json!({"name": "crm sync", "scopes": ["conversations:read"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_schema("ApiKeyWithSecret", &created);
        let secret = created["secret"].as_str().unwrap().to_string();
        assert!(secret.starts_with(created["prefix"].as_str().unwrap()));

        let (status, _) = server
            .send_as(&secret, Method::GET, "/v1/conversations", None)
            .await;
        assert_eq!(status, StatusCode::OK);

        let (_, list) = server.send(Method::GET, "/v1/api-keys", None).await;
        assert_schema("ApiKeyList", &list);
        let listed = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["id"] == created["id"])
            .unwrap();
        assert!(listed.get("secret").is_none());
        assert!(!list.to_string().contains(&secret));

        let id = created["id"].as_str().unwrap();
        let (status, body) = server
            .send(Method::DELETE, &format!("/v1/api-keys/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let response = server
            .request(Method::GET, "/v1/conversations", Some(&secret))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        let response = server
            .request(
                Method::DELETE,
                &format!("/v1/api-keys/{id}"),
                Some(&server.key),
            )
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_key_past_its_expiry_is_refused() {
    for server in TestServer::each().await {
        let (status, created) = server
            .send(
                Method::POST,
                "/v1/api-keys",
                Some(json!({"name": "old", "scopes": ["conversations:read"], "expiresAt": "2020-01-01T00:00:00Z"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(created["expiresAt"], "2020-01-01T00:00:00+00:00");
        let secret = created["secret"].as_str().unwrap();
        let response = server
            .request(Method::GET, "/v1/conversations", Some(secret))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        server.finish().await;
    }
}

#[tokio::test]
async fn an_admin_can_make_a_key_with_every_scope() {
    let every: Vec<&str> = hoverbot_api::Scope::ALL
        .iter()
        .map(|scope| scope.as_str())
        .collect();
    for server in TestServer::each().await {
        let (status, created) = server
            .send(
                Method::POST,
                "/v1/api-keys",
                Some(json!({"name": "admin", "scopes": every})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["scopes"].as_array().unwrap().len(), every.len());
        server.finish().await;
    }
}
