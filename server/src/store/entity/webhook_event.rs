//! An event in the webhook outbox: its envelope, exactly as every attempt sends it.

use hoverbot_api::WebhookEventType;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub event_type: WebhookEventType,
    /// The JSON envelope, the body of every attempt.
    pub payload: String,
    /// The conversation the event carries, deleted with it; `None` for events about none.
    pub conversation_id: Option<String>,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
