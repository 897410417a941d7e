//! The knowledge figures: the release server crawls and indexes the PostgreSQL manual served on
//! loopback (by `site`) (the time until its first cited answer, and pages per second, next to the
//! time the load generator takes to fetch the same pages alone), its memory then, and
//! `POST /v1/conversations/{id}/messages` with that index loaded: throughput (closed loop) and
//! latency at a fixed rate (open loop), next to the bare poem baseline at the same rate. The server
//! of an earlier commit (the last that retrieved by BM25 alone, unless `--knowledge-before` says)
//! does the same in the same run.

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

/// One server's crawl of the manual.
pub struct Crawl {
    /// From creating the source to its status `ready`.
    pub to_ready: Duration,
    /// From creating the source to the first cited answer from it.
    pub to_answer: Duration,
    pub pages_indexed: u64,
    pub chunks: u64,
    /// Its memory then.
    pub indexed: Memory,
}

/// One server's figures: the crawl, and the answers under load.
pub struct Served {
    /// "this build", or the earlier commit's label.
    pub label: String,
    pub crawl: Crawl,
    /// Questions of `eval/postgresql.yaml` with a page that answers them which got a cited answer.
    pub answered: usize,
    pub after_load: Memory,
    /// Closed-loop runs, one per round.
    pub rounds: Vec<Outcome>,
    /// The open-loop run at `RATE`.
    pub open: Outcome,
}

pub struct Figures {
    /// HTML pages in the manual's directory.
    pub pages_served: usize,
    /// The load generator fetching every page alone, at the crawl's concurrency.
    pub fetch_alone: Duration,
    /// This build first, then the earlier commit's server when there is one.
    pub servers: Vec<Served>,
    /// Questions of `eval/postgresql.yaml` with a page that answers them.
    pub questions: usize,
    /// Of those, the ones every server answered with a citation, which the load asks in turn.
    pub asked: usize,
    pub conversations: usize,
    /// The bare poem baseline at `RATE`.
    pub baseline_open: Outcome,
}

/// A server with the manual indexed, before its load.
struct Indexed {
    label: String,
    hoverbot: Hoverbot,
    pid: u32,
    api: Api,
    crawl: Crawl,
    answered: Vec<String>,
}

/// Each of `binaries` (labelled) crawls the manual in turn, then answers the questions that all of
/// them answer, under the same load, in turn.
pub async fn measure(
    binaries: &[(String, &Path)],
    baseline: &Background,
    site: &Background,
    pages: &[String],
    options: &Options,
    load_threads: &'static str,
) -> Result<Figures> {
    eprintln!("bench: fetching the manual's {} pages alone", pages.len());
    let fetch_alone = fetch_all(site.addr, pages).await?;
    let questions = answerable_questions()?;
    let mut servers = Vec::new();
    for (index, (label, binary)) in binaries.iter().enumerate() {
        servers.push(index_manual(binary, label, index, site, &questions).await?);
    }
    // The same questions for every server: two unsure replies in a row would hand a conversation
    // to a person, after which it gets no replies (a cheaper path than the one measured).
    let asked: Vec<String> = questions
        .iter()
        .filter(|question| {
            servers
                .iter()
                .all(|server| server.answered.contains(question))
        })
        .cloned()
        .collect();
    ensure!(
        !asked.is_empty(),
        "no question of the manual got a cited answer from every server"
    );
    let mut measured = Vec::new();
    for server in servers {
        measured.push(answer_under_load(server, &asked, options, load_threads).await?);
    }
    let baseline_target = Arc::new(Target::new(baseline.addr, Method::GET, "/", None));
    let baseline_probes = Probes {
        server: Threads::named(server::BASELINE_THREADS),
        client: Threads::named(load_threads),
    };
    let at_rate = options.load(Pace::Open { per_second: RATE });
    let baseline_open = load::run(baseline_target, at_rate, &baseline_probes).await?;
    Ok(Figures {
        pages_served: pages.len(),
        fetch_alone,
        servers: measured,
        questions: questions.len(),
        asked: asked.len(),
        conversations: CONVERSATIONS,
        baseline_open,
    })
}

