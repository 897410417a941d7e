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
    /// Where the webhook receiver listens (`127.0.0.1:0` unless given).
    pub webhook_listen: Option<String>,
    /// Where the deployment reaches the receiver, when not at its listening address.
    pub webhook_public_url: Option<String>,
}

fn progress(suite: &str, what: &str, ok: bool, findings: &Findings) {
    eprintln!(
        "  {suite:<8} {what:<34} {:<7} {} failures so far",
        if ok { "ok" } else { "FAILED" },
        findings.failures.len()
    );
}

/// Runs `options.suites` against the deployment, printing progress to stderr.
pub async fn run(spec: &Spec, options: &Options) -> Result<Findings> {
    for name in &options.suites {
        match SUITES.iter().find(|suite| suite.name == name) {
            Some(_) => {}
            None => bail!("there is no suite `{name}` (see `hoverbot-conformance list`)"),
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
            progress(suite.name, "(scenario)", ok, &findings);
            continue;
        }
        operation_suite(&run, suite.name, &operations, options, &mut findings).await?;
    }
    Ok(findings)
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
    for operation in &chosen {
        let ok = match (name, &keys) {
            ("schema", _) => suites::schema::run(run, operation, findings)?,
            ("auth", Some(keys)) => suites::auth::run(run, operation, keys, findings).await?,
            ("idempotency", _) => suites::idempotency::run(run, operation, findings).await?,
            _ => suites::negative::run(run, operation, findings)?,
        };
        progress(name, &operation.id, ok, findings);
    }
    if name == "auth" {
        match &options.second_api_key {
            Some(second) => {
                let ok = suites::auth::isolation(run, &chosen, second, findings).await?;
                progress(name, "isolation", ok, findings);
            }
            None => eprintln!("  auth: no --second-api-key, so no isolation checks"),
        }
    }
    Ok(())
}
