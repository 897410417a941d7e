//! The extractive answer: from the retrieved chunks, the sentences that best answer the question,
//! each chunk they come from cited. A sentence is scored mostly by how near its meaning is to the
//! question's (so that "build an index without blocking writes" prefers the sentence about
//! `CONCURRENTLY` to the one saying writes *will* block), then by the share of the question's rare
//! words it holds, by how near its chunk is to the question, and by how early it comes; the
//! opening sentence of a section, where reference pages say what a thing is, is preferred when
//! the question asks what something is, and a sentence that instructs when it asks how to do
//! something. A second sentence is taken only when it adds to the first: the sentence after it in
//! its chunk, or one from another page only if it answers at least as well and holds words of the
//! question the first lacks.

use std::collections::HashSet;

use unicode_segmentation::UnicodeSegmentation;

use crate::embedding::{self, Embedder};
use crate::knowledge::index;
use crate::knowledge::retrieved::{Passage, Retrieved, TermWeights};
use crate::store::entity::knowledge_chunk;
use hoverbot_api::{Citation, RetrievalHit};

/// Chunks whose sentences may make the answer.
const CANDIDATE_CHUNKS: usize = 3;
/// Sentences in an answer, at most.
const MAX_SENTENCES: usize = 2;
/// A sentence whose meaning is this far from the question and holds less than `MIN_COVERAGE` of
/// its terms says nothing to it.
const MIN_SIMILARITY: f64 = 0.3;
const MIN_COVERAGE: f64 = 0.2;
/// A second sentence of the same chunk must score at least this share of the first's.
const SECOND_SHARE: f64 = 0.8;
/// Characters of a chunk a citation quotes.
const SNIPPET_CHARS: usize = 240;
/// Openings of questions that ask what something is, which a section's opening line answers.
const DEFINING: &[&str] = &[
    "what is",
    "what are",
    "what's",
    "what does",
    "define",
    "explain",
];
/// Openings of questions that ask how to do something, which an instruction answers ("how long",
/// "how much" and the like ask for a quantity instead: `QUANTITIES`).
const HOW_TO: &[&str] = &[
    "how",
    "can i",
    "can we",
    "is there a way",
    "what should",
    "what do i",
];
/// Words after "how" that ask for a quantity, not a way.
const QUANTITIES: &[&str] = &[
    "long", "much", "many", "often", "far", "old", "soon", "big", "fast", "late", "early",
];
/// How much a follow-up's latest question counts in a sentence's likeness to the query, against
/// the whole query (the question before it and the follow-up).
const LATEST_WEIGHT: f32 = 0.7;
/// Words that open an instruction ("To build it without locking, use …", "Open Orders …").
const INSTRUCTING: &[&str] = &[
    "to", "use", "run", "open", "go", "click", "select", "choose", "set", "add", "enter", "call",
    "contact", "visit", "sign", "tap", "create", "send", "check", "you can",
];

/// What the passages say to the question.
pub struct Composed {
    pub text: String,
    pub citations: Vec<Citation>,
    pub confidence: f64,
    pub retrieval: Vec<RetrievalHit>,
}

struct Candidate<'a> {
    text: &'a str,
    terms: HashSet<String>,
    chunk: usize,
    position: usize,
    similarity: f64,
    score: f64,
}

