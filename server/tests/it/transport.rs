//! The connection layer on a live server: real TLS handshakes with generated certificates,
//! certificates replaced while connections stay up, plain HTTP refused, HTTPS enforced behind a
//! proxy, and the limits on slow or oversized clients.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use reqwest::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{ServerProcess, TestServer, assert_problem};

/// A certificate authority and a certificate it issued for `localhost` and `127.0.0.1`.
struct Pki {
    ca: String,
    cert: String,
    key: String,
}

impl Pki {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        Self {
            ca: ca.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &self.cert).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        (cert, key)
    }

    /// A client that trusts only this authority.
    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    /// A raw TLS connection that trusts only this authority, for requests on one connection.
    async fn connect(
        &self,
        addr: std::net::SocketAddr,
    ) -> tokio_rustls::client::TlsStream<TcpStream> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from_pem_slice(self.ca.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await.unwrap();
        connector
            .connect("localhost".try_into().unwrap(), tcp)
            .await
            .unwrap()
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hoverbot-tls-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sends one keep-alive `GET /healthz` on an open connection and returns the status line.
async fn healthz_on<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    // The health answer is small JSON with a Content-Length; read until the body is complete.
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let read = stream.read(&mut buffer).await.unwrap();
            assert!(read > 0, "the connection closed");
            response.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&response);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|line| {
                        line.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|value| value.trim().parse().unwrap())
                    })
                    .unwrap();
                if body.len() >= length {
                    return head.lines().next().unwrap().to_string();
                }
            }
        }
    })
    .await
    .expect("an answer within ten seconds")
}

/// Waits up to `limit` for `check` to hold.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn https_with_a_generated_certificate_and_plain_http_refused() {
    let pki = Pki::new("first");
    let (cert, key) = pki.write(&temp_dir());
    for server in TestServer::each_configured(|config| {
        config.tls_cert = Some(cert.clone());
        config.tls_key = Some(key.clone());
    })
    .await
    {
        let url = server.url("/v1/conversations");
        assert!(url.starts_with("https://"));
        let response = pki
            .client()
            .get(&url)
            .bearer_auth(&server.key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=63072000"
        );
        assert!(response.headers().contains_key("ratelimit"));

        // A client that does not trust the issuer does not get through.
        assert!(
            Pki::new("stranger")
                .client()
                .get(&url)
                .send()
                .await
                .is_err()
        );
        // Plain HTTP on the TLS port gets no HTTP answer.
        let plain = format!("http://{}/healthz", server.addr());
        assert!(reqwest::Client::new().get(&plain).send().await.is_err());
        server.finish().await;
    }
}

#[tokio::test]
async fn a_changed_certificate_is_served_without_dropping_connections() {
    let dir = temp_dir();
    let (first, second) = (Pki::new("first"), Pki::new("second"));
    let (cert, key) = first.write(&dir);
    let servers = TestServer::each_configured(|config| {
        config.tls_cert = Some(cert.clone());
        config.tls_key = Some(key.clone());
    })
    .await;
    let server = servers.into_iter().next().unwrap();
    let mut open = first.connect(server.addr()).await;
    assert_eq!(healthz_on(&mut open).await, "HTTP/1.1 200 OK");

    second.write(&dir);
    let url = server.url("/healthz");
    assert!(
        eventually(Duration::from_secs(20), || async {
            second.client().get(&url).send().await.is_ok()
        })
        .await,
        "new connections get the new certificate once the files change"
    );
    assert!(first.client().get(&url).send().await.is_err());
    assert_eq!(
        healthz_on(&mut open).await,
        "HTTP/1.1 200 OK",
        "the connection made before the change still works"
    );
    server.finish().await;
}

