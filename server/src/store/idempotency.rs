//! Idempotency keys. The primary key (workspace, key) is the lock: whoever inserts the row runs the
//! request; everyone else replays its stored response, waits (409), or is told the key was used for
//! another request (422). An in-progress row whose lease ran out (its server died) may be taken over.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, SqlErr,
};

use super::entity::idempotency_key;
use super::tenant::{TenantScoped, WorkspaceId};
use crate::problem::ApiError;

/// How long a key remembers its response.
pub const RETENTION: Duration = Duration::hours(24);
/// How long a request may run before its key is presumed abandoned.
pub const LEASE: Duration = Duration::seconds(60);

const IN_PROGRESS: &str = "in_progress";
const COMPLETED: &str = "completed";

/// A response as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub enum Begin {
    /// This request owns the key: run it, then `complete` or `abandon`.
    Started,
    Replay(StoredResponse),
    InProgress,
    Mismatch,
}

fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

pub async fn begin(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    key: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Begin, ApiError> {
    // Two rounds at most: the second follows the removal of an expired row.
    for _ in 0..2 {
        let row = idempotency_key::ActiveModel {
            workspace_id: Set(workspace.as_str().to_string()),
            key: Set(key.to_string()),
            fingerprint: Set(fingerprint.to_string()),
            state: Set(IN_PROGRESS.to_string()),
            locked_until: Set(Some(now + LEASE)),
            response_status: Set(None),
            response_headers: Set(None),
            response_body: Set(None),
            created_at: Set(now),
            expires_at: Set(now + RETENTION),
        };
        match row.insert(db).await {
            Ok(_) => return Ok(Begin::Started),
            Err(err) if is_unique_violation(&err) => {}
            Err(err) => return Err(err.into()),
        }
        let Some(existing) = find(db, workspace, key).await? else {
            continue;
        };
        if existing.expires_at <= now {
            delete_if(
                db,
                workspace,
                key,
                idempotency_key::Column::ExpiresAt.lte(now),
            )
            .await?;
            continue;
        }
        if existing.fingerprint != fingerprint {
            return Ok(Begin::Mismatch);
        }
        if existing.state == COMPLETED {
            return Ok(Begin::Replay(stored(existing)?));
        }
        if existing.locked_until.is_some_and(|until| until < now) {
            let taken = idempotency_key::Entity::update_in(workspace)
                .col_expr(
                    idempotency_key::Column::LockedUntil,
                    Expr::value(now + LEASE),
                )
                .filter(idempotency_key::Column::Key.eq(key))
                .filter(idempotency_key::Column::State.eq(IN_PROGRESS))
                .filter(idempotency_key::Column::LockedUntil.lt(now))
                .exec(db)
                .await?;
            if taken.rows_affected == 1 {
                return Ok(Begin::Started);
            }
        }
        return Ok(Begin::InProgress);
    }
    Ok(Begin::InProgress)
}

async fn find(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    key: &str,
) -> Result<Option<idempotency_key::Model>, ApiError> {
    Ok(idempotency_key::Entity::find_in(workspace)
        .filter(idempotency_key::Column::Key.eq(key))
        .one(db)
        .await?)
}

async fn delete_if(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    key: &str,
    condition: impl sea_orm::sea_query::IntoCondition,
) -> Result<(), ApiError> {
    idempotency_key::Entity::delete_in(workspace)
        .filter(idempotency_key::Column::Key.eq(key))
        .filter(condition)
        .exec(db)
        .await?;
    Ok(())
}

#[track_caller]
fn stored(row: idempotency_key::Model) -> Result<StoredResponse, ApiError> {
    let status = row
        .response_status
        .and_then(|status| u16::try_from(status).ok());
    let headers: Vec<(String, String)> =
        super::json::decode(row.response_headers.as_deref().unwrap_or("[]"))?;
    match status {
        Some(status) => Ok(StoredResponse {
            status,
            headers,
            body: row.response_body.unwrap_or_default(),
        }),
        None => Err(ApiError::internal(anyhow::anyhow!(
            "a completed idempotency key has no status"
        ))),
    }
}

/// Stores the response of the request that owns the key.
pub async fn complete(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    key: &str,
    response: &StoredResponse,
) -> Result<(), ApiError> {
    idempotency_key::Entity::update_in(workspace)
        .col_expr(idempotency_key::Column::State, Expr::value(COMPLETED))
        .col_expr(
            idempotency_key::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            idempotency_key::Column::ResponseStatus,
            Expr::value(i32::from(response.status)),
        )
        .col_expr(
            idempotency_key::Column::ResponseHeaders,
            Expr::value(super::json::encode(&response.headers)?),
        )
        .col_expr(
            idempotency_key::Column::ResponseBody,
            Expr::value(response.body.clone()),
        )
        .filter(idempotency_key::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(())
}

/// Forgets the key, so the client may retry it (after a failure worth retrying).
pub async fn abandon(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    key: &str,
) -> Result<(), ApiError> {
    delete_if(
        db,
        workspace,
        key,
        idempotency_key::Column::State.eq(IN_PROGRESS),
    )
    .await
}

/// Removes every expired key; returns how many.
// cross-tenant: housekeeping removes every workspace's expired keys at once.
pub async fn purge_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, ApiError> {
    let result = idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
