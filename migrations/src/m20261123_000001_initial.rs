//! The initial schema: workspaces and their API keys, conversations and their
//! messages, knowledge sources and escalations.
//!
//! Portable across SQLite and PostgreSQL: ids are opaque text keys minted by
//! the server (`conv_01J…`), JSON values are stored as text holding JSON, and
//! every foreign key is declared inside `CREATE TABLE` because SQLite cannot
//! add one later.

// `DeriveIden` expands to paths under `sea_orm`, reached here through
// sea-orm-migration's re-export.
use sea_orm_migration::prelude::{
    DbErr, DeriveIden, DeriveMigrationName, ForeignKey, ForeignKeyAction,
    ForeignKeyCreateStatement, Iden, Index, IndexCreateStatement, IntoIden, MigrationTrait,
    SchemaManager, Table, async_trait, sea_orm,
};
use sea_orm_migration::schema::{
    boolean, integer, text, text_null, text_uniq, timestamp_with_time_zone,
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
                    .table(Workspaces::Table)
                    .col(text(Workspaces::Id).primary_key())
                    .col(text_uniq(Workspaces::Name))
                    .col(timestamp_with_time_zone(Workspaces::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(text(ApiKeys::Id).primary_key())
                    .col(text(ApiKeys::WorkspaceId))
                    .col(text(ApiKeys::Name))
                    .col(text(ApiKeys::Prefix))
                    .col(text_uniq(ApiKeys::SecretHash))
                    .col(text(ApiKeys::Scopes))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .foreign_key(&mut workspace_fk(ApiKeys::Table, ApiKeys::WorkspaceId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(tenant_index(
                ApiKeys::Table,
                ApiKeys::WorkspaceId,
                ApiKeys::Id,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .col(text(Conversations::Id).primary_key())
                    .col(text(Conversations::WorkspaceId))
                    .col(text(Conversations::Channel))
                    .col(text_null(Conversations::ExternalUserId))
                    .col(text_null(Conversations::Locale))
                    .col(text(Conversations::Metadata))
                    .col(text(Conversations::Status))
                    .col(integer(Conversations::MessageCount).default(0))
                    .col(integer(Conversations::LeadScore).default(0))
                    .col(text_null(Conversations::Intent))
                    .col(boolean(Conversations::LeadQualified).default(false))
                    .col(boolean(Conversations::Resolved).default(false))
                    // No foreign key: an escalation points back at its
                    // conversation, and that cycle would make either row
                    // impossible to insert first.
                    .col(text_null(Conversations::EscalationId))
                    .col(timestamp_with_time_zone(Conversations::CreatedAt))
                    .col(timestamp_with_time_zone(Conversations::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Conversations::LastMessageAt))
                    .foreign_key(&mut workspace_fk(
                        Conversations::Table,
                        Conversations::WorkspaceId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(tenant_index(
                Conversations::Table,
                Conversations::WorkspaceId,
                Conversations::Id,
            ))
            .await?;
        manager
            .create_index(tenant_index(
                Conversations::Table,
                Conversations::WorkspaceId,
                Conversations::ExternalUserId,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(text(Messages::Id).primary_key())
                    .col(text(Messages::WorkspaceId))
                    .col(text(Messages::ConversationId))
                    .col(integer(Messages::Seq))
                    .col(text(Messages::Role))
                    .col(text(Messages::Text))
                    .col(text(Messages::Channel))
                    .col(text_null(Messages::Locale))
                    .col(text(Messages::Metadata))
                    .col(text(Messages::Citations))
                    .col(text_null(Messages::Trace))
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .foreign_key(&mut workspace_fk(Messages::Table, Messages::WorkspaceId))
                    .foreign_key(&mut conversation_fk(
                        Messages::Table,
                        Messages::ConversationId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_messages_conversation_id_seq")
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(Messages::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(KnowledgeSources::Table)
                    .col(text(KnowledgeSources::Id).primary_key())
                    .col(text(KnowledgeSources::WorkspaceId))
                    .col(text_null(KnowledgeSources::ExternalId))
                    .col(text(KnowledgeSources::Kind))
                    .col(text(KnowledgeSources::Name))
                    .col(text(KnowledgeSources::Config))
                    .col(text(KnowledgeSources::Status))
                    .col(text(KnowledgeSources::RefreshRate))
                    .col(integer(KnowledgeSources::PagesDiscovered).default(0))
                    .col(integer(KnowledgeSources::PagesIndexed).default(0))
                    .col(integer(KnowledgeSources::ChunkCount).default(0))
                    .col(text(KnowledgeSources::Errors))
                    .col(timestamp_with_time_zone_null(
                        KnowledgeSources::LastSyncedAt,
                    ))
                    .col(timestamp_with_time_zone(KnowledgeSources::CreatedAt))
                    .col(timestamp_with_time_zone(KnowledgeSources::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        KnowledgeSources::Table,
                        KnowledgeSources::WorkspaceId,
                    ))
                    .to_owned(),
            )
            .await?;
        // Both backends treat NULLs as distinct here, so any number of
        // sources may leave `external_id` unset.
        manager
            .create_index(
                Index::create()
                    .name("ux_knowledge_sources_workspace_id_external_id")
                    .table(KnowledgeSources::Table)
                    .col(KnowledgeSources::WorkspaceId)
                    .col(KnowledgeSources::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(tenant_index(
                KnowledgeSources::Table,
                KnowledgeSources::WorkspaceId,
                KnowledgeSources::Id,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Escalations::Table)
                    .col(text(Escalations::Id).primary_key())
                    .col(text(Escalations::WorkspaceId))
                    .col(text(Escalations::ConversationId))
                    .col(text(Escalations::ReasonCode))
                    .col(text(Escalations::Destination))
                    .col(text_null(Escalations::Owner))
                    .col(text(Escalations::Priority))
                    .col(text_null(Escalations::Note))
                    .col(text(Escalations::Status))
                    .col(text(Escalations::Metadata))
                    .col(timestamp_with_time_zone(Escalations::CreatedAt))
                    .col(timestamp_with_time_zone(Escalations::UpdatedAt))
                    .foreign_key(&mut workspace_fk(
                        Escalations::Table,
                        Escalations::WorkspaceId,
                    ))
                    .foreign_key(&mut conversation_fk(
                        Escalations::Table,
                        Escalations::ConversationId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(tenant_index(
                Escalations::Table,
                Escalations::WorkspaceId,
                Escalations::Id,
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_escalations_conversation_id")
                    .table(Escalations::Table)
                    .col(Escalations::ConversationId)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; indexes go with their tables.
        for table in [
            Escalations::Table.into_iden(),
            KnowledgeSources::Table.into_iden(),
            Messages::Table.into_iden(),
            Conversations::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Workspaces::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// `column` references `workspaces.id`; deleting a workspace deletes the row.
fn workspace_fk<T, C>(table: T, column: C) -> ForeignKeyCreateStatement
where
    T: Iden + Copy + 'static,
    C: Iden + Copy + 'static,
{
    parent_fk(table, column, Workspaces::Table, Workspaces::Id)
}

/// `column` references `conversations.id`; deleting a conversation deletes the row.
fn conversation_fk<T, C>(table: T, column: C) -> ForeignKeyCreateStatement
where
    T: Iden + Copy + 'static,
    C: Iden + Copy + 'static,
{
    parent_fk(table, column, Conversations::Table, Conversations::Id)
}

fn parent_fk<T, C, P, K>(table: T, column: C, parent: P, key: K) -> ForeignKeyCreateStatement
where
    T: Iden + Copy + 'static,
    C: Iden + Copy + 'static,
    P: Iden + 'static,
    K: Iden + 'static,
{
    ForeignKey::create()
        .name(format!("fk_{}_{}", table.to_string(), column.to_string()))
        .from(table, column)
        .to(parent, key)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// A two-column index named after its table and columns, for lookups that
/// always carry the workspace first.
fn tenant_index<T, A, B>(table: T, first: A, second: B) -> IndexCreateStatement
where
    T: Iden + Copy + 'static,
    A: Iden + Copy + 'static,
    B: Iden + Copy + 'static,
{
    Index::create()
        .name(format!(
            "ix_{}_{}_{}",
            table.to_string(),
            first.to_string(),
            second.to_string()
        ))
        .table(table)
        .col(first)
        .col(second)
        .to_owned()
}

#[derive(DeriveIden, Clone, Copy)]
enum Workspaces {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeys {
    Table,
    Id,
    WorkspaceId,
    Name,
    Prefix,
    SecretHash,
    Scopes,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Conversations {
    Table,
    Id,
    WorkspaceId,
    Channel,
    ExternalUserId,
    Locale,
    Metadata,
    Status,
    MessageCount,
    LeadScore,
    Intent,
    LeadQualified,
    Resolved,
    EscalationId,
    CreatedAt,
    UpdatedAt,
    LastMessageAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Messages {
    Table,
    Id,
    WorkspaceId,
    ConversationId,
    Seq,
    Role,
    Text,
    Channel,
    Locale,
    Metadata,
    Citations,
    Trace,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum KnowledgeSources {
    Table,
    Id,
    WorkspaceId,
    ExternalId,
    Kind,
    Name,
    Config,
    Status,
    RefreshRate,
    PagesDiscovered,
    PagesIndexed,
    ChunkCount,
    Errors,
    LastSyncedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Escalations {
    Table,
    Id,
    WorkspaceId,
    ConversationId,
    ReasonCode,
    Destination,
    Owner,
    Priority,
    Note,
    Status,
    Metadata,
    CreatedAt,
    UpdatedAt,
}
