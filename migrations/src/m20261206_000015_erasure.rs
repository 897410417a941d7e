//! Erasure and retention: each webhook event and each stored response of a keyed request names the
//! conversation it carries (empty for those about none), so deleting a conversation deletes the
//! events (and with them the deliveries) that would still send it and the responses that would
//! replay it; and a workspace may keep conversations only so many days.

use sea_orm_migration::prelude::{
    Alias, DbErr, DeriveIden, DeriveMigrationName, Index, MigrationTrait, SchemaManager, Table,
    async_trait, sea_orm,
};
use sea_orm_migration::schema::{integer_null, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables whose rows carry a conversation, each with the index that finds a workspace's rows by
/// the conversation they carry.
const CARRIERS: [(&str, &str); 2] = [
    (
        "webhook_events",
        "ix_webhook_events_workspace_id_conversation_id",
    ),
    (
        "idempotency_keys",
        "ix_idempotency_keys_workspace_id_conversation_id",
    ),
];
const CONVERSATION_ID: &str = "conversation_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, index) in CARRIERS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(text_null(Alias::new(CONVERSATION_ID)))
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name(index)
                        .table(Alias::new(table))
                        .col(Alias::new("workspace_id"))
                        .col(Alias::new(CONVERSATION_ID))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .add_column(integer_null(Workspaces::ConversationRetentionDays))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Workspaces::Table)
                    .drop_column(Workspaces::ConversationRetentionDays)
                    .to_owned(),
            )
            .await?;
        for (table, index) in CARRIERS.into_iter().rev() {
            manager
                .drop_index(
                    Index::drop()
                        .name(index)
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .drop_column(Alias::new(CONVERSATION_ID))
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
    ConversationRetentionDays,
}
