//! hoverbot-conformance: proves that a HoverBot deployment keeps its spec and its published
//! promises. Usable as a library: [`run`] runs the named suites against a deployment and returns
//! what they found.

pub mod check;
pub mod generate;
pub mod http;
pub mod report;
pub mod spec;
pub mod suites;

use anyhow::{Result, bail};

use check::Findings;
use http::Target;
use spec::Spec;
use suites::{Run, SUITES};

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
            Some(suite) if suite.available => {}
            Some(_) => bail!("the `{name}` suite is not in this version of hoverbot-conformance"),
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
    let mut findings = Findings::default();
    for suite in SUITES
        .iter()
        .filter(|suite| options.suites.iter().any(|name| name == suite.name))
    {
        let chosen: Vec<&spec::Operation> = operations
            .iter()
            .filter(|operation| match suite.name {
                "schema" => suites::schema::runs(operation),
                "auth" => suites::auth::runs(operation),
                "idempotency" => suites::idempotency::runs(operation),
                _ => suites::negative::runs(&run, operation),
            })
            .collect();
        let skipped = operations.len() - chosen.len();
        let budget = match suite.name {
            // Five credentials per operation, the keys it makes, and two reads per collection.
            "auth" => chosen.len() as u64 * 5 + 40,
            "idempotency" => chosen.len() as u64 * 8,
            _ => {
                chosen.len() as u64
                    * (u64::from(options.max_examples) + u64::from(options.max_shrinks))
            }
        };
        eprintln!(
            "{}: {} operations, at most {budget} requests{}",
            suite.name,
            chosen.len(),
            if skipped > 0 {
                format!("; {skipped} operations not in this suite")
            } else {
                String::new()
            }
        );
        let keys = if suite.name == "auth" {
            Some(suites::auth::Keys::make(&run, &chosen).await?)
        } else {
            None
        };
        for operation in &chosen {
            let ok = match (suite.name, &keys) {
                ("schema", _) => suites::schema::run(&run, operation, &mut findings)?,
                ("auth", Some(keys)) => {
                    suites::auth::run(&run, operation, keys, &mut findings).await?
                }
                ("idempotency", _) => {
                    suites::idempotency::run(&run, operation, &mut findings).await?
                }
                _ => suites::negative::run(&run, operation, &mut findings)?,
            };
            progress(suite.name, &operation.id, ok, &findings);
        }
        if suite.name == "auth" {
            match &options.second_api_key {
                Some(second) => {
                    let ok = suites::auth::isolation(&run, &chosen, second, &mut findings).await?;
                    progress(suite.name, "isolation", ok, &findings);
                }
                None => eprintln!("  auth: no --second-api-key, so no isolation checks"),
            }
        }
    }
    Ok(findings)
}
