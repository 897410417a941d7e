//! Rebuilding the retrieval index on demand: every process derives its BM25 index from the chunks,
//! and rebuilds it from scratch when `generation` changes (`hoverbot index rebuild` raises it), so
//! one command reaches every replica. One row.

use sea_orm_migration::prelude::{
    DbErr, DeriveIden, DeriveMigrationName, MigrationTrait, Query, SchemaManager, Table,
    async_trait, sea_orm,
};
use sea_orm_migration::schema::integer;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(KnowledgeIndex::Table)
                    .col(integer(KnowledgeIndex::Id).primary_key())
                    .col(integer(KnowledgeIndex::Generation).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(KnowledgeIndex::Table)
                    .columns([KnowledgeIndex::Id, KnowledgeIndex::Generation])
                    .values_panic([1.into(), 0.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(KnowledgeIndex::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum KnowledgeIndex {
    Table,
    Id,
    Generation,
}
