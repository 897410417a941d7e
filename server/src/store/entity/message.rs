//! A message in a conversation, numbered by `seq` from the conversation's
//! start.

use hoverbot_api::{Channel, MessageRole};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub conversation_id: String,
    /// Unique within the conversation.
    pub seq: i32,
    pub role: MessageRole,
    pub text: String,
    pub channel: Channel,
    pub locale: Option<String>,
    /// A JSON object.
    pub metadata: String,
    /// A JSON array.
    pub citations: String,
    /// A JSON value.
    pub trace: Option<String>,
    pub created_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "workspace_id", to = "id", on_delete = "Cascade")]
    pub workspace: BelongsTo<super::workspace::Entity>,
    #[sea_orm(belongs_to, from = "conversation_id", to = "id", on_delete = "Cascade")]
    pub conversation: BelongsTo<super::conversation::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
