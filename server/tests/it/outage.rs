//! A database that stops answering: requests that need it are refused at once with `503
//! database_unavailable` and `Retry-After`, `/readyz` fails fast instead of hanging, and once the
//! database answers again everything works and nothing was lost.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    ServerProcess, StallingProxy, TestServer, assert_problem, eventually, require_postgres,
};

#[tokio::test]
#[cfg_attr(
    no_test_postgres,
    ignore = "needs PostgreSQL: set HOVERBOT_TEST_DATABASE_URL"
)]
async fn a_database_that_stops_answering_is_refused_at_once_and_recovered_from() {
    require_postgres();
    for server in TestServer::each().await {
        if server.backend != "postgres" {
            server.finish().await;
            continue;
        }
        // The server process reaches PostgreSQL only through the proxy.
        let direct = server.database_url().to_string();
        let host = direct
            .split('@')
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("a PostgreSQL URL names its host");
        let upstream: SocketAddr = tokio::net::lookup_host(host).await.unwrap().next().unwrap();
        let proxy = StallingProxy::start(upstream).await;
        let through = direct.replacen(host, &proxy.addr.to_string(), 1);
        let process = ServerProcess::spawn(&through, &[]).await;
        // A hang is a failure: every answer must come well within the old 10 s wait.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let call = |method: Method, path: &str, body: Option<Value>| {
            let mut request = client
                .request(method, format!("{}{path}", process.base))
                .bearer_auth(&server.key);
            if let Some(body) = body {
                request = request.json(&body);
            }
            request.send()
        };
        let created = call(
            Method::POST,
            "/v1/conversations",
            Some(json!({"channel": "web", "externalUserId": "before-the-outage"})),
        )
        .await
        .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let created: Value = created.json().await.unwrap();

        proxy.stall();
        eventually("/readyz fails", || async {
            let ready = call(Method::GET, "/readyz", None)
                .await
                .expect("/readyz answers while the database does not");
            (ready.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(())
        })
        .await;
        for (method, path, body) in [
            (Method::GET, "/v1/conversations", None),
            (
                Method::POST,
                "/v1/conversations",
                Some(json!({"channel": "web", "externalUserId": "during-the-outage"})),
            ),
        ] {
            let refused = call(method, path, body)
                .await
                .expect("a request is answered while the database does not answer");
            let retry_after = refused.headers()["retry-after"]
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(retry_after, "1");
            assert_problem(
                refused,
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
            )
            .await;
        }
        let health = call(Method::GET, "/healthz", None).await.unwrap();
        assert_eq!(
            health.status(),
            StatusCode::OK,
            "the process itself is alive"
        );

        proxy.resume();
        let listed: Value = eventually("the API answers again", || async {
            let listed = call(Method::GET, "/v1/conversations", None).await.ok()?;
            if listed.status() != StatusCode::OK {
                return None;
            }
            Some(listed.json().await.unwrap())
        })
        .await;
        let users: Vec<&str> = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|conversation| conversation["externalUserId"].as_str())
            .collect();
        assert_eq!(users, ["before-the-outage"], "kept, and nothing half-made");
        assert_eq!(listed["data"][0]["id"], created["id"]);
        drop(process);
        server.finish().await;
    }
}
