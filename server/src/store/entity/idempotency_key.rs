//! A stored response to a POST sent with an `Idempotency-Key`.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub workspace_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// SHA-256 of the method, path, query and body of the first request.
    pub fingerprint: String,
    /// `in_progress` or `completed`.
    pub state: String,
    /// While in progress: after this, the request is presumed dead and may be taken over.
    pub locked_until: Option<DateTimeUtc>,
    pub response_status: Option<i32>,
    /// The response's own headers (content type, location), as a JSON array of pairs.
    pub response_headers: Option<String>,
    /// Sealed.
    pub response_body: Option<Vec<u8>>,
    /// The conversation the response carries, if any: deleting it forgets the response.
    pub conversation_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "workspace_id", to = "id", on_delete = "Cascade")]
    pub workspace: BelongsTo<super::workspace::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
