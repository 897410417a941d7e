//! Integration tests: the real server on a loopback port, against a fresh SQLite database and, when
//! `HOVERBOT_TEST_DATABASE_URL` is set, a fresh PostgreSQL database too. One binary, many modules.

mod site;
mod support;

mod api_keys;
mod assistant;
mod auth;
mod cli;
mod conversations;
mod crawls;
mod endpoint_health;
mod erasure;
mod escalations;
mod idempotency;
mod knowledge_sources;
mod language_model;
mod leads;
mod oauth_apps;
mod oauth_flow;
mod outage;
mod rate_limits;
mod service;
mod transport;
mod validation;
mod webhook_deliveries;
mod webhook_endpoints;
mod webhooks;
mod write_path;
