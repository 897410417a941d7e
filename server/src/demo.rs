//! The demo help center `serve --demo` loads: about twenty Markdown articles of Brightleaf, an
//! imaginary online home-goods shop (written for this project), on shipping, returns, payments,
//! accounts, orders and membership plans. It lets the README's example ("Can I change my shipping
//! address?") get a cited answer on a fresh server, and is the help center `cargo xtask eval`
//! measures answers on.

use anyhow::{Context, Result};
use hoverbot_api::{KnowledgeSourceType, RefreshRate};

use crate::knowledge::source::{SourceConfig, StoredDocument};
use crate::store::Db;
use crate::store::knowledge_sources::{self, SourceInput};
use crate::store::tenant::WorkspaceId;
use crate::store::{json, workspaces};

/// Where the articles would live, for citations (`.example` is reserved: no such site exists).
pub const BASE_URL: &str = "https://help.brightleaf.example/articles/";
/// The demo source's `externalId`, so that loading it again updates it instead of adding another.
pub const EXTERNAL_ID: &str = "demo-help-center";
/// The workspace it is loaded into: the one `serve` creates on first start.
const WORKSPACE: &str = "default";

macro_rules! page {
    ($slug:literal) => {
        (
            $slug,
            include_str!(concat!("../demo/help-center/", $slug, ".md")),
        )
    };
}

/// Each article's slug and Markdown.
pub const PAGES: &[(&str, &str)] = &[
    page!("brightleaf-plus"),
    page!("business-accounts"),
    page!("cancel-order"),
    page!("change-order"),
    page!("change-shipping-address"),
    page!("close-account"),
    page!("create-account"),
    page!("declined-payment"),
    page!("email-preferences"),
    page!("exchanges"),
    page!("gift-cards"),
    page!("how-to-return"),
    page!("international-shipping"),
    page!("invoices-and-vat"),
    page!("lost-or-damaged-parcels"),
    page!("payment-methods"),
    page!("refunds"),
    page!("reset-password"),
    page!("return-policy"),
    page!("shipping-options"),
    page!("track-your-order"),
    page!("warranty"),
];

/// The demo help center as the documents of a `text` source (see [`article`]).
pub fn documents() -> Vec<StoredDocument> {
    PAGES
        .iter()
        .map(|(slug, markdown)| article(BASE_URL, slug, markdown))
        .collect()
}

/// A help-center article of a `text` source: the title is its first heading, the address its
/// slug under `base_url`.
pub fn article(base_url: &str, slug: &str, markdown: &str) -> StoredDocument {
    StoredDocument {
        title: markdown
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# "))
            .unwrap_or(slug)
            .to_string(),
        body: markdown.to_string(),
        url: Some(format!("{base_url}{slug}")),
    }
}

/// Loads the help center into the `default` workspace as the `text` source
/// [`EXTERNAL_ID`]; does nothing when the workspace already has it as bundled.
pub async fn load(db: &Db) -> Result<()> {
    let workspace: WorkspaceId = workspaces::find(db, WORKSPACE)
        .await?
        .context("--demo loads into the `default` workspace, and this database has none")?;
    let config = json::encode(&SourceConfig {
        documents: Some(documents()),
        ..SourceConfig::default()
    })
    .map_err(|err| anyhow::anyhow!("{err}"))?;
    if knowledge_sources::find_by_external_id(db, &workspace, Some(EXTERNAL_ID))
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?
        .is_some_and(|existing| existing.config == config)
    {
        return Ok(());
    }
    knowledge_sources::upsert(
        db,
        // No syncer runs yet to be woken: the server's finds the source queued when it starts.
        &std::sync::Arc::default(),
        &workspace,
        SourceInput {
            kind: KnowledgeSourceType::Text,
            name: "Brightleaf help center (demo)".to_string(),
            external_id: Some(EXTERNAL_ID.to_string()),
            config,
            refresh_rate: RefreshRate::Never,
        },
    )
    .await
    .map_err(|err| anyhow::anyhow!("{err}"))?;
    tracing::info!(
        "loaded the demo help center ({} articles) into the `default` workspace",
        PAGES.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_article_has_a_title_and_fits_a_text_source() {
        let documents = documents();
        assert!(documents.len() >= 20 && documents.len() <= 100);
        for document in documents {
            assert!(!document.title.is_empty() && document.title.len() <= 500);
            assert!(!document.title.starts_with('#'));
            assert!(document.body.len() <= 100_000);
        }
    }
}
