//! The syncer: claims knowledge sources waiting for a sync, reads them, and replaces their chunks.
//! Syncs are durable: a source stays `queued` (or `syncing` under a lease) in the database until a
//! sync of its latest definition is recorded, so one that a crash interrupted is taken up again
//! once its lease runs out, by this process after a restart or by any replica.

use hoverbot_api::KnowledgeSourceType;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::sync::{Notify, Semaphore};
use url::Url;

use super::chunk;
use super::crawl::{self, Crawled, Crawler, Plan, Start};
use super::document::Document;
use super::markdown;
use super::source::{SourceConfig, StoredSyncError};
use crate::embedding::{self, Embedder};
use crate::store::Db;
use crate::store::knowledge_sources::{self, Claimed, NewChunk, Synced};

/// How long a claim holds before another syncer may take the source over; a running sync renews
/// it every [`RENEW`].
const LEASE: TimeDelta = TimeDelta::minutes(10);
const RENEW: Duration = Duration::from_secs(60);
/// How often an idle syncer looks for work other processes queued (or a dead syncer left, or a
/// schedule made due).
const POLL: Duration = Duration::from_secs(1);
/// The source types this syncer reads.
const KINDS: &[&str] = &["text", "url-crawl", "sitemap"];
/// Syncs run at once by one process: a long crawl does not hold up a small text source.
const SYNCS_AT_ONCE: usize = 2;

/// Claims and runs syncs.
pub struct Syncer {
    pub db: Db,
    /// Notified when a source is queued in this process, so that its sync starts at once.
    pub wake: Arc<Notify>,
    /// Notified when a sync is recorded, so that this process's index catches up at once.
    pub synced: Arc<Notify>,
    pub crawler: Arc<Crawler>,
    /// Embeds the chunks, so that every node's index loads their vectors instead of computing
    /// them.
    pub embedder: Arc<Embedder>,
}

