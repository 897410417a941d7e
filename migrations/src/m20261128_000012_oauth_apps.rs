//! OAuth 2.0 marketplace apps: registered once by the platform operator, installed by many
//! workspaces. The app's id is its `client_id`. A confidential app's client secret is kept only as
//! its SHA-256 (the secret is shown once); a public app has none and relies on PKCE alone.
//! Redirect URIs (a JSON array) are matched exactly; `scopes` are the ones it may ask for.

use sea_orm_migration::prelude::{
    DbErr, DeriveIden, DeriveMigrationName, MigrationTrait, SchemaManager, Table, async_trait,
    sea_orm,
};
use sea_orm_migration::schema::{
    boolean, text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthApps::Table)
                    .col(text(OauthApps::Id).primary_key())
                    .col(text(OauthApps::Name))
                    .col(text(OauthApps::RedirectUris))
                    .col(text(OauthApps::Scopes))
                    .col(boolean(OauthApps::Confidential))
                    .col(text_null(OauthApps::SecretPrefix))
                    .col(text_null(OauthApps::SecretHash))
                    .col(timestamp_with_time_zone(OauthApps::CreatedAt))
                    .col(timestamp_with_time_zone_null(OauthApps::RevokedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OauthApps::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum OauthApps {
    Table,
    Id,
    Name,
    RedirectUris,
    Scopes,
    Confidential,
    SecretPrefix,
    SecretHash,
    CreatedAt,
    RevokedAt,
}
