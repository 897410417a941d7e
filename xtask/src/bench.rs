//! `cargo xtask bench`: the release server's throughput and latency on two endpoints, side by side
//! with a bare poem endpoint measured in the same run, then the server's in-process benchmarks (the
//! rate limiter, webhook deliveries), then the knowledge figures (crawling and indexing the
//! PostgreSQL manual, memory, answers under load), then the write path (keyed POSTs against an
//! earlier commit's binary, messages through a slow language model), then hoverbot-conformance next
//! to Schemathesis, optionally written to `BENCHMARKS.md`.

mod conformance;
mod cpu;
mod knowledge;
mod load;
mod reference;
pub mod report;
pub mod server;
pub mod site;
mod write_path;

pub use conformance::schemathesis;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use hyper::Method;
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use serde_json::Value;

use cpu::Threads;
use load::{IdempotencyKeys, Load, Outcome, Pace, Probes, Target};
use server::{Api, Background, Hoverbot};

const USAGE: &str = "cargo xtask bench [--concurrency N] [--seconds S] [--repeat R] \
     [--postgres URL] [--manual DIR] [--schemathesis PATH] [--before REV|none] \
     [--knowledge-before REV|none] [--only service|knowledge|write-path|conformance] [--write]";
/// The commit whose server the write path's figures are compared with, unless `--before` says.
const BEFORE: &str = "HEAD~1";
/// The commit whose server the knowledge figures are compared with, unless `--knowledge-before`
/// says: the last whose assistant retrieved by BM25 alone, before the embedding model.
const KNOWLEDGE_BEFORE: &str = "9b9febc5d0aa053fb5b15be7c2a72b2b2b097298";
/// Where the rate limiter's PostgreSQL figures are measured (in a database of their own).
const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

const WARM_UP: Duration = Duration::from_millis(500);
/// The name of the load generator's threads (for their CPU time).
const LOAD_THREADS: &str = "bench-load";
/// Where each endpoint's runs are in the measurements: the baseline, the server on SQLite (a keyed
/// POST as well), its reference, the server on PostgreSQL and its reference.
const BASELINE: usize = 0;
const POST: usize = 1;
const POST_NO_KEY: usize = 2;
const GET: usize = 3;
const REFERENCE_POST: usize = 4;
const REFERENCE_GET: usize = 5;
const POSTGRES_POST: usize = 6;
const POSTGRES_GET: usize = 7;
const POSTGRES_REFERENCE_POST: usize = 8;
const POSTGRES_REFERENCE_GET: usize = 9;
const ORM_POST: usize = 10;
const ORM_GET: usize = 11;
const POSTGRES_ORM_POST: usize = 12;
const POSTGRES_ORM_GET: usize = 13;
const ENDPOINTS: usize = 14;
const NAMES: [&str; ENDPOINTS] = [
    "baseline: bare poem JSON",
    "POST /v1/conversations",
    "POST /v1/conversations, no key",
    "GET /v1/conversations/{id}",
    "reference: POST, no key",
    "reference: GET",
    "PostgreSQL: POST /v1/conversations, no key",
    "PostgreSQL: GET /v1/conversations/{id}",
    "PostgreSQL reference: POST, no key",
    "PostgreSQL reference: GET",
    "through sea-orm: POST, no key",
    "through sea-orm: GET",
    "PostgreSQL through sea-orm: POST, no key",
    "PostgreSQL through sea-orm: GET",
];
/// A server endpoint next to the reference's doing the same work, and to the reference through
/// sea-orm.
struct Compared {
    /// The request, as the report names it in its table and in its aim.
    endpoint: &'static str,
    aim: &'static str,
    database: &'static str,
    server: usize,
    reference: usize,
    orm: usize,
}

const POST_COMPARED: (&str, &str) = ("POST /v1/conversations, no key", "POST (no key)");
const GET_COMPARED: (&str, &str) = ("GET /v1/conversations/{id}", "GET");
const COMPARED: [Compared; 4] = [
    Compared::new(
        POST_COMPARED,
        "SQLite",
        [POST_NO_KEY, REFERENCE_POST, ORM_POST],
    ),
    Compared::new(GET_COMPARED, "SQLite", [GET, REFERENCE_GET, ORM_GET]),
    Compared::new(
        POST_COMPARED,
        "PostgreSQL",
        [POSTGRES_POST, POSTGRES_REFERENCE_POST, POSTGRES_ORM_POST],
    ),
    Compared::new(
        GET_COMPARED,
        "PostgreSQL",
        [POSTGRES_GET, POSTGRES_REFERENCE_GET, POSTGRES_ORM_GET],
    ),
];

