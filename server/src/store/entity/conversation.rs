//! A conversation between an end user and the bot on one channel, with the
//! running tallies the API reports about it.

use hoverbot_api::{Channel, ConversationStatus, Intent};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub channel: Channel,
    pub external_user_id: Option<String>,
    pub locale: Option<String>,
    /// A JSON object.
    pub metadata: String,
    pub status: ConversationStatus,
    pub message_count: i32,
    pub lead_score: i32,
    pub intent: Option<Intent>,
    pub lead_qualified: bool,
    pub resolved: bool,
    /// The contact details the user gave: a JSON `ContactFields` object.
    pub contact_fields: String,
    /// Messages the user sent (the engagement part of the lead score).
    pub user_message_count: i32,
    /// Replies in a row below the confidence threshold; the second escalates (`low_confidence`).
    pub low_confidence_replies: i32,
    /// The latest escalation, if any (open or assigned while `status` is
    /// `escalated`); not a foreign key, since the escalation already points back
    /// here.
    pub escalation_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_message_at: Option<DateTimeUtc>,
    #[sea_orm(belongs_to, from = "workspace_id", to = "id", on_delete = "Cascade")]
    pub workspace: BelongsTo<super::workspace::Entity>,
    #[sea_orm(has_many)]
    pub messages: HasMany<super::message::Entity>,
    #[sea_orm(has_many)]
    pub escalations: HasMany<super::escalation::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
