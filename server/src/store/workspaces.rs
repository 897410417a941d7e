//! Workspaces (tenants): created by operators, never through the tenant API.

use anyhow::{Result, anyhow, bail};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};

use super::entity::workspace;
use super::tenant::WorkspaceId;
use crate::ids;
use crate::problem::ApiError;

/// A rate: sustained requests a minute, and how many may come at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Advertised as the `q` of `RateLimit-Policy` (with `w=60`).
    pub per_minute: u32,
    /// The GCRA burst capacity.
    pub burst: u32,
}

pub async fn create(db: &super::Db, name: &str) -> Result<workspace::Model> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        bail!("a workspace name has 1 to 100 characters");
    }
    let txn = db.write().await?;
    if workspace::Entity::find()
        .filter(workspace::Column::Name.eq(name))
        .one(&txn)
        .await?
        .is_some()
    {
        bail!("a workspace named `{name}` already exists");
    }
    let model = workspace::ActiveModel {
        id: Set(ids::new(ids::WORKSPACE)),
        name: Set(name.to_string()),
        created_at: Set(Utc::now()),
        rate_limit_per_minute: Set(None),
        rate_limit_burst: Set(None),
        lead_qualification_threshold: Set(None),
        confidence_threshold_milli: Set(None),
        escalate_qualified_leads: Set(false),
        escalation_destination: Set(None),
        conversation_retention_days: Set(None),
    };
    let created = model.insert(&txn).await?;
    txn.commit().await?;
    Ok(created)
}

/// The workspace with this id or name.
pub async fn find(db: &impl ConnectionTrait, id_or_name: &str) -> Result<Option<WorkspaceId>> {
    let found = workspace::Entity::find()
        .filter(
            Condition::any()
                .add(workspace::Column::Id.eq(id_or_name))
                .add(workspace::Column::Name.eq(id_or_name)),
        )
        .one(db)
        .await?;
    Ok(found.map(|workspace| WorkspaceId::from_row(workspace.id)))
}

/// The workspace's name, as people know it (shown on the OAuth consent page).
pub async fn name(db: &impl ConnectionTrait, workspace: &WorkspaceId) -> Result<Option<String>> {
    Ok(workspace::Entity::find_by_id(workspace.as_str())
        .one(db)
        .await?
        .map(|row| row.name))
}

/// Every workspace, oldest first (for the operator's command line).
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<workspace::Model>> {
    Ok(workspace::Entity::find()
        .order_by_asc(workspace::Column::CreatedAt)
        .all(db)
        .await?)
}

pub async fn count(db: &impl ConnectionTrait) -> Result<u64> {
    Ok(workspace::Entity::find().count(db).await?)
}

/// The workspace plan's own rate limit, if it has one.
pub fn rate_limit(workspace: &workspace::Model) -> Option<Limit> {
    match (workspace.rate_limit_per_minute, workspace.rate_limit_burst) {
        (Some(per_minute), Some(burst)) => Some(Limit {
            per_minute: u32::try_from(per_minute).unwrap_or(1).max(1),
            burst: u32::try_from(burst).unwrap_or(1).max(1),
        }),
        _ => None,
    }
}

/// Gives the workspace its own rate limit, or (with `None`) the deployment's back.
pub async fn set_rate_limit(
    db: &super::Db,
    workspace: &WorkspaceId,
    limit: Option<Limit>,
) -> Result<()> {
    let to_column = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
    let model = workspace::ActiveModel {
        id: Set(workspace.as_str().to_string()),
        rate_limit_per_minute: Set(limit.map(|limit| to_column(limit.per_minute))),
        rate_limit_burst: Set(limit.map(|limit| to_column(limit.burst))),
        ..Default::default()
    };
    let txn = db.write().await?;
    model.update(&txn).await?;
    txn.commit().await?;
    Ok(())
}

/// The workspace's own assistant settings; `None` takes the deployment's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssistantSettings {
    pub lead_qualification_threshold: Option<i32>,
    /// Thousandths.
    pub confidence_threshold_milli: Option<i32>,
    pub escalate_qualified_leads: bool,
    pub escalation_destination: Option<String>,
    /// Days conversations are kept after their last message; `None`: until deleted.
    pub conversation_retention_days: Option<i32>,
}

/// Changes to [`AssistantSettings`]; `None` leaves a setting as it is.
#[derive(Debug, Default)]
pub struct AssistantSettingsChanges {
    pub lead_qualification_threshold: Option<Option<i32>>,
    pub confidence_threshold_milli: Option<Option<i32>>,
    pub escalate_qualified_leads: Option<bool>,
    pub escalation_destination: Option<Option<String>>,
    pub conversation_retention_days: Option<Option<i32>>,
}

/// The workspace's assistant settings.
pub async fn assistant_settings(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
) -> Result<AssistantSettings, ApiError> {
    let row = workspace::Entity::find_by_id(workspace.as_str())
        .one(db)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow!("the caller's workspace is gone")))?;
    Ok(AssistantSettings {
        lead_qualification_threshold: row.lead_qualification_threshold,
        confidence_threshold_milli: row.confidence_threshold_milli,
        escalate_qualified_leads: row.escalate_qualified_leads,
        escalation_destination: row.escalation_destination,
        conversation_retention_days: row.conversation_retention_days,
    })
}

/// Changes the workspace's assistant settings.
pub async fn update_assistant_settings(
    db: &super::Db,
    workspace: &WorkspaceId,
    changes: AssistantSettingsChanges,
) -> Result<(), ApiError> {
    let mut model = workspace::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(workspace.as_str().to_string()),
        ..Default::default()
    };
    let mut changed = false;
    if let Some(value) = changes.lead_qualification_threshold {
        model.lead_qualification_threshold = Set(value);
        changed = true;
    }
    if let Some(value) = changes.confidence_threshold_milli {
        model.confidence_threshold_milli = Set(value);
        changed = true;
    }
    if let Some(value) = changes.escalate_qualified_leads {
        model.escalate_qualified_leads = Set(value);
        changed = true;
    }
    if let Some(value) = changes.escalation_destination {
        model.escalation_destination = Set(value);
        changed = true;
    }
    if let Some(value) = changes.conversation_retention_days {
        model.conversation_retention_days = Set(value);
        changed = true;
    }
    if changed {
        let txn = db.write().await?;
        model.update(&txn).await?;
        txn.commit().await?;
    }
    Ok(())
}
