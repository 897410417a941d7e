//! The load generator: keep-alive HTTP/1.1 connections sending one request again and again, either
//! back to back (closed loop) or at a fixed rate (open loop), and what came back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::cpu::{self, Threads};

/// A request that takes longer than this counts as an error and ends its connection.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One request, or a few in turn, sent again and again.
pub struct Target {
    pub addr: SocketAddr,
    pub method: Method,
    /// The paths sent, in turn, each with its JSON body.
    pub requests: Vec<(String, Option<Bytes>)>,
    /// The `Authorization` header.
    pub auth: Option<HeaderValue>,
    /// When set, every request carries a new `Idempotency-Key`, with this prefix.
    pub idempotency_keys: Option<IdempotencyKeys>,
    /// Which of `requests` goes next.
    turn: AtomicU64,
}

/// Fresh `Idempotency-Key`s: a prefix unique to the run and a counter.
pub struct IdempotencyKeys {
    pub prefix: String,
    pub next: AtomicU64,
}

impl IdempotencyKeys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: format!("{prefix}-{}", std::process::id()),
            next: AtomicU64::new(0),
        }
    }
}

impl Target {
    /// `method path` with `body`, sent again and again.
    pub fn new(
        addr: SocketAddr,
        method: Method,
        path: impl Into<String>,
        body: Option<Bytes>,
    ) -> Self {
        Self::rotating(addr, method, vec![(path.into(), body)])
    }

    /// `method` to each of `requests` in turn.
    pub fn rotating(
        addr: SocketAddr,
        method: Method,
        requests: Vec<(String, Option<Bytes>)>,
    ) -> Self {
        assert!(!requests.is_empty(), "a target sends at least one request");
        Self {
            addr,
            method,
            requests,
            auth: None,
            idempotency_keys: None,
            turn: AtomicU64::new(0),
        }
    }

    pub fn with_auth(mut self, auth: HeaderValue) -> Self {
        self.auth = Some(auth);
        self
    }

    pub fn with_idempotency_keys(mut self, keys: IdempotencyKeys) -> Self {
        self.idempotency_keys = Some(keys);
        self
    }

    /// `METHOD /path` of the first request, for messages.
    pub fn describe(&self) -> String {
        let more = if self.requests.len() > 1 {
            " (and others)"
        } else {
            ""
        };
        format!("{} {}{more}", self.method, self.requests[0].0)
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) as usize;
        let (path, body) = &self.requests[turn % self.requests.len()];
        let mut request = Request::builder()
            .method(self.method.clone())
            .uri(path)
            .header(HOST, self.addr.to_string());
        if let Some(auth) = &self.auth {
            request = request.header(AUTHORIZATION, auth);
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        if let Some(keys) = &self.idempotency_keys {
            let n = keys.next.fetch_add(1, Ordering::Relaxed);
            request = request.header("idempotency-key", format!("{}-{n}", keys.prefix));
        }
        request
            .body(Full::new(body.clone().unwrap_or_default()))
            .expect("a method, a path and valid headers make a request")
    }
}

/// One keep-alive connection.
pub struct Connection(SendRequest<Full<Bytes>>);

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // Its errors come back from the next request.
        tokio::spawn(connection);
        Ok(Self(sender))
    }

    /// Sends `target`'s request and reads the whole response.
    pub async fn send(&mut self, target: &Target) -> Result<(StatusCode, Bytes)> {
        self.0.ready().await?;
        let response = self.0.send_request(target.request()).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Each connection sends its next request as soon as the last one is answered.
    Closed,
    /// Requests fall due at a fixed rate and wait for a free connection; a request's latency runs
    /// from when it fell due, so a slow response delays the next ones' measurement, not their
    /// schedule (no coordinated omission).
    Open { per_second: f64 },
}

#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub connections: usize,
    pub warm_up: Duration,
    pub duration: Duration,
    pub pace: Pace,
}

/// What a run measured. Requests count when they started (or fell due) after the warm-up; errors
/// count from the first request.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Cores the server's threads kept busy during the measurement.
    pub server_cpu: Option<f64>,
    /// Cores the load generator's threads kept busy.
    pub client_cpu: Option<f64>,
    /// Cores busy on the whole machine, whoever used them.
    pub machine_cpu: Option<f64>,
}

