//! hoverbot-conformance next to Schemathesis, against one release server: our `schema` and
//! `negative` suites and `st run` (its fuzzing phase, positive and negative cases, every check),
//! each with the same examples per operation, in interleaved rounds. Each run is timed from start
//! to exit; the requests it cost are read from the server's own `/metrics`, so both tools are
//! counted the same way; the failures are read from each tool's report.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hyper::Method;

use super::cpu::{self, Threads};
use super::load::{Connection, Target};
use super::server::Hoverbot;
use crate::project;

/// Examples per operation, for both tools (hoverbot-conformance's default).
pub const EXAMPLES: u32 = 25;
/// Operations tested at once: hoverbot-conformance's default, and Schemathesis's in its second
/// configuration (its default is one).
pub const WORKERS: u32 = 4;

/// One run of one tool.
pub struct Run {
    pub wall: Duration,
    /// Requests the server answered during the run.
    pub requests: u64,
    /// Failures the tool reported.
    pub failures: u64,
    /// CPU time the tool used, and the server meanwhile.
    pub tool_cpu: Option<Duration>,
    pub server_cpu: Option<Duration>,
}

/// A tool's runs.
pub struct Tool {
    pub name: &'static str,
    pub command: String,
    pub runs: Vec<Run>,
}

/// Where Schemathesis is: `st` on the `PATH`, or the given file.
pub fn schemathesis(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = given {
        return Some(path.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("st"))
            .find(|candidate| candidate.is_file())
    })
}

pub async fn measure(
    server: &Path,
    conformance: &Path,
    st: &Path,
    rounds: usize,
) -> Result<[Tool; 3]> {
    let hoverbot = Hoverbot::start(
        server,
        "conformance",
        // The receiver URLs Schemathesis's hooks give are on loopback.
        &[("HOVERBOT_ALLOW_PRIVATE_NETWORKS", "true")],
    )
    .await?;
    let base = format!("http://{}", hoverbot.addr);
    let reports = std::env::temp_dir().join(format!("hoverbot-bench-st-{}", std::process::id()));
    let ours = [
        "run",
        "--base-url",
        &base,
        "--api-key",
        &hoverbot.key,
        "--suites",
        "schema,negative",
        "--max-examples",
        &EXAMPLES.to_string(),
        "--seed",
        "1",
        "--workers",
        &WORKERS.to_string(),
    ]
    .map(str::to_string);
    let ours_json = reports.join("conformance.json");
    let theirs = [
        "--config-file".to_string(),
        project::root()
            .join(".ci/schemathesis.toml")
            .display()
            .to_string(),
        "run".into(),
        format!("{base}/openapi.json"),
        "--url".into(),
        base.clone(),
        "--header".into(),
        format!("Authorization: Bearer {}", hoverbot.key),
        "--phases".into(),
        "fuzzing".into(),
        "--mode".into(),
        "all".into(),
        "--checks".into(),
        "all".into(),
        "--max-examples".into(),
        EXAMPLES.to_string(),
        // A key may revoke itself; CI tests that operation apart for the same reason.
        "--exclude-operation-id".into(),
        "revokeApiKey".into(),
        "--generation-database".into(),
        "none".into(),
        "--generation-allow-x00".into(),
        "false".into(),
        "--no-color".into(),
        "--seed".into(),
        "1".into(),
        "--report".into(),
        "junit".into(),
        "--report-dir".into(),
        reports.display().to_string(),
    ];
    std::fs::create_dir_all(&reports)?;
    let mut theirs_parallel = theirs.to_vec();
    theirs_parallel.extend(["--workers".to_string(), WORKERS.to_string()]);
    let mut tools = [
        Tool {
            name: "hoverbot-conformance (schema, negative)",
            command: format!(
                "hoverbot-conformance run --suites schema,negative --max-examples {EXAMPLES} --workers {WORKERS}"
            ),
            runs: Vec::new(),
        },
        Tool {
            name: "Schemathesis (fuzzing phase, --mode all)",
            command: format!(
                "st run --phases fuzzing --mode all --checks all --max-examples {EXAMPLES}"
            ),
            runs: Vec::new(),
        },
        Tool {
            name: "Schemathesis, same with --workers 4",
            command: format!("st run … --workers {WORKERS}"),
            runs: Vec::new(),
        },
    ];
    let hooks = project::root().join(".ci/schemathesis_hooks.py");
    let hooks = [("SCHEMATHESIS_HOOKS", hooks.display().to_string())];
    for round in 0..rounds {
        eprintln!("bench: conformance round {} of {rounds}", round + 1);
        let mut with_json = ours.to_vec();
        with_json.extend(["--json".to_string(), ours_json.display().to_string()]);
        let timed_ours = timed(&hoverbot, conformance, &with_json, &[]).await?;
        let failures = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(
            &ours_json,
        )?)?["failures"]
            .as_array()
            .map_or(0, Vec::len) as u64;
        tools[0].runs.push(timed_ours.with(failures));
        for (tool, args) in [(1, &theirs[..]), (2, &theirs_parallel[..])] {
            let timed_theirs = timed(&hoverbot, st, args, &hooks).await?;
            tools[tool]
                .runs
                .push(timed_theirs.with(junit_failures(&reports)?));
        }
    }
    let _ = std::fs::remove_dir_all(&reports);
    hoverbot.stop().await?;
    Ok(tools)
}

