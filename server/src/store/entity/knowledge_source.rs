//! A knowledge source the bot answers from, with its crawl and index
//! progress.

use hoverbot_api::{KnowledgeSourceStatus, KnowledgeSourceType, RefreshRate};
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "knowledge_sources")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    /// The caller's own id for the source, unique within the workspace.
    pub external_id: Option<String>,
    /// The API's `type`.
    pub kind: KnowledgeSourceType,
    pub name: String,
    /// A JSON object.
    pub config: String,
    pub status: KnowledgeSourceStatus,
    pub refresh_rate: RefreshRate,
    pub pages_discovered: i32,
    pub pages_indexed: i32,
    pub chunk_count: i32,
    /// A JSON array.
    pub errors: String,
    pub last_synced_at: Option<DateTimeUtc>,
    /// Grows with every change to the source: a sync finishes only if it synced the latest.
    pub sync_generation: i32,
    /// Until when the syncer that claimed the source holds it.
    pub sync_leased_until: Option<DateTimeUtc>,
    /// Which claim holds it: a sync records its result only under its own claim.
    pub sync_lease_token: Option<String>,
    /// When a scheduled re-sync (`refresh_rate`) is next due; `None` for `never`.
    pub next_sync_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    #[sea_orm(belongs_to, from = "workspace_id", to = "id", on_delete = "Cascade")]
    pub workspace: BelongsTo<super::workspace::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
