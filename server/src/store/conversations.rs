//! Conversations and their messages. A message exchange (the user's message and the bot's reply) is
//! written in one transaction that first locks the conversation row, so concurrent messages to one
//! conversation get consecutive sequence numbers and the counters stay exact. Each change writes its
//! webhook event in its own transaction.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionSession, TransactionTrait,
};

use super::entity::{conversation, message};
use super::page::{self, Page};
use super::tenant::{TenantScoped, WorkspaceId};
use crate::ids;
use crate::problem::{ApiError, Problem};
use crate::webhooks::events::{self, Event};
use crate::webhooks::outbox::Outbox;

/// A conversation holds at most this many messages; a transcript is returned whole.
pub const MAX_MESSAGES: i32 = 1000;

pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_ESCALATED: &str = "escalated";

pub struct NewConversation {
    pub channel: String,
    pub external_user_id: Option<String>,
    pub locale: Option<String>,
    pub metadata: String,
}

pub struct NewMessage {
    pub role: &'static str,
    pub text: String,
    /// `None`: the conversation's channel.
    pub channel: Option<String>,
    pub locale: Option<String>,
    pub metadata: String,
    pub citations: String,
    pub trace: Option<String>,
}

/// What a message exchange wrote.
pub struct Exchange {
    pub conversation: conversation::Model,
    pub user: message::Model,
    pub reply: Option<message::Model>,
}

#[derive(Default)]
pub struct Filter {
    pub external_user_id: Option<String>,
    pub status: Option<String>,
}

/// Creates a conversation and its `conversation.created` event.
pub async fn create<C: TransactionTrait>(
    db: &C,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    new: NewConversation,
) -> Result<conversation::Model, ApiError> {
    let now = Utc::now();
    let model = conversation::ActiveModel {
        id: Set(ids::new(ids::CONVERSATION)),
        workspace_id: Set(workspace.as_str().to_string()),
        channel: Set(new.channel),
        external_user_id: Set(new.external_user_id),
        locale: Set(new.locale),
        metadata: Set(new.metadata),
        status: Set(STATUS_ACTIVE.to_string()),
        message_count: Set(0),
        lead_score: Set(0),
        intent: Set(None),
        lead_qualified: Set(false),
        resolved: Set(false),
        escalation_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        last_message_at: Set(None),
    };
    let txn = super::begin_write(db).await?;
    let row = model.insert(&txn).await?;
    outbox
        .add(&txn, workspace, &events::conversation_created(&row)?)
        .await?;
    txn.commit().await?;
    outbox.committed();
    Ok(row)
}

pub async fn list(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    filter: Filter,
    limit: i32,
    cursor: Option<&str>,
) -> Result<Page<conversation::Model>, ApiError> {
    let mut select = conversation::Entity::find_in(workspace);
    if let Some(external_user_id) = filter.external_user_id {
        select = select.filter(conversation::Column::ExternalUserId.eq(external_user_id));
    }
    if let Some(status) = filter.status {
        select = select.filter(conversation::Column::Status.eq(status));
    }
    page::fetch(
        db,
        select,
        conversation::Column::Id,
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
) -> Result<Option<conversation::Model>, ApiError> {
    Ok(conversation::Entity::find_in(workspace)
        .filter(conversation::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// The conversation, or the 404 a client sees for an id that is not theirs.
pub async fn get_or_404(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<conversation::Model, ApiError> {
    get(db, workspace, id)
        .await?
        .ok_or_else(|| Problem::not_found("the conversation").into())
}

/// The transcript: every message, in order.
pub async fn messages(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    conversation_id: &str,
) -> Result<Vec<message::Model>, ApiError> {
    Ok(message::Entity::find_in(workspace)
        .filter(message::Column::ConversationId.eq(conversation_id))
        .order_by_asc(message::Column::Seq)
        .all(db)
        .await?)
}

/// Locks the conversation row for the rest of the transaction (a row lock on PostgreSQL, the write
/// lock on SQLite) and returns it.
pub async fn lock(
    txn: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<conversation::Model, ApiError> {
    let touched = conversation::Entity::update_many()
        .col_expr(
            conversation::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(conversation::Column::WorkspaceId.eq(workspace.as_str()))
        .filter(conversation::Column::Id.eq(id))
        .exec(txn)
        .await?;
    if touched.rows_affected == 0 {
        return Err(Problem::not_found("the conversation").into());
    }
    get_or_404(txn, workspace, id).await
}

/// Records the user's message and, when `respond` gives one, the bot's reply with the event that
/// `responded` makes of it.
pub async fn record_exchange<C, F, E>(
    db: &C,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    conversation_id: &str,
    user: NewMessage,
    respond: F,
    responded: E,
) -> Result<Exchange, ApiError>
where
    C: TransactionTrait,
    F: FnOnce(&conversation::Model) -> Option<NewMessage> + Send,
    E: FnOnce(&conversation::Model, &message::Model, &message::Model) -> Event + Send,
{
    let txn = super::begin_write(db).await?;
    let now = Utc::now();
    let conversation = lock(&txn, workspace, conversation_id, now).await?;
    let reply = respond(&conversation);
    let added = if reply.is_some() { 2 } else { 1 };
    if conversation.message_count + added > MAX_MESSAGES {
        return Err(Problem::conflict(
            "conversation_full",
            format!("a conversation holds at most {MAX_MESSAGES} messages; start a new one"),
        )
        .into());
    }
    let mut seq = conversation.message_count;
    let mut insert = |new: NewMessage| {
        seq += 1;
        message::ActiveModel {
            id: Set(ids::new(ids::MESSAGE)),
            workspace_id: Set(workspace.as_str().to_string()),
            conversation_id: Set(conversation.id.clone()),
            seq: Set(seq),
            role: Set(new.role.to_string()),
            text: Set(new.text),
            channel: Set(new.channel.unwrap_or_else(|| conversation.channel.clone())),
            locale: Set(new.locale),
            metadata: Set(new.metadata),
            citations: Set(new.citations),
            trace: Set(new.trace),
            created_at: Set(now),
        }
    };
    let user = insert(user).insert(&txn).await?;
    let reply = match reply {
        Some(reply) => Some(insert(reply).insert(&txn).await?),
        None => None,
    };
    let mut updated: conversation::ActiveModel = conversation.into();
    updated.message_count = Set(seq);
    updated.last_message_at = Set(Some(now));
    let conversation = updated.update(&txn).await?;
    let event = reply
        .as_ref()
        .map(|reply| responded(&conversation, &user, reply));
    if let Some(event) = &event {
        outbox.add(&txn, workspace, event).await?;
    }
    txn.commit().await?;
    if event.is_some() {
        outbox.committed();
    }
    Ok(Exchange {
        conversation,
        user,
        reply,
    })
}
