//! The delivery log: `GET /v1/webhook-endpoints/{id}/deliveries`, `GET /v1/webhook-deliveries/{id}`
//! and `POST /v1/webhook-deliveries/{id}/retry`. They are operations of the `Webhook endpoints` tag,
//! so [`super::webhook_endpoints`] routes them here.

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;

use super::{HoverBot, RequestContext};
use crate::problem::ApiError;
use crate::store::webhook_deliveries::{self, Filter, Logged};
use crate::store::webhook_endpoints;
use hoverbot_api::{
    GetWebhookDeliveryParams, GetWebhookDeliveryResponse, ListWebhookDeliveriesParams,
    ListWebhookDeliveriesResponse, RetryWebhookDeliveryParams, RetryWebhookDeliveryResponse,
    WebhookAttempt, WebhookDelivery, WebhookDeliveryList,
};

/// The delivery as the wire shows it, its endpoint's breaker `paused_until` deliveries: a pending
/// attempt is due when both its schedule and the breaker let it go.
fn to_wire(
    logged: Logged,
    paused_until: Option<DateTime<Utc>>,
) -> Result<WebhookDelivery, ApiError> {
    let Logged { delivery, attempts } = logged;
    let next_attempt_at = delivery
        .next_attempt_at
        .map(|due| paused_until.map_or(due, |until| due.max(until)));
    Ok(WebhookDelivery {
        event_type: delivery.event_type,
        status: delivery.status,
        id: delivery.id,
        webhook_endpoint_id: delivery.endpoint_id,
        event_id: delivery.event_id,
        attempt_count: delivery.attempts,
        next_attempt_at,
        created_at: delivery.created_at,
        updated_at: delivery.updated_at,
        attempts: attempts
            .into_iter()
            .map(|attempt| WebhookAttempt {
                attempted_at: attempt.attempted_at,
                status_code: attempt.status_code,
                duration_ms: attempt.duration_ms,
                error: attempt.error,
                response_snippet: attempt.response_snippet,
            })
            .collect(),
    })
}

pub(super) async fn list(
    api: &HoverBot,
    ctx: RequestContext,
    params: ListWebhookDeliveriesParams,
) -> Result<ListWebhookDeliveriesResponse, ApiError> {
    let workspace = &ctx.principal.workspace;
    // An unknown endpoint is a 404, not an empty log.
    let endpoint =
        webhook_endpoints::get_or_404(&api.db, workspace, &params.webhook_endpoint_id).await?;
    let filter = Filter {
        status: params.status,
        event_type: params.event_type,
    };
    let page = webhook_deliveries::list(
        &api.db,
        workspace,
        &params.webhook_endpoint_id,
        filter,
        params.limit,
        params.cursor.as_deref(),
    )
    .await?;
    let has_more = page.has_more();
    let page = page.try_map(|logged| to_wire(logged, endpoint.paused_until))?;
    Ok(ListWebhookDeliveriesResponse::Ok(Json(
        WebhookDeliveryList {
            data: page.items,
            has_more,
            next_cursor: page.next_cursor,
        },
    )))
}

pub(super) async fn get(
    api: &HoverBot,
    ctx: RequestContext,
    params: GetWebhookDeliveryParams,
) -> Result<GetWebhookDeliveryResponse, ApiError> {
    let logged = webhook_deliveries::get_or_404(
        &api.db,
        &ctx.principal.workspace,
        &params.webhook_delivery_id,
    )
    .await?;
    let paused_until = paused_until(api, &ctx, &logged).await?;
    Ok(GetWebhookDeliveryResponse::Ok(Json(to_wire(
        logged,
        paused_until,
    )?)))
}

pub(super) async fn retry(
    api: &HoverBot,
    ctx: RequestContext,
    params: RetryWebhookDeliveryParams,
) -> Result<RetryWebhookDeliveryResponse, ApiError> {
    let logged = webhook_deliveries::retry(
        &api.db,
        &api.outbox,
        &ctx.principal.workspace,
        &params.webhook_delivery_id,
    )
    .await?;
    let paused_until = paused_until(api, &ctx, &logged).await?;
    Ok(RetryWebhookDeliveryResponse::Accepted(Json(to_wire(
        logged,
        paused_until,
    )?)))
}

/// Until when the breaker of the delivery's endpoint holds its deliveries back, if it does.
async fn paused_until(
    api: &HoverBot,
    ctx: &RequestContext,
    logged: &Logged,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let endpoint = webhook_endpoints::get(
        &api.db,
        &ctx.principal.workspace,
        &logged.delivery.endpoint_id,
    )
    .await?;
    Ok(endpoint.and_then(|endpoint| endpoint.paused_until))
}
