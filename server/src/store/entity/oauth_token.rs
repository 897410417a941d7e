//! An OAuth access or refresh token, kept as the SHA-256 of the token.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Lowercase hex SHA-256 of the token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// `access` or `refresh`.
    pub kind: String,
    pub app_id: String,
    pub installation_id: String,
    pub workspace_id: String,
    /// The authorization code the token descends from (through refreshes).
    pub family_id: String,
    /// Scope names separated by single spaces.
    pub scopes: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    /// When a refresh token was exchanged for its successor; using it again after that is reuse.
    pub replaced_at: Option<DateTimeUtc>,
    #[sea_orm(belongs_to, from = "installation_id", to = "id", on_delete = "Cascade")]
    pub installation: BelongsTo<super::oauth_installation::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
