//! An escalation: a conversation handed to a human.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escalations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub conversation_id: String,
    pub reason_code: String,
    pub destination: String,
    pub owner: Option<String>,
    pub priority: String,
    pub note: Option<String>,
    pub status: String,
    /// A JSON object.
    pub metadata: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "workspace_id", to = "id", on_delete = "Cascade")]
    pub workspace: BelongsTo<super::workspace::Entity>,
    #[sea_orm(belongs_to, from = "conversation_id", to = "id", on_delete = "Cascade")]
    pub conversation: BelongsTo<super::conversation::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