#[tokio::test]
async fn sighup_reloads_the_certificate() {
    let dir = temp_dir();
    let (first, second) = (Pki::new("first"), Pki::new("second"));
    let (cert, key) = first.write(&dir);
    let database = format!("sqlite://{}?mode=rwc", dir.join("hoverbot.db").display());
    let mut process = ServerProcess::spawn_with(
        &database,
        &[],
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        process.base.starts_with("https://127.0.0.1:"),
        "{}",
        process.base
    );
    let url = format!("{}/healthz", process.base);
    assert_eq!(
        first.client().get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );

    // New files with the old modification times: only the signal can tell the server.
    let times: Vec<SystemTime> = [&cert, &key]
        .iter()
        .map(|path| std::fs::metadata(path).unwrap().modified().unwrap())
        .collect();
    second.write(&dir);
    for (path, time) in [&cert, &key].iter().zip(times) {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }
    let status = std::process::Command::new("kill")
        .args(["-HUP", &process.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    process
        .log_line_containing("reloaded the TLS certificate after SIGHUP")
        .await;
    assert_eq!(
        second.client().get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert!(first.client().get(&url).send().await.is_err());
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_api_requires_https() {
    for server in TestServer::each_configured(|config| config.trust_proxy = true).await {
        let response = server
            .request(Method::GET, "/v1/conversations", Some(&server.key))
            .send()
            .await
            .unwrap();
        assert!(!response.headers().contains_key("strict-transport-security"));
        assert_problem(response, StatusCode::FORBIDDEN, "tls_required").await;

        let response = server
            .request(Method::GET, "/v1/conversations", Some(&server.key))
            .header("x-forwarded-proto", "https")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=63072000"
        );
        // Health checks come from the proxy itself, over whatever it uses.
        let response = server
            .request(Method::GET, "/healthz", None)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        server.finish().await;
    }
}

/// Writes `request` on a new connection and returns everything the server sends before it closes
/// the connection or `limit` passes.
async fn raw_exchange(
    addr: std::net::SocketAddr,
    request: &[u8],
    limit: Duration,
) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => answer.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn slow_and_oversized_requests_are_cut_off() {
    for server in TestServer::each_configured(|config| {
        config.header_read_timeout_secs = 1;
        config.body_read_timeout_secs = 1;
        config.max_headers = 50;
        config.max_header_bytes = 16 * 1024;
    })
    .await
    {
        let url = server.url("/v1/conversations");
        // Too many header fields, and too many header bytes: 431.
        let mut request = server.client.get(&url).bearer_auth(&server.key);
        for n in 0..60 {
            request = request.header(format!("x-extra-{n}"), "1");
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        let response = server
            .client
            .get(&url)
            .bearer_auth(&server.key)
            .header("x-large", "a".repeat(20 * 1024))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );

        // Headers that never finish: the connection is closed.
        let answer = raw_exchange(
            server.addr(),
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n",
            Duration::from_secs(15),
        )
        .await;
        assert!(
            answer.is_some(),
            "the server closes a connection whose headers stall"
        );

        // A body that never finishes: 408 problem, and nothing is created.
        let head = format!(
            "POST /v1/conversations HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"channel\":",
            server.key
        );
        let answer = raw_exchange(server.addr(), head.as_bytes(), Duration::from_secs(15))
            .await
            .expect("an answer before the test's deadline");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
        let (status, body) = server.send(Method::GET, "/v1/conversations", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"].as_array().unwrap().len(), 0);
        server.finish().await;
    }
}

#[tokio::test]
async fn metrics_count_requests_limits_and_replays() {
    for server in TestServer::each_configured(|config| {
        config.rate_limit_per_minute = 60;
        config.rate_limit_burst = 4;
    })
    .await
    {
        let body = serde_json::json!({"channel": "web"});
        for _ in 0..2 {
            let response = server
                .request(Method::POST, "/v1/conversations", Some(&server.key))
                .header("idempotency-key", "metrics-1")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
        }
        for _ in 0..3 {
            server
                .request(Method::GET, "/v1/conversations", Some(&server.key))
                .send()
                .await
                .unwrap();
        }
        let response = server
            .client
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/openmetrics-text")
        );
        let page = response.text().await.unwrap();
        let value = |series: &str| -> f64 {
            page.lines()
                .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("no `{series}` in\n{page}"))
        };
        assert_eq!(
            value("hoverbot_http_requests_total{operation=\"createConversation\",status=\"201\"}"),
            2.0
        );
        assert_eq!(
            value("hoverbot_http_requests_total{operation=\"listConversations\",status=\"200\"}"),
            2.0
        );
        assert_eq!(
            value("hoverbot_http_requests_total{operation=\"listConversations\",status=\"429\"}"),
            1.0
        );
        assert_eq!(
            value("hoverbot_rate_limited_requests_total{counted_by=\"token\"}"),
            1.0
        );
        assert_eq!(value("hoverbot_idempotent_replays_total"), 1.0);
        assert_eq!(
            value("hoverbot_http_request_duration_seconds_count{operation=\"createConversation\"}"),
            2.0
        );
        assert!(value("hoverbot_db_pool_max_connections") >= 1.0);
        assert!(page.contains("hoverbot_db_pool_connections{state=\"idle\"}"));
        assert!(page.trim_end().ends_with("# EOF"));
        server.finish().await;
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped() {
    const REQUESTS: usize = 500;
    for server in TestServer::each_configured(|config| {
        config.write_timeout_secs = 1;
        config.header_read_timeout_secs = 2;
    })
    .await
    {
        let spec_size = hoverbot_api::SPEC_JSON.len();
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        // Far more answer than the sockets' buffers hold, then three seconds of reading nothing.
        let requests = "GET /openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n".repeat(REQUESTS);
        stream.write_all(requests.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut received = 0usize;
        let ended = tokio::time::timeout(Duration::from_secs(30), async {
            let mut buffer = vec![0u8; 1 << 16];
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => received += read,
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "the server closed the connection");
        assert!(
            received < REQUESTS * spec_size,
            "the server stopped writing to a client that read nothing: {received} bytes of {}",
            REQUESTS * spec_size
        );
        // The server itself is fine.
        let (status, _) = server.send(Method::GET, "/v1/conversations", None).await;
        assert_eq!(status, StatusCode::OK);
        server.finish().await;
    }
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    for server in TestServer::each_configured(|config| config.max_connections = 1).await {
        let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
        let mut first = TcpStream::connect(server.addr()).await.unwrap();
        assert_eq!(healthz_on(&mut first).await, "HTTP/1.1 200 OK");

        // The kernel completes the second connection, but the server does not take it up.
        let mut second = TcpStream::connect(server.addr()).await.unwrap();
        second.write_all(request).await.unwrap();
        let mut buffer = [0u8; 1024];
        let early =
            tokio::time::timeout(Duration::from_millis(500), second.read(&mut buffer)).await;
        assert!(early.is_err(), "no answer while the only slot is taken");

        drop(first);
        let read = tokio::time::timeout(Duration::from_secs(10), second.read(&mut buffer))
            .await
            .expect("an answer once the slot is free")
            .unwrap();
        assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200 OK"));
        drop(second);
        server.finish().await;
    }
}
