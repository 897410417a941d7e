//! `/v1/knowledge-sources`: what the assistant answers from. Syncing (crawling, parsing, chunking)
//! is the knowledge syncer's job (`knowledge::sync`): a source waits as `queued` until it runs.
//! The addresses a crawl starts from are checked against the outbound policy here.

use poem_openapi::payload::Json;

use super::{HoverBot, RequestContext};
use crate::knowledge::index::KnowledgeIndex;
use crate::knowledge::source::{SourceConfig, StoredDocument, StoredSyncError};
use crate::problem::{ApiError, Problem};
use crate::store::entity::knowledge_source;
use crate::store::json;
use crate::store::knowledge_sources::{self, Filter, SourceInput};
use hoverbot_api::{
    DeleteKnowledgeSourceParams, DeleteKnowledgeSourceResponse, GetKnowledgeSourceParams,
    GetKnowledgeSourceResponse, KnowledgeSource, KnowledgeSourceInput, KnowledgeSourceList,
    KnowledgeSourceStatus, KnowledgeSourceType, KnowledgeSourcesApi, ListKnowledgeSourcesParams,
    ListKnowledgeSourcesResponse, RefreshRate, SyncError, SyncKnowledgeSourceParams,
    SyncKnowledgeSourceResponse, TextDocument, UpsertKnowledgeSourceParams,
    UpsertKnowledgeSourceResponse,
};

impl From<TextDocument> for StoredDocument {
    fn from(document: TextDocument) -> Self {
        Self {
            title: document.title,
            body: document.body,
            url: document.url,
        }
    }
}

fn to_input(body: KnowledgeSourceInput) -> Result<SourceInput, ApiError> {
    let (kind, name, external_id, refresh_rate, config) = match body {
        KnowledgeSourceInput::UrlCrawlSourceInput(source) => (
            KnowledgeSourceType::UrlCrawl,
            source.name,
            source.external_id,
            source.refresh_rate,
            SourceConfig {
                seed_urls: Some(source.seed_urls),
                max_pages: Some(source.max_pages),
                max_depth: Some(source.max_depth),
                include_patterns: source.include_patterns,
                exclude_patterns: source.exclude_patterns,
                ..SourceConfig::default()
            },
        ),
        KnowledgeSourceInput::SitemapSourceInput(source) => (
            KnowledgeSourceType::Sitemap,
            source.name,
            source.external_id,
            source.refresh_rate,
            SourceConfig {
                sitemap_url: Some(source.sitemap_url),
                max_pages: Some(source.max_pages),
                include_patterns: source.include_patterns,
                exclude_patterns: source.exclude_patterns,
                ..SourceConfig::default()
            },
        ),
        KnowledgeSourceInput::TextSourceInput(source) => (
            KnowledgeSourceType::Text,
            source.name,
            source.external_id,
            None,
            SourceConfig {
                documents: Some(source.documents.into_iter().map(Into::into).collect()),
                ..SourceConfig::default()
            },
        ),
    };
    Ok(SourceInput {
        kind,
        name,
        external_id,
        config: json::encode(&config)?,
        refresh_rate: refresh_rate.unwrap_or(RefreshRate::Never),
    })
}

