//! hoverbot-conformance: proves that a HoverBot deployment keeps its spec and its published
//! promises. Usable as a library: [`run`] runs the named suites against a deployment and returns
//! what they found.

pub mod check;
pub mod generate;
pub mod http;
pub mod receiver;
pub mod report;
pub mod spec;
pub mod standard_webhooks;
pub mod suites;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Result, bail};

use check::Findings;
use http::Target;
use receiver::Receiver;
use spec::Spec;
use suites::scenario::Scenario;
use suites::{Run, SCENARIOS, SUITES};

/// What to run, against what.
pub struct Options {
    pub base_url: String,
    pub api_key: String,
    /// A key of another workspace, for the isolation checks.
    pub second_api_key: Option<String>,
    pub suites: Vec<String>,
    pub max_examples: u32,
    /// The most requests spent shrinking one failure to a smaller case.
    pub max_shrinks: u32,
    pub seed: u64,
    /// How many operations the `schema` and `negative` suites test at once.
    pub workers: usize,
    /// Where the webhook receiver listens (`127.0.0.1:0` unless given).
    pub webhook_listen: Option<String>,
    /// Where the deployment reaches the receiver, when not at its listening address.
    pub webhook_public_url: Option<String>,
}

fn progress(suite: &str, what: &str, ok: bool, failures: usize) {
    eprintln!(
        "  {suite:<8} {what:<34} {:<7} {failures} failures so far",
        if ok { "ok" } else { "FAILED" },
    );
}

/// Runs `options.suites` against the deployment, printing progress to stderr.
pub async fn run(spec: &Spec, options: &Options) -> Result<Findings> {
    for name in &options.suites {
        if !SUITES.iter().any(|suite| suite.name == name) {
            bail!("there is no suite `{name}` (see `hoverbot-conformance list`)");
        }
    }
    let target = Target::new(&options.base_url, &options.api_key)?;
    let run = Run::new(
        spec,
        &target,
        options.max_examples,
        options.max_shrinks,
        options.seed,
    );
    let operations = spec.operations()?;
    let receiver = if options
        .suites
        .iter()
        .any(|name| name == "webhooks" || name == "retries")
    {
        let receiver = Receiver::start(
            options.webhook_listen.as_deref().unwrap_or("127.0.0.1:0"),
            options.webhook_public_url.as_deref(),
        )
        .await?;
        eprintln!("webhook receiver at {}", receiver.public_url);
        Some(receiver)
    } else {
        None
    };
    let mut findings = Findings::default();
    for suite in SUITES
        .iter()
        .filter(|suite| options.suites.iter().any(|name| name == suite.name))
    {
        if SCENARIOS.contains(&suite.name) {
            let mut scenario = Scenario::new(&run, suite.name, &operations, &mut findings);
            match (suite.name, &receiver) {
                ("limits", _) => {
                    eprintln!(
                        "limits (opt-in): spends one new key's whole quota for one window of its policy (60 s), at most burst + 6 x quota + 30 requests"
                    );
                    suites::limits::run(&mut scenario, options.second_api_key.as_deref()).await?;
                }
                ("webhooks", Some(receiver)) => {
                    eprintln!(
                        "webhooks: at most {} requests, and the events they cause",
                        suites::webhooks::BUDGET
                    );
                    suites::webhooks::run(&mut scenario, receiver).await?;
                }
                ("retries", Some(receiver)) => {
                    eprintln!(
                        "retries (opt-in): at most {} requests; watches failing receivers for up to {} s",
                        suites::retries::BUDGET,
                        suites::retries::OBSERVE.as_secs() + 60
                    );
                    suites::retries::run(&mut scenario, receiver).await?;
                }
                _ => {
                    eprintln!("stateful: at most {} requests", suites::stateful::BUDGET);
                    suites::stateful::run(&mut scenario).await?;
                }
            }
            let ok = scenario.ok;
            progress(suite.name, "(scenario)", ok, findings.failures.len());
            continue;
        }
        operation_suite(&run, suite.name, &operations, options, &mut findings).await?;
    }
    Ok(findings)
}

/// The cases of the `schema` or `negative` suite, `workers` operations at a time. Each operation's
/// cases come from its own seed, so the order operations run in changes nothing but the progress
/// lines; findings are merged in the spec's order.
fn generated_cases(
    run: &Run<'_>,
    name: &'static str,
    chosen: &[&spec::Operation],
    workers: usize,
    findings: &mut Findings,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(findings.failures.len());
    let results: Mutex<Vec<Option<Result<Findings>>>> =
        Mutex::new(chosen.iter().map(|_| None).collect());
    let handle = tokio::runtime::Handle::current();
    // The cases block on requests: they run on threads of their own, which enter the runtime to
    // send them.
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            for _ in 0..workers.clamp(1, chosen.len().max(1)) {
                scope.spawn(|| {
                    let _runtime = handle.enter();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(operation) = chosen.get(index) else {
                            break;
                        };
                        let mut found = Findings::default();
                        let outcome = match name {
                            "schema" => suites::schema::run(run, operation, &mut found),
                            _ => suites::negative::run(run, operation, &mut found),
                        };
                        if let Ok(ok) = &outcome {
                            let so_far = failed.fetch_add(found.failures.len(), Ordering::Relaxed)
                                + found.failures.len();
                            progress(name, &operation.id, *ok, so_far);
                        }
                        results
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())[index] =
                            Some(outcome.map(|_| found));
                    }
                });
            }
        });
    });
    let results = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for found in results.into_iter().flatten() {
        findings.merge(found?);
    }
    Ok(())
}

/// The suites that run cases per operation.
async fn operation_suite(
    run: &Run<'_>,
    name: &'static str,
    operations: &[spec::Operation],
    options: &Options,
    findings: &mut Findings,
) -> Result<()> {
    let chosen: Vec<&spec::Operation> = operations
        .iter()
        .filter(|operation| match name {
            "schema" => suites::schema::runs(operation),
            "auth" => suites::auth::runs(operation),
            "idempotency" => suites::idempotency::runs(operation),
            _ => suites::negative::runs(run, operation),
        })
        .collect();
    let skipped = operations.len() - chosen.len();
    let budget = match name {
        // Five credentials per operation, the keys it makes, and two reads per collection.
        "auth" => chosen.len() as u64 * 5 + 40,
        "idempotency" => chosen.len() as u64 * 8,
        _ => {
            chosen.len() as u64 * (u64::from(options.max_examples) + u64::from(options.max_shrinks))
        }
    };
    eprintln!(
        "{name}: {} operations, at most {budget} requests{}",
        chosen.len(),
        if skipped > 0 {
            format!("; {skipped} operations not in this suite")
        } else {
            String::new()
        }
    );
    let keys = if name == "auth" {
        Some(suites::auth::Keys::make(run, &chosen).await?)
    } else {
        None
    };
    if matches!(name, "schema" | "negative") {
        generated_cases(run, name, &chosen, options.workers, findings)?;
    } else {
        for operation in &chosen {
            let ok = match (name, &keys) {
                ("auth", Some(keys)) => suites::auth::run(run, operation, keys, findings).await?,
                _ => suites::idempotency::run(run, operation, findings).await?,
            };
            progress(name, &operation.id, ok, findings.failures.len());
        }
    }
    if name == "auth" {
        match &options.second_api_key {
            Some(second) => {
                let ok = suites::auth::isolation(run, &chosen, second, findings).await?;
                progress(name, "isolation", ok, findings.failures.len());
            }
            None => eprintln!("  auth: no --second-api-key, so no isolation checks"),
        }
    }
    Ok(())
}
