//! The HoverBot API as Rust: everything `cargo xtask codegen` derives from `openapi/hoverbot.yaml`.
//!
//! The wire types and enums are the vocabulary every layer of the server shares, down to the store,
//! so this crate depends on nothing of the server. The handler traits (one per tag, and `Handlers`,
//! which requires them all) are what the server implements; `Api<H>` and `service` are the
//! poem-openapi router over any such implementation; `OPERATIONS` is the table the middleware reads.
//!
//! With the `sea-orm` feature every enum is also a sea-orm column type, stored as its wire string,
//! so the server's store holds these values rather than strings.
//!
//! Keeping the 16,000 generated lines in their own crate means a change to the server does not
//! recompile them.

mod generated;

pub use generated::*;

/// The spec, as written: served at `/openapi.yaml`.
pub const SPEC_YAML: &str = include_str!("../../openapi/hoverbot.yaml");
/// The same document as JSON (derived by `cargo xtask codegen`): served at `/openapi.json`.
pub const SPEC_JSON: &str = include_str!("../../openapi/derived/hoverbot.json");
