//! Knowledge sources and their sync jobs. Upsert by `externalId`: the unique index on (workspace,
//! external id) settles concurrent creates, and the loser of that race updates instead. A sync is
//! claimed under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never take the same
//! one), and its result replaces the source's chunks in one transaction, only if the claim still
//! holds and nobody changed the source meanwhile: answers never see half a sync, and an old
//! definition's sync never overwrites a newer one's.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use hoverbot_api::{KnowledgeSourceStatus, KnowledgeSourceType, RefreshRate};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Order, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr,
};
use tokio::sync::Notify;

use super::db::{Db, Write};
use super::entity::{knowledge_chunk, knowledge_source};
use super::page::{self, Page};
use super::tenant::{TenantScoped, WorkspaceId};
use crate::ids;
use crate::problem::{ApiError, Problem};

/// Chunks inserted per statement (well under PostgreSQL's 65,535 bind parameters).
const INSERT_BATCH: usize = 500;

/// A source as the client describes it.
pub struct SourceInput {
    pub kind: KnowledgeSourceType,
    pub name: String,
    pub external_id: Option<String>,
    /// The type-specific settings, as JSON.
    pub config: String,
    pub refresh_rate: RefreshRate,
}

#[derive(Default)]
pub struct Filter {
    pub status: Option<KnowledgeSourceStatus>,
}

/// Creates the source, or updates the one with the same external id; `true` when it was created.
/// Either way it is queued for a sync, and `syncer` is woken once that is committed.
pub async fn upsert(
    db: &Db,
    syncer: &Arc<Notify>,
    workspace: &WorkspaceId,
    input: SourceInput,
) -> Result<(knowledge_source::Model, bool), ApiError> {
    let txn = db.write().await?;
    txn.wake_after_commit(syncer);
    let upserted = upsert_in(&txn, workspace, input).await?;
    txn.commit().await?;
    Ok(upserted)
}

async fn upsert_in(
    txn: &Write,
    workspace: &WorkspaceId,
    input: SourceInput,
) -> Result<(knowledge_source::Model, bool), ApiError> {
    if let Some(existing) =
        find_by_external_id(txn, workspace, input.external_id.as_deref()).await?
    {
        return Ok((update(txn, existing, input).await?, false));
    }
    let now = Utc::now();
    let model = knowledge_source::ActiveModel {
        id: Set(ids::new(ids::KNOWLEDGE_SOURCE)),
        workspace_id: Set(workspace.as_str().to_string()),
        external_id: Set(input.external_id.clone()),
        kind: Set(input.kind),
        name: Set(input.name.clone()),
        config: Set(input.config.clone()),
        status: Set(KnowledgeSourceStatus::Queued),
        refresh_rate: Set(input.refresh_rate),
        pages_discovered: Set(0),
        pages_indexed: Set(0),
        chunk_count: Set(0),
        errors: Set("[]".to_string()),
        last_synced_at: Set(None),
        sync_generation: Set(0),
        sync_leased_until: Set(None),
        sync_lease_token: Set(None),
        next_sync_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    // Another node may insert the same external id meanwhile (on PostgreSQL; SQLite's writer
    // is alone): the insert is tried in a savepoint, so that its failure leaves the write alive.
    let attempt = txn.savepoint().await?;
    match model.insert(&attempt).await {
        Ok(created) => {
            attempt.commit().await?;
            Ok((created, true))
        }
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            attempt.rollback().await?;
            let existing = find_by_external_id(txn, workspace, input.external_id.as_deref())
                .await?
                .ok_or_else(|| ApiError::internal(err))?;
            Ok((update(txn, existing, input).await?, false))
        }
        Err(err) => Err(err.into()),
    }
}

/// The workspace's source with this external id.
pub async fn find_by_external_id(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    external_id: Option<&str>,
) -> Result<Option<knowledge_source::Model>, ApiError> {
    let Some(external_id) = external_id else {
        return Ok(None);
    };
    Ok(knowledge_source::Entity::find_in(workspace)
        .filter(knowledge_source::Column::ExternalId.eq(external_id))
        .one(db)
        .await?)
}

