//! Conversations and their messages. A message exchange (the user's message and the bot's reply) is
//! written in one transaction that first locks the conversation row, so concurrent messages to one
//! conversation get consecutive sequence numbers and the counters stay exact. Each change writes its
//! webhook event in its own transaction.

use chrono::{DateTime, Utc};
use hoverbot_api::{Channel, ConversationStatus, Intent, MessageRole};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, Set};

use super::db::{Db, Write};
use super::entity::{conversation, message};
use super::escalations::{self, NewEscalation};
use super::page::{self, Page};
use super::tenant::{TenantScoped, WorkspaceId};
use super::unique::unique;
use crate::ids;
use crate::problem::{ApiError, Problem};
use crate::store::events::{self, Event};
use crate::store::outbox::Outbox;

/// A conversation holds at most this many messages; a transcript is returned whole.
pub const MAX_MESSAGES: i32 = 1000;

pub struct NewConversation {
    pub channel: Channel,
    pub external_user_id: Option<String>,
    pub locale: Option<String>,
    pub metadata: String,
}

pub struct NewMessage {
    pub role: MessageRole,
    pub text: String,
    /// `None`: the conversation's channel.
    pub channel: Option<Channel>,
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

/// What the assistant makes of a user message, decided under the conversation's lock.
pub struct Turn {
    /// The bot's reply; `None` while a human handles the conversation.
    pub reply: Option<NewMessage>,
    pub lead: LeadUpdate,
    /// The conversation's run of low-confidence replies after this one.
    pub low_confidence_replies: i32,
    /// An escalation the assistant opens with its reply, as `POST /v1/escalations` would.
    pub escalate: Option<NewEscalation>,
}

/// The conversation's lead outcomes after the message.
pub struct LeadUpdate {
    pub score: i32,
    pub intent: Option<Intent>,
    /// A JSON `ContactFields` object.
    pub contact_fields: String,
    pub qualified: bool,
}

/// A message exchange as its events see it: the conversation before and after, and the messages.
pub struct Change<'a> {
    pub before: &'a conversation::Model,
    pub after: &'a conversation::Model,
    pub user: &'a message::Model,
    pub reply: Option<&'a message::Model>,
}

#[derive(Default)]
pub struct Filter {
    pub external_user_id: Option<String>,
    pub status: Option<ConversationStatus>,
}

/// Creates a conversation and its `conversation.created` event.
pub async fn create(
    db: &Db,
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
        status: Set(ConversationStatus::Active),
        message_count: Set(0),
        lead_score: Set(0),
        intent: Set(None),
        lead_qualified: Set(false),
        resolved: Set(false),
        contact_fields: Set("{}".to_string()),
        user_message_count: Set(0),
        low_confidence_replies: Set(0),
        escalation_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        last_message_at: Set(None),
    };
    let txn = db.write().await?;
    let row = model.insert(&txn).await?;
    outbox
        .add(&txn, workspace, &events::conversation_created(&row)?)
        .await?;
    txn.commit().await?;
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
    Ok(unique(
        db,
        conversation::Entity::find_in(workspace).filter(conversation::Column::Id.eq(id)),
    )
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

/// The text of the user's latest message in the conversation, for follow-up questions.
pub async fn last_user_text(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    conversation_id: &str,
) -> Result<Option<String>, ApiError> {
    Ok(message::Entity::find_in(workspace)
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::Role.eq("user"))
        .order_by_desc(message::Column::Seq)
        .one(db)
        .await?
        .map(|message| message.text))
}

/// Locks the conversation row for the rest of the transaction (a row lock on PostgreSQL, the write
/// lock on SQLite) and returns it.
pub async fn lock(
    txn: &Write,
    workspace: &WorkspaceId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<conversation::Model, ApiError> {
    lock_if_exists(txn, workspace, id, now)
        .await?
        .ok_or_else(|| Problem::not_found("the conversation").into())
}

/// [`lock`], for a conversation that may be gone.
pub async fn lock_if_exists(
    txn: &Write,
    workspace: &WorkspaceId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<conversation::Model>, ApiError> {
    let touched = conversation::Entity::update_in(workspace)
        .col_expr(
            conversation::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(conversation::Column::Id.eq(id))
        .exec(txn)
        .await?;
    if touched.rows_affected == 0 {
        return Ok(None);
    }
    get(txn, workspace, id).await
}

/// Records the user's message, and what `turn` makes of it given the conversation as it is: the
/// bot's reply, if any, and the lead outcomes. `events` are the webhook events of the change,
/// written in the same transaction.
pub async fn record_exchange<F, E>(
    db: &Db,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    conversation_id: &str,
    user: NewMessage,
    turn: F,
    events: E,
) -> Result<Exchange, ApiError>
where
    F: FnOnce(&conversation::Model) -> Result<Turn, ApiError> + Send,
    E: FnOnce(&Change) -> Result<Vec<Event>, ApiError> + Send,
{
    let txn = db.write().await?;
    let now = Utc::now();
    let before = lock(&txn, workspace, conversation_id, now).await?;
    let Turn {
        reply,
        lead,
        low_confidence_replies,
        escalate,
    } = turn(&before)?;
    let added = if reply.is_some() { 2 } else { 1 };
    if before.message_count + added > MAX_MESSAGES {
        return Err(Problem::conflict(
            "conversation_full",
            format!("a conversation holds at most {MAX_MESSAGES} messages; start a new one"),
        )
        .into());
    }
    let mut seq = before.message_count;
    let mut insert = |new: NewMessage| {
        seq += 1;
        message::ActiveModel {
            id: Set(ids::new(ids::MESSAGE)),
            workspace_id: Set(workspace.as_str().to_string()),
            conversation_id: Set(before.id.clone()),
            seq: Set(seq),
            role: Set(new.role),
            text: Set(new.text),
            channel: Set(new.channel.unwrap_or(before.channel)),
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
    let mut updated: conversation::ActiveModel = before.clone().into();
    updated.message_count = Set(seq);
    updated.user_message_count = Set(before.user_message_count.saturating_add(1));
    updated.last_message_at = Set(Some(now));
    updated.lead_score = Set(lead.score);
    updated.intent = Set(lead.intent);
    updated.contact_fields = Set(lead.contact_fields);
    updated.lead_qualified = Set(lead.qualified);
    updated.low_confidence_replies = Set(low_confidence_replies);
    let mut after = updated.update(&txn).await?;
    if let Some(new) = escalate.filter(|_| after.status != ConversationStatus::Escalated) {
        (_, after) = escalations::open(&txn, outbox, workspace, after, new, now).await?;
    }
    let events = events(&Change {
        before: &before,
        after: &after,
        user: &user,
        reply: reply.as_ref(),
    })?;
    for event in &events {
        outbox.add(&txn, workspace, event).await?;
    }
    txn.commit().await?;
    Ok(Exchange {
        conversation: after,
        user,
        reply,
    })
}
