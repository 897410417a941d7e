//! The delivery of one event to one endpoint: its state, its schedule and its lease.

use hoverbot_api::{WebhookDeliveryStatus, WebhookEventType};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub event_type: WebhookEventType,
    /// `pending`, `succeeded` or `failed`.
    pub status: WebhookDeliveryStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// When the next attempt is due; empty once the delivery is over.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// No attempt is made after this; one due at it is the last.
    pub deadline: DateTimeUtc,
    /// A worker holds the delivery until then; after that any worker may claim it again.
    pub leased_until: Option<DateTimeUtc>,
    /// The holder's claim, so that a worker whose lease ran out cannot record over another's.
    pub lease_token: Option<String>,
    pub last_status_code: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
