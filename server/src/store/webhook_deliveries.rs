//! The webhook outbox and the delivery log.
//!
//! [`enqueue`] runs inside the transaction of the change that caused the event: the event and one
//! delivery per receiving endpoint commit with the change or not at all. Workers [`claim`] due
//! deliveries under a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never claim the
//! same row; SQLite runs one writer at a time, which makes the claim atomic there too) and
//! [`record`] what came of each attempt, guarded by the lease token so that a worker whose lease
//! ran out cannot overwrite the work of the one that took over.
//!
//! Claiming, queue statistics and purging work for the deployment across workspaces; they never
//! hand rows to a client. What a client reads goes through [`TenantScoped`].

use hoverbot_api::{DisabledReason, WebhookDeliveryStatus, WebhookEventType};
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait,
    FromQueryResult, Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::db::{Db, Write};
use super::entity::{webhook_attempt, webhook_delivery, webhook_endpoint, webhook_event};
use super::page::{self, Page};
use super::tenant::{TenantScoped, WorkspaceId};
use super::webhook_endpoints;
use crate::ids;
use crate::problem::{ApiError, Problem};
use crate::store::events::{self, Event};
use crate::store::outbox::Outbox;
use crate::webhooks::breaker;

/// Most attempts a delivery keeps; manual retries stop there.
pub const MAX_ATTEMPTS: i32 = 100;

