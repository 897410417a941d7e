//! An escalation: a conversation handed to a human.

use hoverbot_api::{EscalationReason, EscalationStatus, Priority};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escalations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub conversation_id: String,
    pub reason_code: EscalationReason,
    pub destination: String,
    pub owner: Option<String>,
    pub priority: Priority,
    pub note: Option<String>,
    pub status: EscalationStatus,
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
