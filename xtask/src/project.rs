//! Where things are in the repository.

use std::path::PathBuf;

/// The workspace root (the parent of the `xtask` crate). `cargo xtask` tells the running binary
/// where its manifest is, which is right even when checkouts of the project share a target
/// directory; the path compiled in is the fallback for running the binary directly.
pub fn root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

pub const SPEC: &str = "openapi/hoverbot.yaml";
pub const SPEC_JSON: &str = "openapi/derived/hoverbot.json";
/// The spec lowered to OpenAPI 3.0.3, for tools that read only 3.0.
pub const SPEC_JSON_30: &str = "openapi/derived/hoverbot-3.0.json";
pub const GENERATED_API: &str = "api/src/generated.rs";
/// The conformance suite's promise catalogue, as `hoverbot-conformance list --promises` prints it.
pub const PROMISES: &str = "conformance/PROMISES.md";
/// Why the suites miss each mutant they miss: read by `cargo xtask mutants --write`.
pub const MISSED_MUTANTS: &str = "conformance/missed-mutants.yaml";

/// Reads and parses the source spec.
pub fn load_spec() -> anyhow::Result<serde_json::Value> {
    let path = root().join(SPEC);
    let text = std::fs::read_to_string(&path)
        .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", SPEC))?;
    serde_yaml_ng::from_str(&text).map_err(|err| anyhow::anyhow!("{SPEC} is not valid YAML: {err}"))
}

/// Runs a binary of the workspace through `cargo run --quiet --package PACKAGE [--bin BIN] -- ARGS`
/// from the root; its standard output, or its standard error as the error when it fails.
pub fn cargo_run(package: &str, bin: Option<&str>, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = std::process::Command::new(cargo);
    command
        .current_dir(root())
        .args(["run", "--quiet", "--package", package]);
    if let Some(bin) = bin {
        command.args(["--bin", bin]);
    }
    let output = command
        .arg("--")
        .args(args)
        .output()
        .map_err(|err| anyhow::anyhow!("cannot run `cargo run --package {package}`: {err}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output.stdout)
}
