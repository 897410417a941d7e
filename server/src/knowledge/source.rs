//! A knowledge source's type-specific settings, as stored in its `config` column: what the API
//! writes and what a sync reads.

use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SourceConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed_urls: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sitemap_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pages: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_patterns: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_patterns: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents: Option<Vec<StoredDocument>>,
}

/// A document of a `text` source.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredDocument {
    pub title: String,
    pub body: String,
    pub url: Option<String>,
}

/// A problem met while syncing, as kept in the source's `errors` column.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredSyncError {
    pub url: Option<String>,
    pub message: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
}
