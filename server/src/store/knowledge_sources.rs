//! Knowledge sources. Upsert by `externalId`: the unique index on (workspace, external id) settles
//! concurrent creates, and the loser of that race updates instead.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, SqlErr,
};

use super::entity::knowledge_source;
use super::page::{self, Page};
use super::tenant::{TenantScoped, WorkspaceId};
use crate::ids;
use crate::problem::{ApiError, Problem};

pub const STATUS_QUEUED: &str = "queued";

/// A source as the client describes it.
pub struct SourceInput {
    pub kind: String,
    pub name: String,
    pub external_id: Option<String>,
    /// The type-specific settings, as JSON.
    pub config: String,
    pub refresh_rate: String,
}

#[derive(Default)]
pub struct Filter {
    pub status: Option<String>,
}

/// Creates the source, or updates the one with the same external id; `true` when it was created.
pub async fn upsert(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    input: SourceInput,
) -> Result<(knowledge_source::Model, bool), ApiError> {
    if let Some(existing) = find_by_external_id(db, workspace, input.external_id.as_deref()).await?
    {
        return Ok((update(db, existing, input).await?, false));
    }
    let now = Utc::now();
    let model = knowledge_source::ActiveModel {
        id: Set(ids::new(ids::KNOWLEDGE_SOURCE)),
        workspace_id: Set(workspace.as_str().to_string()),
        external_id: Set(input.external_id.clone()),
        kind: Set(input.kind.clone()),
        name: Set(input.name.clone()),
        config: Set(input.config.clone()),
        status: Set(STATUS_QUEUED.to_string()),
        refresh_rate: Set(input.refresh_rate.clone()),
        pages_discovered: Set(0),
        pages_indexed: Set(0),
        chunk_count: Set(0),
        errors: Set("[]".to_string()),
        last_synced_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    match model.insert(db).await {
        Ok(created) => Ok((created, true)),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            let existing = find_by_external_id(db, workspace, input.external_id.as_deref())
                .await?
                .ok_or_else(|| ApiError::internal(err))?;
            Ok((update(db, existing, input).await?, false))
        }
        Err(err) => Err(err.into()),
    }
}

async fn find_by_external_id(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    external_id: Option<&str>,
) -> Result<Option<knowledge_source::Model>, ApiError> {
    let Some(external_id) = external_id else {
        return Ok(None);
    };
    Ok(knowledge_source::Entity::find_in(workspace)
        .filter(knowledge_source::Column::ExternalId.eq(external_id))
        .one(db)
        .await?)
}

/// A changed source is synced again from scratch, so it goes back to `queued`.
async fn update(
    db: &impl ConnectionTrait,
    existing: knowledge_source::Model,
    input: SourceInput,
) -> Result<knowledge_source::Model, ApiError> {
    if existing.kind != input.kind {
        return Err(Problem::conflict(
            "knowledge_source_type_mismatch",
            format!(
                "the source with this externalId is of type `{}`; delete it first to make it a `{}` source",
                existing.kind, input.kind
            ),
        )
        .into());
    }
    let mut model: knowledge_source::ActiveModel = existing.into();
    model.kind = Set(input.kind);
    model.name = Set(input.name);
    model.config = Set(input.config);
    model.refresh_rate = Set(input.refresh_rate);
    model.status = Set(STATUS_QUEUED.to_string());
    model.updated_at = Set(Utc::now());
    Ok(model.update(db).await?)
}

pub async fn list(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    filter: Filter,
    limit: i32,
    cursor: Option<&str>,
) -> Result<Page<knowledge_source::Model>, ApiError> {
    let mut select = knowledge_source::Entity::find_in(workspace);
    if let Some(status) = filter.status {
        select = select.filter(knowledge_source::Column::Status.eq(status));
    }
    page::fetch(
        db,
        select,
        knowledge_source::Column::Id,
        |row| &row.id,
        limit,
        cursor,
    )
    .await
}

pub async fn get(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<Option<knowledge_source::Model>, ApiError> {
    Ok(knowledge_source::Entity::find_in(workspace)
        .filter(knowledge_source::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// Deletes the source; `false` when the workspace has none with this id.
pub async fn delete(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<bool, ApiError> {
    let result = knowledge_source::Entity::delete_many()
        .filter(knowledge_source::Column::WorkspaceId.eq(workspace.as_str()))
        .filter(knowledge_source::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