/// A changed source is synced again from scratch, so it goes back to `queued`.
async fn update(
    txn: &Write,
    existing: knowledge_source::Model,
    input: SourceInput,
) -> Result<knowledge_source::Model, ApiError> {
    if existing.kind != input.kind {
        return Err(Problem::conflict(
            "knowledge_source_type_mismatch",
            format!(
                "the source with this externalId is of type `{}`; delete it first to make it a `{}` source",
                existing.kind, input.kind
            ),
        )
        .into());
    }
    let mut model: knowledge_source::ActiveModel = existing.into();
    model.kind = Set(input.kind);
    model.name = Set(input.name);
    model.config = Set(input.config);
    model.refresh_rate = Set(input.refresh_rate);
    queue(&mut model);
    Ok(model.update(txn).await?)
}

/// Queues a new sync of the source, and wakes `syncer` once that is committed; `None` when the
/// workspace has no source with this id.
pub async fn request_sync(
    db: &Db,
    syncer: &Arc<Notify>,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<Option<knowledge_source::Model>, ApiError> {
    let txn = db.write().await?;
    let Some(existing) = get(&txn, workspace, id).await? else {
        return Ok(None);
    };
    let mut model: knowledge_source::ActiveModel = existing.into();
    queue(&mut model);
    let queued = model.update(&txn).await?;
    txn.wake_after_commit(syncer);
    txn.commit().await?;
    Ok(Some(queued))
}

/// Back to `queued` under a new generation, so that a sync still running for the old one is not
/// recorded, and free for any syncer to claim.
fn queue(model: &mut knowledge_source::ActiveModel) {
    model.status = Set(KnowledgeSourceStatus::Queued);
    model.sync_generation = Set(model.sync_generation.as_ref().saturating_add(1));
    model.sync_leased_until = Set(None);
    model.sync_lease_token = Set(None);
    model.next_sync_at = Set(None);
    model.updated_at = Set(Utc::now());
}

/// How long after a sync a source with this refresh rate syncs again.
pub fn refresh_period(refresh_rate: RefreshRate) -> Option<TimeDelta> {
    match refresh_rate {
        RefreshRate::Daily => Some(TimeDelta::days(1)),
        RefreshRate::Weekly => Some(TimeDelta::weeks(1)),
        RefreshRate::Never => None,
    }
}

pub async fn list(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    filter: Filter,
    limit: i32,
    cursor: Option<&str>,
) -> Result<Page<knowledge_source::Model>, ApiError> {
    let mut select = knowledge_source::Entity::find_in(workspace);
    if let Some(status) = filter.status {
        select = select.filter(knowledge_source::Column::Status.eq(status));
    }
    page::fetch(
        db,
        select,
        knowledge_source::Column::Id,
        |row| &row.id,
        limit,
        cursor,
    )
    .await
}

pub async fn get(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<Option<knowledge_source::Model>, ApiError> {
    Ok(knowledge_source::Entity::find_in(workspace)
        .filter(knowledge_source::Column::Id.eq(id))
        .one(db)
        .await?)
}

/// Deletes the source; `false` when the workspace has none with this id.
pub async fn delete(db: &Db, workspace: &WorkspaceId, id: &str) -> Result<bool, ApiError> {
    let txn = db.write().await?;
    let result = knowledge_source::Entity::delete_in(workspace)
        .filter(knowledge_source::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(result.rows_affected == 1)
}

/// A sync a syncer holds.
pub struct Claimed {
    pub source: knowledge_source::Model,
    pub workspace: WorkspaceId,
    token: String,
}

/// A chunk of a sync's result.
pub struct NewChunk {
    pub url: Option<String>,
    pub title: String,
    /// A JSON array of headings.
    pub headings: String,
    pub text: String,
    /// Its vector (`embedding::to_bytes`).
    pub embedding: Vec<u8>,
}

/// What a sync found.
pub struct Synced {
    pub pages_discovered: i32,
    pub pages_indexed: i32,
    pub chunks: Vec<NewChunk>,
    /// The model that embedded the chunks.
    pub embedding_model: String,
    /// A JSON array of `StoredSyncError`s.
    pub errors: String,
    /// Nothing could be synced: the source is `failed` and keeps its old chunks.
    pub failed: bool,
}

/// Claims the source of one of `kinds` that waits longest for a sync (queued, due for its
/// scheduled re-sync, or syncing under a lease that ran out because its syncer died), for `lease`.
// cross-tenant: the syncer claims the next due source of any workspace.
pub async fn claim_sync(
    db: &Db,
    kinds: &[&str],
    now: DateTime<Utc>,
    lease: TimeDelta,
) -> Result<Option<Claimed>, DbErr> {
    let txn = db.write().await?;
    let due = Query::select()
        .column(knowledge_source::Column::Id)
        .from(knowledge_source::Entity)
        .and_where(knowledge_source::Column::Kind.is_in(kinds.iter().copied()))
        .cond_where(
            Condition::any()
                .add(knowledge_source::Column::Status.eq(KnowledgeSourceStatus::Queued))
                .add(
                    Condition::all()
                        .add(knowledge_source::Column::Status.eq(KnowledgeSourceStatus::Syncing))
                        .add(knowledge_source::Column::SyncLeasedUntil.lt(now)),
                )
                .add(
                    Condition::all()
                        .add(
                            knowledge_source::Column::Status.is_in([
                                KnowledgeSourceStatus::Ready,
                                KnowledgeSourceStatus::Failed,
                            ]),
                        )
                        .add(knowledge_source::Column::NextSyncAt.lte(now)),
                ),
        )
        .order_by(knowledge_source::Column::UpdatedAt, Order::Asc)
        .limit(1)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let token = ulid::Ulid::new().to_string();
    let claimed = knowledge_source::Entity::update_many()
        .col_expr(
            knowledge_source::Column::Status,
            Expr::value(KnowledgeSourceStatus::Syncing),
        )
        .col_expr(
            knowledge_source::Column::SyncLeasedUntil,
            Expr::value(now + lease),
        )
        .col_expr(
            knowledge_source::Column::SyncLeaseToken,
            Expr::value(token.clone()),
        )
        .filter(knowledge_source::Column::Id.in_subquery(due))
        .exec_with_returning(&txn)
        .await?;
    txn.commit().await?;
    Ok(claimed.into_iter().next().map(|source| Claimed {
        workspace: WorkspaceId::from_row(source.workspace_id.clone()),
        source,
        token,
    }))
}

/// Records a sync's result: the source's counters and status, and its chunks replaced by the new
/// ones, in one transaction. `false` (and nothing written) when the claim no longer holds: the
/// source was changed, deleted, or taken over meanwhile.
pub async fn finish_sync(
    db: &Db,
    claimed: &Claimed,
    synced: Synced,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let txn = db.write().await?;
    let source = &claimed.source;
    let mut update = knowledge_source::Entity::update_in(&claimed.workspace)
        .col_expr(
            knowledge_source::Column::Status,
            Expr::value(if synced.failed {
                KnowledgeSourceStatus::Failed
            } else {
                KnowledgeSourceStatus::Ready
            }),
        )
        .col_expr(
            knowledge_source::Column::PagesDiscovered,
            Expr::value(synced.pages_discovered),
        )
        .col_expr(
            knowledge_source::Column::PagesIndexed,
            Expr::value(synced.pages_indexed),
        )
        .col_expr(knowledge_source::Column::Errors, Expr::value(synced.errors))
        .col_expr(
            knowledge_source::Column::NextSyncAt,
            Expr::value(refresh_period(source.refresh_rate).map(|period| now + period)),
        )
        .col_expr(knowledge_source::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            knowledge_source::Column::SyncLeasedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            knowledge_source::Column::SyncLeaseToken,
            Expr::value(Option::<String>::None),
        )
        .filter(knowledge_source::Column::Id.eq(source.id.as_str()))
        .filter(knowledge_source::Column::SyncLeaseToken.eq(claimed.token.as_str()))
        .filter(knowledge_source::Column::SyncGeneration.eq(source.sync_generation));
    if !synced.failed {
        let count = i32::try_from(synced.chunks.len()).unwrap_or(i32::MAX);
        update = update
            .col_expr(knowledge_source::Column::ChunkCount, Expr::value(count))
            .col_expr(knowledge_source::Column::LastSyncedAt, Expr::value(now));
    }
    if update.exec(&txn).await?.rows_affected == 0 {
        return Ok(false);
    }
    if !synced.failed {
        knowledge_chunk::Entity::delete_in(&claimed.workspace)
            .filter(knowledge_chunk::Column::SourceId.eq(source.id.as_str()))
            .exec(&txn)
            .await?;
        let rows: Vec<knowledge_chunk::ActiveModel> = synced
            .chunks
            .into_iter()
            .enumerate()
            .map(|(position, chunk)| knowledge_chunk::ActiveModel {
                embedding: Set(Some(chunk.embedding)),
                embedding_model: Set(Some(synced.embedding_model.clone())),
                id: Set(ids::new(ids::CHUNK)),
                workspace_id: Set(claimed.workspace.as_str().to_string()),
                source_id: Set(source.id.clone()),
                position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
                url: Set(chunk.url),
                title: Set(chunk.title),
                headings: Set(chunk.headings),
                text: Set(chunk.text),
                created_at: Set(now),
            })
            .collect();
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let batch: Vec<_> = rows.by_ref().take(INSERT_BATCH).collect();
            knowledge_chunk::Entity::insert_many(batch)
                .exec_without_returning(&txn)
                .await?;
        }
    }
    txn.commit().await?;
    Ok(true)
}

/// Extends a claim's lease while its sync runs; `false` when the claim no longer holds (the
/// source was changed, deleted or taken over), and the sync should stop.
pub async fn renew_lease(
    db: &Db,
    claimed: &Claimed,
    now: DateTime<Utc>,
    lease: TimeDelta,
) -> Result<bool, DbErr> {
    let txn = db.write().await?;
    let renewed = knowledge_source::Entity::update_in(&claimed.workspace)
        .col_expr(
            knowledge_source::Column::SyncLeasedUntil,
            Expr::value(now + lease),
        )
        .filter(knowledge_source::Column::Id.eq(claimed.source.id.as_str()))
        .filter(knowledge_source::Column::SyncLeaseToken.eq(claimed.token.as_str()))
        .filter(knowledge_source::Column::SyncGeneration.eq(claimed.source.sync_generation))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(renewed.rows_affected == 1)
}

/// The source's chunks, in order.
pub async fn chunks(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    source_id: &str,
) -> Result<Vec<knowledge_chunk::Model>, DbErr> {
    knowledge_chunk::Entity::find_in(workspace)
        .filter(knowledge_chunk::Column::SourceId.eq(source_id))
        .order_by_asc(knowledge_chunk::Column::Position)
        .all(db)
        .await
}

/// A source whose chunks come from a sync, and when that sync was recorded.
#[derive(Clone)]
pub struct SyncedSource {
    pub id: String,
    pub workspace: WorkspaceId,
    pub synced_at: DateTime<Utc>,
}

/// Every workspace's synced sources: what the retrieval index must hold. One of the few queries
/// across workspaces, like `claim_sync`: the index serves them all, and filters each search.
// cross-tenant: every process indexes every workspace's chunks, and filters each search by workspace.
pub async fn synced(db: &impl ConnectionTrait) -> Result<Vec<SyncedSource>, DbErr> {
    // Three columns only: this runs every few seconds on every process, and `config` may hold a
    // text source's documents.
    let rows: Vec<(String, String, DateTime<Utc>)> = knowledge_source::Entity::find()
        .select_only()
        .columns([
            knowledge_source::Column::Id,
            knowledge_source::Column::WorkspaceId,
            knowledge_source::Column::LastSyncedAt,
        ])
        .filter(knowledge_source::Column::LastSyncedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, workspace, synced_at)| SyncedSource {
            id,
            workspace: WorkspaceId::from_row(workspace),
            synced_at,
        })
        .collect())
}

/// The workspace's chunks with these ids (in no particular order); ids of deleted chunks, or of
/// another workspace's, find nothing.
pub async fn chunks_by_id(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    ids: &[&str],
) -> Result<Vec<knowledge_chunk::Model>, DbErr> {
    knowledge_chunk::Entity::find_in(workspace)
        .filter(knowledge_chunk::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}