/// The threads whose CPU time a run reports.
pub struct Probes {
    pub server: Threads,
    pub client: Threads,
}

/// Runs `load` against `target`: opens the connections, warms up, measures.
pub async fn run(target: Arc<Target>, load: Load, probes: &Probes) -> Result<Outcome> {
    let mut connections = Vec::with_capacity(load.connections);
    for _ in 0..load.connections {
        connections.push(Connection::open(target.addr).await?);
    }
    let start = Instant::now();
    let clock = Clock {
        start,
        measured_from: start + load.warm_up,
        end: start + load.warm_up + load.duration,
        next_due: Arc::new(AtomicU64::new(0)),
    };
    let workers: Vec<_> = connections
        .into_iter()
        .map(|connection| {
            tokio::spawn(worker(connection, target.clone(), load.pace, clock.clone()))
        })
        .collect();
    tokio::time::sleep_until(clock.measured_from.into()).await;
    let cpu_before = (probes.server.used(), probes.client.used(), cpu::machine());
    let mut samples = Samples::default();
    for worker in workers {
        samples.merge(worker.await?);
    }
    let cpu_wall = clock.measured_from.elapsed();
    let busy = |before: Option<Duration>, after: Option<Duration>| {
        // A thread that exited meanwhile can make the sum shrink: then the figure is unknown.
        let used = after?.checked_sub(before?)?;
        Some(used.as_secs_f64() / cpu_wall.as_secs_f64())
    };
    let server_cpu = busy(cpu_before.0, probes.server.used());
    let client_cpu = busy(cpu_before.1, probes.client.used());
    let machine_cpu = busy(cpu_before.2, cpu::machine());

    let latencies = &mut samples.latencies;
    latencies.sort_unstable();
    let elapsed = samples
        .last_done
        .map_or(load.duration, |last| last - clock.measured_from);
    Ok(Outcome {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(latencies, 0.50),
        p99: percentile(latencies, 0.99),
        errors: samples.errors,
        first_error: samples.first_error,
        server_cpu,
        client_cpu,
        machine_cpu,
    })
}

#[derive(Clone)]
struct Clock {
    start: Instant,
    measured_from: Instant,
    end: Instant,
    /// The open loop's queue: the index of the next request to fall due.
    next_due: Arc<AtomicU64>,
}

#[derive(Default)]
struct Samples {
    latencies: Vec<Duration>,
    last_done: Option<Instant>,
    errors: u64,
    first_error: Option<String>,
}

impl Samples {
    fn error(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.last_done = self.last_done.max(other.last_done);
        self.errors += other.errors;
        if let Some(error) = other.first_error {
            self.first_error.get_or_insert(error);
        }
    }
}

async fn worker(
    mut connection: Connection,
    target: Arc<Target>,
    pace: Pace,
    clock: Clock,
) -> Samples {
    let mut samples = Samples::default();
    loop {
        let due = match pace {
            Pace::Closed => Instant::now(),
            Pace::Open { per_second } => {
                let index = clock.next_due.fetch_add(1, Ordering::Relaxed);
                clock.start + Duration::from_secs_f64(index as f64 / per_second)
            }
        };
        if due >= clock.end {
            return samples;
        }
        if let Pace::Open { .. } = pace {
            tokio::time::sleep_until(due.into()).await;
        }
        let response = timeout(REQUEST_TIMEOUT, connection.send(&target)).await;
        let done = Instant::now();
        match response {
            Ok(Ok((status, _))) if status.is_success() => {
                if due >= clock.measured_from {
                    samples.latencies.push(done - due);
                    samples.last_done = samples.last_done.max(Some(done));
                }
            }
            Ok(Ok((status, body))) => samples.error(format!(
                "{} answered {status}: {}",
                target.describe(),
                String::from_utf8_lossy(&body)
            )),
            Ok(Err(err)) => {
                samples.error(format!("{}: {err:#}", target.describe()));
                return samples;
            }
            Err(_) => {
                samples.error(format!(
                    "{}: no response within {REQUEST_TIMEOUT:?}",
                    target.describe()
                ));
                return samples;
            }
        }
    }
}

/// The nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&samples[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