impl Compared {
    /// `[server, reference, orm]`: where each one's runs are in the measurements.
    const fn new(
        (endpoint, aim): (&'static str, &'static str),
        database: &'static str,
        [server, reference, orm]: [usize; 3],
    ) -> Self {
        Self {
            endpoint,
            aim,
            database,
            server,
            reference,
            orm,
        }
    }
}
/// Messages sent to the conversation `GET` reads; each adds the user's and the assistant's.
const EXCHANGES: usize = 10;

#[derive(Debug, Clone)]
pub struct Options {
    /// Connections, each sending requests back to back.
    pub concurrency: usize,
    /// Measured seconds per run, after the warm-up.
    pub seconds: u64,
    /// Rounds of the closed-loop runs; the report quotes their medians.
    pub repeat: usize,
    /// A PostgreSQL server for the limiter figures; the bench creates and drops its own database.
    pub postgres: String,
    /// The PostgreSQL manual's HTML, for the knowledge figures.
    pub manual: PathBuf,
    /// Schemathesis's `st`, for the conformance figures; the one on the `PATH` by default.
    pub schemathesis: Option<PathBuf>,
    /// The commit whose server the write path is compared with; `None` for no comparison.
    pub before: Option<String>,
    /// The commit whose server the knowledge figures are compared with; `None` for no comparison.
    pub knowledge_before: Option<String>,
    /// Only this part of the figures (and of `BENCHMARKS.md`).
    pub only: Option<Section>,
    pub write: bool,
}

/// The parts of the figures, each written to its own part of `BENCHMARKS.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The HTTP endpoints, the rate limiter and webhook deliveries.
    Service,
    /// The crawl of the PostgreSQL manual and the answers from it.
    Knowledge,
    /// Keyed POSTs before and after, and messages through a slow language model.
    WritePath,
    /// hoverbot-conformance next to Schemathesis.
    Conformance,
}

impl Options {
    fn parse(args: &[&str]) -> Result<Self> {
        let mut options = Options {
            concurrency: 32,
            seconds: 10,
            repeat: 3,
            postgres: POSTGRES.to_string(),
            manual: PathBuf::from(site::MANUAL),
            schemathesis: None,
            before: Some(BEFORE.to_string()),
            knowledge_before: Some(KNOWLEDGE_BEFORE.to_string()),
            only: None,
            write: false,
        };
        let mut args = args.iter();
        while let Some(&arg) = args.next() {
            let mut value = || -> Result<u64> {
                let value = args
                    .next()
                    .with_context(|| format!("{arg} needs a value"))?;
                match value.parse() {
                    Ok(value) if value > 0 => Ok(value),
                    _ => bail!("{arg} needs a positive whole number, not `{value}`"),
                }
            };
            match arg {
                "--concurrency" => options.concurrency = usize::try_from(value()?)?,
                "--seconds" => options.seconds = value()?,
                "--repeat" => options.repeat = usize::try_from(value()?)?,
                "--postgres" => {
                    options.postgres = args.next().context("--postgres needs a URL")?.to_string();
                }
                "--manual" => {
                    options.manual =
                        PathBuf::from(args.next().context("--manual needs a directory")?);
                }
                "--schemathesis" => {
                    options.schemathesis = Some(PathBuf::from(
                        args.next().context("--schemathesis needs a path")?,
                    ));
                }
                "--before" | "--knowledge-before" => {
                    let rev = match args.next().copied() {
                        Some("none") => None,
                        Some(rev) => Some(rev.to_string()),
                        None => bail!("{arg} needs a commit, or `none`; usage: {USAGE}"),
                    };
                    if arg == "--before" {
                        options.before = rev;
                    } else {
                        options.knowledge_before = rev;
                    }
                }
                "--only" => {
                    options.only = Some(match args.next().copied() {
                        Some("service") => Section::Service,
                        Some("knowledge") => Section::Knowledge,
                        Some("write-path") => Section::WritePath,
                        Some("conformance") => Section::Conformance,
                        _ => bail!(
                            "--only needs `service`, `knowledge`, `write-path` or `conformance`; \
                             usage: {USAGE}"
                        ),
                    });
                }
                "--write" => options.write = true,
                _ => bail!("unknown argument `{arg}`; usage: {USAGE}"),
            }
        }
        Ok(options)
    }

