//! Each webhook endpoint's circuit breaker: its failed attempts in a row, since when it has been
//! failing, and until when its deliveries wait; and the index through which a worker finds each
//! endpoint's oldest due deliveries.

use sea_orm_migration::prelude::{
    ColumnDef, DbErr, DeriveIden, DeriveMigrationName, Index, MigrationTrait, SchemaManager, Table,
    async_trait, sea_orm,
};
use sea_orm_migration::schema::{integer, timestamp_with_time_zone_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

const DUE_BY_ENDPOINT: &str = "ix_webhook_deliveries_endpoint_id_status_next_attempt_at";

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
        manager
            .create_index(
                Index::create()
                    .name(DUE_BY_ENDPOINT)
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(DUE_BY_ENDPOINT)
                    .table(WebhookDeliveries::Table)
                    .to_owned(),
            )
            .await?;
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
enum WebhookDeliveries {
    Table,
    EndpointId,
    Status,
    NextAttemptAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookEndpoints {
    Table,
    ConsecutiveFailures,
    FailingSince,
    PausedUntil,
}