/// The answer the passages (best first) give to `question`, or `None` when none of their
/// sentences says anything to it.
pub fn compose(question: &str, retrieved: &Retrieved, embedder: &Embedder) -> Option<Composed> {
    let Retrieved {
        passages,
        weights,
        meaning,
    } = retrieved;
    let asked: HashSet<String> = index::terms(question).into_iter().collect();
    if passages.is_empty() || asked.is_empty() && meaning.iter().all(|v| *v == 0.0) {
        return None;
    }
    // A follow-up's query is the question before and the follow-up ("… address? And how long
    // does that take?"): the latest question is what is asked now, the whole its context.
    let latest_text = question
        .unicode_sentences()
        .map(str::trim)
        .filter(|sentence| !sentence.is_empty())
        .last()
        .unwrap_or(question);
    let latest = (latest_text.len() < question.trim().len()).then(|| embedder.embed(latest_text));
    let lower = latest_text
        .to_lowercase()
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .trim_start_matches("and ")
        .to_string();
    let defining = DEFINING.iter().any(|word| lower.starts_with(word));
    let asks_quantity = lower
        .strip_prefix("how ")
        .is_some_and(|rest| QUANTITIES.iter().any(|word| rest.starts_with(word)));
    let how_to = !asks_quantity && HOW_TO.iter().any(|words| lower.starts_with(words));
    let mut candidates = Vec::new();
    for (rank, passage) in passages.iter().take(CANDIDATE_CHUNKS).enumerate() {
        let sentences: Vec<&str> = passage
            .chunk
            .text
            .unicode_sentences()
            .map(str::trim)
            .filter(|sentence| !sentence.is_empty())
            .collect();
        let count = sentences.len() as f64;
        for (position, text) in sentences.into_iter().enumerate() {
            let terms: HashSet<String> = index::terms(text).into_iter().collect();
            let coverage = coverage(&asked, &terms, weights);
            let vector = embedder.embed_recurring(text);
            let whole = embedding::cosine(meaning, &vector);
            let similarity = f64::from(latest.as_ref().map_or(whole, |latest| {
                (1.0 - LATEST_WEIGHT) * whole + LATEST_WEIGHT * embedding::cosine(latest, &vector)
            }));
            if similarity < MIN_SIMILARITY && coverage < MIN_COVERAGE {
                continue;
            }
            let early = 1.0 - position as f64 / count;
            let opening = if defining && position == 0 { 0.05 } else { 0.0 };
            let instruction = if how_to && instructs(text) { 0.15 } else { 0.0 };
            candidates.push(Candidate {
                text,
                terms,
                chunk: rank,
                position,
                similarity,
                score: 0.5 * similarity
                    + 0.25 * coverage
                    + 0.15 * f64::from(passage.similarity)
                    + 0.05 * early
                    + opening
                    + instruction,
            });
        }
    }
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut candidates = candidates.into_iter();
    let best = candidates.next()?;
    let second = candidates.find(|candidate| adds(&best, candidate, &asked));
    let mut chosen = vec![best];
    chosen.extend(second);
    chosen.truncate(MAX_SENTENCES);
    let best = &chosen[0];
    let signals = Signals {
        chunk: f64::from(passages[best.chunk].similarity),
        covered: coverage(&asked, &covered(&chosen), weights),
    };
    let confidence = confidence(&signals);
    let mut cited: Vec<usize> = chosen.iter().map(|candidate| candidate.chunk).collect();
    cited.dedup();
    let text = chosen
        .iter()
        .map(|candidate| candidate.text)
        .collect::<Vec<_>>()
        .join(" ");
    let citations = cited
        .iter()
        .map(|&i| citation(&passages[i].chunk))
        .collect();
    Some(Composed {
        text,
        citations,
        confidence,
        retrieval: hits(passages),
    })
}

/// Whether `sentence` tells the reader what to do: it opens with a purpose ("To …, …"), an
/// imperative, or "you can".
fn instructs(sentence: &str) -> bool {
    let lower = sentence.to_lowercase();
    INSTRUCTING.iter().any(|opening| {
        lower.starts_with(opening)
            && lower[opening.len()..].starts_with(|c: char| !c.is_alphanumeric())
    }) || lower.contains(" you can ")
}

/// Whether `next` adds to an answer that starts with `best`: a sentence of the same chunk that
/// continues it and scores nearly as well, or one of another chunk that answers at least
/// as well and holds terms of the question `best` lacks.
fn adds(best: &Candidate, next: &Candidate, asked: &HashSet<String>) -> bool {
    let new_terms = next
        .terms
        .difference(&best.terms)
        .any(|term| asked.contains(term));
    let repeats = jaccard(&best.terms, &next.terms) > 0.6;
    if repeats {
        return false;
    }
    if next.chunk == best.chunk {
        // The sentence that continues it: one before it is context the answer does not need
        // (and may say the opposite, as "writes block" before "to avoid that, …").
        next.position == best.position + 1 && next.score >= SECOND_SHARE * best.score
    } else {
        new_terms && next.similarity >= best.similarity
    }
}

/// How an answer cites `chunk`.
pub fn citation(chunk: &knowledge_chunk::Model) -> Citation {
    Citation {
        source_id: chunk.source_id.clone(),
        url: chunk.url.clone(),
        title: chunk.title.clone(),
        snippet: snippet(&chunk.text),
    }
}

/// The retrieval hits, as a trace shows them.
pub fn hits(passages: &[Passage]) -> Vec<RetrievalHit> {
    passages
        .iter()
        .map(|passage| RetrievalHit {
            chunk_id: passage.chunk.id.clone(),
            source_id: passage.chunk.source_id.clone(),
            url: passage.chunk.url.clone(),
            title: passage.chunk.title.clone(),
            score: f64::from(passage.score),
        })
        .collect()
}

/// What an answer's confidence is reckoned from.
struct Signals {
    /// The cosine of the best sentence's chunk to the question.
    chunk: f64,
    /// The weighed share of the question's terms the answer holds.
    covered: f64,
}

/// A logistic model of whether the answer is right. Fitted on the development parts of the
/// evaluation sets (`cargo xtask eval`; BENCHMARKS.md, "Answer quality"): of the signals tried (the
/// best sentence's cosine, its chunk's, the share of the question covered, the BM25 strength, the
/// chunk's rank), the chunk's cosine and the coverage carry nearly all of what separates right
/// answers from wrong ones. The result is the probability that the answer is right, so the default
/// threshold (0.45) answers what is about as likely right as not; on the development answers the
/// cost is least between 0.5 and 0.7 when a wrong answer costs two declines, which a workspace
/// that fears wrong answers more can choose (`confidenceThreshold`).
fn confidence(signals: &Signals) -> f64 {
    let z = -2.7 + 2.6 * signals.chunk + 2.6 * signals.covered;
    1.0 / (1.0 + (-z).exp())
}

