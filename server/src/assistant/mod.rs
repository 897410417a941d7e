//! The assistant: turns a user's message into a reply and a trace, and reads what the message
//! says about the user as a lead.
//!
//! Until knowledge retrieval exists, the engine has nothing to answer from, and says so: confidence
//! 0, the `no_knowledge` policy flag, and an offer of a human. It never invents an answer.

pub mod contact;
pub mod intent;
pub mod lead;

use crate::api::generated::{Citation, Intent, ModelTier, PolicyFlag, RetrievalHit};
use contact::Contact;

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

/// Answers `question` from what the workspace knows (nothing, for now).
pub fn answer(question: &str) -> Reply {
    Reply {
        text: NO_KNOWLEDGE.to_string(),
        citations: Vec::new(),
        confidence: 0.0,
        policy_flags: vec![PolicyFlag::NoKnowledge],
        intent: intent::classify(question),
        contact: Contact::find(question),
        model_tier: ModelTier::Extractive,
        retrieval: Vec::new(),
    }
}
