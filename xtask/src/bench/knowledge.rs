//! The knowledge figures: the release server crawls and indexes the PostgreSQL manual served on
//! loopback (by `site`) (the time until its first cited answer, and pages per second, next to the time the
//! load generator takes to fetch the same pages alone), its memory then, and
//! `POST /v1/conversations/{id}/messages` with that index loaded: throughput (closed loop) and
//! latency at a fixed rate (open loop), next to the bare poem baseline at the same rate.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use hyper::Method;
use hyper::body::Bytes;
use serde_json::{Value, json};

use super::Options;
use super::cpu::Threads;
use super::load::{self, Connection, Outcome, Pace, Probes, Target};
use super::server::{self, Api, Background, Hoverbot};
use crate::project;

/// The rate the latency is measured at (the aim: p99 under 25 ms at 200 requests/s).
pub const RATE: f64 = 200.0;
/// Conversations the messages go to, in turn.
const CONVERSATIONS: usize = 199;
/// The crawl's concurrency: the server's default, which fetching alone uses too.
pub const CRAWL_CONCURRENCY: usize = 4;
/// How long the crawl may take before the bench gives up.
const CRAWL_DEADLINE: Duration = Duration::from_secs(600);
/// How often the source's status is read during the crawl.
const POLL: Duration = Duration::from_millis(50);

/// A process's memory, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Resident now (`VmRSS`), bytes.
    pub resident: u64,
    /// The most ever resident (`VmHWM`), bytes.
    pub peak: u64,
}

pub struct Figures {
    /// HTML pages in the manual's directory.
    pub pages_served: usize,
    /// The load generator fetching every page alone, at the crawl's concurrency.
    pub fetch_alone: Duration,
    /// From creating the source to its status `ready`.
    pub to_ready: Duration,
    /// From creating the source to the first cited answer from it.
    pub to_answer: Duration,
    pub pages_indexed: u64,
    pub chunks: u64,
    pub indexed: Memory,
    pub after_load: Memory,
    /// Questions of `eval/postgresql.yaml` that got a cited answer, which the load asks in turn.
    pub questions: usize,
    pub conversations: usize,
    /// Closed-loop runs, one per round.
    pub rounds: Vec<Outcome>,
    /// The open-loop run at `RATE`.
    pub open: Outcome,
    /// The bare poem baseline at `RATE`.
    pub baseline_open: Outcome,
}

pub async fn measure(
    binary: &Path,
    baseline: &Background,
    site: &Background,
    pages: &[String],
    options: &Options,
    load_threads: &'static str,
) -> Result<Figures> {
    eprintln!("bench: fetching the manual's {} pages alone", pages.len());
    let fetch_alone = fetch_all(site.addr, pages).await?;

    let hoverbot = Hoverbot::start(
        binary,
        "knowledge",
        &[
            ("HOVERBOT_ALLOW_PRIVATE_NETWORKS", "true"),
            // The per-host politeness bound (10/s by default) would measure itself: a help center
            // of 1,170 pages takes two minutes at 10 pages a second, whatever the crawler does.
            ("HOVERBOT_CRAWL_HOST_REQUESTS_PER_SECOND", "1000"),
            ("HOVERBOT_CRAWL_CONCURRENCY", &CRAWL_CONCURRENCY.to_string()),
        ],
    )
    .await?;
    let pid = hoverbot.pid().context("the server has exited")?;
    let mut api = Api::open(&hoverbot).await?;
    let questions = answerable_questions()?;
    let first = questions
        .first()
        .context("eval/postgresql.yaml has no questions")?;

    eprintln!("bench: the server crawls and indexes the manual");
    let started = Instant::now();
    let source = api
        .call(
            Method::POST,
            "/v1/knowledge-sources",
            Some(json!({
                "type": "url-crawl",
                "name": "PostgreSQL 15 manual",
                "seedUrls": [format!("http://{}/index.html", site.addr)],
                "maxPages": 10_000,
                "maxDepth": 20,
            })),
        )
        .await?;
    let id = source["id"].as_str().context("the source has no id")?;
    let synced = loop {
        let source = api
            .call(Method::GET, &format!("/v1/knowledge-sources/{id}"), None)
            .await?;
        match source["status"].as_str() {
            Some("ready") => break source,
            Some("failed") => bail!("the crawl failed: {source}"),
            _ if started.elapsed() > CRAWL_DEADLINE => {
                bail!("the crawl did not finish within {CRAWL_DEADLINE:?}: {source}")
            }
            _ => tokio::time::sleep(POLL).await,
        }
    };
    let to_ready = started.elapsed();
    while api.ask(first).await?.is_none() {
        ensure!(
            started.elapsed() < CRAWL_DEADLINE,
            "no cited answer within {CRAWL_DEADLINE:?} of the crawl's start"
        );
        tokio::time::sleep(POLL).await;
    }
    let to_answer = started.elapsed();
    let indexed = memory(pid)?;
    eprintln!(
        "bench: {} pages indexed in {:.1} s; {} MiB resident",
        synced["pagesIndexed"],
        to_answer.as_secs_f64(),
        indexed.resident >> 20
    );

    // Only questions it answers: two unsure replies in a row would hand a conversation to a
    // person, after which it gets no replies (a cheaper path than the one measured).
    let mut answered = Vec::new();
    for question in &questions {
        if api.ask(question).await?.is_some() {
            answered.push(question.clone());
        }
    }
    ensure!(
        !answered.is_empty(),
        "no question of the manual got a cited answer"
    );
    let mut conversations = Vec::with_capacity(CONVERSATIONS);
    for _ in 0..CONVERSATIONS {
        conversations.push(api.conversation().await?);
    }
    // Every conversation gets every question in turn (199 is prime, so all pairs come up).
    let requests = (0..CONVERSATIONS * answered.len())
        .map(|turn| {
            let path = format!(
                "/v1/conversations/{}/messages",
                conversations[turn % CONVERSATIONS]
            );
            let body = json!({ "text": answered[turn % answered.len()] }).to_string();
            (path, Some(Bytes::from(body)))
        })
        .collect();
    let messages = Arc::new(
        Target::rotating(hoverbot.addr, Method::POST, requests).with_auth(api.auth.clone()),
    );
    let probes = Probes {
        server: Threads::of_process(pid),
        client: Threads::named(load_threads),
    };
    let mut rounds = Vec::new();
    for round in 1..=options.repeat {
        let outcome = load::run(messages.clone(), options.load(Pace::Closed), &probes).await?;
        eprintln!(
            "bench: round {round}/{}: messages: {:.0} req/s, p99 {:.2} ms",
            options.repeat,
            outcome.per_second,
            outcome.p99.as_secs_f64() * 1e3
        );
        rounds.push(outcome);
    }
    let at_rate = options.load(Pace::Open { per_second: RATE });
    let open = load::run(messages, at_rate, &probes).await?;
    eprintln!(
        "bench: open loop at {RATE:.0} req/s: messages: p50 {:.2} ms, p99 {:.2} ms",
        open.p50.as_secs_f64() * 1e3,
        open.p99.as_secs_f64() * 1e3
    );
    let baseline_target = Arc::new(Target::new(baseline.addr, Method::GET, "/", None));
    let baseline_probes = Probes {
        server: Threads::named(server::BASELINE_THREADS),
        client: Threads::named(load_threads),
    };
    let baseline_open = load::run(baseline_target, at_rate, &baseline_probes).await?;
    let after_load = memory(pid)?;
    hoverbot.stop().await?;
    Ok(Figures {
        pages_served: pages.len(),
        fetch_alone,
        to_ready,
        to_answer,
        pages_indexed: synced["pagesIndexed"].as_u64().unwrap_or(0),
        chunks: synced["chunks"].as_u64().unwrap_or(0),
        indexed,
        after_load,
        questions: answered.len(),
        conversations: CONVERSATIONS,
        rounds,
        open,
        baseline_open,
    })
}

