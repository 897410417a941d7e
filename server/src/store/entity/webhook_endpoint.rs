//! A webhook endpoint: a URL that receives a workspace's events, with its sealed signing secret.

use hoverbot_api::DisabledReason;
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub url: String,
    pub description: Option<String>,
    /// A JSON array of event types, `["*"]` for all.
    pub enabled_events: String,
    pub enabled: bool,
    /// Why deliveries stopped (`DisabledReason`); empty while enabled.
    pub disabled_reason: Option<DisabledReason>,
    pub destination: Option<String>,
    /// The signing secret, sealed with the deployment's secret key for this row's id.
    pub secret_sealed: String,
    /// The secret before the last rotation, sealed likewise, while it still signs.
    pub previous_secret_sealed: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// The circuit breaker (`webhooks::breaker::Health`): failed attempts in a row, since when,
    /// and until when deliveries wait.
    pub consecutive_failures: i32,
    pub failing_since: Option<DateTimeUtc>,
    pub paused_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "workspace_id", to = "id", on_delete = "Cascade")]
    pub workspace: BelongsTo<super::workspace::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
