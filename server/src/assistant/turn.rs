//! What one turn of a conversation comes to once the assistant has its reply: whether the bot
//! speaks and what it says, whether the conversation goes to a person and why, and where the lead
//! stands. Pure, so that every case is tested on its own: the handler reads the conversation, calls
//! [`decide`] inside the transaction that records the exchange, and maps the decision to rows,
//! events and the wire.

use hoverbot_api::{EscalationReason, Priority};

use super::Reply;
use super::lead::Lead;

/// Low-confidence replies in a row that hand the conversation to a person.
pub const LOW_CONFIDENCE_RUN: i32 = 2;

/// The conversation as the turn finds it.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    /// A person handles it: the bot stays quiet.
    pub escalated: bool,
    pub lead: Lead,
    pub lead_qualified: bool,
    /// Low-confidence replies in a row before this turn.
    pub low_confidence_replies: i32,
}

/// What the workspace chose for turns.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// The lead score that qualifies a lead.
    pub lead_threshold: i32,
    /// A lead that qualifies is handed to sales.
    pub escalate_qualified_leads: bool,
}

/// What the bot says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Said {
    /// The reply, with its citations.
    Answer,
    /// The reply, then the handoff: a lead's question is still answered.
    AnswerThenHandoff,
    /// The handoff alone, without citations: the reply is not given.
    Handoff,
}

/// An escalation the assistant opens with its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub reason: EscalationReason,
    pub priority: Priority,
    /// For the person who takes it.
    pub note: &'static str,
}

/// What the turn comes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `None` while a person handles the conversation.
    pub said: Option<Said>,
    /// The lead after this message, its score, and whether it has qualified (now or before).
    pub lead: Lead,
    pub score: i32,
    pub qualified: bool,
    /// Low-confidence replies in a row after this turn.
    pub low_confidence_replies: i32,
    pub escalation: Option<Escalation>,
}

/// Decides the turn of `conversation` whose message the assistant answered with `reply`.
pub fn decide(conversation: Conversation, reply: &Reply, rules: Rules) -> Decision {
    let lead = conversation.lead.after(reply.intent, reply.contact.clone());
    let score = lead.score();
    let qualified = conversation.lead_qualified || score >= rules.lead_threshold;
    let answering = !conversation.escalated;
    let unsure_run = match (answering, reply.unsure) {
        (false, _) => conversation.low_confidence_replies,
        (true, true) => conversation.low_confidence_replies.saturating_add(1),
        (true, false) => 0,
    };
    let reason = if !answering {
        None
    } else if reply.human_requested() {
        Some(EscalationReason::UserRequested)
    } else if unsure_run >= LOW_CONFIDENCE_RUN {
        Some(EscalationReason::LowConfidence)
    } else if qualified && !conversation.lead_qualified && rules.escalate_qualified_leads {
        Some(EscalationReason::SalesOpportunity)
    } else {
        None
    };
    let said = answering.then_some(match reason {
        None => Said::Answer,
        Some(EscalationReason::SalesOpportunity) => Said::AnswerThenHandoff,
        Some(_) => Said::Handoff,
    });
    Decision {
        said,
        lead,
        score,
        qualified,
        low_confidence_replies: if reason.is_some() { 0 } else { unsure_run },
        escalation: reason.map(|reason| Escalation {
            reason,
            priority: match reason {
                EscalationReason::SalesOpportunity => Priority::High,
                _ => Priority::Normal,
            },
            note: note(reason),
        }),
    }
}

