//! The JSON the reference answers with, written straight from the rows (borrowed, not copied) in
//! the field order the server's generated types use, so that both send the same bytes.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Web,
    Email,
    Sms,
    Whatsapp,
    Messenger,
    Slack,
    Api,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Messenger => "messenger",
            Channel::Slack => "slack",
            Channel::Api => "api",
        }
    }
}

/// A time as the server's JSON writes it: RFC 3339, `+00:00`, with as many fractional digits as it
/// has.
#[derive(Clone, Copy)]
pub struct Time(pub DateTime<Utc>);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, false))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversation<'a> {
    pub id: &'a str,
    pub channel: &'a str,
    pub external_user_id: Option<&'a str>,
    pub locale: Option<&'a str>,
    /// Stored as the JSON the server wrote.
    pub metadata: &'a RawValue,
    pub status: &'a str,
    pub message_count: i32,
    pub created_at: Time,
    pub updated_at: Time,
    pub last_message_at: Option<Time>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message<'a> {
    pub id: &'a str,
    pub conversation_id: &'a str,
    pub role: &'a str,
    pub text: &'a str,
    pub channel: &'a str,
    pub locale: Option<&'a str>,
    pub metadata: &'a RawValue,
    pub citations: Citations<'a>,
    pub created_at: Time,
}

/// A message's citations as stored (snake_case JSON), written as the wire's (camelCase).
pub struct Citations<'a>(pub &'a str);

#[derive(Deserialize)]
struct StoredCitation<'a> {
    #[serde(borrow)]
    source_id: Cow<'a, str>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    title: Cow<'a, str>,
    #[serde(borrow)]
    snippet: Cow<'a, str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Citation<'a> {
    source_id: &'a str,
    url: Option<&'a str>,
    title: &'a str,
    snippet: &'a str,
}

impl Serialize for Citations<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let stored: Vec<StoredCitation> =
            serde_json::from_str(self.0).map_err(serde::ser::Error::custom)?;
        serializer.collect_seq(stored.iter().map(|citation| Citation {
            source_id: &citation.source_id,
            url: citation.url.as_deref(),
            title: &citation.title,
            snippet: &citation.snippet,
        }))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcomes<'a> {
    pub resolved: bool,
    pub escalated: bool,
    pub lead_qualified: bool,
    pub lead_score: i32,
    pub intent: Option<&'a str>,
    pub contact_fields: ContactFields<'a>,
}

/// The conversation's contact details as stored (a JSON object that leaves out what is unknown),
/// written with every field.
pub struct ContactFields<'a>(pub &'a str);

impl Serialize for ContactFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Deserialize)]
        struct Stored<'a> {
            #[serde(borrow)]
            email: Option<Cow<'a, str>>,
            #[serde(borrow)]
            phone: Option<Cow<'a, str>>,
            #[serde(borrow)]
            name: Option<Cow<'a, str>>,
            #[serde(borrow)]
            company: Option<Cow<'a, str>>,
        }
        let stored: Stored = serde_json::from_str(self.0).map_err(serde::ser::Error::custom)?;
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("email", &stored.email)?;
        map.serialize_entry("phone", &stored.phone)?;
        map.serialize_entry("name", &stored.name)?;
        map.serialize_entry("company", &stored.company)?;
        map.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Escalation<'a> {
    pub state: &'a str,
    pub escalation_id: Option<&'a str>,
    pub destination: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub priority: Option<&'a str>,
}

impl<'a> Escalation<'a> {
    /// The state of the conversation's escalation, from the escalation's status when it has one.
    pub fn of(
        id: Option<&'a str>,
        status: Option<&'a str>,
        destination: Option<&'a str>,
        owner: Option<&'a str>,
        priority: Option<&'a str>,
    ) -> Self {
        match (id, status) {
            (Some(_), Some(status)) => Self {
                state: status,
                escalation_id: id,
                destination,
                owner,
                priority,
            },
            _ => Self {
                state: "none",
                escalation_id: None,
                destination: None,
                owner: None,
                priority: None,
            },
        }
    }
}

/// A transcript's JSON, written as its rows are read: the conversation, each message, then the
/// outcomes and the escalation (the fields of the server's `ConversationTranscript`, in order).
pub struct TranscriptWriter {
    out: Vec<u8>,
    messages: usize,
}

impl TranscriptWriter {
    pub fn new(conversation: &Conversation) -> serde_json::Result<Self> {
        let mut out = Vec::with_capacity(8 * 1024);
        out.extend_from_slice(b"{\"conversation\":");
        serde_json::to_writer(&mut out, conversation)?;
        out.extend_from_slice(b",\"messages\":[");
        Ok(Self { out, messages: 0 })
    }

    pub fn message(&mut self, message: &Message) -> serde_json::Result<()> {
        if self.messages > 0 {
            self.out.push(b',');
        }
        self.messages += 1;
        serde_json::to_writer(&mut self.out, message)
    }

    pub fn finish(
        mut self,
        outcomes: &Outcomes,
        escalation: &Escalation,
    ) -> serde_json::Result<Vec<u8>> {
        self.out.extend_from_slice(b"],\"outcomes\":");
        serde_json::to_writer(&mut self.out, outcomes)?;
        self.out.extend_from_slice(b",\"escalation\":");
        serde_json::to_writer(&mut self.out, escalation)?;
        self.out.push(b'}');
        Ok(self.out)
    }
}

/// A conversation to create: its row's values, made here as the server makes them.
pub struct NewConversation {
    pub id: String,
    pub workspace: String,
    pub channel: Channel,
    pub external_user_id: Option<String>,
    pub locale: Option<String>,
    /// The metadata as stored: compact JSON.
    pub metadata: String,
    pub created_at: DateTime<Utc>,
    /// The `conversation.created` event: its id and body.
    pub event_id: String,
    pub event: String,
}

impl NewConversation {
    pub fn new(
        workspace: String,
        channel: Channel,
        external_user_id: Option<String>,
        locale: Option<String>,
        metadata: serde_json::Map<String, Value>,
    ) -> Self {
        let id = new_id("conv");
        let event_id = new_id("evt");
        let created_at = Utc::now();
        let event = serde_json::json!({
            "id": event_id,
            "type": "conversation.created",
            "createdAt": Time(created_at),
            "tenantId": workspace,
            "data": {
                "conversationId": id,
                "tenantId": workspace,
                "channel": channel.as_str(),
                "startedAt": Time(created_at),
                "externalUserId": external_user_id,
            },
        })
        .to_string();
        Self {
            id,
            workspace,
            channel,
            external_user_id,
            locale,
            metadata: Value::Object(metadata).to_string(),
            created_at,
            event_id,
            event,
        }
    }

    /// The JSON the server answers a create with.
    pub fn json(&self) -> Vec<u8> {
        let metadata: &RawValue =
            serde_json::from_str(&self.metadata).expect("the metadata was written as JSON");
        serde_json::to_vec(&Conversation {
            id: &self.id,
            channel: self.channel.as_str(),
            external_user_id: self.external_user_id.as_deref(),
            locale: self.locale.as_deref(),
            metadata,
            status: "active",
            message_count: 0,
            created_at: Time(self.created_at),
            updated_at: Time(self.created_at),
            last_message_at: None,
        })
        .expect("the conversation serialises")
    }
}

/// An id as the server makes them: a type prefix and a lowercase ULID.
fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase())
}
