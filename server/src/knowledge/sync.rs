//! The syncer: claims knowledge sources waiting for a sync, reads them, and replaces their chunks.
//! Syncs are durable: a source stays `queued` (or `syncing` under a lease) in the database until a
//! sync of its latest definition is recorded, so one that a crash interrupted is taken up again
//! once its lease runs out, by this process after a restart or by any replica.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use super::chunk;
use super::markdown;
use super::source::{SourceConfig, StoredSyncError};
use crate::store::knowledge_sources::{self, Claimed, NewChunk, Synced};

/// How long a claim holds before another syncer may take the source over.
const LEASE: TimeDelta = TimeDelta::minutes(10);
/// How often an idle syncer looks for work other processes queued (or a dead syncer left).
const POLL: Duration = Duration::from_secs(1);
/// The source types this syncer reads; the others wait, `queued`, for their readers.
const KINDS: &[&str] = &["text"];

/// Claims and runs syncs, one at a time.
pub struct Syncer {
    pub db: DatabaseConnection,
    /// Notified when a source is queued in this process, so that its sync starts at once.
    pub wake: Arc<Notify>,
    /// Notified when a sync is recorded, so that this process's index catches up at once.
    pub synced: Arc<Notify>,
}

impl Syncer {
    pub async fn run(self) {
        loop {
            match knowledge_sources::claim_sync(&self.db, KINDS, Utc::now(), LEASE).await {
                Ok(Some(claimed)) => self.sync(claimed).await,
                Ok(None) => {
                    let _ = tokio::time::timeout(POLL, self.wake.notified()).await;
                }
                Err(err) => {
                    tracing::warn!("cannot claim a knowledge sync: {err}");
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    async fn sync(&self, claimed: Claimed) {
        let synced = read(&claimed);
        let source = claimed.source.id.clone();
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
}

/// Reads a claimed source into chunks.
fn read(claimed: &Claimed) -> Synced {
    let failure = |message: String| Synced {
        pages_discovered: 0,
        pages_indexed: 0,
        chunks: Vec::new(),
        errors: errors(vec![StoredSyncError {
            url: None,
            message,
            occurred_at: Utc::now(),
        }]),
        failed: true,
    };
    let config: SourceConfig = match serde_json::from_str(&claimed.source.config) {
        Ok(config) => config,
        Err(err) => {
            return failure(format!(
                "the source's stored definition is unreadable: {err}"
            ));
        }
    };
    let documents = config.documents.unwrap_or_default();
    let mut chunks = Vec::new();
    for stored in &documents {
        let document = markdown::document(stored.url.clone(), &stored.title, &stored.body);
        for piece in chunk::chunks(&document) {
            chunks.push(NewChunk {
                url: document.url.clone(),
                title: document.title.clone(),
                headings: serde_json::to_string(&piece.headings)
                    .expect("a list of strings is JSON"),
                text: piece.text,
            });
        }
    }
    let count = i32::try_from(documents.len()).unwrap_or(i32::MAX);
    Synced {
        pages_discovered: count,
        pages_indexed: count,
        chunks,
        errors: errors(Vec::new()),
        failed: false,
    }
}

fn errors(errors: Vec<StoredSyncError>) -> String {
    serde_json::to_string(&errors).expect("sync errors are JSON")
}
