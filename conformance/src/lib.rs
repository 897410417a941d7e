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
    pub suites: Vec<String>,
    pub max_examples: u32,
    pub seed: u64,
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
    let run = Run::new(spec, &target, options.max_examples, options.seed);
    let operations = spec.operations()?;
    let mut findings = Findings::default();
    for suite in SUITES
        .iter()
        .filter(|suite| options.suites.iter().any(|name| name == suite.name))
    {
        let chosen: Vec<_> = operations
            .iter()
            .filter(|operation| match suite.name {
                "schema" => suites::schema::runs(operation),
                _ => suites::negative::runs(&run, operation),
            })
            .collect();
        let skipped = operations.len() - chosen.len();
        eprintln!(
            "{}: {} operations, at most {} requests ({} cases each, plus up to 64 to shrink a \
             failure){}",
            suite.name,
            chosen.len(),
            chosen.len() as u64 * (u64::from(options.max_examples) + 64),
            options.max_examples,
            if skipped > 0 {
                format!("; {skipped} operations not in this suite")
            } else {
                String::new()
            }
        );
        for operation in chosen {
            let ok = match suite.name {
                "schema" => suites::schema::run(&run, operation, &mut findings)?,
                _ => suites::negative::run(&run, operation, &mut findings)?,
            };
            eprintln!(
                "  {:<8} {:<34} {:<7} {} failures so far",
                suite.name,
                operation.id,
                if ok { "ok" } else { "FAILED" },
                findings.failures.len()
            );
        }
    }
    Ok(findings)
}
