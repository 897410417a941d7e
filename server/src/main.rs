//! The `hoverbot` command.

// The application's middleware stack nests deeply in one type; optimised builds need more room to
// lay out its futures than the default allows.
#![recursion_limit = "256"]

use std::process::ExitCode;

/// Requests allocate many small values on several threads at once (rows, JSON, headers), where
/// mimalloc's per-thread heaps cost a fraction of glibc's malloc (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    hoverbot_server::cli::main().await
}
