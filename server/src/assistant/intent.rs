//! What the user wants from one message, read from its meaning. The message is embedded and
//! compared with labelled exemplars (`exemplars.yaml`: hundreds of messages in customers' words,
//! among them innocent uses of every cue word and declined requests, labelled with what they
//! really ask); the intents of its nearest exemplars vote, weighed by how near they are. Cue
//! phrases ([`CUES`]) only support the vote, and decide alone when nothing is near (a language
//! the model does not read). A request for a person needs more than a word: it must be nearest to
//! requests, and not negated ("no need to talk to anyone, just tell me ...").

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use rust_stemmers::{Algorithm, Stemmer};
use serde::Deserialize;

use crate::embedding::{self, Embedder, Vector};
use hoverbot_api::Intent;

/// The labelled exemplars, compiled in.
const EXEMPLARS: &str = include_str!("exemplars.yaml");
/// How many nearest exemplars vote.
const NEIGHBOURS: usize = 7;
/// Below this cosine the nearest exemplar says nothing of the message: the cues decide.
const MIN_NEAR: f32 = 0.45;
/// What a cue phrase adds to its intent's vote (a vote sums the neighbours' cosines, up to
/// `NEIGHBOURS`): support, never enough alone to outvote the neighbours.
const CUE_SUPPORT: f32 = 0.25;

/// Each intent's cue phrases, which support the neighbours' vote. A phrase of several words counts more than a single word, which
/// is more often ambiguous; a greeting counts least, so that "hi, how much is it?" is `pricing`.
const CUES: &[(Intent, &[&str])] = &[
    (
        Intent::HumanRequest,
        &[
            "talk to a human",
            "speak to a human",
            "talk to a person",
            "speak to a person",
            "speak with a person",
            "talk to someone",
            "speak to someone",
            "speak with someone",
            "real person",
            "human agent",
            "live agent",
            "talk to an agent",
            "speak to an agent",
            "representative",
            "operator",
        ],
    ),
    (
        Intent::Cancellation,
        &[
            "cancel",
            "cancellation",
            "unsubscribe",
            "close my account",
            "delete my account",
            "terminate",
            "stop my subscription",
        ],
    ),
    (
        Intent::DemoRequest,
        &[
            "demo",
            "demonstration",
            "walkthrough",
            "product tour",
            "book a call",
            "schedule a call",
            "book a meeting",
            "schedule a meeting",
            "see it in action",
            "free trial",
            "trial",
            "talk to sales",
            "contact sales",
            "sales team",
        ],
    ),
    (
        Intent::Purchase,
        &[
            "buy",
            "purchase",
            "place an order",
            "want to order",
            "sign up",
            "subscribe",
            "upgrade",
            "get a quote",
            "quote",
            "license",
            "licence",
            "seats",
            "checkout",
        ],
    ),
    (
        Intent::Pricing,
        &[
            "price",
            "pricing",
            "cost",
            "how much",
            "plan",
            "fee",
            "discount",
            "expensive",
            "cheap",
            "per month",
            "per user",
            "tier",
        ],
    ),
    (
        Intent::Billing,
        &[
            "invoice",
            "billing",
            "billed",
            "charge",
            "payment",
            "pay",
            "credit card",
            "receipt",
            "vat",
        ],
    ),
    (
        Intent::Returns,
        &[
            "return",
            "refund",
            "exchange",
            "send back",
            "money back",
            "damaged",
            "wrong item",
        ],
    ),
    (
        Intent::Shipping,
        &[
            "shipping", "ship", "delivery", "deliver", "tracking", "track", "courier", "parcel",
            "package", "arrive", "dispatch",
        ],
    ),
    (
        Intent::Account,
        &[
            "account",
            "password",
            "log in",
            "login",
            "sign in",
            "username",
            "profile",
            "two factor",
            "2fa",
        ],
    ),
    (
        Intent::Support,
        &[
            "not working",
            "doesn't work",
            "does not work",
            "broken",
            "error",
            "bug",
            "problem",
            "issue",
            "crash",
            "trouble",
            "help",
        ],
    ),
    (
        Intent::Greeting,
        &[
            "hi",
            "hello",
            "hey",
            "good morning",
            "good afternoon",
            "good evening",
            "greetings",
        ],
    ),
];

