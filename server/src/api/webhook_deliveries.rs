//! The delivery log: `GET /v1/webhook-endpoints/{id}/deliveries`, `GET /v1/webhook-deliveries/{id}`
//! and `POST /v1/webhook-deliveries/{id}/retry`. They are operations of the `Webhook endpoints` tag,
//! so [`super::webhook_endpoints`] routes them here.

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

fn to_wire(logged: Logged) -> Result<WebhookDelivery, ApiError> {
    let Logged { delivery, attempts } = logged;
    Ok(WebhookDelivery {
        event_type: delivery.event_type,
        status: delivery.status,
        id: delivery.id,
        webhook_endpoint_id: delivery.endpoint_id,
        event_id: delivery.event_id,
        attempt_count: delivery.attempts,
        next_attempt_at: delivery.next_attempt_at,
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
    let page = page.try_map(to_wire)?;
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
    Ok(GetWebhookDeliveryResponse::Ok(Json(to_wire(logged)?)))
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
    Ok(RetryWebhookDeliveryResponse::Accepted(Json(to_wire(
        logged,
    )?)))
}
