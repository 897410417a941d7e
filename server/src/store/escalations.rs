//! Escalations: handing a conversation to a human. Opening one locks the conversation, refuses a
//! second open escalation, and moves the conversation to `escalated`, in one transaction.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, Set, TransactionSession,
    TransactionTrait,
};

use super::conversations::{self, STATUS_ESCALATED};
use super::entity::{conversation, escalation};
use super::page::{self, Page};
use super::tenant::{TenantScoped, WorkspaceId};
use crate::ids;
use crate::problem::{ApiError, Problem};
use crate::webhooks::events;
use crate::webhooks::outbox::Outbox;

pub const STATUS_OPEN: &str = "open";
pub const STATUS_ASSIGNED: &str = "assigned";

pub struct NewEscalation {
    pub conversation_id: String,
    pub reason_code: String,
    pub destination: String,
    pub owner: Option<String>,
    pub priority: String,
    pub note: Option<String>,
    pub metadata: String,
}

#[derive(Default)]
pub struct Filter {
    pub status: Option<String>,
    pub conversation_id: Option<String>,
}

/// Opens an escalation, with its `escalation.created` event.
pub async fn create<C: TransactionTrait>(
    db: &C,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    new: NewEscalation,
) -> Result<escalation::Model, ApiError> {
    let txn = super::begin_write(db).await?;
    let now = Utc::now();
    let conversation = conversations::lock(&txn, workspace, &new.conversation_id, now).await?;
    if let Some(open) = &conversation.escalation_id {
        return Err(Problem::conflict(
            "escalation_already_open",
            format!(
                "the conversation is already escalated ({open}); resolve that escalation first"
            ),
        )
        .into());
    }
    let status = if new.owner.is_some() {
        STATUS_ASSIGNED
    } else {
        STATUS_OPEN
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
        status: Set(status.to_string()),
        metadata: Set(new.metadata),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let mut updated: conversation::ActiveModel = conversation.into();
    updated.status = Set(STATUS_ESCALATED.to_string());
    updated.escalation_id = Set(Some(escalation.id.clone()));
    updated.update(&txn).await?;
    outbox
        .add(&txn, workspace, &events::escalation_created(&escalation)?)
        .await?;
    txn.commit().await?;
    outbox.committed();
    Ok(escalation)
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
    Ok(escalation::Entity::find_in(workspace)
        .filter(escalation::Column::Id.eq(id))
        .one(db)
        .await?)
}