/// The intent of one message.
pub fn classify(text: &str, embedder: &Embedder) -> Intent {
    Classifier::for_model(embedder).classify(text, embedder)
}

#[derive(Deserialize)]
struct Exemplar {
    text: String,
    intent: String,
}

/// The exemplars embedded by one model.
struct Classifier {
    exemplars: Vec<(Intent, Vector)>,
}

impl Classifier {
    /// The classifier of `embedder`'s vectors, embedded once per model and process (outside the
    /// lock: embedding the exemplars takes milliseconds that no other message should wait for).
    fn for_model(embedder: &Embedder) -> Arc<Classifier> {
        static BY_MODEL: LazyLock<Mutex<HashMap<String, Arc<Classifier>>>> =
            LazyLock::new(Default::default);
        let known =
            |by_model: &HashMap<String, Arc<Classifier>>| by_model.get(embedder.id()).cloned();
        if let Some(classifier) = known(&BY_MODEL.lock().expect("the classifiers are not poisoned"))
        {
            return classifier;
        }
        let built = Arc::new(Classifier::new(embedder));
        BY_MODEL
            .lock()
            .expect("the classifiers are not poisoned")
            .entry(embedder.id().to_string())
            .or_insert(built)
            .clone()
    }

    fn new(embedder: &Embedder) -> Self {
        let exemplars: Vec<Exemplar> =
            serde_yaml_ng::from_str(EXEMPLARS).expect("exemplars.yaml is a list of exemplars");
        let exemplars = exemplars
            .into_iter()
            .map(|exemplar| {
                let intent: Intent = exemplar.intent.parse().unwrap_or_else(|_| {
                    panic!("exemplars.yaml: unknown intent `{}`", exemplar.intent)
                });
                (intent, embedder.embed(&exemplar.text))
            })
            .collect();
        Self { exemplars }
    }

    fn classify(&self, text: &str, embedder: &Embedder) -> Intent {
        // "Hi, how much is it?" asks the price: a greeting before a message is not its intent.
        let text = after_greeting(text).unwrap_or(text);
        let meaning = embedder.embed(text);
        let mut near: Vec<(f32, Intent)> = self
            .exemplars
            .iter()
            .map(|(intent, vector)| (embedding::cosine(&meaning, vector), *intent))
            .collect();
        let k = NEIGHBOURS.min(near.len());
        if k == 0 {
            return cued(text).0;
        }
        near.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        near.truncate(k);
        let nearest = near.iter().map(|(cosine, _)| *cosine).fold(0.0, f32::max);
        if nearest < MIN_NEAR {
            return cued(text).0;
        }
        let mut votes: HashMap<Intent, f32> = HashMap::new();
        for (cosine, intent) in &near {
            *votes.entry(*intent).or_default() += cosine;
        }
        let (cue, _) = cued(text);
        if cue != Intent::Other {
            *votes.entry(cue).or_default() += CUE_SUPPORT;
        }
        if negated(text) || asks_about(text) {
            votes.remove(&Intent::HumanRequest);
        }
        // Ties go to the intent listed first in `CUES`, the one that needs a person soonest.
        let order = |intent: &Intent| {
            CUES.iter()
                .position(|(cued, _)| cued == intent)
                .unwrap_or(CUES.len())
        };
        votes
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(order(&b.0).cmp(&order(&a.0))))
            .map_or(Intent::Other, |(intent, _)| intent)
    }
}

