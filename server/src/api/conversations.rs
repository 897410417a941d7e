//! `/v1/conversations`: conversations, their messages, and transcripts with outcomes.

use std::time::Instant;

use chrono::{SecondsFormat, Utc};
use poem::http::StatusCode;

use poem_openapi::payload::Json;
use serde::{Deserialize, Serialize};

use super::{DEFAULT_ESCALATION_DESTINATION, HoverBot, RequestContext};
use crate::assistant::lead::Lead;
use crate::assistant::phrases::{Phrase, say};
use crate::assistant::turn::{self, Said};
use crate::assistant::{self, Setting, llm, policy};
use crate::ids;
use crate::knowledge::index;
use crate::knowledge::retrieved::Retrieved;
use crate::problem::{ApiError, Problem};
use crate::store::conversations::{self, Filter, LeadUpdate, NewConversation, NewMessage, Turn};
use crate::store::entity::{conversation, message};
use crate::store::escalations::NewEscalation;
use crate::store::events;
use crate::store::tenant::WorkspaceId;
use crate::store::{erasure, escalations, json, workspaces};
use crate::transcript_links::{self, Refused};
use hoverbot_api::{
    Conversation, ConversationList, ConversationStatus, ConversationTranscript, ConversationsApi,
    CreateConversationParams, CreateConversationRequest, CreateConversationResponse,
    CreateErasureRequest, DeleteConversationParams, DeleteConversationResponse, EraseEndUserParams,
    EraseEndUserResponse, Erasure, EscalationState, EscalationStateKind, EscalationStatus,
    GetConversationParams, GetConversationResponse, GetSharedTranscriptParams,
    GetSharedTranscriptResponse, Intent, LeadQualifiedData, ListConversationsParams,
    ListConversationsResponse, Message, MessageExchange, MessageRespondedData, MessageRole,
    Metadata, ModelTier, Outcomes, SendMessageParams, SendMessageRequest, SendMessageResponse,
    Trace,
};

/// Chunks retrieved for a question.
const RETRIEVED: usize = 5;

/// The trace as stored with an assistant message.
#[derive(Serialize, Deserialize)]
struct StoredTrace {
    confidence: f64,
}

pub(super) fn conversation_to_wire(row: conversation::Model) -> Result<Conversation, ApiError> {
    Ok(Conversation {
        id: row.id,
        channel: row.channel,
        external_user_id: row.external_user_id,
        locale: row.locale,
        metadata: json::decode(&row.metadata)?,
        status: row.status,
        message_count: row.message_count,
        created_at: row.created_at,
        updated_at: row.updated_at,
        last_message_at: row.last_message_at,
    })
}

fn message_to_wire(row: message::Model) -> Result<Message, ApiError> {
    Ok(Message {
        id: row.id,
        conversation_id: row.conversation_id,
        role: row.role,
        text: row.text,
        channel: row.channel,
        locale: row.locale,
        metadata: json::decode(&row.metadata)?,
        citations: json::decode::<Vec<StoredCitation>>(&row.citations)?
            .into_iter()
            .map(Into::into)
            .collect(),
        created_at: row.created_at,
    })
}

/// A citation as stored (the wire type is not serde).
#[derive(Serialize, Deserialize)]
struct StoredCitation {
    source_id: String,
    url: Option<String>,
    title: String,
    snippet: String,
}

impl From<StoredCitation> for hoverbot_api::Citation {
    fn from(stored: StoredCitation) -> Self {
        Self {
            source_id: stored.source_id,
            url: stored.url,
            title: stored.title,
            snippet: stored.snippet,
        }
    }
}

impl From<&hoverbot_api::Citation> for StoredCitation {
    fn from(citation: &hoverbot_api::Citation) -> Self {
        Self {
            source_id: citation.source_id.clone(),
            url: citation.url.clone(),
            title: citation.title.clone(),
            snippet: citation.snippet.clone(),
        }
    }
}

impl ConversationsApi for HoverBot {
    async fn list_conversations(
        &self,
        ctx: RequestContext,
        params: ListConversationsParams,
    ) -> poem::Result<ListConversationsResponse> {
        let filter = Filter {
            external_user_id: params.external_user_id,
            status: params.status,
        };
        let page = conversations::list(
            &self.db,
            &ctx.principal.workspace,
            filter,
            params.limit,
            params.cursor.as_deref(),
        )
        .await?;
        let has_more = page.has_more();
        let page = page.try_map(conversation_to_wire)?;
        Ok(ListConversationsResponse::Ok(Json(ConversationList {
            data: page.items,
            has_more,
            next_cursor: page.next_cursor,
        })))
    }

