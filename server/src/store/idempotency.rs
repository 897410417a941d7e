//! Idempotency keys. A row holds the response of a keyed request, written in the request's own
//! transaction (its [`super::db::Unit`]): a request that committed always has its response, and one
//! that did not left nothing behind, so its retry runs at once. The primary key (workspace, key)
//! decides a race between two nodes running the same key: the second to commit finds the first's
//! row, rolls back, and answers with the first's response.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::db::Write;
use super::entity::idempotency_key;
use super::tenant::{TenantScoped, WorkspaceId};
use super::unique::unique;
use crate::problem::ApiError;

/// How long a key remembers its response.
pub const RETENTION: Duration = Duration::hours(24);

const COMPLETED: &str = "completed";
/// Rows of releases that claimed a key in a transaction of its own before running the request;
/// such a claim is honoured until its lease ends (a rolling upgrade runs both releases).
const IN_PROGRESS: &str = "in_progress";

/// A response as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the store knows of a key.
pub enum Found {
    /// Nothing: the request may run.
    Nothing,
    /// The response to replay.
    Replay(StoredResponse),
    /// The key was used for another request.
    Mismatch,
    /// A node of an earlier release runs the request now.
    InProgress,
}

pub async fn find(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    key: &str,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Found, ApiError> {
    let row = unique(
        db,
        idempotency_key::Entity::find_in(workspace)
            .filter(idempotency_key::Column::Key.eq(key))
            .filter(idempotency_key::Column::ExpiresAt.gt(now)),
    )
    .await?;
    Ok(match row {
        None => Found::Nothing,
        Some(row) if row.fingerprint != fingerprint => Found::Mismatch,
        Some(row) if row.state == COMPLETED => Found::Replay(stored(row)?),
        Some(row) if row.locked_until.is_some_and(|until| until > now) => Found::InProgress,
        Some(_) => Found::Nothing,
    })
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

/// Stores the response of a keyed request in `txn`, the request's own transaction. `false` when
/// the key already holds another run's response (another node committed it first): then `txn`
/// must be rolled back, and that response is the answer.
pub async fn save(
    txn: &Write,
    workspace: &WorkspaceId,
    key: &str,
    fingerprint: &str,
    response: &StoredResponse,
    conversation_id: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    use idempotency_key::Column;
    let row = idempotency_key::ActiveModel {
        workspace_id: Set(workspace.as_str().to_string()),
        key: Set(key.to_string()),
        fingerprint: Set(fingerprint.to_string()),
        state: Set(COMPLETED.to_string()),
        locked_until: Set(None),
        response_status: Set(Some(i32::from(response.status))),
        response_headers: Set(Some(super::json::encode(&response.headers)?)),
        response_body: Set(Some(response.body.clone())),
        conversation_id: Set(conversation_id),
        created_at: Set(now),
        expires_at: Set(now + RETENTION),
    };
    // A row that is expired, or an earlier release's abandoned claim, gives way; a live response
    // does not.
    let mut replace = OnConflict::columns([Column::WorkspaceId, Column::Key]);
    replace
        .update_columns([
            Column::Fingerprint,
            Column::State,
            Column::LockedUntil,
            Column::ResponseStatus,
            Column::ResponseHeaders,
            Column::ResponseBody,
            Column::ConversationId,
            Column::CreatedAt,
            Column::ExpiresAt,
        ])
        .action_and_where(Column::ExpiresAt.lte(now).or(Column::State.eq(IN_PROGRESS)));
    let inserted = idempotency_key::Entity::insert(row)
        .on_conflict(replace)
        .exec_without_returning(txn)
        .await?;
    Ok(inserted == 1)
}

/// Removes every expired key; returns how many.
// cross-tenant: housekeeping removes every workspace's expired keys at once.
pub async fn purge_expired(db: &super::Db, now: DateTime<Utc>) -> Result<u64, ApiError> {
    let txn = db.write().await?;
    let result = idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::ExpiresAt.lte(now))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(result.rows_affected)
}