/// The intent whose cue phrases weigh most in `text`, and their weight (`Other`, 0 without any).
fn cued(text: &str) -> (Intent, usize) {
    static STEMMED: LazyLock<Vec<(Intent, Vec<Vec<String>>)>> = LazyLock::new(|| {
        CUES.iter()
            .map(|(intent, phrases)| (*intent, phrases.iter().map(|p| stems(p)).collect()))
            .collect()
    });
    let words = stems(text);
    let mut best = (Intent::Other, 0);
    for (intent, phrases) in STEMMED.iter() {
        let weight: usize = phrases
            .iter()
            .filter(|phrase| contains(&words, phrase))
            .map(|phrase| cue_weight(*intent, phrase.len()))
            .sum();
        // Strictly greater: on a tie the intent listed first keeps its place.
        if weight > best.1 {
            best = (*intent, weight);
        }
    }
    best
}

/// What follows a greeting that opens a message ("Hi there, how much is it?"), if anything does.
fn after_greeting(text: &str) -> Option<&str> {
    let trimmed = text.trim_start();
    let lower = trimmed.to_lowercase();
    let greeting = GREETINGS
        .iter()
        .filter(|greeting| {
            lower.starts_with(*greeting)
                && !lower[greeting.len()..].starts_with(|c: char| c.is_alphanumeric())
        })
        .max_by_key(|greeting| greeting.len())?;
    let mut rest = &trimmed[greeting.len()..];
    for word in ["there", "team", "all", "folks", "guys"] {
        if rest.trim_start().to_lowercase().starts_with(word) {
            rest = &rest.trim_start()[word.len()..];
        }
    }
    let rest = rest.trim_start_matches(|c: char| !c.is_alphanumeric());
    (rest.split_whitespace().count() >= 2).then_some(rest)
}

/// Greetings that may open a message.
const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "good morning",
    "good afternoon",
    "good evening",
    "greetings",
    "dear",
    "bonjour",
    "hallo",
    "hola",
    "ciao",
    "olá",
    "ola",
];

/// Openings of a question about someone or something ("Who is the EU representative …?",
/// "What does the operator `->>` return?"): it asks for a fact, not for a person to talk to.
const ASKING_ABOUT: &[&str] = &[
    "who is",
    "who's",
    "who are",
    "what is",
    "what's",
    "what are",
    "what does",
    "which",
    "is the",
    "are the",
    "does the",
    "do the",
];

/// Whether the message is one question about someone or something, rather than a request.
fn asks_about(text: &str) -> bool {
    let lower = text.trim().to_lowercase().replace('’', "'");
    let clauses = lower
        .split(['.', ',', ';', '!', '?'])
        .filter(|clause| !clause.trim().is_empty())
        .count();
    clauses == 1
        && ASKING_ABOUT.iter().any(|opening| {
            lower.starts_with(opening)
                && !lower[opening.len()..].starts_with(|c: char| c.is_alphanumeric())
        })
}

/// Words that decline what follows them.
const NEGATIONS: &[&str] = &[
    "no", "not", "don't", "dont", "never", "without", "nobody", "rather", "instead",
];
/// Words of a request for a person that a negation may decline.
const PERSON_WORDS: &[&str] = &[
    "human",
    "person",
    "people",
    "someone",
    "somebody",
    "anyone",
    "anybody",
    "agent",
    "representative",
    "rep",
    "operator",
    "staff",
    "manager",
    "supervisor",
    "talk",
    "speak",
    "call",
    "phone",
    "transfer",
    "connect",
    "escalate",
    "team",
];
/// How many words after a negation it reaches.
const NEGATION_REACH: usize = 5;

/// Whether the message declines to be put in touch with a person ("no need to talk to anyone",
/// "I don't want an agent, just ...").
fn negated(text: &str) -> bool {
    let words: Vec<String> = text
        .to_lowercase()
        .replace('’', "'")
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect();
    words.iter().enumerate().any(|(i, word)| {
        let negation = NEGATIONS.contains(&word.as_str())
            || word.ends_with("n't") && word != "can't" && word != "won't";
        negation
            && words[i + 1..]
                .iter()
                .take(NEGATION_REACH)
                .any(|next| PERSON_WORDS.contains(&next.as_str()))
    })
}

