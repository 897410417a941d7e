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

use anyhow::Result;

use check::Findings;
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
        match suite.runner {
            Runner::Generated { tests, cases } => {
                // Each operation gets at most its examples, then its shrinks.
                let per_operation =
                    u64::from(options.max_examples) + u64::from(options.max_shrinks);
                let tested = announce(&run, suite, &operations, tests, |count| {
                    count * per_operation
                });
                generated_cases(&run, suite, cases, &tested, options.workers, &mut findings)?;
            }
            Runner::Operations {
                tests,
                budget,
                start,
            } => {
                let tested = announce(&run, suite, &operations, tests, budget);
                start(&run, &tested, &context, &mut findings).await?;
            }
            Runner::Scenario { budget, start } => {
                eprintln!("{}: {}", suite.title(), budget());
                let mut scenario = Scenario::new(&run, suite.name, &operations, &mut findings);
                start(&mut scenario, &context).await?;
                let ok = scenario.ok;
                progress(suite.name, "(scenario)", ok, findings.failures.len());
            }
        }
    }
    Ok(findings)
}

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
