//! hoverbot-conformance: proves that a HoverBot deployment keeps its spec and its published
//! promises. Usable as a library: [`run`] runs the named suites against a deployment and returns
//! what they found.

pub mod check;
pub mod generate;
pub mod http;
pub mod promises;
pub mod receiver;
pub mod report;
pub mod spec;
pub mod standard_webhooks;
pub mod suites;

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;
use futures_util::FutureExt as _;

use check::{Failure, Findings};
use http::Target;
use receiver::Receiver;
use spec::{Operation, Spec};
use suites::scenario::Scenario;
use suites::{Context, Run, Runner, Suite, progress};

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

/// Runs `options.suites` against the deployment, in the order of [`suites::SUITES`], printing
/// progress to stderr. A name that no suite has is refused before anything is sent
/// ([`suites::UnknownSuite`]).
pub async fn run(spec: &Spec, options: &Options) -> Result<Findings> {
    let chosen = suites::named(&options.suites)?;
    let target = Target::new(&options.base_url, &options.api_key)?;
    let run = Run::new(
        spec,
        &target,
        options.max_examples,
        options.max_shrinks,
        options.seed,
    );
    let operations = spec.operations()?;
    let receiver = if chosen.iter().any(|suite| suite.needs_receiver) {
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
    let context = Context::new(options.second_api_key.as_deref(), receiver.as_ref());
    let mut findings = Findings::default();
    for suite in chosen {
        // A panic is a bug of this tool's, which some answer of the deployment's set off: the
        // suite is stopped and says so, as if the deployment had stopped it, and the run goes on.
        let outcome = AssertUnwindSafe(run_suite(
            &run,
            suite,
            &operations,
            &context,
            options.workers,
            &mut findings,
        ))
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(anyhow::anyhow!(
                "hoverbot-conformance panicked on what the deployment answered (a bug of the tool's, please report it): {message}"
            ))
        });
        // Whatever stopped the suite is the deployment's doing (a call that did not answer as the
        // spec says, or no answer at all), unless the suite says it is ours to fix: a failed
        // check, and the other suites still run.
        if let Err(err) = outcome {
            if err.is::<UsageError>() {
                return Err(err);
            }
            findings.failed(Failure {
                suite: suite.name,
                check: suites::SETUP.name,
                operation: "-".to_string(),
                expected: "the suite runs to its end: every call it makes answers as the spec and the promises say".to_string(),
                seen: format!("the suite stopped: {err:#}"),
                curl: String::new(),
                seed: options.seed,
            });
            progress(suite.name, "(stopped)", false, findings.failures.len());
        }
    }
    Ok(findings)
}

/// Runs one suite to its end, or until something stops it.
async fn run_suite(
    run: &Run<'_>,
    suite: &Suite,
    operations: &[Operation],
    context: &Context<'_>,
    workers: usize,
    findings: &mut Findings,
) -> Result<()> {
    match suite.runner {
        Runner::Generated { tests, cases } => {
            // Each operation gets at most its examples, then its shrinks.
            let per_operation = u64::from(run.max_examples) + u64::from(run.max_shrinks);
            let tested = announce(run, suite, operations, tests, |count| count * per_operation);
            generated_cases(run, suite, cases, &tested, workers, findings)
        }
        Runner::Operations {
            tests,
            budget,
            start,
        } => {
            let tested = announce(run, suite, operations, tests, budget);
            start(run, &tested, context, findings).await
        }
        Runner::Scenario { budget, start } => {
            eprintln!("{}: {}", suite.title(), budget());
            let mut scenario = Scenario::new(run, suite.name, operations, findings);
            let outcome = start(&mut scenario, context).await;
            let ok = scenario.ok;
            progress(suite.name, "(scenario)", ok, findings.failures.len());
            outcome
        }
    }
}

/// A mistake in how the tool was run (a missing option, a key without a scope the suite needs):
/// the run stops and the command exits 2. Anything else that stops a suite is the deployment's
/// behaviour, and a failed check.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The operations a per-operation suite tests, announced with the most requests it sends for them.
fn announce<'o>(
    run: &Run<'_>,
    suite: &Suite,
    operations: &'o [Operation],
    tests: fn(&Run, &Operation) -> bool,
    budget: impl Fn(u64) -> u64,
) -> Vec<&'o Operation> {
    let tested: Vec<&Operation> = operations
        .iter()
        .filter(|operation| tests(run, operation))
        .collect();
    let skipped = operations.len() - tested.len();
    eprintln!(
        "{}: {} operations, at most {} requests{}",
        suite.title(),
        tested.len(),
        budget(tested.len() as u64),
        if skipped > 0 {
            format!("; {skipped} operations not in this suite")
        } else {
            String::new()
        }
    );
    tested
}

/// The generated cases of `suite`, `workers` operations at a time. Each operation's cases come
/// from its own seed, so the order operations run in changes nothing but the progress lines;
/// findings are merged in the spec's order.
fn generated_cases(
    run: &Run<'_>,
    suite: &Suite,
    cases: fn(&Run, &Operation, &mut Findings) -> Result<bool>,
    chosen: &[&Operation],
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
                        let outcome = cases(run, operation, &mut found);
                        if let Ok(ok) = &outcome {
                            let so_far = failed.fetch_add(found.failures.len(), Ordering::Relaxed)
                                + found.failures.len();
                            progress(suite.name, &operation.id, *ok, so_far);
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

#[cfg(test)]
mod tests {
    use super::{Options, run};
    use crate::spec::Spec;
    use crate::suites::UnknownSuite;

    /// A misspelt suite is a usage error (the command exits 2 on it) before anything is sent:
    /// nothing listens at this address.
    #[tokio::test]
    async fn an_unknown_suite_is_refused_before_anything_is_sent() {
        let options = Options {
            base_url: "http://127.0.0.1:9/".into(),
            api_key: "unused".into(),
            second_api_key: None,
            suites: vec!["schema".into(), "shcema".into()],
            max_examples: 1,
            max_shrinks: 0,
            seed: 1,
            workers: 1,
            webhook_listen: None,
            webhook_public_url: None,
        };
        let Err(err) = run(&Spec::builtin(), &options).await else {
            panic!("`shcema` was not refused");
        };
        assert!(err.downcast_ref::<UnknownSuite>().is_some(), "{err:#}");
    }
}
