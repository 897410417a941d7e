//! What OAuth installs leave behind. An installation is an app's standing grant in a workspace
//! (one per workspace and app, revived when the app is installed again). An authorization code is
//! single-use and short-lived; access and refresh tokens are opaque. Codes and tokens are kept only
//! as the SHA-256 of their secret. Every token descends from one code: its `family_id`, which is
//! what a reused refresh token or code revokes at once. The code's row stands for its family: a
//! revoked family is marked there (`family_revoked_at`), and refreshing and revoking take turns on
//! that row, so no token is issued into a family being revoked.

use sea_orm_migration::prelude::{
    DbErr, DeriveIden, DeriveMigrationName, ForeignKey, ForeignKeyAction, Index, MigrationTrait,
    SchemaManager, Table, async_trait, sea_orm,
};
use sea_orm_migration::schema::{
    text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthInstallations::Table)
                    .col(text(OauthInstallations::Id).primary_key())
                    .col(text(OauthInstallations::WorkspaceId))
                    .col(text(OauthInstallations::AppId))
                    .col(text(OauthInstallations::Scopes))
                    .col(timestamp_with_time_zone(OauthInstallations::CreatedAt))
                    .col(timestamp_with_time_zone(OauthInstallations::UpdatedAt))
                    .col(timestamp_with_time_zone_null(OauthInstallations::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthInstallations::Table, OauthInstallations::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthInstallations::Table, OauthInstallations::AppId)
                            .to(OauthApps::Table, OauthApps::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_oauth_installations_workspace_id_app_id")
                    .table(OauthInstallations::Table)
                    .col(OauthInstallations::WorkspaceId)
                    .col(OauthInstallations::AppId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthCodes::Table)
                    .col(text(OauthCodes::CodeHash).primary_key())
                    .col(text(OauthCodes::InstallationId))
                    .col(text(OauthCodes::AppId))
                    .col(text_null(OauthCodes::RedirectUri))
                    .col(text(OauthCodes::Scopes))
                    .col(text(OauthCodes::CodeChallenge))
                    .col(text(OauthCodes::FamilyId))
                    .col(timestamp_with_time_zone(OauthCodes::CreatedAt))
                    .col(timestamp_with_time_zone(OauthCodes::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OauthCodes::UsedAt))
                    .col(timestamp_with_time_zone_null(OauthCodes::FamilyRevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthCodes::Table, OauthCodes::InstallationId)
                            .to(OauthInstallations::Table, OauthInstallations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthTokens::Table)
                    .col(text(OauthTokens::Id).primary_key())
                    .col(text(OauthTokens::TokenHash).unique_key())
                    .col(text(OauthTokens::Kind))
                    .col(text(OauthTokens::AppId))
                    .col(text(OauthTokens::InstallationId))
                    .col(text(OauthTokens::WorkspaceId))
                    .col(text(OauthTokens::FamilyId))
                    .col(text(OauthTokens::Scopes))
                    .col(timestamp_with_time_zone(OauthTokens::CreatedAt))
                    .col(timestamp_with_time_zone(OauthTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(OauthTokens::RevokedAt))
                    .col(timestamp_with_time_zone_null(OauthTokens::ReplacedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(OauthTokens::Table, OauthTokens::InstallationId)
                            .to(OauthInstallations::Table, OauthInstallations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_oauth_codes_family_id")
                    .table(OauthCodes::Table)
                    .col(OauthCodes::FamilyId)
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("ix_oauth_tokens_family_id", OauthTokens::FamilyId),
            (
                "ix_oauth_tokens_installation_id",
                OauthTokens::InstallationId,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(OauthTokens::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OauthTokens::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OauthCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(OauthInstallations::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum OauthInstallations {
    Table,
    Id,
    WorkspaceId,
    AppId,
    Scopes,
    CreatedAt,
    UpdatedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OauthCodes {
    Table,
    CodeHash,
    InstallationId,
    AppId,
    RedirectUri,
    Scopes,
    CodeChallenge,
    FamilyId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    FamilyRevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OauthTokens {
    Table,
    Id,
    TokenHash,
    Kind,
    AppId,
    InstallationId,
    WorkspaceId,
    FamilyId,
    Scopes,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    ReplacedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Workspaces {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum OauthApps {
    Table,
    Id,
}
