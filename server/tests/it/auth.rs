//! Bearer keys: 401 without a valid one, 403 without the scope, 404 for another workspace's data.

use hoverbot_api::Scope;
use reqwest::{Method, StatusCode};

use crate::support::{TestServer, assert_problem};

#[tokio::test]
async fn no_or_bad_token_is_401_with_a_challenge() {
    for server in TestServer::each().await {
        for key in [None, Some("hb_live_not-a-real-key"), Some("garbage")] {
            let response = server
                .request(Method::GET, "/v1/conversations", key)
                .send()
                .await
                .unwrap();
            let challenge = response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(challenge.starts_with("Bearer"), "{challenge}");
            assert_problem(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
        server.finish().await;
    }
}

#[tokio::test]
async fn a_key_without_the_scope_is_403() {
    for server in TestServer::each().await {
        let reader = server.key_with_scopes(&["conversations:read"]).await;
        let response = server
            .request(Method::POST, "/v1/conversations", Some(&reader))
            .json(&serde_json::json!({"channel": "web"}))
            .send()
            .await
            .unwrap();
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("insufficient_scope")
        );
        assert_problem(response, StatusCode::FORBIDDEN, "forbidden").await;
        let (status, _) = server
            .send_as(&reader, Method::GET, "/v1/conversations", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        server.finish().await;
    }
}

#[tokio::test]
async fn another_workspace_sees_nothing_of_ours() {
    for server in TestServer::each().await {
        let ours = server.create_conversation().await;
        let theirs = server.new_workspace_key("other", Scope::ALL).await;
        let response = server
            .request(
                Method::GET,
                &format!("/v1/conversations/{ours}"),
                Some(&theirs),
            )
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        let response = server
            .request(
                Method::POST,
                &format!("/v1/conversations/{ours}/messages"),
                Some(&theirs),
            )
            .json(&serde_json::json!({"text": "hello"}))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        let (_, list) = server
            .send_as(&theirs, Method::GET, "/v1/conversations", None)
            .await;
        assert_eq!(list["data"], serde_json::json!([]));
        let response = server
            .request(Method::POST, "/v1/escalations", Some(&theirs))
            .json(&serde_json::json!({"conversationId": ours, "reasonCode": "manual", "destination": "zendesk"}))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::NOT_FOUND, "not_found").await;
        let (_, transcript) = server
            .send(Method::GET, &format!("/v1/conversations/{ours}"), None)
            .await;
        assert_eq!(
            transcript["messages"],
            serde_json::json!([]),
            "the other workspace changed nothing"
        );
        server.finish().await;
    }
}

/// A caller refused for its credential is refused from its headers: a client that sends the
/// headers of a POST with a body and then nothing gets its 401 or 403 at once, its body
/// never read (it would wait for the body deadline, then 408, were the body read first).
#[tokio::test]
async fn a_refused_caller_is_answered_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    for server in TestServer::each().await {
        let reader = server.key_with_scopes(&["conversations:read"]).await;
        let addr = server.url("").trim_start_matches("http://").to_string();
        for (authorization, status) in [
            (String::new(), "401"),
            (
                "Authorization: Bearer hb_live_not-a-real-key\r\n".to_string(),
                "401",
            ),
            (format!("Authorization: Bearer {reader}\r\n"), "403"),
        ] {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            let head = format!(
                "POST /v1/conversations HTTP/1.1\r\nHost: {addr}\r\n\
                 Content-Type: application/json\r\nContent-Length: 1000\r\n{authorization}\r\n"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut answer = vec![0; 4096];
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
                    .await
                    .expect("the answer comes from the headers, without the body")
                    .unwrap();
            let answer = String::from_utf8_lossy(&answer[..read]);
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status} ")),
                "{authorization:?}: {answer}"
            );
            assert!(answer.contains("application/problem+json"), "{answer}");
        }
        server.finish().await;
    }
}