/// Writes `event` and a delivery to each enabled endpoint of the workspace that receives it: the
/// endpoints subscribed to its type (or to `*`), and for escalations the endpoints labelled with
/// the escalation's destination. Returns how many deliveries were queued.
pub async fn enqueue(
    txn: &Write,
    workspace: &WorkspaceId,
    event: &Event,
    first_attempt_at: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Result<usize, ApiError> {
    webhook_event::ActiveModel {
        id: Set(event.id.clone()),
        workspace_id: Set(workspace.as_str().to_string()),
        event_type: Set(event.kind),
        payload: Set(event.body.clone()),
        conversation_id: Set(event.conversation_id.clone()),
        created_at: Set(event.created_at),
    }
    .insert(txn)
    .await?;
    let endpoints = webhook_endpoint::Entity::find_in(workspace)
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .all(txn)
        .await?;
    let now = Utc::now();
    let deliveries: Vec<webhook_delivery::ActiveModel> = endpoints
        .iter()
        .filter(|endpoint| receives(endpoint, event))
        .map(|endpoint| webhook_delivery::ActiveModel {
            id: Set(ids::new(ids::DELIVERY)),
            workspace_id: Set(workspace.as_str().to_string()),
            event_id: Set(event.id.clone()),
            endpoint_id: Set(endpoint.id.clone()),
            event_type: Set(event.kind),
            status: Set(WebhookDeliveryStatus::Pending),
            attempts: Set(0),
            next_attempt_at: Set(Some(first_attempt_at)),
            deadline: Set(deadline),
            leased_until: Set(None),
            lease_token: Set(None),
            last_status_code: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .collect();
    let queued = deliveries.len();
    if queued > 0 {
        webhook_delivery::Entity::insert_many(deliveries)
            .exec(txn)
            .await?;
    }
    Ok(queued)
}

/// Whether `endpoint` receives `event`.
fn receives(endpoint: &webhook_endpoint::Model, event: &Event) -> bool {
    let routed = event.destination.is_some() && endpoint.destination == event.destination;
    // The column is written by the endpoints API from a validated list.
    let subscribed =
        serde_json::from_str::<Vec<String>>(&endpoint.enabled_events).is_ok_and(|events| {
            events
                .iter()
                .any(|subscribed| subscribed == "*" || subscribed == event.kind.as_str())
        });
    routed || subscribed
}

/// A delivery a worker holds, with what its attempt needs.
pub struct Claimed {
    pub delivery: webhook_delivery::Model,
    /// The event's envelope.
    pub body: String,
    pub endpoint: webhook_endpoint::Model,
}

/// A due delivery that no worker holds, with what sharing out the attempt slots needs.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: String,
    pub workspace_id: String,
    pub endpoint_id: String,
    /// The endpoint's URL, whose host the attempt will occupy.
    pub url: String,
    /// The endpoint's breaker lets one attempt through, to probe the receiver.
    pub probe: bool,
}

/// Workspaces and endpoints a claim leaves out: the worker holds every attempt slot they may have,
/// so none of their deliveries could start now.
#[derive(Debug, Default)]
pub struct Full {
    pub workspaces: Vec<String>,
    pub endpoints: Vec<String>,
}

#[derive(FromQueryResult)]
struct DueRow {
    id: String,
    workspace_id: String,
    endpoint_id: String,
    next_attempt_at: Option<DateTime<Utc>>,
    url: String,
    consecutive_failures: i32,
}

/// The due deliveries that no worker holds, at endpoints whose breaker is not open: the oldest
/// `per_endpoint` of each endpoint, each endpoint's oldest first, then each one's second oldest,
/// and so on, so that an endpoint (or a workspace) with a large backlog does not crowd out the
/// others. Each endpoint's are found through its own index range (`endpoint_id, status,
/// next_attempt_at`), so a claim costs the same whatever the backlog, and those of `full` are not
/// read at all: a neighbour's backlog at receivers that hang costs other workspaces' claims nothing.
// cross-tenant: the delivery worker shares its slots out among every workspace's deliveries.
pub async fn due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    per_endpoint: u64,
    full: &Full,
) -> Result<Vec<Due>, DbErr> {
    use webhook_delivery::Column as D;
    use webhook_endpoint::Column as E;
    let endpoints = webhook_endpoint::Entity;
    let candidate = Alias::new("candidate");
    // The oldest due deliveries of the endpoint the outer query is at.
    let oldest = |columns: &[D]| {
        Query::select()
            .columns(columns.iter().map(|column| (candidate.clone(), *column)))
            .from_as(webhook_delivery::Entity, candidate.clone())
            .and_where(Expr::col((candidate.clone(), D::EndpointId)).equals((endpoints, E::Id)))
            .and_where(Expr::col((candidate.clone(), D::Status)).eq(WebhookDeliveryStatus::Pending))
            .and_where(Expr::col((candidate.clone(), D::NextAttemptAt)).lte(now))
            .cond_where(
                Condition::any()
                    .add(Expr::col((candidate.clone(), D::LeasedUntil)).is_null())
                    .add(Expr::col((candidate.clone(), D::LeasedUntil)).lt(now)),
            )
            .order_by((candidate.clone(), D::NextAttemptAt), Order::Asc)
            .limit(per_endpoint)
            .to_owned()
    };
    let columns = [D::Id, D::WorkspaceId, D::EndpointId, D::NextAttemptAt];
    let mut select = Query::select();
    select
        .columns([(endpoints, E::Url), (endpoints, E::ConsecutiveFailures)])
        .from(endpoints)
        .cond_where(
            Condition::any()
                .add(Expr::col((endpoints, E::PausedUntil)).is_null())
                .add(Expr::col((endpoints, E::PausedUntil)).lte(now)),
        );
    if !full.workspaces.is_empty() {
        select.and_where(Expr::col((endpoints, E::WorkspaceId)).is_not_in(&full.workspaces));
    }
    if !full.endpoints.is_empty() {
        select.and_where(Expr::col((endpoints, E::Id)).is_not_in(&full.endpoints));
    }
    let backend = db.get_database_backend();
    if backend == DatabaseBackend::Postgres {
        let due = Alias::new("due");
        select
            .columns(columns.map(|column| (due.clone(), column)))
            .join_lateral(
                JoinType::InnerJoin,
                oldest(&columns),
                due.clone(),
                Expr::cust("TRUE"),
            );
    } else {
        // SQLite has no LATERAL; a correlated `IN` takes its place, and looks each id up.
        let deliveries = webhook_delivery::Entity;
        select
            .columns(columns.map(|column| (deliveries, column)))
            .inner_join(
                deliveries,
                Expr::col((deliveries, D::Id)).in_subquery(oldest(&[D::Id])),
            );
    }
    let rows = DueRow::find_by_statement(backend.build(&select))
        .all(db)
        .await?;
    Ok(in_turns(rows))
}

/// `rows` in turns: every endpoint's oldest first, then every one's second oldest, and so on.
fn in_turns(mut rows: Vec<DueRow>) -> Vec<Due> {
    rows.sort_by(|a, b| {
        (&a.endpoint_id, a.next_attempt_at).cmp(&(&b.endpoint_id, b.next_attempt_at))
    });
    let mut turn = 0;
    let mut ranked: Vec<(usize, DueRow)> = Vec::with_capacity(rows.len());
    for row in rows {
        turn = match ranked.last() {
            Some((_, last)) if last.endpoint_id == row.endpoint_id => turn + 1,
            _ => 0,
        };
        ranked.push((turn, row));
    }
    ranked.sort_by(|(a_turn, a), (b_turn, b)| {
        (a_turn, a.next_attempt_at).cmp(&(b_turn, b.next_attempt_at))
    });
    ranked
        .into_iter()
        .map(|(_, row)| Due {
            id: row.id,
            workspace_id: row.workspace_id,
            endpoint_id: row.endpoint_id,
            url: row.url,
            probe: row.consecutive_failures >= breaker::THRESHOLD,
        })
        .collect()
}

/// Leases the deliveries `ids` that are still due and free until `now + lease`, with their events
/// and endpoints; those another worker took meanwhile are left out.
// cross-tenant: the delivery worker leases deliveries of every workspace, by their ids.
pub async fn lease(
    db: &Db,
    ids: Vec<String>,
    now: DateTime<Utc>,
    lease: Duration,
) -> Result<Vec<Claimed>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let txn = db.write().await?;
    let free = Query::select()
        .column(webhook_delivery::Column::Id)
        .from(webhook_delivery::Entity)
        .and_where(webhook_delivery::Column::Id.is_in(ids))
        .and_where(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Pending))
        .cond_where(
            Condition::any()
                .add(webhook_delivery::Column::LeasedUntil.is_null())
                .add(webhook_delivery::Column::LeasedUntil.lt(now)),
        )
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let token = ulid::Ulid::new().to_string();
    let deliveries = webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::LeasedUntil,
            Expr::value(now + lease),
        )
        .col_expr(webhook_delivery::Column::LeaseToken, Expr::value(token))
        .filter(webhook_delivery::Column::Id.in_subquery(free))
        .exec_with_returning(&txn)
        .await?;
    let claimed = with_event_and_endpoint(&txn, deliveries).await?;
    txn.commit().await?;
    Ok(claimed)
}

