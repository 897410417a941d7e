//! Erasure and retention: each webhook event and each stored response of a keyed request names the
//! conversation it carries (empty for those about none), so deleting a conversation deletes the
//! events (and with them the deliveries) that would still send it and the responses that would
//! replay it; and a workspace may keep conversations only so many days.

use sea_orm_migration::prelude::{
    DbErr, DeriveIden, DeriveMigrationName, Index, MigrationTrait, SchemaManager, Table,
    async_trait, sea_orm,
};
use sea_orm_migration::schema::{integer_null, text_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

const EVENTS_BY_CONVERSATION: &str = "ix_webhook_events_workspace_id_conversation_id";
const RESPONSES_BY_CONVERSATION: &str = "ix_idempotency_keys_workspace_id_conversation_id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookEvents::Table)
                    .add_column(text_null(WebhookEvents::ConversationId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(EVENTS_BY_CONVERSATION)
                    .table(WebhookEvents::Table)
                    .col(WebhookEvents::WorkspaceId)
                    .col(WebhookEvents::ConversationId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IdempotencyKeys::Table)
                    .add_column(text_null(IdempotencyKeys::ConversationId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(RESPONSES_BY_CONVERSATION)
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::WorkspaceId)
                    .col(IdempotencyKeys::ConversationId)
                    .to_owned(),
            )
            .await?;
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
        manager
            .drop_index(
                Index::drop()
                    .name(RESPONSES_BY_CONVERSATION)
                    .table(IdempotencyKeys::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(IdempotencyKeys::Table)
                    .drop_column(IdempotencyKeys::ConversationId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(EVENTS_BY_CONVERSATION)
                    .table(WebhookEvents::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookEvents::Table)
                    .drop_column(WebhookEvents::ConversationId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum WebhookEvents {
    Table,
    WorkspaceId,
    ConversationId,
}

#[derive(DeriveIden, Clone, Copy)]
enum IdempotencyKeys {
    Table,
    WorkspaceId,
    ConversationId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Workspaces {
    Table,
    ConversationRetentionDays,
}
