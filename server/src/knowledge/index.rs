//! The retrieval index: a tantivy BM25 index of every workspace's chunks and their vectors
//! (`vectors`), held in memory by each process and derived from the `knowledge_chunks` table,
//! which stays the truth (the vectors too: they are computed at sync and stored with the chunks). [`follow`] builds
//! it at start and keeps it caught up: woken when this process records a sync, and every
//! [`CATCH_UP`] otherwise, so an index on another replica lags a sync by at most that long. Every
//! query is filtered to one workspace; chunk ids found here are loaded from the database, so a
//! deleted source's chunks never reach an answer, however stale the index.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};
use tokio::sync::Notify;

use super::chunk;
use super::retrieved::{Passage, Retrieved, TermWeights};
use super::vectors::Vectors;
use crate::embedding::{self, Embedder, Vector};
use crate::store::Db;
use crate::store::entity::knowledge_chunk;
use crate::store::knowledge_index;
use crate::store::knowledge_sources::{self, SyncedSource};
use crate::store::tenant::WorkspaceId;

/// How stale an index may be on a process that did not record the sync.
pub const CATCH_UP: Duration = Duration::from_secs(2);
/// The analyzer of every text field: words, lower-cased, English stop words out, Snowball stems.
const ENGLISH: &str = "hoverbot_english";
/// Matches in a chunk's title and headings count more than in its text.
const TITLE_BOOST: f32 = 3.0;
const HEADINGS_BOOST: f32 = 2.0;
/// The least a question's term weighs, however common: a word in every chunk still says a little.
const MIN_WEIGHT: f64 = 0.1;
/// The most distinct terms of one question that are weighed (each costs two counts); the rest
/// weigh 1. A question is a sentence or two: a message of thousands of words gains nothing from
/// the rest, and must not cost thousands of index queries.
const MAX_WEIGHED_TERMS: usize = 64;
/// The writer's memory budget (tantivy needs at least 15 MB a thread).
const WRITER_BYTES: usize = 50_000_000;
/// How many chunks each half of the index (words and meaning) puts forward to be fused.
const CANDIDATES: usize = 20;
/// Reciprocal rank fusion's constant: a chunk ranked r-th by one half scores 1 / (K + r). The
/// usual 60 (Cormack, Clarke and Büttcher, 2009) lets agreement between the halves outweigh a top
/// rank in one of them.
const FUSION_K: f32 = 60.0;
/// A chunk whose meaning is further than this from the question's is not put forward by the
/// dense half: every workspace has a nearest chunk, but not every nearest chunk is near.
const MIN_SIMILARITY: f32 = 0.25;

#[derive(Clone, Copy)]
struct Fields {
    chunk: Field,
    workspace: Field,
    source: Field,
    title: Field,
    headings: Field,
    text: Field,
}

/// A chunk that matched, with its BM25 score.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub chunk_id: String,
    pub score: f32,
}

pub struct KnowledgeIndex {
    fields: Fields,
    /// Reads questions into queries over title, headings and text, with their boosts.
    parser: QueryParser,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    /// Each indexed source's `last_synced_at`: what its chunks in the index come from.
    indexed: Mutex<HashMap<String, DateTime<Utc>>>,
    /// The rebuild generation the index was built at (`None` before the first catch-up).
    generation: Mutex<Option<i32>>,
    vectors: Vectors,
    embedder: Arc<Embedder>,
}

