//! Each webhook endpoint's circuit breaker: its failed attempts in a row, since when it has been
//! failing, and until when its deliveries wait.

use sea_orm_migration::prelude::{
    ColumnDef, DbErr, DeriveIden, DeriveMigrationName, MigrationTrait, SchemaManager, Table,
    async_trait, sea_orm,
};
use sea_orm_migration::schema::{integer, timestamp_with_time_zone_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

impl Migration {
    /// One column per statement: SQLite alters a table one column at a time.
    fn columns() -> [ColumnDef; 3] {
        [
            integer(WebhookEndpoints::ConsecutiveFailures)
                .default(0)
                .to_owned(),
            timestamp_with_time_zone_null(WebhookEndpoints::FailingSince),
            timestamp_with_time_zone_null(WebhookEndpoints::PausedUntil),
        ]
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for mut column in Self::columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookEndpoints::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            WebhookEndpoints::PausedUntil,
            WebhookEndpoints::FailingSince,
            WebhookEndpoints::ConsecutiveFailures,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookEndpoints::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookEndpoints {
    Table,
    ConsecutiveFailures,
    FailingSince,
    PausedUntil,
}
