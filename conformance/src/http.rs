//! Requests to the deployment, built from an operation and a generated input, and the responses
//! as the checks read them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::check::Sent;
use crate::spec::{Access, Location, Operation};

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often a request told to wait (429 with `Retry-After`) is tried again, and the longest wait.
const RETRIES: u32 = 3;
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// One request's worth of generated input.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub path: BTreeMap<String, Value>,
    pub query: BTreeMap<String, Value>,
    pub headers: BTreeMap<String, Value>,
    pub body: Option<Value>,
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Received {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    /// The media type without parameters, lower case.
    pub fn content_type(&self) -> Option<String> {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| {
                value
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// `Retry-After`, in whole seconds.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|value| value.parse::<u64>().ok())
            .map(Duration::from_secs)
    }
}

/// The deployment and the credentials the suites use.
pub struct Target {
    pub base_url: Url,
    pub api_key: String,
    client: reqwest::Client,
}

impl Target {
    pub fn new(base_url: &str, api_key: &str) -> Result<Self> {
        let mut base_url =
            Url::parse(base_url).with_context(|| format!("`{base_url}` is not a URL"))?;
        if !base_url.path().ends_with('/') {
            base_url.set_path(&format!("{}/", base_url.path()));
        }
        Ok(Self {
            base_url,
            api_key: api_key.to_string(),
            client: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }

    /// The request `operation` makes with `input`, authorized as its access asks.
    pub fn request(&self, operation: &Operation, input: &Input) -> Sent {
        let mut url = self.base_url.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .expect("an http(s) base URL has path segments");
            segments.pop_if_empty();
            for part in operation.path.split('/').filter(|part| !part.is_empty()) {
                match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => segments.push(&text(input.path.get(name))),
                    None => segments.push(part),
                };
            }
        }
        if !input.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &input.query {
                pairs.append_pair(name, &text(Some(value)));
            }
        }
        let mut headers: Vec<(String, String)> = input
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), text(Some(value))))
            .collect();
        if operation.params.iter().any(|param| {
            param.location == Location::Header && crate::suites::is_idempotency_key(&param.name)
        }) {
            headers.push(("idempotency-key".into(), fresh_key()));
        }
        let secret_authorization = matches!(operation.access, Access::Scope(_));
        if secret_authorization {
            headers.push(("authorization".into(), format!("Bearer {}", self.api_key)));
        }
        let body = input.body.as_ref().map(Value::to_string);
        if body.is_some() {
            headers.push(("content-type".into(), "application/json".into()));
        }
        Sent {
            method: operation.method.clone(),
            url: url.to_string(),
            headers,
            body,
            secret_authorization,
        }
    }

    /// Sends `sent`; a 429 with `Retry-After` is waited out and sent again, a few times.
    pub async fn send(&self, sent: &Sent) -> Result<Received> {
        let mut tries = 0;
        loop {
            let received = self.send_once(sent).await?;
            match received.retry_after() {
                Some(wait)
                    if received.status == 429 && tries < RETRIES && wait <= MAX_RETRY_WAIT =>
                {
                    tries += 1;
                    tokio::time::sleep(wait).await;
                }
                _ => return Ok(received),
            }
        }
    }

    /// Sends `sent` once, whatever the answer.
    pub async fn send_once(&self, sent: &Sent) -> Result<Received> {
        let method = Method::from_bytes(sent.method.as_bytes())?;
        let mut request = self.client.request(method, &sent.url);
        for (name, value) in &sent.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &sent.body {
            request = request.body(body.clone());
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{} {}", sent.method, sent.url))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Received {
            status,
            headers,
            body,
        })
    }
}

/// How long a cut request waits after its first chunk, for the client to write it.
const FLUSH: Duration = Duration::from_millis(100);

/// Where a request's connection is dropped, as a client's can be.
#[derive(Debug, Clone, Copy)]
pub enum Cut {
    /// After this many bytes of the body: the request never arrives whole.
    MidBody(usize),
    /// This long after the whole body is sent, while the deployment works on it.
    AfterBody(Duration),
    /// Once the status and headers arrive, before the body is read.
    BeforeBody,
}

