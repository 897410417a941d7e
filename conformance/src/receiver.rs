//! The suites' own webhook receiver: an HTTP/1.1 server the deployment delivers to. Each endpoint a
//! suite registers gets a path of its own (`/hooks/<name>`) and a script of answers: accept, fail
//! with a status, ask for a later retry, hang past the deployment's timeout, or drop the
//! connection without an answer. Every request is recorded with the moment it arrived.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderMap;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use url::Url;

/// The most bytes of a request body the receiver reads; deliveries are far smaller.
const MAX_BODY: usize = 1024 * 1024;

/// How the receiver answers one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `204 No Content`.
    Accept,
    /// This status, with a short body.
    Status(u16),
    /// This status (429 or 503) with `Retry-After: seconds`.
    RetryAfter { status: u16, seconds: u64 },
    /// This status with `webhook-delivery: value`, the Standard Webhooks delivery control
    /// (`abort-message` or `disable`).
    Control { status: u16, value: &'static str },
    /// No answer for this long (past the deployment's attempt timeout), then `204`.
    Hang(Duration),
    /// The connection is closed without an answer.
    Reset,
}

/// One request the receiver was sent.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The hook it came to.
    pub hook: String,
    pub arrived: Instant,
    pub arrived_at: DateTime<Utc>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// How the receiver answered it.
    pub answer: Answer,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether the delivery carries a Standard Webhooks signature under `secret`, with a timestamp
    /// recent when it arrived; why not.
    pub fn verify(&self, secret: &str) -> Result<(), String> {
        crate::standard_webhooks::verify(
            secret,
            self.header("webhook-id").unwrap_or_default(),
            self.header("webhook-timestamp").unwrap_or_default(),
            &self.body,
            self.header("webhook-signature").unwrap_or_default(),
            self.arrived_at.timestamp(),
        )
    }
}

/// A hook's answers to each event: the scripted ones to its first attempts in order, then `then`.
struct Script {
    answers: Vec<Answer>,
    then: Answer,
    /// When set, only events whose body holds it follow the script; others are accepted. On a
    /// busy workspace, someone else's event must not meet the failure meant for the suite's own
    /// (a `410` would disable the endpoint before the suite's event is sent).
    marker: Option<Vec<u8>>,
}

#[derive(Default)]
struct State {
    scripts: Mutex<HashMap<String, Script>>,
    log: Mutex<Vec<Delivery>>,
    arrived: Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct Receiver {
    /// Where the deployment reaches the receiver.
    pub public_url: Url,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    /// Listens on `listen` (`127.0.0.1:0` picks a port). The deployment reaches it at
    /// `public_url`, by default the address it listens on.
    pub async fn start(listen: &str, public_url: Option<&str>) -> Result<Self> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("the webhook receiver cannot listen on {listen}"))?;
        let addr: SocketAddr = listener.local_addr()?;
        let public_url = match public_url {
            Some(url) => Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?,
            None => Url::parse(&format!("http://{addr}/"))?,
        };
        let state = Arc::new(State::default());
        let server = tokio::spawn(serve(listener, state.clone()));
        Ok(Self {
            public_url,
            state,
            server,
        })
    }

    /// A new hook `name` that answers each event's attempts with `answers` in order, then with
    /// `then`; its URL.
    pub fn hook(&self, name: &str, answers: Vec<Answer>, then: Answer) -> String {
        self.script(name, answers, then, None)
    }

    /// Like [`Receiver::hook`], but only for events whose body holds `marker` (the suite's own);
    /// any other event is accepted.
    pub fn hook_for(&self, name: &str, marker: &str, answers: Vec<Answer>, then: Answer) -> String {
        self.script(name, answers, then, Some(marker.as_bytes().to_vec()))
    }

    fn script(
        &self,
        name: &str,
        answers: Vec<Answer>,
        then: Answer,
        marker: Option<Vec<u8>>,
    ) -> String {
        lock(&self.state.scripts).insert(
            name.to_string(),
            Script {
                answers,
                then,
                marker,
            },
        );
        let mut url = self.public_url.clone();
        url.path_segments_mut()
            .expect("an http(s) URL has path segments")
            .pop_if_empty()
            .extend(["hooks", name]);
        url.to_string()
    }

    /// What hook `name` was sent so far, in the order it arrived.
    pub fn deliveries(&self, name: &str) -> Vec<Delivery> {
        lock(&self.state.log)
            .iter()
            .filter(|delivery| delivery.hook == name)
            .cloned()
            .collect()
    }

    /// Waits until `done` holds of hook `name`'s deliveries, or until `deadline`; whether it held.
    pub async fn wait_for(
        &self,
        name: &str,
        deadline: Instant,
        done: impl Fn(&[Delivery]) -> bool,
    ) -> bool {
        loop {
            // Registered before the check, so an arrival in between is not missed.
            let arrived = self.state.arrived.notified();
            if done(&self.deliveries(name)) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let _ = tokio::time::timeout(deadline - now, arrived).await;
        }
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| answer(request, state.clone()));
            // An error ends this connection only (a scripted reset is one).
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the script drops this connection")
    }
}