    async fn create_conversation(
        &self,
        ctx: RequestContext,
        _params: CreateConversationParams,
        body: CreateConversationRequest,
    ) -> poem::Result<CreateConversationResponse> {
        let new = NewConversation {
            channel: body.channel,
            external_user_id: body.external_user_id,
            locale: body.locale,
            metadata: json::encode(&body.metadata.unwrap_or_default())?,
        };
        let row =
            conversations::create(&self.db, &self.outbox, &ctx.principal.workspace, new).await?;
        Ok(CreateConversationResponse::Created(Json(
            conversation_to_wire(row)?,
        )))
    }

    async fn get_conversation(
        &self,
        ctx: RequestContext,
        params: GetConversationParams,
    ) -> poem::Result<GetConversationResponse> {
        let transcript = self
            .transcript(&ctx.principal.workspace, &params.conversation_id)
            .await?;
        Ok(GetConversationResponse::Ok(Json(transcript)))
    }

    async fn delete_conversation(
        &self,
        ctx: RequestContext,
        params: DeleteConversationParams,
    ) -> poem::Result<DeleteConversationResponse> {
        erasure::delete(
            &self.db,
            &self.outbox,
            &ctx.principal.workspace,
            &params.conversation_id,
        )
        .await?;
        Ok(DeleteConversationResponse::NoContent)
    }

    async fn erase_end_user(
        &self,
        ctx: RequestContext,
        _params: EraseEndUserParams,
        body: CreateErasureRequest,
    ) -> poem::Result<EraseEndUserResponse> {
        let erased = erasure::erase(
            &self.db,
            &self.outbox,
            &ctx.principal.workspace,
            &body.external_user_id,
        )
        .await?;
        Ok(EraseEndUserResponse::Ok(Json(Erasure {
            conversations_deleted: i32::try_from(erased).unwrap_or(i32::MAX),
            erased_at: Utc::now(),
        })))
    }

    async fn get_shared_transcript(
        &self,
        params: GetSharedTranscriptParams,
    ) -> poem::Result<GetSharedTranscriptResponse> {
        let opened = self
            .links
            .open(&params.transcript_token, Utc::now())
            .map_err(|refused| match refused {
                Refused::Invalid => Problem::not_found("the transcript link"),
                Refused::Expired(at) => Problem::new(
                    StatusCode::GONE,
                    "link_expired",
                    format!(
                        "this transcript link expired at {}; links are valid for {} days",
                        at.to_rfc3339_opts(SecondsFormat::Secs, true),
                        transcript_links::LIFETIME.num_days()
                    ),
                ),
            })?;
        let transcript = self
            .transcript(&opened.workspace, &opened.conversation_id)
            .await?;
        Ok(GetSharedTranscriptResponse::Ok(Json(transcript)))
    }

