//! The HoverBot API server.
//!
//! `api` is the HTTP surface (generated from the spec, plus handwritten handlers); `http` holds the
//! middleware every request passes through; `store` owns the database; `auth` and `assistant` are
//! the domain. `cli` and `config` turn a command line into a running server.

pub mod api;
pub mod assistant;
pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod ids;
pub mod limits;
pub mod problem;
pub mod server;
pub mod store;
