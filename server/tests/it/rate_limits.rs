//! Rate limits on a live server, with a small burst so the test stays short.

use std::time::Duration;

use hoverbot_api::Scope;
use hoverbot_server::limits::Limit;
use hoverbot_server::store::{api_keys, workspaces};
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
#[cfg_attr(
    no_test_postgres,
    ignore = "needs PostgreSQL: set HOVERBOT_TEST_DATABASE_URL"
)]
async fn two_server_processes_on_postgres_share_one_quota() {
    crate::support::require_postgres();
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

#[tokio::test]
async fn made_up_tokens_are_counted_against_the_address_before_any_lookup() {
    for server in TestServer::each_configured(|config| {
        config.rate_limit_per_minute = 60;
        config.rate_limit_burst = 3;
    })
    .await
    {
        // A client of the same address, seen before the flood.
        let response = server
            .request(Method::GET, "/v1/conversations", Some(&server.key))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // Every request carries a token never seen before: a per-token quota would admit them all.
        for n in 0..3 {
            let response = server
                .request(
                    Method::GET,
                    "/v1/conversations",
                    Some(&format!("hb_live_madeup{n}")),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        let response = server
            .request(Method::GET, "/v1/conversations", Some("hb_live_madeup3"))
            .send()
            .await
            .unwrap();
        let body = assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        assert!(
            body["detail"].as_str().unwrap().contains("address"),
            "{body}"
        );
        // The valid key from the same address still has its own quota.
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
async fn a_workspace_plan_sets_its_tokens_limit() {
    for server in TestServer::each().await {
        let created = workspaces::create(&server.db, "plan").await.unwrap();
        let workspace = workspaces::find(&server.db, &created.id)
            .await
            .unwrap()
            .unwrap();
        workspaces::set_rate_limit(
            &server.db,
            &workspace,
            Some(Limit {
                per_minute: 120,
                burst: 2,
            }),
        )
        .await
        .unwrap();
        let key = api_keys::create(&server.db, &workspace, "plan", Scope::ALL, None)
            .await
            .unwrap()
            .secret;
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let response = server
                .request(Method::GET, "/v1/conversations", Some(&key))
                .send()
                .await
                .unwrap();
            assert_eq!(
                header(&response, "ratelimit-policy"),
                "\"workspace\";q=120;w=60"
            );
            statuses.push(response.status());
        }
        assert_eq!(
            statuses,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::TOO_MANY_REQUESTS
            ]
        );
        // The deployment's limit still applies to every other workspace.
        let response = server
            .request(Method::GET, "/v1/conversations", Some(&server.key))
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&response, "ratelimit-policy"),
            "\"workspace\";q=600;w=60"
        );
        server.finish().await;
    }
}

/// Sends `key`'s requests at the published defaults on the GCRA schedule: 600 at once, then one
/// each 100 ms, which is 1,200 in 60 s; then one more at once. The schedule counts from the answer
/// to the first request, which the server counted earlier, so no request arrives ahead of its
/// slot. Returns the statuses of the 1,200 and the response to the one more.
async fn spend_the_default_quota(
    server: &TestServer,
    key: &str,
) -> (Vec<StatusCode>, reqwest::Response) {
    // Warm the connection pool, outside the quota, so the counted requests are not slowed.
    let warm = futures_util::future::join_all(
        (0..8).map(|_| server.request(Method::GET, "/healthz", None).send()),
    )
    .await;
    assert!(warm.iter().all(|response| response.is_ok()));
    let get = || {
        server
            .request(Method::GET, "/v1/conversations", Some(key))
            .send()
    };
    let mut statuses = vec![get().await.unwrap().status()];
    let started = tokio::time::Instant::now();
    for batch in (1..600).collect::<Vec<_>>().chunks(8) {
        let burst = futures_util::future::join_all(batch.iter().map(|_| get())).await;
        statuses.extend(burst.into_iter().map(|response| response.unwrap().status()));
    }
    for n in 600..1200u32 {
        tokio::time::sleep_until(started + Duration::from_millis(100) * (n - 599)).await;
        statuses.push(get().await.unwrap().status());
    }
    // The quota is spent. A busy machine may have let a slot or two refill (one per 100 ms) since
    // the last scheduled request: of ten sent at once, those beyond the refill are refused, and the
    // first refusal is the one to check.
    let burst = futures_util::future::join_all((0..10).map(|_| get())).await;
    let next = burst
        .into_iter()
        .map(Result::unwrap)
        .find(|response| response.status() == StatusCode::TOO_MANY_REQUESTS)
        .expect("a 429 among ten requests sent at once after the quota");
    (statuses, next)
}

#[tokio::test]
async fn at_the_published_defaults_a_key_gets_1200_in_its_first_minute_then_an_honest_429() {
    let servers = TestServer::each().await;
    let runs = futures_util::future::join_all(servers.iter().map(|server| async move {
        let (statuses, next) = spend_the_default_quota(server, &server.key).await;
        let admitted = statuses
            .iter()
            .filter(|status| **status == StatusCode::OK)
            .count();
        assert_eq!(
            admitted, 1200,
            "{}: all 1,200 on the schedule are admitted",
            server.backend
        );
        assert_eq!(
            header(&next, "ratelimit-policy"),
            "\"workspace\";q=600;w=60"
        );
        let retry_after: u64 = header(&next, "retry-after").parse().unwrap();
        assert_problem(next, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        // A second key is unaffected.
        let other = server.new_workspace_key("second", Scope::ALL).await;
        let response = server
            .request(Method::GET, "/v1/conversations", Some(&other))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "x-ratelimit-remaining"), "599");
        // Retry-After is right: the first request after it is accepted.
        tokio::time::sleep(Duration::from_secs(retry_after)).await;
        let response = server
            .request(Method::GET, "/v1/conversations", Some(&server.key))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", server.backend);
    }))
    .await;
    assert_eq!(runs.len(), servers.len());
    for server in servers {
        server.finish().await;
    }
}