impl Api {
    /// The answer to `question` in a new conversation, if it cites the knowledge.
    async fn ask(&mut self, question: &str) -> Result<Option<Value>> {
        let conversation = self.conversation().await?;
        let exchange = self
            .call(
                Method::POST,
                &format!("/v1/conversations/{conversation}/messages"),
                Some(json!({ "text": question })),
            )
            .await?;
        let answer = &exchange["assistantMessage"];
        Ok(answer["citations"]
            .as_array()
            .is_some_and(|citations| !citations.is_empty())
            .then(|| answer.clone()))
    }
}

/// The questions of `eval/postgresql.yaml` that the manual answers.
fn answerable_questions() -> Result<Vec<String>> {
    let file = project::root().join("eval/postgresql.yaml");
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let questions: Vec<Value> = serde_yaml_ng::from_str(&text)?;
    Ok(questions
        .iter()
        .filter(|question| {
            question["pages"]
                .as_array()
                .is_some_and(|pages| !pages.is_empty())
        })
        .filter_map(|question| question["question"].as_str().map(str::to_string))
        .collect())
}

/// Fetches every page once over `CRAWL_CONCURRENCY` keep-alive connections; the time it took.
async fn fetch_all(addr: SocketAddr, pages: &[String]) -> Result<Duration> {
    let pages: Arc<Vec<String>> = Arc::new(pages.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut fetchers = Vec::new();
    for _ in 0..CRAWL_CONCURRENCY {
        let (pages, next) = (pages.clone(), next.clone());
        fetchers.push(tokio::spawn(async move {
            let mut connection = Connection::open(addr).await?;
            loop {
                let Some(page) = pages.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return anyhow::Ok(());
                };
                let target = Target::new(addr, Method::GET, page.as_str(), None);
                let (status, _) = connection.send(&target).await?;
                ensure!(status.is_success(), "{page} answered {status}");
            }
        }));
    }
    for fetcher in fetchers {
        fetcher.await??;
    }
    Ok(started.elapsed())
}

fn memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("cannot read the server's memory (/proc)")?;
    let kib = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find(|line| line.starts_with(name))
            .with_context(|| format!("/proc/{pid}/status has no {name}"))?;
        let value = line
            .trim_start_matches(name)
            .trim_start_matches(':')
            .trim()
            .trim_end_matches(" kB");
        Ok(value.parse::<u64>()? * 1024)
    };
    Ok(Memory {
        resident: kib("VmRSS")?,
        peak: kib("VmHWM")?,
    })
}