/// Loads each delivery's event and endpoint, within the delivery's own workspace.
async fn with_event_and_endpoint(
    db: &impl ConnectionTrait,
    deliveries: Vec<webhook_delivery::Model>,
) -> Result<Vec<Claimed>, DbErr> {
    let mut by_workspace: HashMap<String, Vec<webhook_delivery::Model>> = HashMap::new();
    for delivery in deliveries {
        by_workspace
            .entry(delivery.workspace_id.clone())
            .or_default()
            .push(delivery);
    }
    let mut claimed = Vec::new();
    for (workspace, deliveries) in by_workspace {
        let workspace = WorkspaceId::from_row(workspace);
        let event_ids: Vec<&str> = deliveries.iter().map(|d| d.event_id.as_str()).collect();
        let endpoint_ids: Vec<&str> = deliveries.iter().map(|d| d.endpoint_id.as_str()).collect();
        let events: HashMap<String, String> = webhook_event::Entity::find_in(&workspace)
            .filter(webhook_event::Column::Id.is_in(event_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|event| (event.id, event.payload))
            .collect();
        let endpoints: HashMap<String, webhook_endpoint::Model> =
            webhook_endpoint::Entity::find_in(&workspace)
                .filter(webhook_endpoint::Column::Id.is_in(endpoint_ids))
                .all(db)
                .await?
                .into_iter()
                .map(|endpoint| (endpoint.id.clone(), endpoint))
                .collect();
        for delivery in deliveries {
            // Both are foreign keys with cascading deletes: a delivery without them was deleted
            // with its endpoint in the meantime.
            if let (Some(body), Some(endpoint)) = (
                events.get(&delivery.event_id),
                endpoints.get(&delivery.endpoint_id),
            ) {
                claimed.push(Claimed {
                    body: body.clone(),
                    endpoint: endpoint.clone(),
                    delivery,
                });
            }
        }
    }
    Ok(claimed)
}

/// What follows an attempt, for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    Failed,
    RetryAt(DateTime<Utc>),
}

