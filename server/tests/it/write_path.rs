//! The write path under the failures a client, a proxy or the machine brings: a keyed POST cut
//! off at any point, or a server killed in the middle of requests, runs once for its key, and the
//! retry is answered at once; a slow upload holds up no other request's write.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{ServerProcess, TestServer};

const BODY: &str = r#"{"channel":"web"}"#;

/// How long a retry may take to be answered: a few seconds, never the minute a stale claim of a
/// key used to hold it for.
const ANSWERED_WITHIN: Duration = Duration::from_secs(10);

/// A keyed `POST /v1/conversations` written on a connection of its own.
async fn send_raw(addr: SocketAddr, token: &str, key: &str) -> TcpStream {
    let request = format!(
        "POST /v1/conversations HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Resets the connection (RST, as a client or proxy that gives up does), so that the server
/// drops the request's work wherever it is.
fn reset(stream: TcpStream) {
    stream.set_zero_linger().unwrap();
    drop(stream);
}

/// Sends the keyed request again until it is answered with the conversation; its id, and whether
/// it was a replay.
async fn retry(client: &reqwest::Client, base: &str, token: &str, key: &str) -> (String, bool) {
    let started = Instant::now();
    loop {
        let response = client
            .post(format!("{base}/v1/conversations"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .header("Content-Type", "application/json")
            .body(BODY)
            .send()
            .await
            .unwrap();
        match response.status() {
            StatusCode::CREATED => {
                let replayed = response.headers().contains_key("idempotent-replayed");
                let body: serde_json::Value = response.json().await.unwrap();
                return (body["id"].as_str().unwrap().to_string(), replayed);
            }
            // The first request may still be running for a moment; it says when to come back.
            StatusCode::CONFLICT => {
                assert!(
                    started.elapsed() < ANSWERED_WITHIN,
                    "{key}: still in progress after {:?}",
                    started.elapsed()
                );
                let wait: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            other => panic!("{key}: {other}: {}", response.text().await.unwrap()),
        }
    }
}

/// The conversations, and the `conversation.created` events, in the server's database.
async fn created(server: &TestServer) -> (usize, i64) {
    let (status, page) = server
        .send(Method::GET, "/v1/conversations?limit=100", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    use sea_orm::{ConnectionTrait, Statement};
    let events = server
        .db
        .query_one_raw(Statement::from_string(
            server.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM webhook_events WHERE event_type = 'conversation.created'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    (page["data"].as_array().unwrap().len(), events)
}

/// Each of `keys` keys made one conversation and one `conversation.created` event.
async fn assert_one_conversation_and_event_per_key(server: &TestServer, keys: usize) {
    let (conversations, events) = created(server).await;
    assert_eq!(
        conversations, keys,
        "{}: one conversation per key",
        server.backend
    );
    assert_eq!(
        events,
        i64::try_from(keys).unwrap(),
        "{}: one event per key",
        server.backend
    );
}

#[tokio::test]
async fn a_keyed_post_cut_off_at_any_point_runs_once_and_its_retry_is_answered_at_once() {
    for server in TestServer::each().await {
        let client = reqwest::Client::new();
        let base = server.url("");
        let mut ids = HashSet::new();
        const KEYS: usize = 40;
        for i in 0..KEYS {
            let key = format!("cut-{i}");
            let stream = send_raw(server.addr(), &server.key, &key).await;
            if i % 8 == 7 {
                // After the response: the request committed and its answer was on its way.
                let mut stream = stream;
                let mut first = [0u8; 12];
                stream.read_exact(&mut first).await.unwrap();
                assert_eq!(&first, b"HTTP/1.1 201");
                reset(stream);
            } else {
                // Before, during or after the commit: 0 to 3.5 ms into the request.
                tokio::time::sleep(Duration::from_micros(500 * (i as u64 % 8))).await;
                reset(stream);
            }
            let (id, _) = retry(&client, &base, &server.key, &key).await;
            assert!(ids.insert(id), "{key}: another key's conversation");
        }
        assert_one_conversation_and_event_per_key(&server, KEYS).await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_server_killed_mid_request_leaves_every_key_run_once() {
    for server in TestServer::each().await {
        let client = reqwest::Client::new();
        let keys: Vec<String> = (0..24).map(|i| format!("crash-{i}")).collect();
        let process = ServerProcess::spawn(server.database_url(), &[]).await;
        let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel();
        for key in &keys {
            let (client, base, token, key) = (
                client.clone(),
                process.base.clone(),
                server.key.clone(),
                key.clone(),
            );
            let answers = answers.clone();
            tokio::spawn(async move {
                let response = client
                    .post(format!("{base}/v1/conversations"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", &key)
                    .header("Content-Type", "application/json")
                    .body(BODY)
                    .send()
                    .await;
                let id = match response {
                    Ok(response) if response.status() == StatusCode::CREATED => response
                        .json::<serde_json::Value>()
                        .await
                        .ok()
                        .and_then(|body| body["id"].as_str().map(str::to_string)),
                    _ => None,
                };
                let _ = answers.send((key, id));
            });
        }
        drop(answers);
        // Killed once a few are answered, with the others at every stage of their work.
        let mut before = HashMap::new();
        while before.len() < 4 {
            let (key, id) = answered.recv().await.expect("requests are answered");
            if let Some(id) = id {
                before.insert(key, id);
            }
        }
        process.kill_9().await;
        while let Some((key, id)) = answered.recv().await {
            if let Some(id) = id {
                before.insert(key, id);
            }
        }

        let restarted = ServerProcess::spawn(server.database_url(), &[]).await;
        let mut ids = HashSet::new();
        for key in &keys {
            let (id, replayed) = retry(&client, &restarted.base, &server.key, key).await;
            if let Some(first) = before.get(key) {
                assert_eq!(&id, first, "{key}: the answer before the crash, replayed");
                assert!(replayed, "{key}: marked as a replay");
            }
            assert!(ids.insert(id), "{key}: another key's conversation");
        }
        assert_one_conversation_and_event_per_key(&server, keys.len()).await;
        server.finish().await;
    }
}

#[tokio::test]
async fn a_slow_upload_holds_up_no_other_write() {
    for server in TestServer::each().await {
        // A keyed POST whose body has yet to arrive: its headers, and a first byte.
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        let head = format!(
            "POST /v1/conversations HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Idempotency-Key: slow\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
            server.addr(),
            server.key,
            BODY.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        for _ in 0..3 {
            tokio::time::timeout(Duration::from_secs(10), server.create_conversation())
                .await
                .expect("a conversation is created while another request's body trickles in");
        }
        // The upload ends, and its request runs too.
        stream.write_all(&BODY.as_bytes()[1..]).await.unwrap();
        let mut first = [0u8; 12];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 201");
        assert_eq!(created(&server).await.0, 4);
        server.finish().await;
    }
}

#[tokio::test]
async fn one_key_sent_to_two_replicas_at_once_creates_one_conversation() {
    for server in TestServer::each().await {
        let replica = server.replica().await;
        let client = reqwest::Client::new();
        let bases = [server.url(""), format!("http://{}", replica.addr)];
        const KEYS: usize = 12;
        for i in 0..KEYS {
            let key = format!("both-{i}");
            let ((first, _), (second, _)) = tokio::join!(
                retry(&client, &bases[0], &server.key, &key),
                retry(&client, &bases[1], &server.key, &key)
            );
            assert_eq!(
                first, second,
                "{key}: both replicas answer with one conversation"
            );
        }
        assert_one_conversation_and_event_per_key(&server, KEYS).await;
        replica.stop().await.unwrap();
        server.finish().await;
    }
}
