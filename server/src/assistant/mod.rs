//! The assistant: turns a user's message into a reply and a trace, and reads what the message
//! says about the user as a lead.
//!
//! The answer is extractive (`compose`): sentences of the retrieved chunks, cited. When they do not
//! answer the question with the workspace's confidence, or nothing was retrieved, the assistant
//! says so, with the `no_knowledge` policy flag and an offer of a human. It never invents an
//! answer. A configured language model (`llm`) may then phrase an answer found this way, from the
//! same passages. `policy` raises the other flags and masks card numbers; `phrases` holds what the
//! assistant says in its own words, per language.

pub mod compose;
pub mod contact;
pub mod intent;
pub mod lead;
pub mod llm;
pub mod phrases;
pub mod policy;
pub mod turn;

use crate::embedding::Embedder;
use crate::knowledge::retrieved::{Passage, Retrieved};
use contact::Contact;
use hoverbot_api::{Citation, Intent, ModelTier, PolicyFlag, RetrievalHit};
use phrases::{Phrase, say};
use policy::Screened;

/// The confidence below which the assistant does not answer but offers a human, for workspaces
/// that did not choose their own (see BENCHMARKS.md for how it was calibrated).
pub const MIN_CONFIDENCE: f64 = 0.45;

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
    /// The reply is an offer of a human for want of an answer (the low-confidence run counts it).
    pub unsure: bool,
    /// Which of the attempts given to `answer` the answer is drawn from; `None` when the reply
    /// is not an answer from the knowledge.
    pub attempt: Option<usize>,
}

impl Reply {
    pub fn human_requested(&self) -> bool {
        self.policy_flags.contains(&PolicyFlag::HumanRequested)
    }
}

/// How the conversation and workspace shape an answer.
#[derive(Debug, Clone, Copy)]
pub struct Setting<'a> {
    pub locale: Option<&'a str>,
    pub min_confidence: f64,
    /// The model that embedded the knowledge (and embeds the message and the candidate sentences).
    pub embedder: &'a Embedder,
}