/// What an attempt tells of its endpoint's receiver, for the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It acknowledged the event.
    Healthy,
    /// It did not: an error status, a timeout, no connection.
    Failing,
    /// It had no say: the attempt was not sent, or the receiver itself asked for no more
    /// attempts of this event.
    Unjudged,
    /// The endpoint is to be disabled: its receiver answered `410 Gone` or asked for it.
    Disable(DisabledReason),
}

/// An attempt's result, to record.
pub struct Attempted {
    pub delivery: webhook_delivery::Model,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response_snippet: String,
    pub next: Next,
    pub verdict: Verdict,
    /// The endpoint's breaker when the delivery was claimed.
    pub health_at_claim: breaker::Health,
}

/// Records attempts in one transaction: what each tells of its endpoint (the breaker, and
/// disabling it with a `webhook_endpoint.disabled` event), then each delivery's outcome and
/// attempt. A delivery whose lease was taken over, or that another transaction holds (on
/// PostgreSQL: it is being deleted, with its event or its endpoint), is left alone; if that deletion
/// rolls back, the lease runs out and the delivery is attempted again. Returns how many deliveries
/// were recorded.
///
/// The order of the locks is what keeps this clear of deadlocks with those deletions, which take
/// the endpoint first, then its deliveries one by one: the endpoints are written first, in the
/// order of their ids, while no delivery is held, and the deliveries are then taken all at once
/// without waiting for any (`SKIP LOCKED`), so that the transaction never holds one delivery while
/// it waits for another.
pub async fn record(db: &Db, outbox: &Outbox, attempts: &[Attempted]) -> Result<usize, ApiError> {
    let txn = db.write().await?;
    let now = Utc::now();
    let mut by_endpoint: BTreeMap<(&str, &str), Vec<&Attempted>> = BTreeMap::new();
    for attempt in attempts {
        let delivery = &attempt.delivery;
        by_endpoint
            .entry((&delivery.endpoint_id, &delivery.workspace_id))
            .or_default()
            .push(attempt);
    }
    for ((endpoint, workspace), mut attempts) in by_endpoint {
        attempts.sort_by_key(|attempt| attempt.attempted_at);
        judge(
            &txn,
            outbox,
            &WorkspaceId::from_row(workspace.to_string()),
            endpoint,
            &attempts,
            now,
        )
        .await?;
    }
    let mut held = hold(&txn, attempts).await?;
    let recorded: Vec<&Attempted> = attempts
        .iter()
        .filter(|attempt| {
            let delivery = &attempt.delivery;
            let token = delivery.lease_token.clone().unwrap_or_default();
            held.remove(&(delivery.id.clone(), token))
        })
        .collect();
    // Deliveries with the same outcome are updated in one statement, and the attempts inserted in
    // one: a batch of a busy outbox costs a few statements, not two per attempt.
    let mut outcomes: HashMap<_, Vec<&str>> = HashMap::new();
    for attempt in &recorded {
        let (status, next_attempt_at) = match attempt.next {
            Next::Succeeded => (WebhookDeliveryStatus::Succeeded, None),
            Next::Failed => (WebhookDeliveryStatus::Failed, None),
            Next::RetryAt(at) => (WebhookDeliveryStatus::Pending, Some(at)),
        };
        let delivery = &attempt.delivery;
        outcomes
            .entry((
                delivery.workspace_id.as_str(),
                status,
                next_attempt_at,
                attempt.status_code,
            ))
            .or_default()
            .push(delivery.id.as_str());
    }
    for ((workspace, status, next_attempt_at, status_code), ids) in outcomes {
        webhook_delivery::Entity::update_in(&WorkspaceId::from_row(workspace.to_string()))
            .col_expr(webhook_delivery::Column::Status, Expr::value(status))
            .col_expr(
                webhook_delivery::Column::Attempts,
                Expr::col(webhook_delivery::Column::Attempts).add(1),
            )
            .col_expr(
                webhook_delivery::Column::NextAttemptAt,
                Expr::value(next_attempt_at),
            )
            .col_expr(
                webhook_delivery::Column::LeasedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(
                webhook_delivery::Column::LeaseToken,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                webhook_delivery::Column::LastStatusCode,
                Expr::value(status_code),
            )
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_delivery::Column::Id.is_in(ids))
            .exec(&txn)
            .await?;
    }
    let logged = recorded.iter().map(|attempt| webhook_attempt::ActiveModel {
        id: Set(ids::new(ids::ATTEMPT)),
        workspace_id: Set(attempt.delivery.workspace_id.clone()),
        delivery_id: Set(attempt.delivery.id.clone()),
        attempted_at: Set(attempt.attempted_at),
        status_code: Set(attempt.status_code),
        duration_ms: Set(attempt.duration_ms),
        error: Set(attempt.error.clone()),
        response_snippet: Set(attempt.response_snippet.clone()),
    });
    webhook_attempt::Entity::insert_many(logged)
        .exec(&txn)
        .await?;
    let recorded = recorded.len();
    txn.commit().await?;
    Ok(recorded)
}