impl KnowledgeIndex {
    pub fn new(embedder: Arc<Embedder>) -> tantivy::Result<Self> {
        let mut schema = Schema::builder();
        let english = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ENGLISH)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let fields = Fields {
            chunk: schema.add_text_field("chunk_id", STRING | STORED),
            workspace: schema.add_text_field("workspace_id", STRING),
            source: schema.add_text_field("source_id", STRING),
            title: schema.add_text_field("title", english.clone()),
            headings: schema.add_text_field("headings", english.clone()),
            text: schema.add_text_field("text", english),
        };
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(ENGLISH, analyzer());
        let mut parser =
            QueryParser::for_index(&index, vec![fields.title, fields.headings, fields.text]);
        parser.set_field_boost(fields.title, TITLE_BOOST);
        parser.set_field_boost(fields.headings, HEADINGS_BOOST);
        let writer = index.writer_with_num_threads(1, WRITER_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            fields,
            parser,
            writer: Mutex::new(writer),
            reader,
            indexed: Mutex::new(HashMap::new()),
            generation: Mutex::new(None),
            vectors: Vectors::new(embedder.dimensions()),
            embedder,
        })
    }

    /// The model that embeds questions and chunks.
    pub fn embedder(&self) -> &Arc<Embedder> {
        &self.embedder
    }

    /// Whether the index holds the chunks of `source` as its sync at `synced_at` left them: only
    /// then can a question be answered from all of them.
    pub fn holds(&self, source: &str, synced_at: DateTime<Utc>) -> bool {
        self.indexed
            .lock()
            .expect("the index map is not poisoned")
            .get(source)
            .is_some_and(|indexed| *indexed >= synced_at)
    }

    /// A chunk's vector: the stored one if this index's model made it, else computed now.
    fn vector_of(&self, chunk: &knowledge_chunk::Model) -> Vector {
        let stored = chunk
            .embedding
            .as_deref()
            .filter(|_| chunk.embedding_model.as_deref() == Some(self.embedder.id()))
            .and_then(|bytes| embedding::from_bytes(bytes, self.embedder.dimensions()));
        stored.unwrap_or_else(|| {
            let headings: Vec<String> = serde_json::from_str(&chunk.headings).unwrap_or_default();
            self.embedder
                .embed(&chunk::meaning(&chunk.title, &headings, &chunk.text))
        })
    }

    /// The workspace's chunks that best match `question`, best first.
    pub fn search(&self, workspace: &WorkspaceId, question: &str, limit: usize) -> Vec<Hit> {
        let f = self.fields;
        // Lenient: a question is words, not query syntax; whatever does not parse is left out.
        let (matching, _) = self.parser.parse_query_lenient(question);
        let tenant: Box<dyn Query> = Box::new(ConstScoreQuery::new(
            Box::new(TermQuery::new(
                Term::from_field_text(f.workspace, workspace.as_str()),
                IndexRecordOption::Basic,
            )),
            0.0,
        ));
        let query = BooleanQuery::new(vec![(Occur::Must, matching), (Occur::Must, tenant)]);
        let searcher = self.reader.searcher();
        let Ok(top) = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score()) else {
            return Vec::new();
        };
        top.into_iter()
            .filter_map(|(score, address)| {
                let document: TantivyDocument = searcher.doc(address).ok()?;
                let chunk_id = document.get_first(f.chunk)?.as_str()?.to_string();
                Some(Hit { chunk_id, score })
            })
            .collect()
    }

    /// The weight of each of `terms` (analyzed, as `terms` gives them) in the workspace: its
    /// inverse document frequency among the workspace's chunks, as BM25 reckons it, at least
    /// `MIN_WEIGHT`. Counted in the workspace only, so no other tenant's knowledge bears on it.
    /// Only the first `MAX_WEIGHED_TERMS` distinct terms are weighed.
    pub fn weights(&self, workspace: &WorkspaceId, terms: &[String]) -> TermWeights {
        let f = self.fields;
        let searcher = self.reader.searcher();
        let tenant = || -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(f.workspace, workspace.as_str()),
                IndexRecordOption::Basic,
            ))
        };
        let count = |query: &dyn Query| searcher.search(query, &Count).unwrap_or(0) as f64;
        let chunks = count(tenant().as_ref());
        let mut weights = HashMap::new();
        for term in terms {
            if weights.contains_key(term) {
                continue;
            }
            if weights.len() == MAX_WEIGHED_TERMS {
                break;
            }
            let anywhere = [f.title, f.headings, f.text].map(|field| {
                let query: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(field, term),
                    IndexRecordOption::Basic,
                ));
                (Occur::Should, query)
            });
            let holding = BooleanQuery::new(vec![
                (
                    Occur::Must,
                    Box::new(BooleanQuery::new(anywhere.into())) as Box<dyn Query>,
                ),
                (Occur::Must, tenant()),
            ]);
            let found = count(&holding);
            let idf = (1.0 + (chunks - found + 0.5) / (found + 0.5)).ln();
            weights.insert(term.clone(), idf.max(MIN_WEIGHT));
        }
        TermWeights::new(weights)
    }

    /// How many chunks the index holds.
    pub fn chunk_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Replaces the chunks of the `changed` sources and drops the `removed` ones; with `rebuild`,
    /// drops everything first.
    fn apply(
        &self,
        changed: Vec<(String, DateTime<Utc>, Vec<knowledge_chunk::Model>)>,
        removed: Vec<String>,
        rebuild: Option<i32>,
    ) -> tantivy::Result<()> {
        let f = self.fields;
        let mut writer = self
            .writer
            .lock()
            .expect("the index writer is not poisoned");
        if rebuild.is_some() {
            writer.delete_all_documents()?;
            self.vectors.clear();
        }
        for source in &removed {
            writer.delete_term(Term::from_field_text(f.source, source));
            self.vectors.remove(source);
        }
        for (source, _, chunks) in &changed {
            writer.delete_term(Term::from_field_text(f.source, source));
            let vectors = chunks
                .iter()
                .map(|chunk| (chunk.id.clone(), self.vector_of(chunk)))
                .collect();
            let workspace = chunks
                .first()
                .map_or("", |chunk| chunk.workspace_id.as_str());
            self.vectors.replace(workspace, source, vectors);
            for chunk in chunks {
                let headings: Vec<String> =
                    serde_json::from_str(&chunk.headings).unwrap_or_default();
                writer.add_document(doc!(
                    f.chunk => chunk.id.as_str(),
                    f.workspace => chunk.workspace_id.as_str(),
                    f.source => chunk.source_id.as_str(),
                    f.title => chunk.title.as_str(),
                    f.headings => headings.join(" > "),
                    f.text => chunk.text.as_str(),
                ))?;
            }
        }
        writer.commit()?;
        self.reader.reload()?;
        let mut indexed = self.indexed.lock().expect("the index map is not poisoned");
        if let Some(generation) = rebuild {
            indexed.clear();
            *self
                .generation
                .lock()
                .expect("the generation is not poisoned") = Some(generation);
        }
        for source in removed {
            indexed.remove(&source);
        }
        for (source, synced_at, _) in changed {
            indexed.insert(source, synced_at);
        }
        Ok(())
    }
}