    async fn send_message(
        &self,
        ctx: RequestContext,
        params: SendMessageParams,
        body: SendMessageRequest,
    ) -> poem::Result<SendMessageResponse> {
        let started = Instant::now();
        let workspace = &ctx.principal.workspace;
        let _turn = self.turns.take(workspace, &params.conversation_id).await;
        let settings = workspaces::assistant_settings(&self.db, workspace).await?;
        let threshold = settings
            .lead_qualification_threshold
            .unwrap_or(self.lead_qualification_threshold);
        let conversation =
            conversations::get_or_404(&self.db, workspace, &params.conversation_id).await?;
        let previous = conversations::last_user_text(&self.db, workspace, &conversation.id).await?;
        let metadata: Metadata = body.metadata.unwrap_or_default();
        let channel = body.channel;
        let locale = body.locale.clone();
        let answer_locale = locale.clone().or(conversation.locale);
        // Card numbers never reach the database, the index or the answer.
        let screened = policy::screen(&body.text);
        let text = screened.text.clone();
        let query = assistant::query_of(&text);
        let passages = self.retrieve(workspace, &query).await?;
        let previous_query = previous.as_deref().map(assistant::query_of);
        let follow_up = assistant::follow_up_query(&query, previous_query.as_deref());
        let followed = match &follow_up {
            Some(query) => self.retrieve(workspace, query).await?,
            None => Retrieved::default(),
        };
        let mut attempts: Vec<(&str, &Retrieved)> = vec![(&query, &passages)];
        if let Some(query) = &follow_up {
            attempts.push((query, &followed));
        }
        let setting = Setting {
            locale: answer_locale.as_deref(),
            min_confidence: settings
                .confidence_threshold_milli
                .map_or(assistant::MIN_CONFIDENCE, |milli| f64::from(milli) / 1000.0),
            embedder: self.knowledge.embedder(),
        };
        let mut reply = assistant::answer(&screened, &attempts, setting);
        let trace_id = ids::new(ids::TRACE);
        let mut model_fallback = None;
        // The model phrases answers the bot gives itself, not the handoff that replaces them.
        if let (Some(model), Some(attempt)) = (&self.language_model, reply.attempt)
            && conversation.status != ConversationStatus::Escalated
            && !reply.human_requested()
        {
            let question = llm::Question {
                text: &text,
                earlier: if attempt > 0 {
                    previous.as_deref()
                } else {
                    None
                },
                locale: setting.locale,
            };
            model_fallback = model
                .rephrase(&mut reply, &question, &attempts[attempt].1.passages)
                .await;
            if let Some(fallback) = &model_fallback {
                tracing::warn!(
                    trace_id = %trace_id,
                    reason = %fallback.reason,
                    detail = %fallback.detail,
                    "the language model's answer was not used; the extractive answer was given"
                );
            }
        }
        let handoff = say(Phrase::Handoff, setting.locale);
        let destination = settings
            .escalation_destination
            .clone()
            .unwrap_or_else(|| DEFAULT_ESCALATION_DESTINATION.to_string());
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let stored_citations: Vec<StoredCitation> =
            reply.citations.iter().map(Into::into).collect();
        let citations_json = json::encode(&stored_citations)?;
        let trace_json = json::encode(&StoredTrace {
            confidence: reply.confidence,
        })?;
        let metadata_json = json::encode(&metadata)?;
        let empty_metadata = json::encode(&Metadata::new())?;
        let user = NewMessage {
            role: MessageRole::User,
            text: text.clone(),
            channel,
            locale: locale.clone(),
            metadata: metadata_json,
            citations: "[]".to_string(),
            trace: None,
        };
        let rules = turn::Rules {
            lead_threshold: threshold,
            escalate_qualified_leads: settings.escalate_qualified_leads,
        };
        let exchange = conversations::record_exchange(
            &self.db,
            &self.outbox,
            workspace,
            &params.conversation_id,
            user,
            |conversation| {
                let decision = turn::decide(
                    turn::Conversation {
                        escalated: conversation.status == ConversationStatus::Escalated,
                        lead: lead_of(conversation)?,
                        lead_qualified: conversation.lead_qualified,
                        low_confidence_replies: conversation.low_confidence_replies,
                    },
                    &reply,
                    rules,
                );
                let message = decision.said.map(|said| {
                    let (text, citations) = match said {
                        Said::Answer => (reply.text.clone(), citations_json),
                        Said::AnswerThenHandoff => {
                            (format!("{} {handoff}", reply.text), citations_json)
                        }
                        Said::Handoff => (handoff.to_string(), "[]".to_string()),
                    };
                    NewMessage {
                        role: MessageRole::Assistant,
                        text,
                        channel,
                        locale: locale.clone().or_else(|| conversation.locale.clone()),
                        metadata: empty_metadata,
                        citations,
                        trace: Some(trace_json),
                    }
                });
                Ok(Turn {
                    reply: message,
                    lead: LeadUpdate {
                        score: decision.score,
                        intent: decision.lead.intent,
                        contact_fields: json::encode(&decision.lead.contact)?,
                        qualified: decision.qualified,
                    },
                    low_confidence_replies: decision.low_confidence_replies,
                    escalate: decision.escalation.map(|escalation| NewEscalation {
                        conversation_id: conversation.id.clone(),
                        reason_code: escalation.reason,
                        destination,
                        owner: None,
                        priority: escalation.priority,
                        note: Some(escalation.note.to_string()),
                        metadata: "{}".to_string(),
                    }),
                })
            },
            |change| {
                let mut events = Vec::new();
                if let Some(answer) = change.reply {
                    events.push(events::message_responded(
                        workspace.as_str(),
                        answer.created_at,
                        MessageRespondedData {
                            conversation_id: change.after.id.clone(),
                            message_id: answer.id.clone(),
                            reply_to_message_id: change.user.id.clone(),
                            latency_ms,
                            model_tier: reply.model_tier,
                            confidence: reply.confidence,
                            policy_flags: reply.policy_flags.clone(),
                            intent: reply.intent,
                            lead_score: change.after.lead_score,
                            escalated: change.after.status == ConversationStatus::Escalated,
                        },
                    ));
                }
                if change.after.lead_qualified && !change.before.lead_qualified {
                    let lead = lead_of(change.after)?;
                    events.push(events::lead_qualified(
                        workspace.as_str(),
                        change.user.created_at,
                        LeadQualifiedData {
                            conversation_id: change.after.id.clone(),
                            lead_score: change.after.lead_score,
                            intent: lead.intent.unwrap_or(Intent::Other),
                            contact_fields: lead.contact.into(),
                            transcript_url: self.links.issue(
                                workspace.as_str(),
                                &change.after.id,
                                change.user.created_at,
                            ),
                        },
                    ));
                }
                Ok(events)
            },
        )
        .await?;
        let answered = exchange.reply.is_some();
        let trace = Trace {
            trace_id,
            latency_ms,
            model_tier: if answered {
                reply.model_tier
            } else {
                ModelTier::None
            },
            confidence: if answered { reply.confidence } else { 0.0 },
            // The flags describe the user's message, answered or not.
            policy_flags: reply.policy_flags,
            intent: reply.intent,
            lead_score: exchange.conversation.lead_score,
            retrieval: if answered {
                reply.retrieval
            } else {
                Vec::new()
            },
            escalated: exchange.conversation.status == ConversationStatus::Escalated,
            model_fallback: model_fallback
                .filter(|_| answered)
                .map(|fallback| fallback.traced()),
        };
        Ok(SendMessageResponse::Created(Json(MessageExchange {
            user_message: message_to_wire(exchange.user)?,
            assistant_message: exchange.reply.map(message_to_wire).transpose()?,
            trace,
        })))
    }
}

