//! Idempotency keys: the first response to a keyed POST, kept for 24 hours so a retry gets the same
//! bytes back instead of doing the work twice. Keyed by workspace and key, so it holds across
//! replicas and restarts.

use sea_orm_migration::prelude::{
    DbErr, DeriveIden, DeriveMigrationName, ForeignKey, ForeignKeyAction, Index, MigrationTrait,
    SchemaManager, Table, async_trait, sea_orm,
};
use sea_orm_migration::schema::{
    blob_null, integer_null, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(text(IdempotencyKeys::WorkspaceId))
                    .col(text(IdempotencyKeys::Key))
                    .col(text(IdempotencyKeys::Fingerprint))
                    .col(text(IdempotencyKeys::State))
                    .col(timestamp_with_time_zone_null(IdempotencyKeys::LockedUntil))
                    .col(integer_null(IdempotencyKeys::ResponseStatus))
                    .col(text_null(IdempotencyKeys::ResponseHeaders))
                    .col(blob_null(IdempotencyKeys::ResponseBody))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .col(timestamp_with_time_zone(IdempotencyKeys::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::WorkspaceId)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(IdempotencyKeys::Table, IdempotencyKeys::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_idempotency_keys_expires_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    WorkspaceId,
    Key,
    Fingerprint,
    State,
    LockedUntil,
    ResponseStatus,
    ResponseHeaders,
    ResponseBody,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
}
