//! The events of the spec's `webhooks` section, built from the rows that caused them. Each is
//! serialised once, into the envelope every attempt sends byte for byte.

use chrono::{DateTime, Utc};
use poem_openapi::types::ToJSON;

use super::entity::{conversation, escalation, webhook_endpoint};
use crate::ids;
use crate::problem::ApiError;
use hoverbot_api::{
    ConversationCreatedData, ConversationCreatedEvent, ConversationDeletedData,
    ConversationDeletedEvent, DeletionReason, DisabledReason, EscalationChange,
    EscalationCreatedData, EscalationCreatedEvent, EscalationUpdatedData, EscalationUpdatedEvent,
    LeadQualifiedData, LeadQualifiedEvent, MessageRespondedData, MessageRespondedEvent,
    WebhookEndpointDisabledData, WebhookEndpointDisabledEvent, WebhookEventType,
};

/// An event, ready for the outbox.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub kind: WebhookEventType,
    pub created_at: DateTime<Utc>,
    /// The JSON envelope.
    pub body: String,
    /// For escalations: endpoints labelled with this destination receive the event too.
    pub destination: Option<String>,
    /// The conversation whose data the event carries: deleting the conversation deletes the event.
    pub conversation_id: Option<String>,
}

fn serialise(envelope: &impl ToJSON) -> String {
    envelope
        .to_json()
        .expect("an event envelope is a JSON object")
        .to_string()
}

pub fn conversation_created(row: &conversation::Model) -> Result<Event, ApiError> {
    let id = ids::new(ids::EVENT);
    let kind = WebhookEventType::ConversationCreated;
    let envelope = ConversationCreatedEvent {
        id: id.clone(),
        r#type: kind.as_str().to_string(),
        created_at: row.created_at,
        tenant_id: row.workspace_id.clone(),
        data: ConversationCreatedData {
            conversation_id: row.id.clone(),
            tenant_id: row.workspace_id.clone(),
            channel: row.channel,
            started_at: row.created_at,
            external_user_id: row.external_user_id.clone(),
        },
    };
    Ok(Event {
        id,
        kind,
        created_at: row.created_at,
        body: serialise(&envelope),
        destination: None,
        conversation_id: Some(row.id.clone()),
    })
}

pub fn message_responded(
    workspace_id: &str,
    created_at: DateTime<Utc>,
    data: MessageRespondedData,
) -> Event {
    let id = ids::new(ids::EVENT);
    let kind = WebhookEventType::MessageResponded;
    let conversation_id = Some(data.conversation_id.clone());
    let envelope = MessageRespondedEvent {
        id: id.clone(),
        r#type: kind.as_str().to_string(),
        created_at,
        tenant_id: workspace_id.to_string(),
        data,
    };
    Event {
        id,
        kind,
        created_at,
        body: serialise(&envelope),
        destination: None,
        conversation_id,
    }
}

pub fn lead_qualified(
    workspace_id: &str,
    created_at: DateTime<Utc>,
    data: LeadQualifiedData,
) -> Event {
    let id = ids::new(ids::EVENT);
    let kind = WebhookEventType::LeadQualified;
    let conversation_id = Some(data.conversation_id.clone());
    let envelope = LeadQualifiedEvent {
        id: id.clone(),
        r#type: kind.as_str().to_string(),
        created_at,
        tenant_id: workspace_id.to_string(),
        data,
    };
    Event {
        id,
        kind,
        created_at,
        body: serialise(&envelope),
        destination: None,
        conversation_id,
    }
}

pub fn escalation_created(row: &escalation::Model) -> Result<Event, ApiError> {
    let id = ids::new(ids::EVENT);
    let kind = WebhookEventType::EscalationCreated;
    let envelope = EscalationCreatedEvent {
        id: id.clone(),
        r#type: kind.as_str().to_string(),
        created_at: row.created_at,
        tenant_id: row.workspace_id.clone(),
        data: EscalationCreatedData {
            escalation_id: row.id.clone(),
            conversation_id: row.conversation_id.clone(),
            reason_code: row.reason_code,
            destination: row.destination.clone(),
            owner: row.owner.clone(),
            priority: row.priority,
        },
    };
    Ok(Event {
        id,
        kind,
        created_at: row.created_at,
        body: serialise(&envelope),
        destination: Some(row.destination.clone()),
        conversation_id: Some(row.conversation_id.clone()),
    })
}

/// `row` after `change`; `previous_owner` owned it before.
pub fn escalation_updated(
    row: &escalation::Model,
    change: EscalationChange,
    previous_owner: Option<String>,
) -> Event {
    let id = ids::new(ids::EVENT);
    let kind = WebhookEventType::EscalationUpdated;
    let envelope = EscalationUpdatedEvent {
        id: id.clone(),
        r#type: kind.as_str().to_string(),
        created_at: row.updated_at,
        tenant_id: row.workspace_id.clone(),
        data: EscalationUpdatedData {
            escalation_id: row.id.clone(),
            conversation_id: row.conversation_id.clone(),
            change,
            status: row.status,
            destination: row.destination.clone(),
            owner: row.owner.clone(),
            previous_owner,
            priority: row.priority,
        },
    };
    Event {
        id,
        kind,
        created_at: row.updated_at,
        body: serialise(&envelope),
        destination: Some(row.destination.clone()),
        conversation_id: Some(row.conversation_id.clone()),
    }
}

/// A conversation is gone. The event carries no personal data, so it is kept apart from the
/// conversation's events, which were deleted with it.
pub fn conversation_deleted(
    workspace_id: &str,
    conversation_id: &str,
    reason: DeletionReason,
    at: DateTime<Utc>,
) -> Event {
    let id = ids::new(ids::EVENT);
    let kind = WebhookEventType::ConversationDeleted;
    let envelope = ConversationDeletedEvent {
        id: id.clone(),
        r#type: kind.as_str().to_string(),
        created_at: at,
        tenant_id: workspace_id.to_string(),
        data: ConversationDeletedData {
            conversation_id: conversation_id.to_string(),
            reason,
            deleted_at: at,
        },
    };
    Event {
        id,
        kind,
        created_at: at,
        body: serialise(&envelope),
        destination: None,
        conversation_id: None,
    }
}

/// HoverBot disabled an endpoint, as it stood (`row`) when it was.
pub fn webhook_endpoint_disabled(
    row: &webhook_endpoint::Model,
    reason: DisabledReason,
    at: DateTime<Utc>,
) -> Event {
    let id = ids::new(ids::EVENT);
    let kind = WebhookEventType::WebhookEndpointDisabled;
    let envelope = WebhookEndpointDisabledEvent {
        id: id.clone(),
        r#type: kind.as_str().to_string(),
        created_at: at,
        tenant_id: row.workspace_id.clone(),
        data: WebhookEndpointDisabledData {
            webhook_endpoint_id: row.id.clone(),
            url: row.url.clone(),
            reason,
            consecutive_failures: row.consecutive_failures,
            failing_since: row.failing_since,
            disabled_at: at,
        },
    };
    Event {
        id,
        kind,
        created_at: at,
        body: serialise(&envelope),
        destination: None,
        conversation_id: None,
    }
}