/// Starts `binary` on a fresh database and has it crawl the manual; the time until `ready` and
/// until the first cited answer, its memory then, and the questions it answers with a citation.
async fn index_manual(
    binary: &Path,
    label: &str,
    index: usize,
    site: &Background,
    questions: &[String],
) -> Result<Indexed> {
    let hoverbot = Hoverbot::start(
        binary,
        &format!("knowledge-{index}"),
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
    let first = questions
        .first()
        .context("eval/postgresql.yaml has no questions")?;

    eprintln!("bench: {label}: the server crawls and indexes the manual");
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
    let memory = memory(pid)?;
    eprintln!(
        "bench: {label}: {} pages indexed in {:.1} s; {} MiB resident",
        synced["pagesIndexed"],
        to_answer.as_secs_f64(),
        memory.resident >> 20
    );
    let mut answered = Vec::new();
    for question in questions {
        if api.ask(question).await?.is_some() {
            answered.push(question.clone());
        }
    }
    Ok(Indexed {
        label: label.to_string(),
        hoverbot,
        pid,
        api,
        crawl: Crawl {
            to_ready,
            to_answer,
            pages_indexed: synced["pagesIndexed"].as_u64().unwrap_or(0),
            chunks: synced["chunks"].as_u64().unwrap_or(0),
            indexed: memory,
        },
        answered,
    })
}

/// `asked` in turn to `CONVERSATIONS` conversations: closed-loop rounds, then the open loop at
/// `RATE`; the server is stopped after.
async fn answer_under_load(
    mut server: Indexed,
    asked: &[String],
    options: &Options,
    load_threads: &'static str,
) -> Result<Served> {
    let label = &server.label;
    // A new connection: the one the crawl used has idled while the servers before this one were
    // loaded, and the server may have closed it.
    server.api = Api::open(&server.hoverbot).await?;
    let mut conversations = Vec::with_capacity(CONVERSATIONS);
    for _ in 0..CONVERSATIONS {
        conversations.push(server.api.conversation().await?);
    }
    // Every conversation gets every question in turn (199 is prime, so all pairs come up).
    let requests = (0..CONVERSATIONS * asked.len())
        .map(|turn| {
            let path = format!(
                "/v1/conversations/{}/messages",
                conversations[turn % CONVERSATIONS]
            );
            let body = json!({ "text": asked[turn % asked.len()] }).to_string();
            (path, Some(Bytes::from(body)))
        })
        .collect();
    let messages = Arc::new(
        Target::rotating(server.hoverbot.addr, Method::POST, requests)
            .with_auth(server.api.auth.clone()),
    );
    let probes = Probes {
        server: Threads::of_process(server.pid),
        client: Threads::named(load_threads),
    };
    let mut rounds = Vec::new();
    for round in 1..=options.repeat {
        let outcome = load::run(messages.clone(), options.load(Pace::Closed), &probes).await?;
        eprintln!(
            "bench: {label}: round {round}/{}: messages: {:.0} req/s, p99 {:.2} ms",
            options.repeat,
            outcome.per_second,
            outcome.p99.as_secs_f64() * 1e3
        );
        rounds.push(outcome);
    }
    let open = load::run(
        messages,
        options.load(Pace::Open { per_second: RATE }),
        &probes,
    )
    .await?;
    eprintln!(
        "bench: {label}: open loop at {RATE:.0} req/s: messages: p50 {:.2} ms, p99 {:.2} ms",
        open.p50.as_secs_f64() * 1e3,
        open.p99.as_secs_f64() * 1e3
    );
    let after_load = memory(server.pid)?;
    server.hoverbot.stop().await?;
    Ok(Served {
        label: server.label,
        crawl: server.crawl,
        answered: server.answered.len(),
        after_load,
        rounds,
        open,
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

/// The questions of `eval/postgresql.yaml` that a page of the manual answers.
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
