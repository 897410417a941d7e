//! API keys: stored only as SHA-256 hashes; the secret exists once, in the response that creates it.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::db::Db;
use super::entity::{api_key, workspace};
use super::page::{self, Page};
use super::scopes::encode_scopes;
use super::tenant::{TenantScoped, WorkspaceId};
use crate::ids;
use crate::problem::ApiError;
use crate::secrets::{self, NewSecret};
use hoverbot_api::Scope;

/// A key as created: its row and the secret, which is not stored.
pub struct CreatedKey {
    pub key: api_key::Model,
    pub secret: String,
}

pub async fn create(
    db: &Db,
    workspace: &WorkspaceId,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<DateTime<Utc>>,
) -> Result<CreatedKey, ApiError> {
    let NewSecret {
        secret,
        hash,
        prefix,
    } = secrets::generate();
    let model = api_key::ActiveModel {
        id: Set(ids::new(ids::API_KEY)),
        workspace_id: Set(workspace.as_str().to_string()),
        name: Set(name.to_string()),
        prefix: Set(prefix),
        secret_hash: Set(hash),
        scopes: Set(encode_scopes(scopes)),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
    };
    let txn = db.write().await?;
    let key = model.insert(&txn).await?;
    txn.commit().await?;
    Ok(CreatedKey { key, secret })
}

/// Live (not revoked) keys of the workspace.
pub async fn list(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    limit: i32,
    cursor: Option<&str>,
) -> Result<Page<api_key::Model>, ApiError> {
    let select = api_key::Entity::find_in(workspace).filter(api_key::Column::RevokedAt.is_null());
    page::fetch(
        db,
        select,
        api_key::Column::Id,
        |key| &key.id,
        limit,
        cursor,
    )
    .await
}

/// Revokes a live key; `false` when the workspace has no such live key.
pub async fn revoke(db: &Db, workspace: &WorkspaceId, id: &str) -> Result<bool, ApiError> {
    let txn = db.write().await?;
    let result = api_key::Entity::update_in(workspace)
        .col_expr(
            api_key::Column::RevokedAt,
            sea_orm::sea_query::Expr::value(Utc::now()),
        )
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(result.rows_affected == 1)
}

/// The workspace's key with this id, unless it is revoked or expired.
pub async fn find_live(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<Option<api_key::Model>, ApiError> {
    let now = Utc::now();
    Ok(api_key::Entity::find_in(workspace)
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .filter(|key| key.expires_at.is_none_or(|at| at > now)))
}

/// The key with this secret hash, whatever its workspace, and that workspace (in the same query):
/// this is how a request finds its tenant and its plan.
// cross-tenant: a presented key is found by its hash, before its workspace is known.
pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<(api_key::Model, Option<workspace::Model>)>, ApiError> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::SecretHash.eq(hash))
        .find_also_related(workspace::Entity)
        .one(db)
        .await?)
}

pub async fn mark_used(
    db: &Db,
    workspace: &WorkspaceId,
    id: &str,
    at: DateTime<Utc>,
) -> Result<(), ApiError> {
    let txn = db.write().await?;
    api_key::Entity::update_in(workspace)
        .col_expr(
            api_key::Column::LastUsedAt,
            sea_orm::sea_query::Expr::value(at),
        )
        .filter(api_key::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}
