//! The extractive answer: from the retrieved chunks, the sentences that best answer the question,
//! each chunk they come from cited. Sentences are scored by how many of the question's terms they
//! hold, how well their chunk matched, and how early they come in it; a second sentence is taken
//! only if it adds terms the first lacks (maximal marginal relevance), so the answer does not say
//! the same thing twice.

use std::collections::HashSet;

use unicode_segmentation::UnicodeSegmentation;

use crate::knowledge::index;
use crate::knowledge::retrieved::{Passage, Retrieved, TermWeights};
use crate::store::entity::knowledge_chunk;
use hoverbot_api::{Citation, RetrievalHit};

/// Chunks whose sentences may make the answer.
const CANDIDATE_CHUNKS: usize = 3;
/// Sentences in an answer, at most.
const MAX_SENTENCES: usize = 2;
/// A sentence that holds less than this share of the question's terms adds nothing.
const MIN_COVERAGE: f64 = 0.2;
/// The BM25 score at which a match counts as half convincing (scores saturate above it).
const SCORE_HALF: f64 = 4.0;
/// How much a sentence's likeness to one already chosen counts against it.
const REDUNDANCY: f64 = 0.5;
/// Characters of a chunk a citation quotes.
const SNIPPET_CHARS: usize = 240;

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
    score: f64,
}

/// The answer the passages (best first) give to `question`, or `None` when none of their
/// sentences holds enough of it.
pub fn compose(question: &str, retrieved: &Retrieved) -> Option<Composed> {
    let Retrieved { passages, weights } = retrieved;
    let asked: HashSet<String> = index::terms(question).into_iter().collect();
    let top = f64::from(passages.first()?.score);
    if asked.is_empty() || top <= 0.0 {
        return None;
    }
    let mut candidates = Vec::new();
    for (rank, passage) in passages.iter().take(CANDIDATE_CHUNKS).enumerate() {
        let relevance = f64::from(passage.score) / top;
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
            if coverage < MIN_COVERAGE {
                continue;
            }
            let early = 1.0 - position as f64 / count;
            candidates.push(Candidate {
                text,
                terms,
                chunk: rank,
                score: 0.6 * coverage + 0.3 * relevance + 0.1 * early,
            });
        }
    }
    let mut chosen: Vec<Candidate> = Vec::new();
    while chosen.len() < MAX_SENTENCES {
        let so_far = covered(&chosen);
        let next = candidates
            .iter()
            .enumerate()
            .map(|(i, candidate)| {
                let likeness = chosen
                    .iter()
                    .map(|c| jaccard(&c.terms, &candidate.terms))
                    .fold(0.0, f64::max);
                let adds = candidate
                    .terms
                    .difference(&so_far)
                    .any(|t| asked.contains(t));
                (
                    i,
                    candidate.score - REDUNDANCY * likeness,
                    adds || chosen.is_empty(),
                )
            })
            .filter(|(_, _, adds)| *adds)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((i, _, _)) = next else { break };
        chosen.push(candidates.swap_remove(i));
    }
    let best = chosen.first()?;
    // In the order they appear in their chunks, so that the answer reads as the page does.
    let confidence = confidence(
        top,
        passages.get(1).map(|p| f64::from(p.score)),
        coverage(&asked, &covered(&chosen), weights),
        best.chunk,
    );
    chosen.sort_by_key(|candidate| candidate.chunk);
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

/// From the top score (saturating), its margin over the next hit, and the (weighed) share of the
/// question the answer covers; a little less when the best sentence is not in the best chunk. The
/// threshold it is compared with was chosen on the evaluation sets (`cargo xtask eval`; see
/// BENCHMARKS.md).
fn confidence(top: f64, second: Option<f64>, covered: f64, best_chunk: usize) -> f64 {
    let strength = top / (top + SCORE_HALF);
    let margin = second.map_or(1.0, |second| ((top - second) / top).clamp(0.0, 1.0));
    let rank = if best_chunk == 0 { 1.0 } else { 0.85 };
    ((0.55 * covered + 0.3 * strength + 0.15 * margin) * rank).clamp(0.0, 1.0)
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

    fn passage(id: &str, text: &str, score: f32) -> Passage {
        Passage {
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
            },
            score,
        }
    }

    fn retrieved(passages: Vec<Passage>) -> Retrieved {
        Retrieved {
            passages,
            weights: TermWeights::default(),
        }
    }

    #[test]
    fn answers_with_the_sentences_that_hold_the_question_and_cites_them() {
        let passages = retrieved(vec![
            passage(
                "address",
                "Orders ship from our warehouse in Lyon. You can change the shipping address of an \
                 order until it ships. Open Orders and choose Change address.",
                9.0,
            ),
            passage("returns", "Returns are free for 30 days.", 2.0),
        ]);
        let answer = compose("Can I change my shipping address?", &passages).unwrap();
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
        assert!(answer.confidence > 0.6, "{}", answer.confidence);
        assert_eq!(answer.retrieval.len(), 2);
    }

    #[test]
    fn a_passage_that_shares_a_word_only_is_no_answer() {
        let passages = retrieved(vec![passage(
            "p",
            "Our shipping partners are listed below.",
            1.2,
        )]);
        let answer = compose("How do I reset my password for the mobile app?", &passages);
        assert!(answer.is_none_or(|answer| answer.confidence < 0.35));
    }

    #[test]
    fn nothing_retrieved_is_no_answer() {
        assert!(compose("Can I change my shipping address?", &Retrieved::default()).is_none());
    }

    #[test]
    fn the_rare_words_of_a_question_weigh_more_than_its_common_ones() {
        // "password" is in every chunk of this workspace; "mobile" and "app" in none.
        let question = "How do I reset my password in the mobile app?";
        let mut found = retrieved(vec![passage(
            "p",
            "You can reset your password from the sign-in page.",
            3.0,
        )]);
        let uniform = compose(question, &found).unwrap().confidence;
        found.weights = TermWeights::new(
            [
                ("reset", 1.5),
                ("password", 0.2),
                ("mobil", 4.0),
                ("app", 4.0),
            ]
            .map(|(term, weight)| (term.to_string(), weight))
            .into(),
        );
        let weighed = compose(question, &found).map_or(0.0, |answer| answer.confidence);
        assert!(weighed < uniform - 0.15, "{weighed} vs {uniform}");
        assert!(weighed < 0.35, "{weighed}");
    }
}