/// Applies what `attempts` (oldest first) tell of the endpoint `id`'s receiver to its breaker, and
/// disables it when they call for that or it has failed for longer than a retry window; a
/// disabling writes `webhook_endpoint.disabled`. An endpoint deleted meanwhile is skipped.
async fn judge(
    txn: &Write,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    id: &str,
    attempts: &[&Attempted],
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    // Successes at an endpoint that was healthy when they were claimed change nothing (a failure
    // recorded since by another worker is left for its next success to clear), and most attempts
    // are such: their endpoint is not even read.
    if attempts.iter().all(|attempt| {
        matches!(attempt.verdict, Verdict::Healthy | Verdict::Unjudged)
            && attempt.health_at_claim == breaker::Health::default()
    }) {
        return Ok(());
    }
    let find =
        || webhook_endpoint::Entity::find_in(workspace).filter(webhook_endpoint::Column::Id.eq(id));
    // Read first without a lock: most attempts succeed at a healthy endpoint and change nothing,
    // and locking its row would hold up every event written for it meanwhile.
    let Some(row) = find().one(txn).await? else {
        return Ok(());
    };
    if verdict(outbox, &row, attempts, now).is_none() {
        return Ok(());
    }
    let Some(row) = find().lock(LockType::NoKeyUpdate).one(txn).await? else {
        return Ok(());
    };
    let Some((health, disable)) = verdict(outbox, &row, attempts, now) else {
        return Ok(());
    };
    let mut endpoint: webhook_endpoint::ActiveModel = row.into();
    endpoint.consecutive_failures = Set(health.consecutive_failures);
    endpoint.failing_since = Set(health.failing_since);
    endpoint.paused_until = Set(health.paused_until);
    if let Some(reason) = disable {
        endpoint.enabled = Set(false);
        endpoint.disabled_reason = Set(Some(reason));
        endpoint.updated_at = Set(now);
    }
    let row = endpoint.update(txn).await?;
    if let Some(reason) = disable {
        tracing::warn!(endpoint = %row.id, url = %row.url, ?reason, "webhook endpoint disabled");
        let event = events::webhook_endpoint_disabled(&row, reason, now);
        outbox.add(txn, workspace, &event).await?;
    }
    Ok(())
}

