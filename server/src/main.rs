//! The `hoverbot` command.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    hoverbot_server::cli::main().await
}
