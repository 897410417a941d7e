//! The HoverBot API server.
//!
//! `api` is the HTTP surface (generated from the spec, plus handwritten handlers); `http` holds the
//! middleware every request passes through; `transport` accepts connections (TLS, HTTP/1.1 and 2,
//! connection limits); `store` owns the database; `auth`, `limits` and `assistant` are the domain;
//! `metrics` is what `/metrics` shows. `cli` and `config` turn a command line into a running server;
//! `demo` is the bundled help center `serve --demo` loads.

pub mod api;
pub mod assistant;
pub mod auth;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod embedding;
pub mod forwarded;
pub mod http;
pub mod ids;
pub mod knowledge;
pub mod limits;
pub mod metrics;
pub mod oauth;
pub mod outbound;
pub mod problem;
pub mod sealing;
pub mod secrets;
pub mod server;
pub mod store;
pub mod transcript_links;
pub mod transport;
pub mod webhooks;
