//! Knowledge syncing: the chunks a source is split into (what retrieval indexes and answers cite),
//! and each source's sync job. A sync is claimed under a lease, so a crashed syncer's job is taken
//! over once the lease runs out; `sync_generation` grows with every change to the source, so a sync
//! of an older definition is discarded instead of overwriting a newer one.

use sea_orm_migration::prelude::{
    DbErr, DeriveIden, DeriveMigrationName, ForeignKey, ForeignKeyAction, Index, MigrationTrait,
    SchemaManager, Table, async_trait, sea_orm,
};
use sea_orm_migration::schema::{
    integer, text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KnowledgeChunks::Table)
                    .col(text(KnowledgeChunks::Id).primary_key())
                    .col(text(KnowledgeChunks::WorkspaceId))
                    .col(text(KnowledgeChunks::SourceId))
                    .col(integer(KnowledgeChunks::Position))
                    .col(text_null(KnowledgeChunks::Url))
                    .col(text(KnowledgeChunks::Title))
                    .col(text(KnowledgeChunks::Headings))
                    .col(text(KnowledgeChunks::Text))
                    .col(timestamp_with_time_zone(KnowledgeChunks::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(KnowledgeChunks::Table, KnowledgeChunks::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(KnowledgeChunks::Table, KnowledgeChunks::SourceId)
                            .to(KnowledgeSources::Table, KnowledgeSources::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("knowledge_chunks_source")
                    .table(KnowledgeChunks::Table)
                    .col(KnowledgeChunks::SourceId)
                    .col(KnowledgeChunks::Position)
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        let columns = [
            integer(KnowledgeSources::SyncGeneration)
                .default(0)
                .to_owned(),
            timestamp_with_time_zone_null(KnowledgeSources::SyncLeasedUntil),
            text_null(KnowledgeSources::SyncLeaseToken),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(KnowledgeSources::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            KnowledgeSources::SyncGeneration,
            KnowledgeSources::SyncLeasedUntil,
            KnowledgeSources::SyncLeaseToken,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(KnowledgeSources::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(KnowledgeChunks::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum KnowledgeChunks {
    Table,
    Id,
    WorkspaceId,
    SourceId,
    Position,
    Url,
    Title,
    Headings,
    Text,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum KnowledgeSources {
    Table,
    Id,
    SyncGeneration,
    SyncLeasedUntil,
    SyncLeaseToken,
}

#[derive(DeriveIden, Clone, Copy)]
enum Workspaces {
    Table,
    Id,
}
