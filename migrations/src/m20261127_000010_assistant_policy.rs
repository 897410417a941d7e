//! The assistant's judgement per workspace and conversation: the confidence below which the bot
//! offers a human instead of answering (thousandths; empty: the deployment's), whether a qualified
//! lead is handed to sales at once, and where automatic escalations go (empty: the deployment's);
//! and how many low-confidence replies a conversation has had in a row, which escalates it at two.

use sea_orm_migration::prelude::{
    DbErr, DeriveIden, DeriveMigrationName, MigrationTrait, SchemaManager, Table, async_trait,
    sea_orm,
};
use sea_orm_migration::schema::{boolean, integer, integer_null, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        let workspace_columns = [
            integer_null(Workspaces::ConfidenceThresholdMilli),
            boolean(Workspaces::EscalateQualifiedLeads)
                .default(false)
                .to_owned(),
            text_null(Workspaces::EscalationDestination),
        ];
        for mut column in workspace_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Workspaces::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Conversations::Table)
                    .add_column(integer(Conversations::LowConfidenceReplies).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Conversations::Table)
                    .drop_column(Conversations::LowConfidenceReplies)
                    .to_owned(),
            )
            .await?;
        for column in [
            Workspaces::ConfidenceThresholdMilli,
            Workspaces::EscalateQualifiedLeads,
            Workspaces::EscalationDestination,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Workspaces::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Workspaces {
    Table,
    ConfidenceThresholdMilli,
    EscalateQualifiedLeads,
    EscalationDestination,
}

#[derive(DeriveIden, Clone, Copy)]
enum Conversations {
    Table,
    LowConfidenceReplies,
}
