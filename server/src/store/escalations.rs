//! Escalations: handing a conversation to a human. Opening one locks the conversation, refuses a
//! second open escalation, and moves the conversation to `escalated`, in one transaction;
//! resolving one moves it back to `active`, so the bot answers again. Both lock the conversation
//! before the escalation, in that order, so that they cannot deadlock.

use chrono::{DateTime, Utc};
use hoverbot_api::{
    ConversationStatus, EscalationChange, EscalationReason, EscalationStatus, Priority,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, Set};

use super::conversations;
use super::db::{Db, Write};
use super::entity::{conversation, escalation};
use super::page::{self, Page};
use super::tenant::{TenantScoped, WorkspaceId};
use super::unique::unique;
use crate::ids;
use crate::problem::{ApiError, Problem};
use crate::store::events;
use crate::store::outbox::Outbox;

pub struct NewEscalation {
    pub conversation_id: String,
    pub reason_code: EscalationReason,
    pub destination: String,
    pub owner: Option<String>,
    pub priority: Priority,
    pub note: Option<String>,
    pub metadata: String,
}

/// The changes of `PATCH /v1/escalations/{id}`; `None` leaves a field as it is.
#[derive(Default)]
pub struct Changes {
    pub status: Option<EscalationStatus>,
    /// `Some(None)` releases the escalation.
    pub owner: Option<Option<String>>,
    pub priority: Option<Priority>,
    /// `Some(None)` clears the note.
    pub note: Option<Option<String>>,
}

#[derive(Default)]
pub struct Filter {
    pub status: Option<EscalationStatus>,
    pub conversation_id: Option<String>,
}

/// Opens an escalation, with its `escalation.created` event.
pub async fn create(
    db: &Db,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    new: NewEscalation,
) -> Result<escalation::Model, ApiError> {
    let txn = db.write().await?;
    let now = Utc::now();
    let conversation = conversations::lock(&txn, workspace, &new.conversation_id, now).await?;
    let (escalation, _) = open(&txn, outbox, workspace, conversation, new, now).await?;
    txn.commit().await?;
    Ok(escalation)
}