/// The endpoint `row`'s breaker after `attempts` (oldest first), and whether to disable it (when
/// they call for that, or it has failed for longer than a retry window); `None` when nothing
/// changes.
fn verdict(
    outbox: &Outbox,
    row: &webhook_endpoint::Model,
    attempts: &[&Attempted],
    now: DateTime<Utc>,
) -> Option<(breaker::Health, Option<DisabledReason>)> {
    let schedule = outbox.schedule();
    let before = webhook_endpoints::health(row);
    let mut health = before;
    let mut disable = None;
    for attempt in attempts {
        match attempt.verdict {
            Verdict::Healthy => health = health.succeeded(),
            Verdict::Failing => {
                health = health.failed(attempt.attempted_at, now, schedule);
                let queued_at = attempt.delivery.created_at;
                if health.failed_for_window(attempt.attempted_at, queued_at, schedule) {
                    disable = disable.or(Some(DisabledReason::Failing));
                }
            }
            Verdict::Unjudged => {}
            Verdict::Disable(reason) => disable = Some(reason),
        }
    }
    let disable = disable.filter(|_| row.enabled);
    (health != before || disable.is_some()).then_some((health, disable))
}

/// Locks the attempts' deliveries that no other transaction holds, in one statement that waits for
/// none (SQLite, one writer at a time, has no locks to skip); the ids and lease tokens of those it
/// holds that are leased (an attempt is recorded only under the token it was claimed with: a
/// delivery whose lease ran out and was taken over is not the earlier holder's to write).
// cross-tenant: the delivery worker records the attempts of every workspace; each delivery was
// claimed by its id.
async fn hold(txn: &Write, attempts: &[Attempted]) -> Result<HashSet<(String, String)>, DbErr> {
    let ids = attempts.iter().map(|attempt| attempt.delivery.id.as_str());
    let held: Vec<(String, Option<String>)> = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::Id)
        .column(webhook_delivery::Column::LeaseToken)
        .filter(webhook_delivery::Column::Id.is_in(ids))
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .into_tuple()
        .all(txn)
        .await?;
    Ok(held
        .into_iter()
        .filter_map(|(id, token)| Some(id).zip(token))
        .collect())
}

/// The next moment after `now` when a delivery that no worker holds may become claimable: the
/// earliest one falls due, or an endpoint's breaker lets its deliveries go. (Held ones come back
/// only if their lease runs out, which workers find when they next poll; those due already but kept
/// back by the worker's shares wait for a slot to free.)
// cross-tenant: the delivery worker sleeps until the next delivery of any workspace is due.
pub async fn next_due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let delivery = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Pending))
        .filter(webhook_delivery::Column::LeasedUntil.is_null())
        .filter(webhook_delivery::Column::NextAttemptAt.gt(now))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .one(db)
        .await?
        .and_then(|delivery| delivery.next_attempt_at);
    let resumed = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::PausedUntil.gt(now))
        .order_by_asc(webhook_endpoint::Column::PausedUntil)
        .one(db)
        .await?
        .and_then(|endpoint| endpoint.paused_until);
    Ok(delivery.into_iter().chain(resumed).min())
}

/// The queue: how many deliveries are pending, and since when the oldest has been.
// cross-tenant: the outbox metrics count the whole queue.
pub async fn queue(db: &impl ConnectionTrait) -> Result<(u64, Option<DateTime<Utc>>), DbErr> {
    let pending = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Pending));
    let depth = pending.clone().count(db).await?;
    let oldest = pending
        .order_by_asc(webhook_delivery::Column::CreatedAt)
        .one(db)
        .await?
        .map(|delivery| delivery.created_at);
    Ok((depth, oldest))
}

/// Deletes events older than `cutoff` whose deliveries are over, with their deliveries and
/// attempts. Returns how many events went.
// cross-tenant: housekeeping removes every workspace's finished events at once.
pub async fn purge(db: &Db, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    let still_pending = Query::select()
        .column(webhook_delivery::Column::EventId)
        .from(webhook_delivery::Entity)
        .and_where(webhook_delivery::Column::Status.eq(WebhookDeliveryStatus::Pending))
        .to_owned();
    let txn = db.write().await?;
    let purged = webhook_event::Entity::delete_many()
        .filter(webhook_event::Column::CreatedAt.lt(cutoff))
        .filter(webhook_event::Column::Id.not_in_subquery(still_pending))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(purged)
}

/// A delivery with its attempts, oldest first.
pub struct Logged {
    pub delivery: webhook_delivery::Model,
    pub attempts: Vec<webhook_attempt::Model>,
}

