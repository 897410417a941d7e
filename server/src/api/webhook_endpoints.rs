//! `/v1/webhook-endpoints`: the URLs a workspace subscribes to its events, and
//! `/v1/webhook-settings`: what the deployment promises about delivering them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use poem_openapi::payload::Json;

use super::{HoverBot, RequestContext, webhook_deliveries};
use crate::ids;
use crate::problem::{ApiError, Problem};
use crate::store::convert::parse;
use crate::store::entity::webhook_endpoint;
use crate::store::json;
use crate::store::webhook_endpoints::{self, Changes, NewEndpoint};
use crate::webhooks::schedule::{self, JITTER, WINDOW};
use crate::webhooks::{ATTEMPT_TIMEOUT, SIGNATURE_SCHEME, breaker};
use hoverbot_api::{
    CircuitState, CreateWebhookEndpointParams, CreateWebhookEndpointRequest,
    CreateWebhookEndpointResponse, DeleteWebhookEndpointParams, DeleteWebhookEndpointResponse,
    EnabledEvent, GetWebhookDeliveryParams, GetWebhookDeliveryResponse, GetWebhookEndpointParams,
    GetWebhookEndpointResponse, GetWebhookSettingsResponse, ListWebhookDeliveriesParams,
    ListWebhookDeliveriesResponse, ListWebhookEndpointsParams, ListWebhookEndpointsResponse,
    RetryWebhookDeliveryParams, RetryWebhookDeliveryResponse, RotateWebhookEndpointSecretParams,
    RotateWebhookEndpointSecretResponse, TestWebhookEndpointParams, TestWebhookEndpointResponse,
    UpdateWebhookEndpointParams, UpdateWebhookEndpointRequest, UpdateWebhookEndpointResponse,
    WebhookEndpoint, WebhookEndpointHealth, WebhookEndpointList, WebhookEndpointWithSecret,
    WebhookEndpointsApi, WebhookSecret, WebhookSettings, WebhookTestData, WebhookTestEvent,
    WebhookTestResult,
};

/// Whole seconds, as the wire's integers (a schedule's delays are at most 24 h each).
fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The endpoint's breaker as the wire shows it at `now`.
fn health(row: &webhook_endpoint::Model, now: DateTime<Utc>) -> WebhookEndpointHealth {
    let health = webhook_endpoints::health(row);
    WebhookEndpointHealth {
        circuit: match health.state(now) {
            breaker::State::Closed => CircuitState::Closed,
            breaker::State::Open => CircuitState::Open,
            breaker::State::HalfOpen => CircuitState::Probing,
        },
        consecutive_failures: health.consecutive_failures,
        failing_since: health.failing_since,
        paused_until: health.paused_until,
    }
}