impl Target {
    /// Sends `sent` and drops the connection at `cut`; whatever the deployment answers is not
    /// read. The body goes as a stream of a declared length, so that a cut mid-body is a
    /// connection closed with the body unfinished, not a shorter request.
    pub async fn send_cut(&self, sent: &Sent, cut: Cut) -> Result<()> {
        let method = Method::from_bytes(sent.method.as_bytes())?;
        let mut request = self.client.request(method, &sent.url);
        for (name, value) in &sent.headers {
            request = request.header(name, value);
        }
        let body = sent.body.clone().unwrap_or_default().into_bytes();
        request = request.header(reqwest::header::CONTENT_LENGTH, body.len());
        let (sent_all, body_sent) = tokio::sync::oneshot::channel::<()>();
        let (first, cut_after) = match cut {
            Cut::MidBody(at) => {
                let at = at.min(body.len().saturating_sub(1));
                (body[..at].to_vec(), true)
            }
            Cut::AfterBody(_) | Cut::BeforeBody => (body, false),
        };
        // After the first chunk the stream waits a moment, which lets the client write what it
        // has (a stream that fails at once would fail before anything is sent); then it fails the
        // body (a cut), or ends it and says so.
        let mut sent_all = Some(sent_all);
        let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(first)]).chain(
            futures_util::stream::once(async move {
                tokio::time::sleep(FLUSH).await;
                if let Some(signal) = sent_all.take() {
                    let _ = signal.send(());
                }
                cut_after.then(|| std::io::Error::other("the connection is cut mid-body"))
            })
            .filter_map(|cut| async move { cut.map(Err) }),
        );
        let response = request.body(reqwest::Body::wrap_stream(stream)).send();
        match cut {
            // The body fails, and with it the request: the connection is closed.
            Cut::MidBody(_) => {
                let _ = response.await;
            }
            Cut::AfterBody(delay) => {
                tokio::pin!(response);
                tokio::select! {
                    _ = &mut response => {}
                    Ok(()) = body_sent => {
                        tokio::select! {
                            _ = &mut response => {}
                            () = tokio::time::sleep(delay) => {}
                        }
                    }
                }
            }
            Cut::BeforeBody => {
                // The response is dropped with its body unread, which closes the connection.
                let _ = response.await;
            }
        }
        Ok(())
    }
}

/// An idempotency key no other request of this process has used.
fn fresh_key() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!(
        "conformance-{started:x}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A parameter value as it goes into a URL or header.
fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Which parameters an operation has at `location`.
pub fn params_at(
    operation: &Operation,
    location: Location,
) -> impl Iterator<Item = &crate::spec::Param> {
    operation
        .params
        .iter()
        .filter(move |param| param.location == location)
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt as _;

    use super::{Cut, Target};
    use crate::check::Sent;

    /// What a listener receives of a request cut mid-body: the headers, the first bytes of the
    /// body and then the end of the connection, never the rest.
    #[tokio::test]
    async fn a_cut_mid_body_sends_that_much_and_closes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/conversations", listener.local_addr().unwrap());
        let target = Target::new("http://127.0.0.1:9/", "unused").unwrap();
        let sent = Sent {
            method: "POST".into(),
            url,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(r#"{"channel":"web","externalUserId":"someone"}"#.into()),
            secret_authorization: false,
        };
        let sent_length = sent.body.as_ref().map_or(0, String::len);
        let received = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut bytes = Vec::new();
            socket.read_to_end(&mut bytes).await.unwrap();
            String::from_utf8(bytes).unwrap()
        });
        target.send_cut(&sent, Cut::MidBody(10)).await.unwrap();
        let received = received.await.unwrap();
        let (head, body) = received.split_once("\r\n\r\n").unwrap();
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("content-length: {}", sent_length)),
            "{head}"
        );
        assert_eq!(body, r#"{"channel""#);
    }
}
