//! A workspace: the tenant that owns every other row.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workspaces")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub name: String,
    pub created_at: DateTimeUtc,
    /// The plan's sustained requests a minute per token; empty: the deployment's.
    pub rate_limit_per_minute: Option<i32>,
    /// The plan's GCRA burst capacity per token; empty: the deployment's.
    pub rate_limit_burst: Option<i32>,
    /// The lead score that qualifies a conversation; empty: the deployment's.
    pub lead_qualification_threshold: Option<i32>,
    /// The confidence, in thousandths, below which the bot offers a human; empty: the
    /// deployment's.
    pub confidence_threshold_milli: Option<i32>,
    /// Whether a conversation is escalated (`sales_opportunity`) when its lead qualifies.
    pub escalate_qualified_leads: bool,
    /// The `destination` of automatic escalations; empty: the deployment's.
    pub escalation_destination: Option<String>,
    /// Days a conversation is kept after its last message; empty: until deleted.
    pub conversation_retention_days: Option<i32>,
    #[sea_orm(has_many)]
    pub api_keys: HasMany<super::api_key::Entity>,
    #[sea_orm(has_many)]
    pub conversations: HasMany<super::conversation::Entity>,
    #[sea_orm(has_many)]
    pub messages: HasMany<super::message::Entity>,
    #[sea_orm(has_many)]
    pub knowledge_sources: HasMany<super::knowledge_source::Entity>,
    #[sea_orm(has_many)]
    pub escalations: HasMany<super::escalation::Entity>,
    #[sea_orm(has_many)]
    pub idempotency_keys: HasMany<super::idempotency_key::Entity>,
    #[sea_orm(has_many)]
    pub webhook_endpoints: HasMany<super::webhook_endpoint::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