/// What the conversation has shown about its user as a lead.
fn lead_of(row: &conversation::Model) -> Result<Lead, ApiError> {
    Ok(Lead {
        intent: row.intent,
        contact: json::decode(&row.contact_fields)?,
        user_messages: row.user_message_count,
    })
}

impl HoverBot {
    /// The workspace's chunks that best match `question`, best first.
    async fn retrieve(
        &self,
        workspace: &WorkspaceId,
        question: &str,
    ) -> Result<Retrieved, ApiError> {
        Ok(index::retrieve(&self.db, &self.knowledge, workspace, question, RETRIEVED).await?)
    }

    /// The conversation with its messages, outcomes and escalation state.
    async fn transcript(
        &self,
        workspace: &WorkspaceId,
        conversation_id: &str,
    ) -> Result<ConversationTranscript, ApiError> {
        let row = conversations::get_or_404(&self.db, workspace, conversation_id).await?;
        let messages = conversations::messages(&self.db, workspace, &row.id).await?;
        let escalation = match &row.escalation_id {
            Some(id) => escalations::get(&self.db, workspace, id).await?,
            None => None,
        };
        let escalation = match escalation {
            Some(escalation) => EscalationState {
                state: match escalation.status {
                    EscalationStatus::Open => EscalationStateKind::Open,
                    EscalationStatus::Assigned => EscalationStateKind::Assigned,
                    EscalationStatus::Resolved => EscalationStateKind::Resolved,
                },
                escalation_id: Some(escalation.id),
                destination: Some(escalation.destination),
                owner: escalation.owner,
                priority: Some(escalation.priority),
            },
            None => EscalationState {
                state: EscalationStateKind::None,
                escalation_id: None,
                destination: None,
                owner: None,
                priority: None,
            },
        };
        let lead = lead_of(&row)?;
        let outcomes = Outcomes {
            resolved: row.resolved,
            escalated: row.escalation_id.is_some(),
            lead_qualified: row.lead_qualified,
            lead_score: row.lead_score,
            intent: lead.intent,
            contact_fields: lead.contact.into(),
        };
        let messages = messages
            .into_iter()
            .map(message_to_wire)
            .collect::<Result<_, _>>()?;
        Ok(ConversationTranscript {
            conversation: conversation_to_wire(row)?,
            messages,
            outcomes,
            escalation,
        })
    }
}