/// Answers a user's message. `attempts` are the queries retrieved for (the message, then its
/// follow-up query if it has one) with what was retrieved; the most confident answer wins.
pub fn answer(message: &Screened, attempts: &[(&str, &Retrieved)], setting: Setting<'_>) -> Reply {
    let intent = intent::classify(&message.text, setting.embedder);
    let contact = Contact::find(&message.text);
    let mut policy_flags = message.flags.clone();
    if intent == Intent::HumanRequest {
        policy_flags.push(PolicyFlag::HumanRequested);
    }
    let mut passages: &[Passage] = attempts
        .first()
        .map_or(&[], |(_, retrieved)| &retrieved.passages);
    let mut composed: Option<compose::Composed> = None;
    let mut attempt = 0;
    for (i, (query, retrieved)) in attempts.iter().enumerate() {
        let candidate = compose::compose(query, retrieved, setting.embedder);
        let better = match (&candidate, &composed) {
            (Some(candidate), Some(best)) => candidate.confidence > best.confidence,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if better {
            composed = candidate;
            passages = &retrieved.passages;
            attempt = i;
        }
    }
    match composed {
        Some(composed) if composed.confidence >= setting.min_confidence => Reply {
            text: composed.text,
            citations: composed.citations,
            confidence: composed.confidence,
            policy_flags,
            intent,
            contact,
            model_tier: ModelTier::Extractive,
            retrieval: composed.retrieval,
            unsure: false,
            attempt: Some(attempt),
        },
        weak => {
            let confidence = weak.map_or(0.0, |composed| composed.confidence);
            // A greeting or a request for a person is not a question the knowledge failed.
            let (text, unsure) = match intent {
                Intent::Greeting => (say(Phrase::Greeting, setting.locale), false),
                Intent::HumanRequest => (say(Phrase::Handoff, setting.locale), false),
                _ if passages.is_empty() => (say(Phrase::NoKnowledge, setting.locale), true),
                _ => (say(Phrase::NotSure, setting.locale), true),
            };
            if unsure {
                policy_flags.push(PolicyFlag::NoKnowledge);
            }
            Reply {
                text: text.to_string(),
                citations: Vec::new(),
                confidence,
                policy_flags,
                intent,
                contact,
                model_tier: ModelTier::Extractive,
                retrieval: compose::hits(passages),
                unsure,
                attempt: None,
            }
        }
    }
}

/// What retrieval looks for in a user's message: its text without the contact details in it. A
/// name, a company or an email address says nothing of what is asked, and would weigh on an
/// answer's coverage as the rarest words of the question.
pub fn query_of(text: &str) -> String {
    Contact::removed_from(text)
}

/// Words that point back at an earlier turn ("how long does *that* take?").
const BACK_REFERENCES: &[&str] = &[
    "that", "it", "this", "those", "these", "they", "them", "its", "there", "same", "one",
];
/// Openings of a question that continues the one before.
const CONTINUATIONS: &[&str] = &["and", "also", "what about", "how about", "then", "so"];
/// A follow-up is short; a long question stands on its own.
const MAX_FOLLOW_UP_WORDS: usize = 12;

/// The query to retrieve with when `question` follows up `previous` (the user's message before
/// it): both together, so that "and how long does that take?" finds what "that" was. `None` when
/// the question stands on its own.
pub fn follow_up_query(question: &str, previous: Option<&str>) -> Option<String> {
    let previous = previous?;
    let lower = question.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|word| !word.is_empty())
        .collect();
    if words.is_empty() || words.len() > MAX_FOLLOW_UP_WORDS {
        return None;
    }
    let continues = CONTINUATIONS.iter().any(|opening| {
        lower.trim_start().starts_with(opening)
            && lower
                .trim_start()
                .get(opening.len()..)
                .is_some_and(|rest| rest.starts_with(|c: char| !c.is_alphanumeric()))
    });
    let refers_back = words.iter().any(|word| BACK_REFERENCES.contains(word));
    (continues || refers_back).then(|| format!("{previous} {question}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_ups_carry_the_previous_question() {
        let previous = Some("Can I change my shipping address?");
        assert_eq!(
            follow_up_query("and how long does that take?", previous).as_deref(),
            Some("Can I change my shipping address? and how long does that take?")
        );
        assert!(follow_up_query("What about returns?", previous).is_some());
        assert!(follow_up_query("Is it free?", previous).is_some());
        assert_eq!(
            follow_up_query("Which payment methods do you accept?", previous),
            None
        );
        assert_eq!(follow_up_query("Andorra shipping rates?", previous), None);
        assert_eq!(follow_up_query("and how long does that take?", None), None);
    }

    #[test]
    fn contact_details_are_not_searched_for() {
        let query =
            query_of("I'm Ana Lima, I work at Acme Corp: ana@acme.example. Can I book a demo?");
        assert!(!query.contains("Ana") && !query.contains("Acme") && !query.contains('@'));
        assert!(query.contains("Can I book a demo?"), "{query}");
        assert_eq!(query_of("Can I book a demo?"), "Can I book a demo?");
    }

    #[test]
    fn greetings_and_requests_for_a_person_are_not_counted_as_unsure() {
        let model = Embedder::default_model();
        let setting = Setting {
            locale: Some("de"),
            min_confidence: MIN_CONFIDENCE,
            embedder: &model,
        };
        let nothing = Retrieved::default();
        let ask = |text: &str| answer(&policy::screen(text), &[(text, &nothing)], setting);
        let hello = ask("Hello!");
        assert!(!hello.unsure);
        assert_eq!(hello.text, say(Phrase::Greeting, Some("de")));
        let person = ask("Can I talk to a human please?");
        assert!(person.human_requested() && !person.unsure);
        let unknown = ask("What is the capital of Australia?");
        assert!(unknown.unsure);
        assert_eq!(unknown.policy_flags, vec![PolicyFlag::NoKnowledge]);
        assert_eq!(unknown.text, say(Phrase::NoKnowledge, Some("de")));
    }
}