/// Opens an escalation on `conversation`, which the caller's transaction has locked: the one path
/// of `POST /v1/escalations` and of the assistant's own escalations. Returns the escalation and
/// the conversation, now `escalated`; the caller commits.
pub async fn open(
    txn: &Write,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    conversation: conversation::Model,
    new: NewEscalation,
    now: DateTime<Utc>,
) -> Result<(escalation::Model, conversation::Model), ApiError> {
    if let Some(open) = conversation
        .escalation_id
        .as_ref()
        .filter(|_| conversation.status == ConversationStatus::Escalated)
    {
        return Err(Problem::conflict(
            "escalation_already_open",
            format!(
                "the conversation is already escalated ({open}); resolve that escalation first"
            ),
        )
        .into());
    }
    let status = if new.owner.is_some() {
        EscalationStatus::Assigned
    } else {
        EscalationStatus::Open
    };
    let escalation = escalation::ActiveModel {
        id: Set(ids::new(ids::ESCALATION)),
        workspace_id: Set(workspace.as_str().to_string()),
        conversation_id: Set(conversation.id.clone()),
        reason_code: Set(new.reason_code),
        destination: Set(new.destination),
        owner: Set(new.owner),
        priority: Set(new.priority),
        note: Set(new.note),
        status: Set(status),
        metadata: Set(new.metadata),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(txn)
    .await?;
    let mut updated: conversation::ActiveModel = conversation.into();
    updated.status = Set(ConversationStatus::Escalated);
    updated.escalation_id = Set(Some(escalation.id.clone()));
    let conversation = updated.update(txn).await?;
    outbox
        .add(txn, workspace, &events::escalation_created(&escalation)?)
        .await?;
    Ok((escalation, conversation))
}

/// Assigns, releases or resolves an escalation (see the spec's `updateEscalation` for the rules),
/// with its `escalation.updated` event; resolving it hands the conversation back to the bot.
pub async fn update(
    db: &Db,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    id: &str,
    changes: Changes,
) -> Result<escalation::Model, ApiError> {
    let txn = db.write().await?;
    let now = Utc::now();
    // Read unlocked only to learn the conversation; it is read again under the lock.
    let conversation_id = get_or_404(&txn, workspace, id).await?.conversation_id;
    let conversation = conversations::lock(&txn, workspace, &conversation_id, now).await?;
    let current = get_or_404(&txn, workspace, id).await?;
    if current.status == EscalationStatus::Resolved {
        return Err(Problem::conflict(
            "escalation_resolved",
            "the escalation is resolved, which is final; create a new escalation to hand the \
             conversation over again",
        )
        .into());
    }
    let owner = match changes.owner {
        Some(owner) => owner,
        // Going back to the queue gives the escalation up.
        None if changes.status == Some(EscalationStatus::Open) => None,
        None => current.owner.clone(),
    };
    let status = match changes.status {
        Some(status) => status,
        None if current.status == EscalationStatus::Open && owner.is_some() => {
            EscalationStatus::Assigned
        }
        None if current.status == EscalationStatus::Assigned && owner.is_none() => {
            EscalationStatus::Open
        }
        None => current.status,
    };
    match (status, &owner) {
        (EscalationStatus::Assigned, None) => {
            return Err(Problem::conflict(
                "owner_required",
                "an assigned escalation needs an owner: give `owner`",
            )
            .into());
        }
        (EscalationStatus::Open, Some(_)) => {
            return Err(Problem::conflict(
                "owner_required",
                "an open escalation has no owner: leave `owner` out or set it to null",
            )
            .into());
        }
        _ => {}
    }
    let resolving = status == EscalationStatus::Resolved;
    let previous_owner = current.owner.clone();
    let change = change_of(
        current.status,
        previous_owner.as_deref(),
        status,
        owner.as_deref(),
    );
    let mut updated: escalation::ActiveModel = current.into();
    updated.status = Set(status);
    updated.owner = Set(owner);
    if let Some(priority) = changes.priority {
        updated.priority = Set(priority);
    }
    if let Some(note) = changes.note {
        updated.note = Set(note);
    }
    updated.updated_at = Set(now);
    let escalation = updated.update(&txn).await?;
    if resolving && conversation.escalation_id.as_deref() == Some(escalation.id.as_str()) {
        let mut handed_back: conversation::ActiveModel = conversation.into();
        handed_back.status = Set(ConversationStatus::Active);
        handed_back.update(&txn).await?;
    }
    if let Some(change) = change {
        let event = events::escalation_updated(&escalation, change, previous_owner);
        outbox.add(&txn, workspace, &event).await?;
    }
    txn.commit().await?;
    Ok(escalation)
}

/// What moving from `before` (owned by `owner_before`) to `after` tells the escalation's
/// destination; `None` when nobody's work changed (a new note or priority).
fn change_of(
    before: EscalationStatus,
    owner_before: Option<&str>,
    after: EscalationStatus,
    owner_after: Option<&str>,
) -> Option<EscalationChange> {
    match after {
        EscalationStatus::Resolved => Some(EscalationChange::Resolved),
        EscalationStatus::Open if before == EscalationStatus::Assigned => {
            Some(EscalationChange::Released)
        }
        EscalationStatus::Assigned if before != after || owner_before != owner_after => {
            Some(EscalationChange::Assigned)
        }
        _ => None,
    }
}

pub async fn list(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    filter: Filter,
    limit: i32,
    cursor: Option<&str>,
) -> Result<Page<escalation::Model>, ApiError> {
    let mut select = escalation::Entity::find_in(workspace);
    if let Some(status) = filter.status {
        select = select.filter(escalation::Column::Status.eq(status));
    }
    if let Some(conversation_id) = filter.conversation_id {
        select = select.filter(escalation::Column::ConversationId.eq(conversation_id));
    }
    page::fetch(
        db,
        select,
        escalation::Column::Id,
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
) -> Result<Option<escalation::Model>, ApiError> {
    Ok(unique(
        db,
        escalation::Entity::find_in(workspace).filter(escalation::Column::Id.eq(id)),
    )
    .await?)
}

/// The escalation, or the 404 a client sees for an id that is not theirs.
pub async fn get_or_404(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<escalation::Model, ApiError> {
    get(db, workspace, id)
        .await?
        .ok_or_else(|| Problem::not_found("the escalation").into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use EscalationStatus::{Assigned, Open, Resolved};

    #[test]
    fn a_change_of_hands_or_an_end_is_news_and_nothing_else_is() {
        let cases = [
            (
                Open,
                None,
                Assigned,
                Some("jane"),
                Some(EscalationChange::Assigned),
            ),
            (
                Assigned,
                Some("jane"),
                Assigned,
                Some("li"),
                Some(EscalationChange::Assigned),
            ),
            (Assigned, Some("jane"), Assigned, Some("jane"), None),
            (
                Assigned,
                Some("jane"),
                Open,
                None,
                Some(EscalationChange::Released),
            ),
            (Open, None, Open, None, None),
            (Open, None, Resolved, None, Some(EscalationChange::Resolved)),
            (
                Assigned,
                Some("jane"),
                Resolved,
                Some("jane"),
                Some(EscalationChange::Resolved),
            ),
        ];
        for (before, owner_before, after, owner_after, expected) in cases {
            assert_eq!(
                change_of(before, owner_before, after, owner_after),
                expected,
                "{before:?} ({owner_before:?}) -> {after:?} ({owner_after:?})"
            );
        }
    }
}
