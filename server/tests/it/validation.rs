//! Bad input gets a 4xx problem naming the field, and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestServer, assert_problem};

async fn post_raw(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    server
        .request(Method::POST, path, Some(&server.key))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn schema_violations_are_422_with_pointers() {
    for server in TestServer::each().await {
        let cases = [
            (json!({"channel": "fax"}), "/channel"),
            (
                json!({"channel": "web", "unknownField": 1}),
                "/unknownField",
            ),
            (
                json!({"channel": "web", "externalUserId": ""}),
                "/externalUserId",
            ),
            (
                json!({"channel": "web", "metadata": {"k": 5}}),
                "/metadata/k",
            ),
            (json!({"channel": 7}), "/channel"),
            (json!({}), "/channel"),
        ];
        for (body, pointer) in cases {
            let response = post_raw(
                &server,
                "/v1/conversations",
                "application/json",
                body.to_string(),
            )
            .await;
            let problem = assert_problem(
                response,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            )
            .await;
            let pointers: Vec<&str> = problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["pointer"].as_str().unwrap())
                .collect();
            assert!(pointers.contains(&pointer), "{body} gave {problem}");
        }
        let id = server.create_conversation().await;
        let response = post_raw(
            &server,
            &format!("/v1/conversations/{id}/messages"),
            "application/json",
            json!({"text": "x".repeat(4001)}).to_string(),
        )
        .await;
        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["pointer"], "/text");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                < 400,
            "long values are cut"
        );
        let (_, list) = server.send(Method::GET, "/v1/conversations", None).await;
        assert_eq!(
            list["data"].as_array().unwrap().len(),
            1,
            "no failed request created anything"
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn malformed_wrong_type_and_oversized_bodies_are_refused() {
    for server in TestServer::each().await {
        let response = post_raw(
            &server,
            "/v1/conversations",
            "application/json",
            "{\"channel\": ",
        )
        .await;
        assert_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
        let response = post_raw(&server, "/v1/conversations", "text/plain", "channel=web").await;
        assert_problem(
            response,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
        let big = json!({"channel": "web", "externalUserId": "x".repeat(100 * 1024)}).to_string();
        let response = post_raw(&server, "/v1/conversations", "application/json", big).await;
        assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
        let (_, list) = server.send(Method::GET, "/v1/conversations", None).await;
        assert_eq!(list["data"], json!([]));
        server.finish().await;
    }
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    for server in TestServer::each().await {
        let long_id = "c".repeat(101);
        let cases = [
            (
                "/v1/conversations?limit=0".to_string(),
                "limit",
                "must be an integer from 1 to 100, not 0".to_string(),
            ),
            (
                "/v1/conversations?limit=1000".to_string(),
                "limit",
                "must be an integer from 1 to 100, not 1000".to_string(),
            ),
            (
                "/v1/conversations?limit=abc".to_string(),
                "limit",
                "must be an integer from 1 to 100, not \"abc\"".to_string(),
            ),
            (
                "/v1/conversations?status=closed".to_string(),
                "status",
                "must be one of \"active\" or \"escalated\", not \"closed\"".to_string(),
            ),
            (
                "/v1/webhook-endpoints/whep_1/deliveries?eventType=message.sent".to_string(),
                "eventType",
                "must be one of \"conversation.created\", \"conversation.deleted\", \
                 \"message.responded\", \"lead.qualified\", \"escalation.created\", \
                 \"escalation.updated\" or \"webhook_endpoint.disabled\", not \"message.sent\""
                    .to_string(),
            ),
            (
                "/v1/conversations?cursor=not-a-cursor".to_string(),
                "cursor",
                "must be the `nextCursor` of the previous page, matching the pattern \
                 ^[a-z]{2,5}_[0-9a-z]{26}$ (such as conv_01j9za3b4c5d6e7f8g9h0j1k2m), which \
                 \"not-a-cursor\" does not"
                    .to_string(),
            ),
            (
                format!("/v1/conversations/{long_id}"),
                "conversationId",
                "must be the id of the conversation (`conv_…`), with at most 100 characters \
                 (it has 101 characters)"
                    .to_string(),
            ),
            (
                "/v1/conversations?externalUserId=a%00b".to_string(),
                "externalUserId",
                "must not contain NUL characters".to_string(),
            ),
        ];
        for (path, parameter, says) in cases {
            let response = server
                .request(Method::GET, &path, Some(&server.key))
                .send()
                .await
                .unwrap();
            let problem =
                assert_problem(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
            assert_eq!(
                problem["errors"][0]["parameter"], parameter,
                "{path}: {problem}"
            );
            assert_eq!(problem["errors"][0]["message"], says, "{path}: {problem}");
            assert_eq!(
                problem["detail"],
                format!("parameter `{parameter}`: {says}"),
                "{path}: {problem}"
            );
        }
        // A keyed POST's response is rendered, and stored, by the idempotency layer: worded too.
        let response = server
            .request(
                Method::POST,
                &format!("/v1/conversations/{long_id}/messages"),
                Some(&server.key),
            )
            .header("Idempotency-Key", "bad-path")
            .json(&json!({"text": "hello"}))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        assert_eq!(problem["errors"][0]["parameter"], "conversationId");
        assert_eq!(
            problem["errors"][0]["message"],
            "must be the id of the conversation (`conv_…`), with at most 100 characters (it has \
             101 characters)"
        );
        let response = server
            .request(Method::POST, "/v1/conversations", Some(&server.key))
            .header("Idempotency-Key", "k".repeat(256))
            .json(&json!({"channel": "web"}))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
        assert_eq!(problem["errors"][0]["parameter"], "Idempotency-Key");
        server.finish().await;
    }
}

#[tokio::test]
async fn unknown_ids_and_paths_are_404_problems() {
    for server in TestServer::each().await {
        for path in [
            "/v1/conversations/conv_nope",
            "/v1/escalations/esc_nope",
            "/v1/knowledge-sources/ks_nope",
            "/v1/nothing-here",
        ] {
            let response = server
                .request(Method::GET, path, Some(&server.key))
                .send()
                .await
                .unwrap();
            assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        }
        server.finish().await;
    }
}

#[tokio::test]
async fn nul_characters_are_refused_wherever_they_are() {
    for server in TestServer::each().await {
        let response = post_raw(
            &server,
            "/v1/conversations",
            "application/json",
            r#"{"channel": "web", "externalUserId": "a\u0000b", "metadata": {"k\u0000": "v"}}"#,
        )
        .await;
        let problem = assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let pointers: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        assert!(
            pointers.contains(&"/externalUserId") && pointers.contains(&"/metadata/k\u{0}"),
            "{problem}"
        );
        let (_, list) = server.send(Method::GET, "/v1/conversations", None).await;
        assert_eq!(list["data"], json!([]), "{}", server.backend);
        server.finish().await;
    }
}

#[tokio::test]
async fn whole_number_floats_count_as_integers() {
    for server in TestServer::each().await {
        let body = json!({"type": "url-crawl", "name": "Help", "seedUrls": ["https://help.example.com/"], "maxPages": 873.0});
        let (status, source) = server
            .send(Method::POST, "/v1/knowledge-sources", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{source}");
        assert_eq!(source["maxPages"], 873);
        let response = server
            .request(Method::POST, "/v1/knowledge-sources", Some(&server.key))
            .json(&json!({"type": "url-crawl", "name": "Help", "seedUrls": ["https://help.example.com/"], "maxPages": 8.5}))
            .send()
            .await
            .unwrap();
        assert_problem(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    for server in TestServer::each().await {
        let response = server
            .request(Method::PUT, "/v1/conversations", Some(&server.key))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "GET, POST");
        assert_problem(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
        let response = server
            .request(Method::TRACE, "/healthz", None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "GET");
        server.finish().await;
    }
}
