//! The sea-orm entities: one module per table, each row type mirroring the
//! schema that `hoverbot-migrations` creates.
//!
//! The migrations own the schema; these entities only describe it for
//! queries, so they are never used to create tables. Ids are opaque prefixed
//! strings minted by the server, and JSON values live in text columns holding
//! JSON, kept as `String` here and parsed at the edges.
//!
//! Each module glob-imports `sea_orm::entity::prelude`: the derive macros
//! expand to code that names its items unqualified.

pub mod api_key;
pub mod conversation;
pub mod escalation;
pub mod idempotency_key;
pub mod knowledge_chunk;
pub mod knowledge_index;
pub mod knowledge_source;
pub mod message;
pub mod oauth_app;
pub mod oauth_code;
pub mod oauth_installation;
pub mod oauth_token;
pub mod operator_key;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod webhook_event;
pub mod workspace;