    fn load(&self, pace: Pace) -> Load {
        Load {
            connections: self.concurrency,
            warm_up: WARM_UP,
            duration: Duration::from_secs(self.seconds),
            pace,
        }
    }
}

/// One endpoint's runs.
pub struct Measured {
    pub name: &'static str,
    /// The closed-loop runs, one per round.
    pub rounds: Vec<Outcome>,
    /// The open-loop run at half of the median peak, if there was one.
    pub open: Option<Outcome>,
}

pub fn run(args: &[&str]) -> Result<()> {
    let options = Options::parse(args)?;
    if cfg!(debug_assertions) {
        // An unoptimised load generator and baseline would measure themselves, not the server.
        let xtask = server::build("xtask", "xtask")?;
        let status = std::process::Command::new(xtask)
            .arg("bench")
            .args(args)
            .status()?;
        std::process::exit(status.code().unwrap_or(1));
    }
    let wants = |section: Section| options.only.is_none_or(|only| only == section);
    let manual = site::manual(&options.manual).filter(|_| wants(Section::Knowledge));
    if manual.is_none() && wants(Section::Knowledge) {
        let missing = format!(
            "no PostgreSQL manual at {} (install postgresql-doc-15, or give --manual DIR)",
            options.manual.display()
        );
        ensure!(options.only != Some(Section::Knowledge), "{missing}");
        eprintln!("bench: {missing}; the knowledge figures are skipped");
    }
    let before = match (&options.before, wants(Section::WritePath)) {
        (Some(rev), true) => Some((rev.as_str(), server::build_at(rev, "write-path")?)),
        _ => None,
    };
    let knowledge_before = match (&options.knowledge_before, &manual) {
        (Some(rev), Some(_)) => Some((rev.as_str(), server::build_at(rev, "knowledge")?)),
        _ => None,
    };
    let binary = server::build("hoverbot-server", "hoverbot")?;
    let baseline = server::baseline_server()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name(LOAD_THREADS)
        .enable_all()
        .build()?;
    let command = std::iter::once("cargo xtask bench")
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut written = Vec::new();
    if wants(Section::Service) {
        let limiter = server::build_target("hoverbot-server", &["--bench", "limiter"], "limiter")?;
        let deliveries =
            server::build_target("hoverbot-server", &["--bench", "deliveries"], "deliveries")?;
        let measured = measure(&runtime, &binary, &baseline, &options)?;
        eprintln!("bench: the rate limiter, in process and on PostgreSQL");
        let limiter = run_bench(&limiter, "limiter", &options.postgres)?;
        eprintln!("bench: webhook deliveries, on SQLite and PostgreSQL");
        let deliveries = run_bench(&deliveries, "deliveries", &options.postgres)?;
        let text = report::render(&command, &options, &measured, &limiter, &deliveries);
        println!("{text}");
        no_errors(
            measured
                .iter()
                .flat_map(|endpoint| endpoint.rounds.iter().chain(&endpoint.open)),
        )?;
        written.push((report::BEGIN, report::END, text));
    }
    if let Some(manual) = &manual {
        // Served from here, outside the load generator's runtime: it runs one of its own.
        let site = site::serve(manual)?;
        let mut servers = vec![("this build".to_string(), binary.as_path())];
        if let Some((rev, before)) = &knowledge_before {
            let rev: String = rev.chars().take(10).collect();
            servers.push((format!("before ({rev})"), before.as_path()));
        }
        let figures = runtime.block_on(knowledge::measure(
            &servers,
            &baseline,
            &site,
            &site::pages(manual)?,
            &options,
            LOAD_THREADS,
        ))?;
        let text = report::knowledge(&command, &options, &figures);
        println!("{text}");
        no_errors(
            figures
                .servers
                .iter()
                .flat_map(|server| server.rounds.iter().chain([&server.open]))
                .chain([&figures.baseline_open]),
        )?;
        written.push((report::KNOWLEDGE_BEGIN, report::KNOWLEDGE_END, text));
    }
    if wants(Section::WritePath) {
        let figures = runtime.block_on(write_path::measure(
            &binary,
            before.as_ref().map(|(rev, path)| (*rev, path.as_path())),
            &options,
        ))?;
        let text = report::write_path(&command, &options, &figures);
        println!("{text}");
        no_errors(
            figures.posts.iter().flat_map(|posts| &posts.rounds).chain(
                figures
                    .messages
                    .iter()
                    .flat_map(|messages| &messages.rounds),
            ),
        )?;
        written.push((report::WRITE_PATH_BEGIN, report::WRITE_PATH_END, text));
    }
    if wants(Section::Conformance) {
        match schemathesis(options.schemathesis.as_deref()) {
            Some(st) => {
                let ours = server::build("hoverbot-conformance", "hoverbot-conformance")?;
                let tools =
                    runtime.block_on(conformance::measure(&binary, &ours, &st, options.repeat))?;
                let text = report::conformance(&command, &options, &tools);
                println!("{text}");
                written.push((report::CONFORMANCE_BEGIN, report::CONFORMANCE_END, text));
            }
            None => {
                let missing = "no Schemathesis `st` on the PATH (pip install schemathesis, or \
                     give --schemathesis PATH)";
                ensure!(options.only != Some(Section::Conformance), "{missing}");
                eprintln!("bench: {missing}; the conformance figures are skipped");
            }
        }
    }
    if options.write {
        for (begin, end, text) in written {
            report::write_between(begin, end, &text)?;
        }
        eprintln!("bench: wrote {}", report::FILE);
    }
    Ok(())
}

