//! What retrieval hands the assistant: the passages found for a query, best first, and how much
//! each of the query's terms weighs among the workspace's chunks.

use std::collections::HashMap;

use crate::embedding::Vector;
use crate::store::entity::knowledge_chunk;

/// A retrieved chunk, with how well it matched the query's words and its meaning.
pub struct Passage {
    pub chunk: knowledge_chunk::Model,
    /// Its BM25 score (0 when only its meaning was near).
    pub score: f32,
    /// The cosine of its vector to the query's.
    pub similarity: f32,
}

/// How much each term of a query weighs: its inverse document frequency among the workspace's
/// chunks, so that the rare words of a question (what it is about) count for more than the common
/// ones. A question whose rare words no passage holds is not answered by its common ones. A term
/// without a weight weighs 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TermWeights(HashMap<String, f64>);

impl TermWeights {
    pub fn new(weights: HashMap<String, f64>) -> Self {
        Self(weights)
    }

    /// What `term` weighs.
    pub fn of(&self, term: &str) -> f64 {
        self.0.get(term).copied().unwrap_or(1.0)
    }
}

/// What retrieval found for a query: the passages, best first, its terms' weights, and its
/// meaning (the vector it was searched with; empty when nothing was searched).
#[derive(Default)]
pub struct Retrieved {
    pub passages: Vec<Passage>,
    pub weights: TermWeights,
    pub meaning: Vector,
}