/// One run's figures, but its failures.
struct Timed {
    wall: Duration,
    requests: u64,
    tool_cpu: Option<Duration>,
    server_cpu: Option<Duration>,
}

impl Timed {
    fn with(self, failures: u64) -> Run {
        Run {
            wall: self.wall,
            requests: self.requests,
            failures,
            tool_cpu: self.tool_cpu,
            server_cpu: self.server_cpu,
        }
    }
}

/// Runs `program` to its end; its wall time, the requests the server answered meanwhile, and the
/// CPU time each used. A run that finds failures exits 1, which is a result, not an error.
async fn timed(
    hoverbot: &Hoverbot,
    program: &Path,
    args: &[String],
    env: &[(&str, String)],
) -> Result<Timed> {
    let server = hoverbot.pid().map(Threads::of_process);
    let before = answered(hoverbot).await?;
    let (tool_before, server_before) = (
        cpu::waited_children(),
        server.as_ref().and_then(Threads::used),
    );
    let started = Instant::now();
    let status = tokio::process::Command::new(program)
        .args(args)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .with_context(|| format!("cannot run {}", program.display()))?;
    let wall = started.elapsed();
    let tool_cpu = cpu::waited_children()
        .zip(tool_before)
        .map(|(after, before)| after.saturating_sub(before));
    let server_cpu = server
        .as_ref()
        .and_then(Threads::used)
        .zip(server_before)
        .map(|(after, before)| after.saturating_sub(before));
    if !matches!(status.code(), Some(0 | 1)) {
        bail!("{} exited with {status}", program.display());
    }
    // The count's own request is not the tool's.
    let after = answered(hoverbot).await?.saturating_sub(1);
    Ok(Timed {
        wall,
        requests: after.saturating_sub(before),
        tool_cpu,
        server_cpu,
    })
}

/// The requests the server has answered: the sum of its `hoverbot_http_requests_total`.
async fn answered(hoverbot: &Hoverbot) -> Result<u64> {
    let mut connection = Connection::open(hoverbot.addr).await?;
    let (_, body) = connection
        .send(&Target::new(hoverbot.addr, Method::GET, "/metrics", None))
        .await?;
    let text = String::from_utf8_lossy(&body);
    Ok(text
        .lines()
        .filter(|line| line.starts_with("hoverbot_http_requests_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

/// The failures in the JUnit reports Schemathesis wrote to `dir`.
fn junit_failures(dir: &Path) -> Result<u64> {
    let mut failures = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "xml") {
            let text = std::fs::read_to_string(&path)?;
            failures += text.matches("<failure").count() as u64;
            std::fs::remove_file(path)?;
        }
    }
    Ok(failures)
}