/// Fails, so that nothing is written, when any request of `outcomes` failed.
fn no_errors<'a>(outcomes: impl Iterator<Item = &'a Outcome> + Clone) -> Result<()> {
    let errors: u64 = outcomes.clone().map(|outcome| outcome.errors).sum();
    if errors > 0 {
        let mut outcomes = outcomes;
        let first = outcomes.find_map(|outcome| outcome.first_error.as_deref());
        bail!(
            "{errors} requests failed (nothing written); the first: {}",
            first.unwrap_or_default()
        );
    }
    Ok(())
}

/// Runs one of the server's in-process benchmarks (`server/benches/NAME.rs`) and returns the
/// figures it printed.
fn run_bench(binary: &std::path::Path, name: &str, postgres: &str) -> Result<Value> {
    let output = std::process::Command::new(binary)
        .arg(postgres)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    ensure!(output.status.success(), "the {name} benchmark failed");
    let figures: Value = serde_json::from_slice(&output.stdout)
        .with_context(|| format!("the {name} benchmark printed no JSON"))?;
    if let Some(reason) = figures["postgres"]["skipped"].as_str() {
        eprintln!("bench: no PostgreSQL {name} figures: {reason}");
    }
    Ok(figures)
}

/// Starts the servers (on SQLite and on a PostgreSQL database of their own) and the references on
/// their databases, checks that each reference answers as its server does, then measures every
/// endpoint.
fn measure(
    runtime: &tokio::runtime::Runtime,
    binary: &std::path::Path,
    baseline: &Background,
    options: &Options,
) -> Result<[Measured; ENDPOINTS]> {
    let database = runtime.block_on(reference::Database::create(&options.postgres, "service"))?;
    // The database goes whatever happens; the servers and the references stop when dropped.
    let measured = measure_on(runtime, binary, baseline, options, &database);
    let dropped = runtime.block_on(database.drop());
    let measured = measured?;
    dropped?;
    Ok(measured)
}

