//! The `hoverbot` command.

// The application's middleware stack nests deeply in one type; optimised builds need more room to
// lay out its futures than the default allows.
#![recursion_limit = "256"]

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    hoverbot_server::cli::main().await
}
