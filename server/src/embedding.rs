//! Sentence embeddings: texts turned into vectors whose cosine says how alike their meanings are,
//! so that "insert or update if it exists" meets `ON CONFLICT` and "could someone call me back"
//! meets "talk to a person". Retrieval, answer selection and intent detection all compare by it.
//!
//! The model is a static embedding (Model2Vec): one learned vector per WordPiece token, and a
//! text's vector is the mean of its tokens' vectors, L2-normalised. The default, potion-base-8M
//! (MIT; distilled from bge-base-en-v1.5; `server/models/potion-base-8M/PROVENANCE.md`), is
//! compiled into the binary, so the server never downloads anything. It embeds a 1,000-character
//! chunk in about a third of a millisecond on one core, which keeps a sync of thousands of pages
//! within seconds; a transformer such as all-MiniLM-L6-v2 understands word order better but costs
//! about a hundred times as much per chunk (BENCHMARKS.md, "Answer quality").
//!
//! Another model in the same format (a directory with `model.safetensors`, holding one 2-D
//! `embeddings` table in F32 or F16, and its `tokenizer.json`) is used instead when the operator
//! sets `embedding_model_dir`. Vectors carry the [`Embedder::id`] of the model that made them, so a
//! swap re-embeds what the previous model stored instead of comparing across models.
//!
//! Written here rather than taken from `model2vec-rs`: that crate downloads from the model hub and
//! brings a CLI; what is needed is forty lines over the `tokenizers` and `safetensors` crates.

use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

use anyhow::{Context, Result, bail, ensure};
use half::f16;
use lru::LruCache;
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

const DEFAULT_WEIGHTS: &[u8] = include_bytes!("../models/potion-base-8M/model.safetensors");
const DEFAULT_TOKENIZER: &[u8] = include_bytes!("../models/potion-base-8M/tokenizer.json");
/// The name of the table in `model.safetensors`.
const TABLE: &str = "embeddings";
/// Tokens of one text that are read; the rest of a very long text adds little to its mean and
/// would cost time (a chunk is at most 1,200 characters, a few hundred tokens).
const MAX_TOKENS: usize = 512;
/// Sentences whose vectors [`Embedder::embed_recurring`] keeps: about 20 MiB. The answer composer
/// embeds every sentence of the best few chunks for every question, and the questions of a help
/// center keep coming back to the same pages; the tokenizer is most of the cost of an answer.
const RECURRING: NonZeroUsize = NonZeroUsize::new(16_384).expect("not zero");

/// A text's meaning, as a unit vector (all zeros for a text with no known token).
pub type Vector = Vec<f32>;

/// A static embedding model.
pub struct Embedder {
    tokenizer: Tokenizer,
    /// Row-major `[vocabulary, dimensions]`.
    table: Vec<f32>,
    dimensions: usize,
    id: String,
    /// The vectors of recently embedded recurring texts, by text. Keyed by the text itself, so it
    /// can never be stale: a text's vector depends on nothing else.
    recurring: Mutex<LruCache<Box<str>, Arc<[f32]>>>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("id", &self.id)
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// The model compiled into the server.
    pub fn default_model() -> Arc<Self> {
        static DEFAULT: LazyLock<Arc<Embedder>> = LazyLock::new(|| {
            Arc::new(
                Embedder::from_bytes(DEFAULT_WEIGHTS, DEFAULT_TOKENIZER)
                    .expect("the embedded model is well formed"),
            )
        });
        DEFAULT.clone()
    }