/// The weighed share of the `asked` terms that `terms` holds.
fn coverage(asked: &HashSet<String>, terms: &HashSet<String>, weights: &TermWeights) -> f64 {
    let total: f64 = asked.iter().map(|term| weights.of(term)).sum();
    let held: f64 = asked.intersection(terms).map(|term| weights.of(term)).sum();
    if total > 0.0 { held / total } else { 0.0 }
}

fn covered(chosen: &[Candidate]) -> HashSet<String> {
    chosen
        .iter()
        .flat_map(|c| c.terms.iter().cloned())
        .collect()
}

fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

fn snippet(text: &str) -> String {
    if text.len() <= SNIPPET_CHARS {
        return text.to_string();
    }
    let mut cut = SNIPPET_CHARS;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = text[..cut].rfind(' ').unwrap_or(cut);
    format!("{}…", &text[..cut])
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::assistant::MIN_CONFIDENCE;

    /// What retrieval hands over for `question`: the passages (id, text, BM25 score), with their
    /// similarity to the question as the built-in model reckons it.
    fn retrieved(question: &str, passages: &[(&str, &str, f32)]) -> Retrieved {
        let model = Embedder::default_model();
        let meaning = model.embed(question);
        let passages = passages
            .iter()
            .map(|(id, text, score)| Passage {
                chunk: knowledge_chunk::Model {
                    id: id.to_string(),
                    workspace_id: "ws_1".to_string(),
                    source_id: "ks_1".to_string(),
                    position: 0,
                    url: Some(format!("https://help.example.com/{id}")),
                    title: format!("Page {id}"),
                    headings: "[]".to_string(),
                    text: text.to_string(),
                    created_at: Utc::now(),
                    embedding: None,
                    embedding_model: None,
                },
                score: *score,
                similarity: embedding::cosine(&meaning, &model.embed(text)),
            })
            .collect();
        Retrieved {
            passages,
            weights: TermWeights::default(),
            meaning,
        }
    }

    fn ask(question: &str, passages: &[(&str, &str, f32)]) -> Option<Composed> {
        compose(
            question,
            &retrieved(question, passages),
            &Embedder::default_model(),
        )
    }

    #[test]
    fn answers_with_the_sentences_that_hold_the_question_and_cites_them() {
        let question = "Can I change my shipping address?";
        let answer = ask(
            question,
            &[
                (
                    "address",
                    "Orders ship from our warehouse in Lyon. You can change the shipping address \
                     of an order until it ships. Open Orders and choose Change address.",
                    9.0,
                ),
                ("returns", "Returns are free for 30 days.", 2.0),
            ],
        )
        .unwrap();
        assert!(
            answer
                .text
                .starts_with("You can change the shipping address of an order until it ships."),
            "{}",
            answer.text
        );
        assert!(!answer.text.contains("Lyon"), "{}", answer.text);
        assert_eq!(answer.citations.len(), 1);
        assert_eq!(
            answer.citations[0].url.as_deref(),
            Some("https://help.example.com/address")
        );
        assert!(answer.confidence > MIN_CONFIDENCE, "{}", answer.confidence);
        assert_eq!(answer.retrieval.len(), 2);
    }

    #[test]
    fn the_sentence_that_answers_wins_over_the_one_that_shares_the_words() {
        // Asked how to avoid blocking writes, the sentence that says writes *will* block shares
        // more of the question's words; the one that answers says it in other words.
        let question = "How do I build an index without blocking writes to the table?";
        let answer = ask(
            question,
            &[(
                "create-index",
                "Creating an index locks the table against writes (inserts, updates and deletes) \
                 until the build is done. To build the index without locking out writers, use \
                 CREATE INDEX CONCURRENTLY, which lets normal operations continue meanwhile.",
                8.0,
            )],
        )
        .unwrap();
        assert!(
            answer
                .text
                .starts_with("To build the index without locking"),
            "{}",
            answer.text
        );
        assert!(
            !answer.text.contains("until the build is done"),
            "{}",
            answer.text
        );
    }

    #[test]
    fn a_passage_that_shares_a_word_only_is_no_answer() {
        let answer = ask(
            "How do I reset my password for the mobile app?",
            &[("p", "Our shipping partners are listed below.", 1.2)],
        );
        assert!(answer.is_none_or(|answer| answer.confidence < MIN_CONFIDENCE));
    }

    #[test]
    fn nothing_retrieved_is_no_answer() {
        let model = Embedder::default_model();
        assert!(
            compose(
                "Can I change my shipping address?",
                &Retrieved::default(),
                &model
            )
            .is_none()
        );
    }
}
