//! An API key: a workspace's credential, stored only as the SHA-256 of its
//! secret.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    /// The start of the secret, kept in clear so a key can be recognised.
    pub prefix: String,
    /// Lowercase hex SHA-256 of the whole secret.
    #[sea_orm(unique)]
    pub secret_hash: String,
    /// Scope names separated by single spaces.
    pub scopes: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    #[sea_orm(belongs_to, from = "workspace_id", to = "id", on_delete = "Cascade")]
    pub workspace: BelongsTo<super::workspace::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