    /// The model in `dir` (`model.safetensors` and `tokenizer.json`).
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .with_context(|| format!("cannot read {}", dir.join(name).display()))
        };
        Self::from_bytes(&read("model.safetensors")?, &read("tokenizer.json")?)
            .with_context(|| format!("{} holds no usable embedding model", dir.display()))
    }

    fn from_bytes(weights: &[u8], tokenizer: &[u8]) -> Result<Self> {
        let tensors = SafeTensors::deserialize(weights)?;
        let table = tensors
            .tensor(TABLE)
            .with_context(|| format!("no `{TABLE}` tensor"))?;
        let &[rows, dimensions] = table.shape() else {
            bail!("`{TABLE}` is not a 2-D table");
        };
        let values: Vec<f32> = match table.dtype() {
            Dtype::F32 => table
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => table
                .data()
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => bail!("`{TABLE}` is {other:?}; F32 or F16 are read"),
        };
        ensure!(values.len() == rows * dimensions, "`{TABLE}` is truncated");
        let tokenizer = Tokenizer::from_bytes(tokenizer)
            .map_err(|err| anyhow::anyhow!("tokenizer.json: {err}"))?;
        ensure!(
            tokenizer.get_vocab_size(true) <= rows,
            "the tokenizer knows more tokens than the table has rows"
        );
        let mut digest = Sha256::new();
        digest.update(weights);
        digest.update(tokenizer.to_string(false).unwrap_or_default());
        let id = format!("static-{dimensions}-{:x}", digest.finalize())[..24].to_string();
        Ok(Self {
            tokenizer,
            table: values,
            dimensions,
            id,
            recurring: Mutex::new(LruCache::new(RECURRING)),
        })
    }

    /// Names the model: vectors made by another model are not comparable with this one's.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// The meaning of `text`, for a text likely to be asked for again (a sentence of a knowledge
    /// chunk): kept in a bounded cache, least recently used out first.
    pub fn embed_recurring(&self, text: &str) -> Arc<[f32]> {
        let recurring = || self.recurring.lock().unwrap_or_else(|err| err.into_inner());
        if let Some(vector) = recurring().get(text) {
            return vector.clone();
        }
        // Embedded outside the lock: two requests may embed one text at once, which is harmless.
        let vector: Arc<[f32]> = self.embed(text).into();
        recurring().put(text.into(), vector.clone());
        vector
    }

    /// The meaning of `text`.
    pub fn embed(&self, text: &str) -> Vector {
        let mut sum = vec![0.0f32; self.dimensions];
        // Without [CLS] and [SEP]: a static model's meaning is in the words alone.
        let Ok(encoding) = self.tokenizer.encode_fast(text, false) else {
            return sum;
        };
        let mut count = 0usize;
        for &token in encoding.get_ids().iter().take(MAX_TOKENS) {
            let start = token as usize * self.dimensions;
            let Some(row) = self.table.get(start..start + self.dimensions) else {
                continue;
            };
            for (total, value) in sum.iter_mut().zip(row) {
                *total += value;
            }
            count += 1;
        }
        if count > 0 {
            normalise(&mut sum);
        }
        sum
    }
}

/// Scales `vector` to unit length (a zero vector stays zero).
fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|v| *v /= norm);
    }
}

/// The cosine of two unit vectors (0 when either is empty or their lengths differ).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    // Eight running sums, not one: a single sum is a chain of dependent additions that the
    // compiler may not reorder (float addition is not associative), so it runs one addition at a
    // time; eight independent sums become vector instructions. Retrieval computes this for every
    // chunk of a workspace on every question.
    let (a_lanes, a_rest) = a.as_chunks::<8>();
    let (b_lanes, b_rest) = b.as_chunks::<8>();
    let mut sums = [0.0f32; 8];
    for (x, y) in a_lanes.iter().zip(b_lanes) {
        for ((sum, x), y) in sums.iter_mut().zip(x).zip(y) {
            *sum += x * y;
        }
    }
    let rest: f32 = a_rest.iter().zip(b_rest).map(|(x, y)| x * y).sum();
    sums.iter().sum::<f32>() + rest
}

/// A vector as stored in the database: little-endian f32s.
pub fn to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A stored vector, if it has `dimensions` values.
pub fn from_bytes(bytes: &[u8], dimensions: usize) -> Option<Vector> {
    (bytes.len() == dimensions * 4).then(|| {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_that_mean_the_same_are_close_without_a_word_in_common() {
        let model = Embedder::default_model();
        let asked = model.embed("my card keeps getting declined");
        let answer = model.embed("What to do when a payment fails");
        let unrelated = model.embed("Our shops open at nine on weekdays");
        assert!(
            cosine(&asked, &answer) > cosine(&asked, &unrelated) + 0.15,
            "{} vs {}",
            cosine(&asked, &answer),
            cosine(&asked, &unrelated)
        );
    }

    #[test]
    fn vectors_are_unit_length_and_survive_storage() {
        let model = Embedder::default_model();
        let vector = model.embed("How do I reset my password?");
        assert_eq!(vector.len(), model.dimensions());
        assert!((cosine(&vector, &vector) - 1.0).abs() < 1e-4);
        let stored = from_bytes(&to_bytes(&vector), model.dimensions()).unwrap();
        assert_eq!(stored, vector);
        assert_eq!(from_bytes(&to_bytes(&vector), 3), None);
        assert!(model.embed("").iter().all(|v| *v == 0.0));
    }

    #[test]
    fn a_recurring_text_is_embedded_once_and_means_the_same() {
        let model = Embedder::default_model();
        let text = "Refunds reach your card within five working days.";
        let first = model.embed_recurring(text);
        assert_eq!(&first[..], &model.embed(text)[..]);
        assert!(Arc::ptr_eq(&first, &model.embed_recurring(text)));
    }

    #[test]
    fn cosine_is_the_dot_product_whatever_the_length() {
        for length in [0, 3, 8, 13, 256] {
            let a: Vec<f32> = (0..length).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..length).map(|i| (i as f32 * 0.11).cos()).collect();
            let expected: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            assert!(
                (f64::from(cosine(&a, &b)) - expected).abs() < 1e-4,
                "length {length}"
            );
        }
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
    }
}