fn measure_on(
    runtime: &tokio::runtime::Runtime,
    binary: &std::path::Path,
    baseline: &Background,
    options: &Options,
    database: &reference::Database,
) -> Result<[Measured; ENDPOINTS]> {
    let (sqlite, postgres) = runtime.block_on(async {
        let sqlite = Hoverbot::start(binary, "service", &[]).await?;
        let postgres = Hoverbot::start(
            binary,
            "service-postgres",
            &[("HOVERBOT_DATABASE_URL", database.url())],
        )
        .await?;
        anyhow::Ok((sqlite, postgres))
    })?;
    let (conversation, postgres_conversation) =
        runtime.block_on(async { tokio::try_join!(seed(&sqlite), seed(&postgres)) })?;
    let sqlite_reference = {
        let (store, keys) = reference::Sqlite::open(&sqlite.data_dir().join("hoverbot.db"))?;
        let on = server::runtime(reference::SQLITE_THREADS)?;
        Background::serve_on(
            on,
            reference::Reference::new(store, keys),
            reference::SQLITE_THREADS,
        )?
    };
    let postgres_reference = {
        let on = server::runtime(reference::POSTGRES_THREADS)?;
        let (store, keys) = on.block_on(reference::Postgres::connect(database.url()))?;
        Background::serve_on(
            on,
            reference::Reference::new(store, keys),
            reference::POSTGRES_THREADS,
        )?
    };
    let orm = |url: &str, threads| {
        let on = server::runtime(threads)?;
        let (store, keys) = on.block_on(reference::Orm::connect(url, threads))?;
        Background::serve_on(on, reference::Reference::new(store, keys), threads)
    };
    let sqlite_orm = orm(
        &format!(
            "sqlite://{}",
            sqlite.data_dir().join("hoverbot.db").display()
        ),
        reference::ORM_SQLITE_THREADS,
    )?;
    let postgres_orm = orm(database.url(), reference::ORM_POSTGRES_THREADS)?;

    let new_conversation = Bytes::from_static(br#"{"channel":"web","externalUserId":"bench"}"#);
    let auth = HeaderValue::try_from(format!("Bearer {}", sqlite.key))?;
    let postgres_auth = HeaderValue::try_from(format!("Bearer {}", postgres.key))?;
    let post = |addr, auth: &HeaderValue| {
        Target::new(
            addr,
            Method::POST,
            "/v1/conversations",
            Some(new_conversation.clone()),
        )
        .with_auth(auth.clone())
    };
    let get = |addr, auth: &HeaderValue, id: &str| {
        Target::new(addr, Method::GET, format!("/v1/conversations/{id}"), None)
            .with_auth(auth.clone())
    };
    let targets = [
        Target::new(baseline.addr, Method::GET, "/", None),
        post(sqlite.addr, &auth).with_idempotency_keys(IdempotencyKeys::new("bench")),
        post(sqlite.addr, &auth),
        get(sqlite.addr, &auth, &conversation),
        post(sqlite_reference.addr, &auth),
        get(sqlite_reference.addr, &auth, &conversation),
        post(postgres.addr, &postgres_auth),
        get(postgres.addr, &postgres_auth, &postgres_conversation),
        post(postgres_reference.addr, &postgres_auth),
        get(
            postgres_reference.addr,
            &postgres_auth,
            &postgres_conversation,
        ),
        post(sqlite_orm.addr, &auth),
        get(sqlite_orm.addr, &auth, &conversation),
        post(postgres_orm.addr, &postgres_auth),
        get(postgres_orm.addr, &postgres_auth, &postgres_conversation),
    ]
    .map(Arc::new);
    runtime.block_on(same_work(&targets))?;

    let pid = sqlite.pid().context("the server has exited")?;
    let postgres_pid = postgres.pid().context("the server has exited")?;
    let probes = |index| Probes {
        server: match index {
            BASELINE => Threads::named(server::BASELINE_THREADS),
            REFERENCE_POST | REFERENCE_GET => Threads::named(reference::SQLITE_THREADS),
            POSTGRES_REFERENCE_POST | POSTGRES_REFERENCE_GET => {
                Threads::named(reference::POSTGRES_THREADS)
            }
            ORM_POST | ORM_GET => Threads::named(reference::ORM_SQLITE_THREADS),
            POSTGRES_ORM_POST | POSTGRES_ORM_GET => Threads::named(reference::ORM_POSTGRES_THREADS),
            POSTGRES_POST | POSTGRES_GET => Threads::of_process(postgres_pid),
            _ => Threads::of_process(pid),
        },
        client: Threads::named(LOAD_THREADS),
    };
    let measured = runtime.block_on(rounds(&targets, &probes, options))?;
    drop((
        sqlite_reference,
        postgres_reference,
        sqlite_orm,
        postgres_orm,
    ));
    runtime.block_on(async {
        sqlite.stop().await?;
        postgres.stop().await
    })?;
    Ok(measured)
}

/// Fails unless each reference answers its first request as its server does (but for what a new
/// conversation has of its own; a transcript byte for byte): the figures would compare different
/// work otherwise.
async fn same_work(targets: &[Arc<Target>; ENDPOINTS]) -> Result<()> {
    for Compared {
        server,
        reference,
        orm,
        ..
    } in COMPARED
    {
        let ours = answer(&targets[server], NAMES[server]).await?;
        for other in [reference, orm] {
            let theirs = answer(&targets[other], NAMES[other]).await?;
            reference::same_document(&ours, &theirs)
                .with_context(|| format!("{} next to {}", NAMES[other], NAMES[server]))?;
            // A transcript read twice is the same bytes, not only the same document.
            ensure!(
                targets[server].method != Method::GET || ours == theirs,
                "{}: the JSON is the server's, but not byte for byte",
                NAMES[other]
            );
        }
    }
    Ok(())
}

/// The body of `target`'s answer to one request, which must succeed.
async fn answer(target: &Target, name: &str) -> Result<Bytes> {
    let (status, body) = load::Connection::open(target.addr)
        .await?
        .send(target)
        .await?;
    ensure!(
        status.is_success(),
        "{name} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(body)
}

/// The closed-loop rounds, which interleave the endpoints so that a noisy moment spreads over all
/// of them, then the open-loop runs at half of the peak.
async fn rounds(
    targets: &[Arc<Target>; ENDPOINTS],
    probes: &impl Fn(usize) -> Probes,
    options: &Options,
) -> Result<[Measured; ENDPOINTS]> {
    let mut measured = NAMES.map(|name| Measured {
        name,
        rounds: Vec::new(),
        open: None,
    });
    for round in 1..=options.repeat {
        for (index, target) in targets.iter().enumerate() {
            let outcome =
                load::run(target.clone(), options.load(Pace::Closed), &probes(index)).await?;
            eprintln!(
                "bench: round {round}/{}: {}: {:.0} req/s, p99 {:.2} ms",
                options.repeat,
                measured[index].name,
                outcome.per_second,
                outcome.p99.as_secs_f64() * 1e3
            );
            measured[index].rounds.push(outcome);
        }
    }
    for index in [POST, GET] {
        let peak = report::median(
            measured[index]
                .rounds
                .iter()
                .map(|outcome| outcome.per_second),
        );
        let pace = Pace::Open {
            per_second: peak / 2.0,
        };
        let outcome = load::run(targets[index].clone(), options.load(pace), &probes(index)).await?;
        eprintln!(
            "bench: open loop at {:.0} req/s: {}: p99 {:.2} ms",
            peak / 2.0,
            measured[index].name,
            outcome.p99.as_secs_f64() * 1e3
        );
        measured[index].open = Some(outcome);
    }
    Ok(measured)
}

/// Creates the conversation `GET` reads: `EXCHANGES` messages and their answers.
async fn seed(hoverbot: &Hoverbot) -> Result<String> {
    let mut api = Api::open(hoverbot).await?;
    let id = api.conversation().await?;
    for _ in 0..EXCHANGES {
        api.call(
            Method::POST,
            &format!("/v1/conversations/{id}/messages"),
            // A greeting is answered in kind; a question this empty workspace cannot answer
            // would be unsure, and the second such reply hands the conversation to a person,
            // who gets the later messages without replies.
            Some(serde_json::json!({"text": "Hello!"})),
        )
        .await?;
    }
    let transcript = api
        .call(Method::GET, &format!("/v1/conversations/{id}"), None)
        .await?;
    let messages = transcript["messages"].as_array().map_or(0, Vec::len);
    ensure!(
        messages == 2 * EXCHANGES,
        "the seeded conversation has {messages} messages, not {}",
        2 * EXCHANGES
    );
    Ok(id)
}
