//! Operator keys: the credentials of the deployment's operator, for the API operations that belong
//! to no workspace (registering marketplace apps). Kept only as the SHA-256 of the secret.

use sea_orm_migration::prelude::{
    DbErr, DeriveIden, DeriveMigrationName, MigrationTrait, SchemaManager, Table, async_trait,
    sea_orm,
};
use sea_orm_migration::schema::{text, timestamp_with_time_zone, timestamp_with_time_zone_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OperatorKeys::Table)
                    .col(text(OperatorKeys::Id).primary_key())
                    .col(text(OperatorKeys::Name))
                    .col(text(OperatorKeys::Prefix))
                    .col(text(OperatorKeys::SecretHash).unique_key())
                    .col(timestamp_with_time_zone(OperatorKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(OperatorKeys::RevokedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OperatorKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum OperatorKeys {
    Table,
    Id,
    Name,
    Prefix,
    SecretHash,
    CreatedAt,
    RevokedAt,
}
