//! The assistant: turns a user's message into a reply and a trace, and reads what the message
//! says about the user as a lead.
//!
//! The answer is extractive (`compose`): sentences of the retrieved chunks, cited. When they do not
//! answer the question with enough confidence, or nothing was retrieved, the assistant says so,
//! with the `no_knowledge` policy flag and an offer of a human. It never invents an answer.

pub mod compose;
pub mod contact;
pub mod intent;
pub mod lead;

use crate::api::generated::{Citation, Intent, ModelTier, PolicyFlag, RetrievalHit};
use compose::Passage;
use contact::Contact;

/// Below this confidence the assistant does not answer but offers a human.
pub const MIN_CONFIDENCE: f64 = 0.35;

/// What the assistant says and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub text: String,
    pub citations: Vec<Citation>,
    pub confidence: f64,
    pub policy_flags: Vec<PolicyFlag>,
    /// The intent of the user's message.
    pub intent: Intent,
    /// The contact details in the user's message.
    pub contact: Contact,
    pub model_tier: ModelTier,
    pub retrieval: Vec<RetrievalHit>,
}

const NO_KNOWLEDGE: &str = "I don't have any information to answer that yet, so I won't guess. \
Would you like me to connect you with a person from our team?";

const NOT_SURE: &str = "I'm not sure I have the right answer to that, so I won't guess. \
Would you like me to connect you with a person from our team?";

/// Answers `question` from the passages retrieved for it (best first).
pub fn answer(question: &str, passages: &[Passage]) -> Reply {
    let intent = intent::classify(question);
    let contact = Contact::find(question);
    let composed = compose::compose(question, passages);
    match composed {
        Some(composed) if composed.confidence >= MIN_CONFIDENCE => Reply {
            text: composed.text,
            citations: composed.citations,
            confidence: composed.confidence,
            policy_flags: Vec::new(),
            intent,
            contact,
            model_tier: ModelTier::Extractive,
            retrieval: composed.retrieval,
        },
        weak => Reply {
            text: if passages.is_empty() {
                NO_KNOWLEDGE
            } else {
                NOT_SURE
            }
            .to_string(),
            citations: Vec::new(),
            confidence: weak.map_or(0.0, |composed| composed.confidence),
            policy_flags: vec![PolicyFlag::NoKnowledge],
            intent,
            contact,
            model_tier: ModelTier::Extractive,
            retrieval: compose::hits(passages),
        },
    }
}
