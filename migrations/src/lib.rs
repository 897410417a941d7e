//! HoverBot's database schema: the [`Migrator`] that the server runs on start
//! and the `migrate` CLI wraps, and every migration it applies, oldest first.
//!
//! Migrations describe the schema with sea-query's builder only and never use
//! the server's entities, so an old migration keeps meaning what it meant when
//! it shipped, and each one runs on both SQLite and PostgreSQL.

use sea_orm_migration::MigrationTrait;

// Re-exported so the server can run migrations without depending on
// sea-orm-migration itself.
pub use sea_orm_migration::MigratorTrait;

mod m20261123_000001_initial;
mod m20261123_000002_idempotency_keys;
mod m20261123_000003_rate_limits;
mod m20261123_000004_workspace_rate_limits;
mod m20261124_000005_webhook_endpoints;
mod m20261124_000006_webhook_deliveries;
mod m20261125_000007_leads;
mod m20261125_000008_knowledge_chunks;
mod m20261126_000009_sync_schedule;
mod m20261127_000010_assistant_policy;
mod m20261127_000011_index_rebuilds;
mod m20261128_000012_oauth_apps;
mod m20261129_000013_oauth_grants;
mod m20261129_000014_operator_keys;
mod m20261206_000015_erasure;
mod m20261206_000016_endpoint_health;
mod m20261207_000017_chunk_vectors;

/// Applies HoverBot's migrations in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_initial::Migration),
            Box::new(m20261123_000002_idempotency_keys::Migration),
            Box::new(m20261123_000003_rate_limits::Migration),
            Box::new(m20261123_000004_workspace_rate_limits::Migration),
            Box::new(m20261124_000005_webhook_endpoints::Migration),
            Box::new(m20261124_000006_webhook_deliveries::Migration),
            Box::new(m20261125_000007_leads::Migration),
            Box::new(m20261125_000008_knowledge_chunks::Migration),
            Box::new(m20261126_000009_sync_schedule::Migration),
            Box::new(m20261127_000010_assistant_policy::Migration),
            Box::new(m20261127_000011_index_rebuilds::Migration),
            Box::new(m20261128_000012_oauth_apps::Migration),
            Box::new(m20261129_000013_oauth_grants::Migration),
            Box::new(m20261129_000014_operator_keys::Migration),
            Box::new(m20261206_000015_erasure::Migration),
            Box::new(m20261206_000016_endpoint_health::Migration),
            Box::new(m20261207_000017_chunk_vectors::Migration),
        ]
    }
}