/// The source as the API shows it. `ready` means answerable: a sync recorded in the database but
/// not yet in this process's index (it catches up within `index::CATCH_UP`) is still `syncing`
/// here, so that a client that waits for `ready` and then asks is answered from every chunk.
fn to_wire(
    row: knowledge_source::Model,
    index: &KnowledgeIndex,
) -> Result<KnowledgeSource, ApiError> {
    let config: SourceConfig = json::decode(&row.config)?;
    let errors: Vec<StoredSyncError> = json::decode(&row.errors)?;
    let indexed = row
        .last_synced_at
        .is_some_and(|synced_at| index.holds(&row.id, synced_at));
    let status = match row.status {
        KnowledgeSourceStatus::Ready if !indexed => KnowledgeSourceStatus::Syncing,
        status => status,
    };
    Ok(KnowledgeSource {
        id: row.id,
        r#type: row.kind,
        name: row.name,
        external_id: row.external_id,
        status,
        refresh_rate: row.refresh_rate,
        seed_urls: config.seed_urls,
        sitemap_url: config.sitemap_url,
        max_pages: config.max_pages,
        max_depth: config.max_depth,
        include_patterns: config.include_patterns,
        exclude_patterns: config.exclude_patterns,
        document_count: config
            .documents
            .as_ref()
            .map(|documents| i32::try_from(documents.len()).unwrap_or(i32::MAX)),
        pages_discovered: row.pages_discovered,
        pages_indexed: row.pages_indexed,
        chunks: row.chunk_count,
        errors: errors
            .into_iter()
            .map(|error| SyncError {
                url: error.url,
                message: error.message,
                occurred_at: error.occurred_at,
            })
            .collect(),
        last_synced_at: row.last_synced_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

impl HoverBot {
    /// Checks the addresses a crawl starts from against the outbound policy, so that a source
    /// that could never be crawled is refused now (a 422 on the address) rather than failing
    /// later. Pages found while crawling are checked again at each fetch.
    async fn check_start_urls(&self, body: &KnowledgeSourceInput) -> Result<(), Problem> {
        let urls: Vec<(String, &str)> = match body {
            KnowledgeSourceInput::UrlCrawlSourceInput(source) => source
                .seed_urls
                .iter()
                .enumerate()
                .map(|(i, url)| (format!("/seedUrls/{i}"), url.as_str()))
                .collect(),
            KnowledgeSourceInput::SitemapSourceInput(source) => {
                vec![("/sitemapUrl".to_string(), source.sitemap_url.as_str())]
            }
            KnowledgeSourceInput::TextSourceInput(_) => Vec::new(),
        };
        let mut parsed = Vec::with_capacity(urls.len());
        for (pointer, url) in &urls {
            match url::Url::parse(url) {
                Ok(url) => parsed.push(url),
                Err(err) => {
                    return Err(Problem::refused_field(
                        "url_not_allowed",
                        pointer,
                        format!("not a URL: {err}"),
                    ));
                }
            }
        }
        // Each host is resolved once, all at once: a request waits for the slowest lookup, not
        // their sum.
        let checked = self.sender.policy().check_pages(&parsed).await;
        for ((pointer, _), checked) in urls.iter().zip(checked) {
            checked.map_err(|refused| {
                Problem::refused_field("url_not_allowed", pointer, refused.to_string())
            })?;
        }
        Ok(())
    }
}

impl KnowledgeSourcesApi for HoverBot {
    async fn list_knowledge_sources(
        &self,
        ctx: RequestContext,
        params: ListKnowledgeSourcesParams,
    ) -> poem::Result<ListKnowledgeSourcesResponse> {
        let filter = Filter {
            status: params.status,
        };
        let page = knowledge_sources::list(
            &self.db,
            &ctx.principal.workspace,
            filter,
            params.limit,
            params.cursor.as_deref(),
        )
        .await?;
        let has_more = page.has_more();
        let page = page.try_map(|row| to_wire(row, &self.knowledge))?;
        Ok(ListKnowledgeSourcesResponse::Ok(Json(
            KnowledgeSourceList {
                data: page.items,
                has_more,
                next_cursor: page.next_cursor,
            },
        )))
    }

    async fn upsert_knowledge_source(
        &self,
        ctx: RequestContext,
        _params: UpsertKnowledgeSourceParams,
        body: KnowledgeSourceInput,
    ) -> poem::Result<UpsertKnowledgeSourceResponse> {
        self.check_start_urls(&body).await?;
        let (row, created) = knowledge_sources::upsert(
            &self.db,
            &self.syncs,
            &ctx.principal.workspace,
            to_input(body)?,
        )
        .await?;
        let source = Json(to_wire(row, &self.knowledge)?);
        Ok(if created {
            UpsertKnowledgeSourceResponse::Created(source)
        } else {
            UpsertKnowledgeSourceResponse::Ok(source)
        })
    }

    async fn get_knowledge_source(
        &self,
        ctx: RequestContext,
        params: GetKnowledgeSourceParams,
    ) -> poem::Result<GetKnowledgeSourceResponse> {
        let row = knowledge_sources::get(
            &self.db,
            &ctx.principal.workspace,
            &params.knowledge_source_id,
        )
        .await?
        .ok_or_else(|| Problem::not_found("the knowledge source"))?;
        Ok(GetKnowledgeSourceResponse::Ok(Json(to_wire(
            row,
            &self.knowledge,
        )?)))
    }

    async fn sync_knowledge_source(
        &self,
        ctx: RequestContext,
        params: SyncKnowledgeSourceParams,
    ) -> poem::Result<SyncKnowledgeSourceResponse> {
        let row = knowledge_sources::request_sync(
            &self.db,
            &self.syncs,
            &ctx.principal.workspace,
            &params.knowledge_source_id,
        )
        .await?
        .ok_or_else(|| Problem::not_found("the knowledge source"))?;
        Ok(SyncKnowledgeSourceResponse::Accepted(Json(to_wire(
            row,
            &self.knowledge,
        )?)))
    }

    async fn delete_knowledge_source(
        &self,
        ctx: RequestContext,
        params: DeleteKnowledgeSourceParams,
    ) -> poem::Result<DeleteKnowledgeSourceResponse> {
        if !knowledge_sources::delete(
            &self.db,
            &ctx.principal.workspace,
            &params.knowledge_source_id,
        )
        .await?
        {
            return Err(Problem::not_found("the knowledge source").into());
        }
        Ok(DeleteKnowledgeSourceResponse::NoContent)
    }
}