fn cue_weight(intent: Intent, words: usize) -> usize {
    match (intent, words) {
        (Intent::Greeting, _) => 1,
        (_, 1) => 2,
        _ => 3,
    }
}

fn contains(words: &[String], phrase: &[String]) -> bool {
    !phrase.is_empty() && words.windows(phrase.len()).any(|window| window == phrase)
}

/// Lower-cased words reduced to their English (Snowball) stems, so that "shipped", "shipping"
/// and "ships" meet "ship". Apostrophes stay inside words ("doesn't").
fn stems(text: &str) -> Vec<String> {
    static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));
    text.to_lowercase()
        .replace('’', "'")
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|word| word.trim_matches('\''))
        .filter(|word| !word.is_empty())
        .map(|word| STEMMER.stem(word).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_intent_from_a_typical_message() {
        let cases = [
            ("Can I change my shipping address?", Intent::Shipping),
            ("Where is my parcel? It hasn't arrived", Intent::Shipping),
            (
                "How much does the Pro plan cost per month?",
                Intent::Pricing,
            ),
            ("Could we book a demo for next week?", Intent::DemoRequest),
            ("We'd like to buy 20 seats", Intent::Purchase),
            ("I was charged twice on my last invoice", Intent::Billing),
            (
                "I want to return these shoes and get a refund",
                Intent::Returns,
            ),
            ("I forgot my password and can't log in", Intent::Account),
            ("Please cancel my subscription", Intent::Cancellation),
            ("Can I talk to a human please?", Intent::HumanRequest),
            ("The app crashes with an error", Intent::Support),
            ("Hello!", Intent::Greeting),
            ("The weather is nice today", Intent::Other),
        ];
        let model = Embedder::default_model();
        for (text, intent) in cases {
            assert_eq!(classify(text, &model), intent, "{text}");
        }
    }

    #[test]
    fn a_question_outweighs_the_greeting_before_it() {
        let model = Embedder::default_model();
        assert_eq!(
            classify("Hi there, how much is it?", &model),
            Intent::Pricing
        );
    }

    /// Requests for a person in everyday words, none of them an exemplar.
    #[test]
    fn a_request_for_a_person_is_heard_however_it_is_put() {
        let model = Embedder::default_model();
        let requests = [
            "could someone from your team call me back",
            "I need a real human, not a bot",
            "let me talk to your manager",
            "Can I please speak with an actual person about my order?",
            "put me through to customer service",
            "I'd like a member of staff to phone me about this",
            "get me a human being right now",
            "this bot is useless, I want a person",
            "is there a real person I could chat with?",
            "please have one of your agents contact me",
        ];
        for text in requests {
            assert_eq!(classify(text, &model), Intent::HumanRequest, "{text}");
        }
    }

    /// Cue words in innocent questions: no request for a person.
    #[test]
    fn a_cue_word_alone_asks_for_no_one() {
        let model = Embedder::default_model();
        let innocent = [
            "Is the ->> operator faster than #>>?",
            "Who is the EU representative for GDPR requests?",
            "Which operators does the roaming bundle cover?",
            "How many persons can stay in the family room?",
            "Does the password manager sync between devices?",
            "How do I add a team member to my workspace?",
            "Can the agent software run on Windows servers?",
            "Are calls to other networks included in my plan?",
            "I don't need to talk to anyone, just tell me how to reset my router",
            "What are your customer service opening hours?",
        ];
        for text in innocent {
            assert_ne!(classify(text, &model), Intent::HumanRequest, "{text}");
        }
    }

    #[test]
    fn stems_meet_across_inflections() {
        assert_eq!(stems("Shipped shipping ships"), ["ship", "ship", "ship"]);
        assert_eq!(stems("doesn’t WORK"), ["doesn't", "work"]);
    }
}