impl std::error::Error for Dropped {}

async fn answer(
    request: hyper::Request<Incoming>,
    state: Arc<State>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let arrived = Instant::now();
    let arrived_at = Utc::now();
    let hook = request
        .uri()
        .path()
        .strip_prefix("/hooks/")
        .or_else(|| {
            // Behind a public URL with a path of its own, the hook is the last segment.
            request
                .uri()
                .path()
                .rsplit_once("/hooks/")
                .map(|(_, hook)| hook)
        })
        .unwrap_or_default()
        .to_string();
    let (parts, body) = request.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(respond(413, "too large")),
    };
    let id = parts
        .headers
        .get("webhook-id")
        .map(|value| value.as_bytes().to_vec());
    // Attempt k of an event gets the script's answer k, whatever else the hook hears meanwhile.
    let answer = {
        let mut log = lock(&state.log);
        let attempt = log
            .iter()
            .filter(|delivery| {
                delivery.hook == hook
                    && delivery
                        .headers
                        .get("webhook-id")
                        .map(|value| value.as_bytes())
                        == id.as_deref()
            })
            .count();
        let answer = lock(&state.scripts).get(&hook).map(|script| {
            let ours = script.marker.as_ref().is_none_or(|marker| {
                body.windows(marker.len())
                    .any(|window| window == marker.as_slice())
            });
            if ours {
                script.answers.get(attempt).unwrap_or(&script.then).clone()
            } else {
                Answer::Accept
            }
        });
        if let Some(answer) = &answer {
            log.push(Delivery {
                hook,
                arrived,
                arrived_at,
                headers: parts.headers,
                body,
                answer: answer.clone(),
            });
        }
        answer
    };
    let Some(answer) = answer else {
        return Ok(respond(404, "no such hook"));
    };
    state.arrived.notify_waiters();
    match answer {
        Answer::Accept => Ok(respond(204, "")),
        Answer::Status(status) => Ok(respond(status, "failing on purpose")),
        Answer::RetryAfter { status, seconds } => {
            let mut response = respond(status, "retry later");
            response.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from(seconds),
            );
            Ok(response)
        }
        Answer::Control { status, value } => {
            let mut response = respond(status, "delivery control");
            response.headers_mut().insert(
                hyper::header::HeaderName::from_static("webhook-delivery"),
                hyper::header::HeaderValue::from_static(value),
            );
            Ok(response)
        }
        Answer::Hang(duration) => {
            tokio::time::sleep(duration).await;
            Ok(respond(204, ""))
        }
        Answer::Reset => Err(Dropped),
    }
}

fn respond(status: u16, body: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn deliver(url: &str, id: &str, user: &str) -> u16 {
        let body =
            serde_json::json!({"type": "conversation.created", "data": {"externalUserId": user}});
        reqwest::Client::new()
            .post(url)
            .header("webhook-id", id)
            .body(body.to_string())
            .send()
            .await
            .expect("the receiver answers")
            .status()
            .as_u16()
    }

    /// On a busy workspace someone else's event may reach the suite's `410` hook first: it is
    /// accepted, and the suite's own event still meets the script.
    #[tokio::test]
    async fn a_marked_script_answers_only_the_suites_own_events() {
        let receiver = Receiver::start("127.0.0.1:0", None).await.unwrap();
        let gone = receiver.hook_for(
            "gone",
            "conformance-gone-7",
            Vec::new(),
            Answer::Status(410),
        );
        assert_eq!(deliver(&gone, "evt_other", "someone-else").await, 204);
        assert_eq!(deliver(&gone, "evt_ours", "conformance-gone-7").await, 410);
        let failing = receiver.hook("failing", Vec::new(), Answer::Status(500));
        assert_eq!(deliver(&failing, "evt_other", "someone-else").await, 500);
        let answers: Vec<Answer> = receiver
            .deliveries("gone")
            .into_iter()
            .map(|delivery| delivery.answer)
            .collect();
        assert_eq!(answers, [Answer::Accept, Answer::Status(410)]);
    }
}
