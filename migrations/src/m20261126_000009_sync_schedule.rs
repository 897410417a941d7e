//! Scheduled re-syncs: when a source whose `refresh_rate` is `daily` or `weekly` is next due. A
//! finished sync sets it; the syncer claims a ready (or failed) source once it has passed.

use sea_orm_migration::prelude::{
    DbErr, DeriveIden, DeriveMigrationName, Index, MigrationTrait, SchemaManager, Table,
    async_trait, sea_orm,
};
use sea_orm_migration::schema::timestamp_with_time_zone_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(KnowledgeSources::Table)
                    .add_column(timestamp_with_time_zone_null(KnowledgeSources::NextSyncAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("knowledge_sources_next_sync")
                    .table(KnowledgeSources::Table)
                    .col(KnowledgeSources::NextSyncAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("knowledge_sources_next_sync")
                    .table(KnowledgeSources::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(KnowledgeSources::Table)
                    .drop_column(KnowledgeSources::NextSyncAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum KnowledgeSources {
    Table,
    NextSyncAt,
}
