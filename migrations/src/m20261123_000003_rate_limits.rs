//! Rate-limit state shared by replicas on PostgreSQL: one GCRA "theoretical arrival time" per key.
//! It is UNLOGGED there: losing it in a crash only hands every client a fresh burst, and skipping
//! the write-ahead log keeps the per-request upsert cheap. SQLite deployments keep this state in
//! process; the table exists there too so that the schema is the same everywhere.

use sea_orm_migration::prelude::{
    ConnectionTrait, DbErr, DeriveMigrationName, MigrationTrait, SchemaManager, async_trait,
    sea_orm,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let unlogged = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "UNLOGGED ",
            _ => "",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE {unlogged}TABLE rate_limits (\
                   key TEXT NOT NULL PRIMARY KEY, \
                   tat BIGINT NOT NULL, \
                   admitted BOOLEAN NOT NULL, \
                   now_ns BIGINT NOT NULL)"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE rate_limits")
            .await?;
        Ok(())
    }
}
