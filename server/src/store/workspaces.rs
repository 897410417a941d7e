//! Workspaces (tenants): created by operators, never through the tenant API.

use anyhow::{Result, bail};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};

use super::entity::workspace;
use super::tenant::WorkspaceId;
use crate::ids;

pub async fn create(db: &impl ConnectionTrait, name: &str) -> Result<workspace::Model> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        bail!("a workspace name has 1 to 100 characters");
    }
    if workspace::Entity::find()
        .filter(workspace::Column::Name.eq(name))
        .one(db)
        .await?
        .is_some()
    {
        bail!("a workspace named `{name}` already exists");
    }
    let model = workspace::ActiveModel {
        id: Set(ids::new(ids::WORKSPACE)),
        name: Set(name.to_string()),
        created_at: Set(Utc::now()),
    };
    Ok(model.insert(db).await?)
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

pub async fn count(db: &impl ConnectionTrait) -> Result<u64> {
    Ok(workspace::Entity::find().count(db).await?)
}
