//! An OAuth app installed in a workspace: the standing grant its tokens are issued under.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_installations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub app_id: String,
    /// Every scope the workspace has granted the app, separated by single spaces.
    pub scopes: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When it was uninstalled; a later install revives the row.
    pub revoked_at: Option<DateTimeUtc>,
    #[sea_orm(belongs_to, from = "workspace_id", to = "id", on_delete = "Cascade")]
    pub workspace: BelongsTo<super::workspace::Entity>,
    #[sea_orm(belongs_to, from = "app_id", to = "id", on_delete = "Cascade")]
    pub app: BelongsTo<super::oauth_app::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