fn to_wire(row: webhook_endpoint::Model) -> Result<WebhookEndpoint, ApiError> {
    let events: Vec<String> = json::decode(&row.enabled_events)?;
    Ok(WebhookEndpoint {
        health: health(&row, Utc::now()),
        enabled_events: events
            .iter()
            .map(|event| parse(event))
            .collect::<Result<_, _>>()?,
        disabled_reason: row.disabled_reason,
        id: row.id,
        url: row.url,
        description: row.description,
        enabled: row.enabled,
        destination: row.destination,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// The subscription as stored: `["*"]` when it includes `*`, which already means every type.
fn encode_events(events: &[EnabledEvent]) -> Result<String, ApiError> {
    let events: Vec<&str> = if events.contains(&EnabledEvent::All) {
        vec![EnabledEvent::All.as_str()]
    } else {
        events.iter().map(|event| event.as_str()).collect()
    };
    json::encode(&events)
}

impl HoverBot {
    /// Checks a receiver URL against the policy its deliveries will be sent under; a refusal is a
    /// 422 on `url`.
    async fn check_url(&self, url: &str) -> Result<String, Problem> {
        let refuse = |message: String| Problem::refused_field("url_not_allowed", "/url", message);
        let parsed = url::Url::parse(url).map_err(|err| refuse(format!("not a URL: {err}")))?;
        self.sender
            .policy()
            .check(&parsed)
            .await
            .map_err(|refused| refuse(refused.to_string()))?;
        Ok(url.to_string())
    }
}

impl WebhookEndpointsApi for HoverBot {
    async fn get_webhook_settings(
        &self,
        _ctx: RequestContext,
    ) -> poem::Result<GetWebhookSettingsResponse> {
        let delivery = &self.webhooks;
        Ok(GetWebhookSettingsResponse::Ok(Json(WebhookSettings {
            retry_schedule: delivery
                .schedule
                .delays()
                .iter()
                .map(|delay| schedule::human(*delay))
                .collect(),
            attempt_offsets_seconds: delivery
                .schedule
                .offsets()
                .iter()
                .map(|offset| seconds(*offset))
                .collect(),
            jitter: JITTER,
            retry_window_seconds: seconds(WINDOW),
            timeout_seconds: seconds(ATTEMPT_TIMEOUT),
            signature_scheme: SIGNATURE_SCHEME.to_string(),
            allow_private_networks: delivery.allow_private_networks,
        })))
    }

    async fn list_webhook_endpoints(
        &self,
        ctx: RequestContext,
        params: ListWebhookEndpointsParams,
    ) -> poem::Result<ListWebhookEndpointsResponse> {
        let page = webhook_endpoints::list(
            &self.db,
            &ctx.principal.workspace,
            params.limit,
            params.cursor.as_deref(),
        )
        .await?;
        let has_more = page.has_more();
        let page = page.try_map(to_wire)?;
        Ok(ListWebhookEndpointsResponse::Ok(Json(
            WebhookEndpointList {
                data: page.items,
                has_more,
                next_cursor: page.next_cursor,
            },
        )))
    }

    async fn create_webhook_endpoint(
        &self,
        ctx: RequestContext,
        _params: CreateWebhookEndpointParams,
        body: CreateWebhookEndpointRequest,
    ) -> poem::Result<CreateWebhookEndpointResponse> {
        let new = NewEndpoint {
            url: self.check_url(&body.url).await?,
            description: body.description,
            enabled_events: encode_events(
                body.enabled_events
                    .as_deref()
                    .unwrap_or(&[EnabledEvent::All]),
            )?,
            enabled: body.enabled.unwrap_or(true),
            destination: body.destination,
        };
        let (row, secret) =
            webhook_endpoints::create(&self.db, &self.sealer, &ctx.principal.workspace, new)
                .await?;
        let endpoint = to_wire(row)?;
        Ok(CreateWebhookEndpointResponse::Created(Json(
            WebhookEndpointWithSecret {
                id: endpoint.id,
                url: endpoint.url,
                description: endpoint.description,
                enabled_events: endpoint.enabled_events,
                enabled: endpoint.enabled,
                destination: endpoint.destination,
                disabled_reason: endpoint.disabled_reason,
                health: endpoint.health,
                created_at: endpoint.created_at,
                updated_at: endpoint.updated_at,
                secret: secret.expose().to_string(),
            },
        )))
    }

    async fn get_webhook_endpoint(
        &self,
        ctx: RequestContext,
        params: GetWebhookEndpointParams,
    ) -> poem::Result<GetWebhookEndpointResponse> {
        let row = webhook_endpoints::get_or_404(
            &self.db,
            &ctx.principal.workspace,
            &params.webhook_endpoint_id,
        )
        .await?;
        Ok(GetWebhookEndpointResponse::Ok(Json(to_wire(row)?)))
    }

    async fn update_webhook_endpoint(
        &self,
        ctx: RequestContext,
        params: UpdateWebhookEndpointParams,
        body: UpdateWebhookEndpointRequest,
    ) -> poem::Result<UpdateWebhookEndpointResponse> {
        let url = match body.url {
            Some(url) => Some(self.check_url(&url).await?),
            None => None,
        };
        let changes = Changes {
            url,
            description: body.description.into(),
            enabled_events: body
                .enabled_events
                .as_deref()
                .map(encode_events)
                .transpose()?,
            enabled: body.enabled,
            destination: body.destination.into(),
        };
        let row = webhook_endpoints::update(
            &self.db,
            &ctx.principal.workspace,
            &params.webhook_endpoint_id,
            changes,
        )
        .await?;
        Ok(UpdateWebhookEndpointResponse::Ok(Json(to_wire(row)?)))
    }

    async fn delete_webhook_endpoint(
        &self,
        ctx: RequestContext,
        params: DeleteWebhookEndpointParams,
    ) -> poem::Result<DeleteWebhookEndpointResponse> {
        webhook_endpoints::delete(
            &self.db,
            &ctx.principal.workspace,
            &params.webhook_endpoint_id,
        )
        .await?;
        Ok(DeleteWebhookEndpointResponse::NoContent)
    }

    async fn rotate_webhook_endpoint_secret(
        &self,
        ctx: RequestContext,
        params: RotateWebhookEndpointSecretParams,
    ) -> poem::Result<RotateWebhookEndpointSecretResponse> {
        let (secret, previous_secret_expires_at) = webhook_endpoints::rotate_secret(
            &self.db,
            &self.sealer,
            &ctx.principal.workspace,
            &params.webhook_endpoint_id,
        )
        .await?;
        Ok(RotateWebhookEndpointSecretResponse::Ok(Json(
            WebhookSecret {
                secret: secret.expose().to_string(),
                previous_secret_expires_at,
            },
        )))
    }

    async fn test_webhook_endpoint(
        &self,
        ctx: RequestContext,
        params: TestWebhookEndpointParams,
    ) -> poem::Result<TestWebhookEndpointResponse> {
        let result = self.send_test(&ctx, &params.webhook_endpoint_id).await?;
        Ok(TestWebhookEndpointResponse::Ok(Json(result)))
    }

    async fn list_webhook_deliveries(
        &self,
        ctx: RequestContext,
        params: ListWebhookDeliveriesParams,
    ) -> poem::Result<ListWebhookDeliveriesResponse> {
        Ok(webhook_deliveries::list(self, ctx, params).await?)
    }

    async fn get_webhook_delivery(
        &self,
        ctx: RequestContext,
        params: GetWebhookDeliveryParams,
    ) -> poem::Result<GetWebhookDeliveryResponse> {
        Ok(webhook_deliveries::get(self, ctx, params).await?)
    }

    async fn retry_webhook_delivery(
        &self,
        ctx: RequestContext,
        params: RetryWebhookDeliveryParams,
    ) -> poem::Result<RetryWebhookDeliveryResponse> {
        Ok(webhook_deliveries::retry(self, ctx, params).await?)
    }
}

impl HoverBot {
    async fn send_test(
        &self,
        ctx: &RequestContext,
        endpoint_id: &str,
    ) -> Result<WebhookTestResult, ApiError> {
        let workspace = &ctx.principal.workspace;
        let row = webhook_endpoints::get_or_404(&self.db, workspace, endpoint_id).await?;
        let now = Utc::now();
        let secrets = webhook_endpoints::signing_secrets(&self.sealer, &row, now)?;
        let event = WebhookTestEvent {
            id: ids::new(ids::EVENT),
            r#type: "webhook.test".to_string(),
            created_at: now,
            tenant_id: workspace.as_str().to_string(),
            data: WebhookTestData {
                webhook_endpoint_id: row.id.clone(),
            },
        };
        let body = poem_openapi::types::ToJSON::to_json(&event)
            .map(|value| value.to_string())
            .unwrap_or_default();
        let outcome = self
            .sender
            .send(&row.url, &event.id, &secrets, body.as_bytes())
            .await;
        Ok(WebhookTestResult {
            delivered: outcome.succeeded(),
            event_id: event.id,
            status_code: outcome.status.map(i64::from),
            duration_ms: i64::try_from(outcome.duration.as_millis()).unwrap_or(i64::MAX),
            error: outcome.error,
            response_snippet: outcome.snippet,
        })
    }
}