/// The note on an escalation the assistant opened, for the person who takes it.
fn note(reason: EscalationReason) -> &'static str {
    match reason {
        EscalationReason::UserRequested => "Opened by the assistant: the user asked for a person.",
        EscalationReason::LowConfidence => {
            "Opened by the assistant: it could not answer two questions in a row with confidence."
        }
        EscalationReason::SalesOpportunity => {
            "Opened by the assistant: the conversation qualified as a sales lead."
        }
        _ => "Opened by the assistant.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assistant::contact::Contact;
    use hoverbot_api::{Intent, ModelTier, PolicyFlag};

    const RULES: Rules = Rules {
        lead_threshold: 60,
        escalate_qualified_leads: true,
    };

    fn reply(intent: Intent, unsure: bool) -> Reply {
        Reply {
            text: "You can change the address until the order ships.".to_string(),
            citations: Vec::new(),
            confidence: if unsure { 0.1 } else { 0.9 },
            policy_flags: if intent == Intent::HumanRequest {
                vec![PolicyFlag::HumanRequested]
            } else {
                Vec::new()
            },
            intent,
            contact: Contact::default(),
            model_tier: ModelTier::Extractive,
            retrieval: Vec::new(),
            unsure,
            attempt: (!unsure).then_some(0),
        }
    }

    #[test]
    fn a_confident_answer_is_given_and_ends_a_run_of_unsure_ones() {
        let conversation = Conversation {
            low_confidence_replies: 1,
            ..Conversation::default()
        };
        let decision = decide(conversation, &reply(Intent::Other, false), RULES);
        assert_eq!(decision.said, Some(Said::Answer));
        assert_eq!(decision.low_confidence_replies, 0);
        assert_eq!(decision.escalation, None);
    }

    #[test]
    fn a_second_unsure_reply_in_a_row_hands_the_conversation_over() {
        let first = decide(Conversation::default(), &reply(Intent::Other, true), RULES);
        assert_eq!(
            first.said,
            Some(Said::Answer),
            "the offer of a human is the reply"
        );
        assert_eq!(first.low_confidence_replies, 1);
        assert_eq!(first.escalation, None);
        let second = decide(
            Conversation {
                low_confidence_replies: first.low_confidence_replies,
                ..Conversation::default()
            },
            &reply(Intent::Other, true),
            RULES,
        );
        assert_eq!(second.said, Some(Said::Handoff));
        assert_eq!(
            second.escalation.map(|escalation| escalation.reason),
            Some(EscalationReason::LowConfidence)
        );
        assert_eq!(second.low_confidence_replies, 0, "the run starts again");
    }

    #[test]
    fn a_request_for_a_person_is_handed_over_at_once_without_the_answer() {
        let decision = decide(
            Conversation::default(),
            &reply(Intent::HumanRequest, false),
            RULES,
        );
        assert_eq!(decision.said, Some(Said::Handoff));
        let escalation = decision.escalation.unwrap();
        assert_eq!(escalation.reason, EscalationReason::UserRequested);
        assert_eq!(escalation.priority, Priority::Normal);
    }

    #[test]
    fn a_lead_that_qualifies_is_answered_then_handed_to_sales_once() {
        let buyer = Conversation {
            lead: Lead {
                intent: Some(Intent::Purchase),
                contact: Contact {
                    email: Some("ana@example.com".to_string()),
                    ..Contact::default()
                },
                user_messages: 1,
            },
            ..Conversation::default()
        };
        let decision = decide(buyer.clone(), &reply(Intent::Pricing, false), RULES);
        assert!(decision.score >= RULES.lead_threshold, "{}", decision.score);
        assert!(decision.qualified);
        assert_eq!(decision.said, Some(Said::AnswerThenHandoff));
        let escalation = decision.escalation.unwrap();
        assert_eq!(escalation.reason, EscalationReason::SalesOpportunity);
        assert_eq!(escalation.priority, Priority::High);
        // Qualified before: no second handoff to sales.
        let again = decide(
            Conversation {
                lead_qualified: true,
                ..buyer.clone()
            },
            &reply(Intent::Pricing, false),
            RULES,
        );
        assert_eq!((again.said, again.escalation), (Some(Said::Answer), None));
        assert!(again.qualified);
        // A workspace that keeps its leads: qualified, answered, not handed over.
        let kept = decide(
            buyer,
            &reply(Intent::Pricing, false),
            Rules {
                escalate_qualified_leads: false,
                ..RULES
            },
        );
        assert!(kept.qualified);
        assert_eq!((kept.said, kept.escalation), (Some(Said::Answer), None));
    }

    #[test]
    fn while_a_person_handles_the_conversation_the_bot_is_quiet_and_the_lead_still_counts() {
        let conversation = Conversation {
            escalated: true,
            low_confidence_replies: 1,
            ..Conversation::default()
        };
        let decision = decide(conversation, &reply(Intent::HumanRequest, true), RULES);
        assert_eq!(decision.said, None);
        assert_eq!(decision.escalation, None);
        assert_eq!(
            decision.low_confidence_replies, 1,
            "the run is left as it was"
        );
        assert_eq!(decision.lead.user_messages, 1);
        assert_eq!(decision.lead.intent, Some(Intent::HumanRequest));
    }
}
