//! Deleting conversations: one on request, every one of an end user (an erasure request), and those
//! past their workspace's retention window. A deletion takes the conversation's lock, removes its
//! messages, escalations, the webhook events that carry it (their deliveries and attempts go with
//! them) and the stored responses of keyed requests that carry it, and its row (with its lead's
//! contact fields), then writes `conversation.deleted`, all in one transaction: a
//! deletion happens whole or not at all, and exactly once however many nodes try.

use chrono::{DateTime, Utc};
use hoverbot_api::DeletionReason;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LockType};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::conversations;
use super::db::Db;
use super::entity::{
    conversation, escalation, idempotency_key, message, webhook_endpoint, webhook_event, workspace,
};
use super::events;
use super::outbox::Outbox;
use super::tenant::{TenantScoped, WorkspaceId};
use crate::problem::{ApiError, Problem};

/// Conversations deleted per transaction by an erasure or a retention sweep, so that neither holds
/// the writer for long.
const BATCH: u64 = 50;

/// Deletes one conversation; `404` when the workspace has none by that id.
pub async fn delete(
    db: &Db,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    conversation_id: &str,
) -> Result<(), ApiError> {
    let which = Condition::all().add(conversation::Column::Id.eq(conversation_id));
    if delete_batch(db, outbox, workspace, which, DeletionReason::Deleted).await? == 0 {
        return Err(Problem::not_found("the conversation").into());
    }
    Ok(())
}

/// Deletes every conversation of `external_user_id`; how many there were.
pub async fn erase(
    db: &Db,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    external_user_id: &str,
) -> Result<u64, ApiError> {
    let which = Condition::all().add(conversation::Column::ExternalUserId.eq(external_user_id));
    let mut erased = 0;
    loop {
        match delete_batch(db, outbox, workspace, which.clone(), DeletionReason::Erased).await? {
            0 => return Ok(erased),
            deleted => erased += deleted,
        }
    }
}

/// Deletes, in every workspace with a retention window, the conversations whose last message (or
/// creation, without one) is older than the window at `now`; how many.
// cross-tenant: retention is the deployment's housekeeping; each workspace's conversations are then
// deleted through its own WorkspaceId.
pub async fn purge_expired(db: &Db, outbox: &Outbox, now: DateTime<Utc>) -> Result<u64, ApiError> {
    let windows: Vec<(String, Option<i32>)> = workspace::Entity::find()
        .select_only()
        .column(workspace::Column::Id)
        .column(workspace::Column::ConversationRetentionDays)
        .filter(workspace::Column::ConversationRetentionDays.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let mut purged = 0;
    for (id, days) in windows {
        let Some(days) = days else { continue };
        let workspace = WorkspaceId::from_row(id);
        let cutoff = now - chrono::Duration::days(i64::from(days));
        let last_activity = Func::coalesce([
            Expr::col(conversation::Column::LastMessageAt),
            Expr::col(conversation::Column::CreatedAt),
        ]);
        let which = Condition::all().add(Expr::expr(last_activity).lt(cutoff));
        loop {
            match delete_batch(
                db,
                outbox,
                &workspace,
                which.clone(),
                DeletionReason::Retention,
            )
            .await?
            {
                0 => break,
                deleted => purged += deleted,
            }
        }
    }
    Ok(purged)
}

/// Deletes up to [`BATCH`] of the workspace's conversations that `which` selects, in one
/// transaction; how many. They are selected inside it, so that a keyed request, whose writes share
/// one transaction until its response is stored, does not select again what it already deleted.
async fn delete_batch(
    db: &Db,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    which: Condition,
    reason: DeletionReason,
) -> Result<u64, ApiError> {
    let txn = db.write().await?;
    let now = Utc::now();
    let ids: Vec<String> = conversation::Entity::find_in(workspace)
        .select_only()
        .column(conversation::Column::Id)
        .filter(which)
        .order_by_asc(conversation::Column::Id)
        .limit(BATCH)
        .into_tuple()
        .all(&txn)
        .await?;
    // A deletion of an endpoint takes the endpoint, then its deliveries; this transaction deletes
    // deliveries (with their events) and then, writing `conversation.deleted`, refers to the
    // endpoints. Taking the endpoints first keeps the two in one order, so they cannot deadlock.
    if !ids.is_empty() {
        webhook_endpoint::Entity::find_in(workspace)
            .select_only()
            .column(webhook_endpoint::Column::Id)
            .lock(LockType::KeyShare)
            .into_tuple::<String>()
            .all(&txn)
            .await?;
    }
    let mut deleted = 0;
    for id in &ids {
        // Another node may have deleted it since.
        if conversations::lock_if_exists(&txn, workspace, id, now)
            .await?
            .is_none()
        {
            continue;
        }
        message::Entity::delete_in(workspace)
            .filter(message::Column::ConversationId.eq(id))
            .exec(&txn)
            .await?;
        escalation::Entity::delete_in(workspace)
            .filter(escalation::Column::ConversationId.eq(id))
            .exec(&txn)
            .await?;
        // Deliveries and their attempts cascade.
        webhook_event::Entity::delete_in(workspace)
            .filter(webhook_event::Column::ConversationId.eq(id))
            .exec(&txn)
            .await?;
        idempotency_key::Entity::delete_in(workspace)
            .filter(idempotency_key::Column::ConversationId.eq(id))
            .exec(&txn)
            .await?;
        conversation::Entity::delete_in(workspace)
            .filter(conversation::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        let event = events::conversation_deleted(workspace.as_str(), id, reason, now);
        outbox.add(&txn, workspace, &event).await?;
        deleted += 1;
    }
    txn.commit().await?;
    Ok(deleted)
}
