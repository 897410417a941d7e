//! What the user wants from one message: cue phrases per intent, matched on word stems, weighed,
//! and the heaviest intent wins (ties go to the intent listed first in [`CUES`], the one that needs
//! a human or a salesperson soonest). A message with no cue is `other`.

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

use hoverbot_api::Intent;

/// Each intent's cue phrases. A phrase of several words counts more than a single word, which
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
pub fn classify(text: &str) -> Intent {
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
    best.0
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
        for (text, intent) in cases {
            assert_eq!(classify(text), intent, "{text}");
        }
    }

    #[test]
    fn a_question_outweighs_the_greeting_before_it() {
        assert_eq!(classify("Hi there, how much is it?"), Intent::Pricing);
    }

    #[test]
    fn stems_meet_across_inflections() {
        assert_eq!(stems("Shipped shipping ships"), ["ship", "ship", "ship"]);
        assert_eq!(stems("doesn’t WORK"), ["doesn't", "work"]);
    }
}