/// The terms the index sees in `text`: what questions and sentences are compared by.
pub fn terms(text: &str) -> Vec<String> {
    static ANALYZER: LazyLock<TextAnalyzer> = LazyLock::new(analyzer);
    let mut analyzer = ANALYZER.clone();
    let mut stream = analyzer.token_stream(text);
    let mut terms = Vec::new();
    while stream.advance() {
        terms.push(stream.token().text.clone());
    }
    terms
}

/// The analyzer of every text field (and of questions). The stop words are NLTK's English list
/// rather than tantivy's (Lucene's 33): questions are full of "how", "can", "I", "my" and "do",
/// which say nothing of what is asked, and would otherwise count in an answer's coverage.
fn analyzer() -> TextAnalyzer {
    let stop_words = stop_words::get("en").iter().map(|word| word.to_string());
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(stop_words))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The workspace's chunks that best answer `question` (at most `limit`), best first, as the
/// database has them now (a chunk the index still holds but a sync or a delete removed is left
/// out), with the weights of the question's terms. The chunks that match its words (BM25) and
/// those nearest its meaning are fused by reciprocal rank: words find the exact names and codes a
/// question holds, meaning finds the page that says it in other words.
pub async fn retrieve(
    db: &Db,
    index: &KnowledgeIndex,
    workspace: &WorkspaceId,
    question: &str,
    limit: usize,
) -> Result<Retrieved, sea_orm::DbErr> {
    let meaning = index.embedder.embed(question);
    let lexical = index.search(workspace, question, CANDIDATES);
    let mut dense = index
        .vectors
        .nearest(workspace.as_str(), &meaning, CANDIDATES);
    dense.retain(|near| near.similarity >= MIN_SIMILARITY);
    let fused = fuse(
        lexical.iter().map(|hit| hit.chunk_id.as_str()),
        dense.iter().map(|near| near.chunk_id.as_str()),
        limit,
    );
    if fused.is_empty() {
        return Ok(Retrieved::default());
    }
    let weights = index.weights(workspace, &terms(question));
    let mut chunks: HashMap<String, _> = knowledge_sources::chunks_by_id(db, workspace, &fused)
        .await?
        .into_iter()
        .map(|chunk| (chunk.id.clone(), chunk))
        .collect();
    let bm25: HashMap<&str, f32> = lexical
        .iter()
        .map(|hit| (hit.chunk_id.as_str(), hit.score))
        .collect();
    let near: HashMap<&str, f32> = dense
        .iter()
        .map(|near| (near.chunk_id.as_str(), near.similarity))
        .collect();
    let passages = fused
        .iter()
        .filter_map(|id| {
            let chunk = chunks.remove(*id)?;
            // Known for the chunks the dense half found; computed for those only words found.
            let similarity = near
                .get(id)
                .copied()
                .unwrap_or_else(|| embedding::cosine(&meaning, &index.vector_of(&chunk)));
            Some(Passage {
                score: bm25.get(id).copied().unwrap_or(0.0),
                similarity,
                chunk,
            })
        })
        .collect();
    Ok(Retrieved {
        passages,
        weights,
        meaning,
    })
}

