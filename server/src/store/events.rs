//! The events of the spec's `webhooks` section, built from the rows that caused them. Each is
//! serialised once, into the envelope every attempt sends byte for byte.

use chrono::{DateTime, Utc};
use poem_openapi::types::ToJSON;

use super::entity::{conversation, escalation};
use crate::ids;
use crate::problem::ApiError;
use hoverbot_api::{
    ConversationCreatedData, ConversationCreatedEvent, EscalationCreatedData,
    EscalationCreatedEvent, LeadQualifiedData, LeadQualifiedEvent, MessageRespondedData,
    MessageRespondedEvent, WebhookEventType,
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
    })
}

pub fn message_responded(
    workspace_id: &str,
    created_at: DateTime<Utc>,
    data: MessageRespondedData,
) -> Event {
    let id = ids::new(ids::EVENT);
    let kind = WebhookEventType::MessageResponded;
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
    }
}

pub fn lead_qualified(
    workspace_id: &str,
    created_at: DateTime<Utc>,
    data: LeadQualifiedData,
) -> Event {
    let id = ids::new(ids::EVENT);
    let kind = WebhookEventType::LeadQualified;
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
    })
}
