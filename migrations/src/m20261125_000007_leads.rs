//! Lead qualification: what a conversation has learnt about its user (the contact details given
//! and how many messages they sent, which the lead score is computed from), and each workspace's
//! qualification threshold (empty: the deployment's).

use sea_orm_migration::prelude::{
    DbErr, DeriveIden, DeriveMigrationName, MigrationTrait, SchemaManager, Table, async_trait,
    sea_orm,
};
use sea_orm_migration::schema::{integer, integer_null, text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        let conversation_columns = [
            text(Conversations::ContactFields).default("{}").to_owned(),
            integer(Conversations::UserMessageCount)
                .default(0)
                .to_owned(),
        ];
        for mut column in conversation_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Conversations::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .add_column(integer_null(Workspaces::LeadQualificationThreshold))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .drop_column(Workspaces::LeadQualificationThreshold)
                    .to_owned(),
            )
            .await?;
        for column in [
            Conversations::ContactFields,
            Conversations::UserMessageCount,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Conversations::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Conversations {
    Table,
    ContactFields,
    UserMessageCount,
}

#[derive(DeriveIden, Clone, Copy)]
enum Workspaces {
    Table,
    LeadQualificationThreshold,
}
