//! Each chunk's meaning as a vector, computed when its source syncs and kept beside its text, so
//! that every node's retrieval index loads the vectors instead of recomputing them; and the model
//! that made it, so that a node running another model recomputes them rather than compare
//! vectors of two models.

use sea_orm_migration::prelude::{
    ColumnDef, DbErr, DeriveIden, DeriveMigrationName, MigrationTrait, SchemaManager, Table,
    async_trait, sea_orm,
};
use sea_orm_migration::schema::{blob_null, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

impl Migration {
    /// One column per statement: SQLite alters a table one column at a time.
    fn columns() -> [ColumnDef; 2] {
        [
            blob_null(KnowledgeChunks::Embedding),
            text_null(KnowledgeChunks::EmbeddingModel),
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
                        .table(KnowledgeChunks::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [KnowledgeChunks::Embedding, KnowledgeChunks::EmbeddingModel] {
            manager
                .alter_table(
                    Table::alter()
                        .table(KnowledgeChunks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum KnowledgeChunks {
    Table,
    Embedding,
    EmbeddingModel,
}
