//! What the server serves besides the API: the spec, the docs, health, request ids.

use reqwest::{Method, StatusCode};

use crate::support::{ServerProcess, TestServer};

#[tokio::test]
async fn serves_the_spec_docs_and_health() {
    for server in TestServer::each().await {
        let yaml = server
            .client
            .get(server.url("/openapi.yaml"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // The bundled spec, with this server first among the servers: the address the document
        // was fetched from, since no public_url is configured.
        assert_eq!(
            yaml,
            hoverbot_api::SPEC_YAML.replacen(
                "\nservers:\n",
                "\nservers:\n  - url: '/'\n    description: This server.\n",
                1
            )
        );
        let served: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        let json: serde_json::Value = server
            .client
            .get(server.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(json, served, "the JSON and the YAML are one document");
        assert_eq!(json["openapi"], "3.1.0");
        assert_eq!(json["servers"][0]["url"], "/");
        let bundled: serde_json::Value = serde_json::from_str(hoverbot_api::SPEC_JSON).unwrap();
        assert_eq!(
            json["servers"].as_array().unwrap()[1..],
            bundled["servers"].as_array().unwrap()[..]
        );
        let docs = server
            .client
            .get(server.url("/docs/"))
            .send()
            .await
            .unwrap();
        assert_eq!(docs.status(), StatusCode::OK);
        assert!(docs.text().await.unwrap().contains("swagger-ui"));
        for path in ["/healthz", "/readyz"] {
            let response = server.client.get(server.url(path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
        server.finish().await;
    }
}

#[tokio::test]
async fn request_ids_are_honoured_or_made() {
    for server in TestServer::each().await {
        let response = server
            .request(Method::GET, "/healthz", None)
            .header("x-request-id", "trace-abc")
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["x-request-id"], "trace-abc");
        let response = server
            .request(Method::GET, "/healthz", None)
            .header("x-request-id", "bad id with spaces")
            .send()
            .await
            .unwrap();
        assert!(
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .starts_with("req_")
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn every_request_is_logged_once_with_its_operation_and_workspace_and_no_secret() {
    for server in TestServer::each().await {
        let mut process =
            ServerProcess::spawn_with(server.database_url(), &[], &["--log-format", "json"]).await;
        let response = server
            .client
            .get(format!(
                "{}/v1/conversations?externalUserId=someone%40example.com",
                process.base
            ))
            .bearer_auth(&server.key)
            .header("x-request-id", "log-test-1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let line = process.log_line_containing("log-test-1").await;
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        let fields = &entry["fields"];
        assert_eq!(fields["operation"], "listConversations", "{line}");
        assert_eq!(fields["path"], "/v1/conversations");
        assert_eq!(fields["status"], 200);
        assert!(
            fields["workspace"].as_str().unwrap().starts_with("ws_"),
            "{line}"
        );
        assert!(fields["latency_ms"].is_number());
        assert!(
            !line.contains(&server.key) && !line.contains("someone"),
            "no secret or query in {line}"
        );
        server.finish().await;
    }
}

/// The text log written to a pipe (a file, the journal) carries no terminal colour codes.
#[tokio::test]
async fn a_log_that_is_not_a_terminal_has_no_colour_codes() {
    for server in TestServer::each().await {
        let mut process = ServerProcess::spawn_with(server.database_url(), &[], &[]).await;
        let response = server
            .client
            .get(format!("{}/v1/conversations", process.base))
            .bearer_auth(&server.key)
            .header("x-request-id", "log-test-plain")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let line = process.log_line_containing("log-test-plain").await;
        assert!(!line.contains('\u{1b}'), "colour codes in {line:?}");
        assert!(line.contains("operation=\"listConversations\""), "{line}");
        server.finish().await;
    }
}

#[tokio::test]
async fn a_newer_release_migrating_first_keeps_this_one_ready() {
    use sea_orm::ConnectionTrait;
    for server in TestServer::each().await {
        // What a newer release's `hoverbot migrate` leaves behind: a migration this build lacks.
        server
            .db
            .execute_unprepared(
                "INSERT INTO seaql_migrations (version, applied_at) \
                 VALUES ('m29991231_000001_from_a_newer_release', 0)",
            )
            .await
            .unwrap();
        let response = server
            .client
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // And this build still starts on that database.
        hoverbot_server::store::migrate(&server.db).await.unwrap();
        // A database missing one of this build's migrations is not ready.
        server
            .db
            .execute_unprepared(
                "DELETE FROM seaql_migrations WHERE version = 'm20261123_000004_workspace_rate_limits'",
            )
            .await
            .unwrap();
        let response = server
            .client
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        server.finish().await;
    }
}

#[tokio::test]
async fn the_served_spec_lists_the_configured_public_url_first() {
    for server in TestServer::each_configured(|config| {
        config.public_url = Some("https://support.example.com".to_string());
    })
    .await
    {
        let (status, json) = server.send(Method::GET, "/openapi.json", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["servers"][0]["url"], "https://support.example.com");
        server.finish().await;
    }
}