#[derive(Default)]
pub struct Filter {
    pub status: Option<WebhookDeliveryStatus>,
    pub event_type: Option<WebhookEventType>,
}

/// A page of an endpoint's delivery log, newest first.
pub async fn list(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    endpoint_id: &str,
    filter: Filter,
    limit: i32,
    cursor: Option<&str>,
) -> Result<Page<Logged>, ApiError> {
    let mut select = webhook_delivery::Entity::find_in(workspace)
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint_id));
    if let Some(status) = filter.status {
        select = select.filter(webhook_delivery::Column::Status.eq(status));
    }
    if let Some(event_type) = filter.event_type {
        select = select.filter(webhook_delivery::Column::EventType.eq(event_type));
    }
    let page = page::fetch(
        db,
        select,
        webhook_delivery::Column::Id,
        |row| &row.id,
        limit,
        cursor,
    )
    .await?;
    let ids: Vec<&str> = page.items.iter().map(|row| row.id.as_str()).collect();
    let mut attempts: HashMap<String, Vec<webhook_attempt::Model>> = HashMap::new();
    for attempt in webhook_attempt::Entity::find_in(workspace)
        .filter(webhook_attempt::Column::DeliveryId.is_in(ids))
        .order_by_asc(webhook_attempt::Column::Id)
        .all(db)
        .await?
    {
        attempts
            .entry(attempt.delivery_id.clone())
            .or_default()
            .push(attempt);
    }
    Ok(page.map(|delivery| Logged {
        attempts: attempts.remove(&delivery.id).unwrap_or_default(),
        delivery,
    }))
}

/// A delivery and its attempts, or the 404 a client sees for an id that is not theirs.
pub async fn get_or_404(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<Logged, ApiError> {
    let delivery = webhook_delivery::Entity::find_in(workspace)
        .filter(webhook_delivery::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| Problem::not_found("the webhook delivery"))?;
    let attempts = webhook_attempt::Entity::find_in(workspace)
        .filter(webhook_attempt::Column::DeliveryId.eq(id))
        .order_by_asc(webhook_attempt::Column::Id)
        .all(db)
        .await?;
    Ok(Logged { delivery, attempts })
}

/// Queues one more attempt of a delivery that is over, due now and the last of its schedule; the
/// worker is woken once that is committed.
pub async fn retry(
    db: &Db,
    outbox: &Outbox,
    workspace: &WorkspaceId,
    id: &str,
) -> Result<Logged, ApiError> {
    let txn = db.write().await?;
    let logged = get_or_404(&txn, workspace, id).await?;
    let delivery = logged.delivery;
    if delivery.status == WebhookDeliveryStatus::Pending {
        return Err(Problem::conflict(
            "delivery_pending",
            "the delivery is still pending: its next attempt is scheduled",
        )
        .into());
    }
    if delivery.attempts >= MAX_ATTEMPTS {
        return Err(Problem::conflict(
            "limit_reached",
            format!("a delivery keeps at most {MAX_ATTEMPTS} attempts"),
        )
        .into());
    }
    // The endpoint cascades its deliveries away, so it exists while the delivery does.
    let endpoint = webhook_endpoints::get(&txn, workspace, &delivery.endpoint_id)
        .await?
        .ok_or_else(|| Problem::not_found("the webhook delivery"))?;
    if !endpoint.enabled {
        return Err(Problem::conflict(
            "endpoint_disabled",
            "the endpoint is disabled; enable it (PATCH enabled: true) before retrying",
        )
        .into());
    }
    let now = Utc::now();
    let mut retried: webhook_delivery::ActiveModel = delivery.into();
    retried.status = Set(WebhookDeliveryStatus::Pending);
    retried.next_attempt_at = Set(Some(now));
    // Due at its deadline: this attempt is the last.
    retried.deadline = Set(now);
    retried.leased_until = Set(None);
    retried.lease_token = Set(None);
    retried.updated_at = Set(now);
    let delivery = retried.update(&txn).await?;
    outbox.wake_after_commit(&txn);
    txn.commit().await?;
    Ok(Logged {
        delivery,
        attempts: logged.attempts,
    })
}