/// The ids of two rankings fused by reciprocal rank, best first, at most `limit`.
fn fuse<'a>(
    lexical: impl Iterator<Item = &'a str>,
    dense: impl Iterator<Item = &'a str>,
    limit: usize,
) -> Vec<&'a str> {
    let mut scores: HashMap<&str, f32> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for ranking in [lexical.collect::<Vec<_>>(), dense.collect()] {
        for (rank, id) in ranking.into_iter().enumerate() {
            let score = scores.entry(id).or_insert_with(|| {
                order.push(id);
                0.0
            });
            *score += 1.0 / (FUSION_K + rank as f32 + 1.0);
        }
    }
    // Stable: on a tie the chunk words ranked first keeps its place.
    order.sort_by(|a, b| scores[b].total_cmp(&scores[a]));
    order.truncate(limit);
    order
}

/// Keeps `index` caught up with the database, for as long as the process runs.
pub async fn follow(db: Db, index: Arc<KnowledgeIndex>, wake: Arc<Notify>) {
    loop {
        if let Err(err) = catch_up(&db, &index).await {
            tracing::warn!("cannot bring the knowledge index up to date: {err}");
        }
        let _ = tokio::time::timeout(CATCH_UP, wake.notified()).await;
    }
}

/// Indexes what changed since the last catch-up, or everything when a rebuild was asked for
/// (`hoverbot index rebuild`); returns how many sources it (re)indexed or dropped.
pub async fn catch_up(db: &Db, index: &Arc<KnowledgeIndex>) -> anyhow::Result<usize> {
    let generation = knowledge_index::generation(db).await?;
    let rebuild = (*index
        .generation
        .lock()
        .expect("the generation is not poisoned")
        != Some(generation))
    .then_some(generation);
    let synced = knowledge_sources::synced(db).await?;
    let (changed, removed) = {
        let indexed = index.indexed.lock().expect("the index map is not poisoned");
        let is_current = |source: &SyncedSource| {
            rebuild.is_none() && indexed.get(&source.id) == Some(&source.synced_at)
        };
        let changed: Vec<SyncedSource> = synced
            .iter()
            .filter(|source| !is_current(source))
            .cloned()
            .collect();
        let present: std::collections::HashSet<&str> =
            synced.iter().map(|source| source.id.as_str()).collect();
        let removed: Vec<String> = indexed
            .keys()
            .filter(|id| !present.contains(String::as_str(id)))
            .cloned()
            .collect();
        (changed, removed)
    };
    if changed.is_empty() && removed.is_empty() && rebuild.is_none() {
        return Ok(0);
    }
    let mut loaded = Vec::with_capacity(changed.len());
    for source in &changed {
        let chunks = knowledge_sources::chunks(db, &source.workspace, &source.id).await?;
        loaded.push((source.id.clone(), source.synced_at, chunks));
    }
    let count = loaded.len() + removed.len();
    let index = index.clone();
    tokio::task::spawn_blocking(move || index.apply(loaded, removed, rebuild)).await??;
    if rebuild.is_some() {
        tracing::info!(
            generation,
            sources = count,
            "built the knowledge index from the database"
        );
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(id: &str, workspace: &str, text: &str) -> knowledge_chunk::Model {
        knowledge_chunk::Model {
            id: id.to_string(),
            workspace_id: workspace.to_string(),
            source_id: format!("ks_{workspace}"),
            position: 0,
            url: None,
            title: "Help".to_string(),
            headings: "[]".to_string(),
            text: text.to_string(),
            created_at: Utc::now(),
            embedding: None,
            embedding_model: None,
        }
    }

    fn add(index: &KnowledgeIndex, workspace: &str, texts: &[&str]) {
        let chunks = texts
            .iter()
            .enumerate()
            .map(|(i, text)| chunk(&format!("chk_{workspace}_{i}"), workspace, text))
            .collect();
        index
            .apply(
                vec![(format!("ks_{workspace}"), Utc::now(), chunks)],
                Vec::new(),
                None,
            )
            .unwrap();
    }

    #[test]
    fn rare_terms_weigh_more_counted_in_the_workspace_only() {
        let index = KnowledgeIndex::new(Embedder::default_model()).unwrap();
        let ours = WorkspaceId::from_row("ws_ours".to_string());
        add(
            &index,
            "ws_ours",
            &[
                "Reset your password from the sign-in page.",
                "A strong password has twelve characters.",
                "Your password is never sent by email.",
                "The mobile app shows your orders.",
            ],
        );
        let asked = terms("password mobile app Australia");
        let weights = index.weights(&ours, &asked);
        let weight = |term: &str| weights.of(term);
        assert!(weight("password") < weight("mobil"), "{weights:?}");
        assert!(weight("mobil") < weight("australia"), "{weights:?}");

        // Another workspace full of "mobile" changes nothing here.
        add(&index, "ws_theirs", &["mobile"; 20]);
        assert_eq!(index.weights(&ours, &asked), weights);
    }
}
