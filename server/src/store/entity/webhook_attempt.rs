//! One attempt of a delivery, as the delivery log shows it.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub delivery_id: String,
    pub attempted_at: DateTimeUtc,
    /// The receiver's status, if it answered.
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    /// Why there is no status: refused address, connection error, timeout.
    pub error: Option<String>,
    /// The start of the receiver's response body.
    pub response_snippet: String,
}

impl ActiveModelBehavior for ActiveModel {}