impl Syncer {
    pub async fn run(self) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(SYNCS_AT_ONCE));
        loop {
            let slot = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            match knowledge_sources::claim_sync(&this.db, KINDS, Utc::now(), LEASE).await {
                Ok(Some(claimed)) => {
                    let this = this.clone();
                    tokio::spawn(async move {
                        this.sync(claimed).await;
                        drop(slot);
                    });
                }
                Ok(None) => {
                    drop(slot);
                    let _ = tokio::time::timeout(POLL, this.wake.notified()).await;
                }
                Err(err) => {
                    drop(slot);
                    tracing::warn!("cannot claim a knowledge sync: {err}");
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    async fn sync(&self, claimed: Claimed) {
        let source = claimed.source.id.clone();
        let Some(synced) = self.read_renewing(&claimed).await else {
            tracing::info!(
                source,
                "a knowledge source changed while it synced; the sync stopped"
            );
            return;
        };
        let chunks = synced.chunks.len();
        match knowledge_sources::finish_sync(&self.db, &claimed, synced, Utc::now()).await {
            Ok(true) => {
                tracing::info!(source, chunks, "synced a knowledge source");
                self.synced.notify_one();
            }
            Ok(false) => {
                tracing::info!(
                    source,
                    "a knowledge source changed while it synced; it syncs again"
                )
            }
            // The claim's lease runs out and the sync is tried again.
            Err(err) => tracing::warn!(source, "cannot record a knowledge sync: {err}"),
        }
    }

    /// Reads the source while renewing the claim's lease; `None` (and the read abandoned) once
    /// the claim no longer holds.
    async fn read_renewing(&self, claimed: &Claimed) -> Option<Synced> {
        let read = read(&self.crawler, &self.embedder, claimed);
        tokio::pin!(read);
        loop {
            tokio::select! {
                synced = &mut read => return Some(synced),
                () = tokio::time::sleep(RENEW) => {
                    match knowledge_sources::renew_lease(&self.db, claimed, Utc::now(), LEASE).await {
                        Ok(true) => {}
                        Ok(false) => return None,
                        // The database is away: go on; recording the result tells.
                        Err(err) => tracing::warn!("cannot renew a knowledge sync's lease: {err}"),
                    }
                }
            }
        }
    }
}

/// Reads a claimed source into chunks, and embeds them.
async fn read(crawler: &Crawler, embedder: &Arc<Embedder>, claimed: &Claimed) -> Synced {
    let mut synced = read_chunks(crawler, claimed).await;
    let chunks = std::mem::take(&mut synced.chunks);
    let model = embedder.clone();
    // Thousands of chunks take seconds of CPU: off the threads that serve requests.
    let embedded = tokio::task::spawn_blocking(move || {
        chunks
            .into_iter()
            .map(|mut chunk| {
                let headings: Vec<String> =
                    serde_json::from_str(&chunk.headings).unwrap_or_default();
                let meaning = chunk::meaning(&chunk.title, &headings, &chunk.text);
                chunk.embedding = embedding::to_bytes(&model.embed(&meaning));
                chunk
            })
            .collect()
    })
    .await;
    match embedded {
        Ok(chunks) => {
            synced.chunks = chunks;
            synced.embedding_model = embedder.id().to_string();
            synced
        }
        Err(err) => failure(format!("cannot embed the source's chunks: {err}")),
    }
}

/// Reads a claimed source into chunks (not yet embedded).
async fn read_chunks(crawler: &Crawler, claimed: &Claimed) -> Synced {
    let config: SourceConfig = match serde_json::from_str(&claimed.source.config) {
        Ok(config) => config,
        Err(err) => {
            return failure(format!(
                "the source's stored definition is unreadable: {err}"
            ));
        }
    };
    let plan = match plan(claimed.source.kind, &config) {
        Ok(Some(plan)) => plan,
        Ok(None) => return text(config),
        Err(message) => return failure(message),
    };
    let Crawled {
        documents,
        discovered,
        errors,
    } = crawler.crawl(plan).await;
    let failed = documents.is_empty() && !errors.is_empty();
    let now = Utc::now();
    Synced {
        pages_discovered: count(discovered),
        pages_indexed: count(documents.len()),
        chunks: chunks(&documents),
        embedding_model: String::new(),
        errors: encode(
            errors
                .into_iter()
                .map(|error| StoredSyncError {
                    url: error.url,
                    message: error.message,
                    occurred_at: now,
                })
                .collect(),
        ),
        failed,
    }
}

/// What to crawl for a `url-crawl` or `sitemap` source; `None` for a `text` source.
fn plan(kind: KnowledgeSourceType, config: &SourceConfig) -> Result<Option<Plan>, String> {
    let parse = |url: &str| Url::parse(url).map_err(|err| format!("`{url}` is not a URL: {err}"));
    let start = match kind {
        KnowledgeSourceType::UrlCrawl => Start::Seeds {
            urls: config
                .seed_urls
                .iter()
                .flatten()
                .map(|url| parse(url))
                .collect::<Result<_, _>>()?,
            max_depth: usize::try_from(config.max_depth.unwrap_or(3)).unwrap_or(0),
        },
        KnowledgeSourceType::Sitemap => {
            Start::Sitemap(parse(config.sitemap_url.as_deref().unwrap_or_default())?)
        }
        KnowledgeSourceType::Text => return Ok(None),
    };
    Ok(Some(Plan {
        start,
        max_pages: usize::try_from(config.max_pages.unwrap_or(500))
            .unwrap_or(1)
            .clamp(1, 10_000),
        include: config.include_patterns.clone().unwrap_or_default(),
        exclude: config.exclude_patterns.clone().unwrap_or_default(),
    }))
}

fn failure(message: String) -> Synced {
    Synced {
        pages_discovered: 0,
        pages_indexed: 0,
        chunks: Vec::new(),
        embedding_model: String::new(),
        errors: encode(vec![StoredSyncError {
            url: None,
            message,
            occurred_at: Utc::now(),
        }]),
        failed: true,
    }
}

/// A `text` source's documents, read as Markdown.
fn text(config: SourceConfig) -> Synced {
    let documents: Vec<Document> = config
        .documents
        .unwrap_or_default()
        .iter()
        .map(|stored| markdown::document(stored.url.clone(), &stored.title, &stored.body))
        .collect();
    Synced {
        pages_discovered: count(documents.len()),
        pages_indexed: count(documents.len()),
        chunks: chunks(&documents),
        embedding_model: String::new(),
        errors: encode(Vec::new()),
        failed: false,
    }
}

fn chunks(documents: &[Document]) -> Vec<NewChunk> {
    let mut chunks = Vec::new();
    for document in documents {
        for piece in chunk::chunks(document) {
            chunks.push(NewChunk {
                url: document.url.clone(),
                title: document.title.clone(),
                headings: serde_json::to_string(&piece.headings)
                    .expect("a list of strings is JSON"),
                text: piece.text,
                embedding: Vec::new(),
            });
        }
    }
    chunks
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn encode(errors: Vec<StoredSyncError>) -> String {
    debug_assert!(errors.len() <= crawl::MAX_ERRORS);
    serde_json::to_string(&errors).expect("sync errors are JSON")
}
