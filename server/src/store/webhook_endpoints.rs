//! Webhook endpoints. Signing secrets are sealed for their row before they reach the database, and
//! opened only to sign.

use chrono::{DateTime, Duration, Utc};
use hoverbot_api::DisabledReason;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, PaginatorTrait, QueryFilter, Set};

use super::db::Db;
use super::entity::webhook_endpoint;
use super::page::{self, Page};
use super::tenant::{TenantScoped, WorkspaceId};
use crate::ids;
use crate::problem::{ApiError, Problem};
use crate::sealing::Sealer;
use crate::webhooks::breaker;
use crate::webhooks::signature::Secret;

/// Most endpoints a workspace may have.
pub const MAX_PER_WORKSPACE: u64 = 100;
/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);

/// The reason an endpoint set to `enabled` by its owner is disabled, if it is.
fn disabled_reason(enabled: bool) -> Option<DisabledReason> {
    (!enabled).then_some(DisabledReason::Disabled)
}

pub struct NewEndpoint {
    pub url: String,
    pub description: Option<String>,
    /// A JSON array of event types.
    pub enabled_events: String,
    pub enabled: bool,
    pub destination: Option<String>,
}

/// The changes of an update; `None` keeps a field, `Some(None)` clears a nullable one.
#[derive(Default)]
pub struct Changes {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub enabled_events: Option<String>,
    pub enabled: Option<bool>,
    pub destination: Option<Option<String>>,
}

/// The endpoint's circuit breaker, as stored with it.
pub fn health(row: &webhook_endpoint::Model) -> breaker::Health {
    breaker::Health {
        consecutive_failures: row.consecutive_failures,
        failing_since: row.failing_since,
        paused_until: row.paused_until,
    }
}

/// Creates an endpoint with a new secret; returns the row and the secret, to show once.
pub async fn create(
    db: &Db,
    sealer: &Sealer,
    workspace: &WorkspaceId,
    new: NewEndpoint,
) -> Result<(webhook_endpoint::Model, Secret), ApiError> {
    let txn = db.write().await?;
    // A soft limit against runaway scripts: on PostgreSQL two creations racing at the limit may
    // both pass it, which is harmless.
    if webhook_endpoint::Entity::find_in(workspace)
        .count(&txn)
        .await?
        >= MAX_PER_WORKSPACE
    {
        return Err(Problem::conflict(
            "limit_reached",
            format!(
                "a workspace has at most {MAX_PER_WORKSPACE} webhook endpoints; delete one first"
            ),
        )
        .into());
    }
    let id = ids::new(ids::WEBHOOK_ENDPOINT);
    let secret = Secret::generate();
    let now = Utc::now();
    let row = webhook_endpoint::ActiveModel {
        secret_sealed: Set(sealer.seal(&id, secret.expose())),
        id: Set(id),
        workspace_id: Set(workspace.as_str().to_string()),
        url: Set(new.url),
        description: Set(new.description),
        enabled_events: Set(new.enabled_events),
        disabled_reason: Set(disabled_reason(new.enabled)),
        enabled: Set(new.enabled),
        destination: Set(new.destination),
        previous_secret_sealed: Set(None),
        previous_secret_expires_at: Set(None),
        consecutive_failures: Set(0),
        failing_since: Set(None),
        paused_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok((row, secret))
}

pub async fn list(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    limit: i32,
    cursor: Option<&str>,
) -> Result<Page<webhook_endpoint::Model>, ApiError> {
    page::fetch(
        db,
        webhook_endpoint::Entity::find_in(workspace),
        webhook_endpoint::Column::Id,
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
) -> Result<Option<webhook_endpoint::Model>, ApiError> {
    Ok(webhook_endpoint::Entity::find_in(workspace)
        .filter(webhook_endpoint::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// The endpoint, or the 404 a client sees for an id that is not theirs.
pub async fn get_or_404(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<webhook_endpoint::Model, ApiError> {
    get(db, workspace, id)
        .await?
        .ok_or_else(|| Problem::not_found("the webhook endpoint").into())
}

pub async fn update(
    db: &Db,
    workspace: &WorkspaceId,
    id: &str,
    changes: Changes,
) -> Result<webhook_endpoint::Model, ApiError> {
    let txn = db.write().await?;
    let mut row: webhook_endpoint::ActiveModel = get_or_404(&txn, workspace, id).await?.into();
    // Enabling an endpoint again, or pointing it elsewhere, gives its receiver a fresh start: the
    // circuit breaker closes.
    if changes.url.is_some() || changes.enabled == Some(true) {
        row.consecutive_failures = Set(0);
        row.failing_since = Set(None);
        row.paused_until = Set(None);
    }
    if let Some(url) = changes.url {
        row.url = Set(url);
    }
    if let Some(description) = changes.description {
        row.description = Set(description);
    }
    if let Some(events) = changes.enabled_events {
        row.enabled_events = Set(events);
    }
    if let Some(enabled) = changes.enabled {
        row.enabled = Set(enabled);
        row.disabled_reason = Set(disabled_reason(enabled));
    }
    if let Some(destination) = changes.destination {
        row.destination = Set(destination);
    }
    row.updated_at = Set(Utc::now());
    let updated = row.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

pub async fn delete(db: &Db, workspace: &WorkspaceId, id: &str) -> Result<(), ApiError> {
    let txn = db.write().await?;
    let result = webhook_endpoint::Entity::delete_in(workspace)
        .filter(webhook_endpoint::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    if result.rows_affected == 0 {
        return Err(Problem::not_found("the webhook endpoint").into());
    }
    txn.commit().await?;
    Ok(())
}

/// Gives the endpoint a new secret; the current one keeps signing until the returned time. A
/// secret still in its overlap is retired at once.
pub async fn rotate_secret(
    db: &Db,
    sealer: &Sealer,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<(Secret, DateTime<Utc>), ApiError> {
    let txn = db.write().await?;
    let current = get_or_404(&txn, workspace, id).await?;
    let secret = Secret::generate();
    let now = Utc::now();
    let expires_at = now + ROTATION_OVERLAP;
    let sealed = sealer.seal(&current.id, secret.expose());
    let previous = current.secret_sealed.clone();
    let mut row: webhook_endpoint::ActiveModel = current.into();
    row.previous_secret_sealed = Set(Some(previous));
    row.previous_secret_expires_at = Set(Some(expires_at));
    row.secret_sealed = Set(sealed);
    row.updated_at = Set(now);
    row.update(&txn).await?;
    txn.commit().await?;
    Ok((secret, expires_at))
}

/// The secrets that sign a delivery made at `now`: the current one, and the previous one during
/// its overlap.
pub fn signing_secrets(
    sealer: &Sealer,
    row: &webhook_endpoint::Model,
    now: DateTime<Utc>,
) -> Result<Vec<Secret>, ApiError> {
    let open = |sealed: &str| {
        sealer
            .open(&row.id, sealed)
            .ok()
            .and_then(|text| Secret::parse(&text))
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "the signing secret of {} does not open with this deployment's secret key",
                    row.id
                ))
            })
    };
    let mut secrets = vec![open(&row.secret_sealed)?];
    if let (Some(previous), Some(expires_at)) =
        (&row.previous_secret_sealed, row.previous_secret_expires_at)
        && now < expires_at
    {
        secrets.push(open(previous)?);
    }
    Ok(secrets)
}
