//! Rate limits on a live server, with a small burst so the test stays short.

use std::time::Duration;

use hoverbot_server::api::generated::Scope;
use reqwest::{Method, StatusCode};

use crate::support::{ServerProcess, TestServer, assert_problem};

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_string()
}

#[tokio::test]
async fn a_token_gets_its_burst_then_429_with_an_honest_retry_after() {
    for server in TestServer::each_configured(|config| {
        config.rate_limit_per_minute = 60;
        config.rate_limit_burst = 3;
    })
    .await
    {
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let response = server
                .request(Method::GET, "/v1/conversations", Some(&server.key))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(
                header(&response, "ratelimit-policy"),
                "\"workspace\";q=60;w=60"
            );
            assert_eq!(header(&response, "x-ratelimit-limit"), "60");
            remaining.push(header(&response, "x-ratelimit-remaining"));
            assert!(header(&response, "ratelimit").starts_with("\"workspace\";r="));
        }
        assert_eq!(remaining, ["2", "1", "0"]);

        let refused = server
            .request(Method::GET, "/v1/conversations", Some(&server.key))
            .send()
            .await
            .unwrap();
        let retry_after: u64 = header(&refused, "retry-after").parse().unwrap();
        assert_eq!(
            retry_after, 1,
            "one request a second comes back after at most a second"
        );
        assert_eq!(header(&refused, "x-ratelimit-remaining"), "0");
        assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

        // Another key, even of the same workspace, has its own quota.
        let other = server.new_workspace_key("other", Scope::ALL).await;
        let response = server
            .request(Method::GET, "/v1/conversations", Some(&other))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);

        // The promise under test: after Retry-After seconds, the request is accepted.
        tokio::time::sleep(Duration::from_secs(retry_after)).await;
        let response = server
            .request(Method::GET, "/v1/conversations", Some(&server.key))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        server.finish().await;
    }
}

#[tokio::test]
async fn unauthenticated_requests_are_limited_by_address_and_carry_the_headers() {
    for server in TestServer::each_configured(|config| {
        config.rate_limit_per_minute = 60;
        config.rate_limit_burst = 2;
    })
    .await
    {
        for _ in 0..2 {
            let response = server
                .request(Method::GET, "/v1/conversations", None)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert!(response.headers().contains_key("ratelimit"));
        }
        let response = server
            .request(Method::GET, "/v1/conversations", None)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        let response = server
            .request(Method::GET, "/healthz", None)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "health checks are not limited"
        );
        server.finish().await;
    }
}

#[tokio::test]
async fn two_server_processes_on_postgres_share_one_quota() {
    for server in TestServer::each().await {
        if server.backend == "postgres" {
            // Ten seconds per request after a burst of four: nothing refills during the test.
            let env = [
                ("HOVERBOT_RATE_LIMIT_PER_MINUTE", "6"),
                ("HOVERBOT_RATE_LIMIT_BURST", "4"),
            ];
            let replicas = [
                ServerProcess::spawn(server.database_url(), &env).await,
                ServerProcess::spawn(server.database_url(), &env).await,
            ];
            let mut admitted = 0;
            for n in 0..8 {
                let replica = &replicas[n % 2];
                let response = server
                    .client
                    .get(format!("{}/v1/conversations", replica.base))
                    .bearer_auth(&server.key)
                    .send()
                    .await
                    .unwrap();
                if response.status() == StatusCode::OK {
                    admitted += 1;
                } else {
                    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
                }
            }
            assert_eq!(
                admitted, 4,
                "two replicas admit one burst between them, not one each"
            );
        }
        server.finish().await;
    }
}
