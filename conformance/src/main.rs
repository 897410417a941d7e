//! The `hoverbot-conformance` command: `run` and `list`. Exits 0 when every check held, 1 when one
//! failed, 2 on a usage or spec error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hoverbot_conformance::promises::Catalogue;
use hoverbot_conformance::spec::Spec;
use hoverbot_conformance::suites::{self, SUITES};
use hoverbot_conformance::{Options, report};

#[derive(Parser)]
#[command(name = "hoverbot-conformance", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run suites against a deployment.
    Run(Box<RunArgs>),
    /// List the suites and their checks, one line each.
    List {
        /// The promise catalogue instead: every promise, and the checks that prove it or why none
        /// does. Exits 1 when the catalogue has a gap.
        #[arg(long)]
        promises: bool,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The deployment, such as https://api.example.com.
    #[arg(long)]
    base_url: String,
    /// A workspace API key with every scope.
    #[arg(long, env = "HOVERBOT_API_KEY", hide_env_values = true)]
    api_key: String,
    /// A key of another workspace, for the checks that one workspace cannot see another's
    /// resources.
    #[arg(long, env = "HOVERBOT_SECOND_API_KEY", hide_env_values = true)]
    second_api_key: Option<String>,
    /// The spec: a file or a URL (such as the deployment's own /openapi.yaml); the one built into
    /// this binary by default.
    #[arg(long)]
    spec: Option<String>,
    /// The suites to run, comma-separated. By default every suite but the opt-in `limits` and
    /// `retries`, and `webhooks` only with --webhook-listen or --webhook-public-url.
    #[arg(long, value_delimiter = ',')]
    suites: Vec<String>,
    /// Where the suites' webhook receiver listens; 127.0.0.1 on a free port by default.
    #[arg(long)]
    webhook_listen: Option<String>,
    /// The URL the deployment reaches the receiver at (through a tunnel or a proxy, say); by default
    /// http:// and the address it listens on.
    #[arg(long)]
    webhook_public_url: Option<String>,
    /// Cases per operation and suite.
    #[arg(long, default_value_t = 25)]
    max_examples: u32,
    /// The most requests spent shrinking one failure to a smaller case.
    #[arg(long, default_value_t = 64)]
    max_shrinks: u32,
    /// How many operations the `schema` and `negative` suites test at once.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// The seed of the generated cases; the same seed sends the same cases. Random by default.
    #[arg(long)]
    seed: Option<u64>,
    /// Where to write a JUnit XML report.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Where to write a JSON report.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::List { promises: false } => {
            for suite in SUITES {
                println!("{:<12} {}", suite.name, suite.summary);
                for check in suite.all_checks() {
                    println!("  {:<22} {}", check.name, check.what);
                }
            }
            ExitCode::SUCCESS
        }
        Command::List { promises: true } => {
            let catalogue = match Catalogue::builtin() {
                Ok(catalogue) => catalogue,
                Err(err) => {
                    eprintln!("hoverbot-conformance: {err:#}");
                    return ExitCode::from(2);
                }
            };
            print!("{}", catalogue.render());
            let gaps = catalogue.gaps();
            for gap in &gaps {
                eprintln!("gap: {gap}");
            }
            if gaps.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Command::Run(args) => match run(*args).await {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(err) => {
                eprintln!("hoverbot-conformance: {err:#}");
                ExitCode::from(2)
            }
        },
    }
}

/// Whether every check held.
async fn run(args: RunArgs) -> anyhow::Result<bool> {
    let spec = match &args.spec {
        Some(source) => Spec::load(source).await?,
        None => Spec::builtin(),
    };
    let seed = args.seed.unwrap_or_else(rand_seed);
    eprintln!("seed {seed}");
    let options = Options {
        base_url: args.base_url.clone(),
        api_key: args.api_key,
        second_api_key: args.second_api_key,
        suites: if args.suites.is_empty() {
            suites::by_default(args.webhook_listen.is_some() || args.webhook_public_url.is_some())
        } else {
            args.suites
        },
        webhook_listen: args.webhook_listen,
        webhook_public_url: args.webhook_public_url,
        max_examples: args.max_examples,
        max_shrinks: args.max_shrinks,
        workers: args.workers,
        seed,
    };
    let findings = hoverbot_conformance::run(&spec, &options).await?;
    print!("{}", report::summary(&findings));
    if let Some(path) = &args.json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&report::json(&findings, &args.base_url, seed))?,
        )?;
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, report::junit(&findings))?;
    }
    Ok(!findings.failed_any())
}

/// A seed from the clock, when none is given.
fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64)
}
