//! `/v1/webhook-settings`: what the deployment promises about delivering webhook events.

use std::time::Duration;

use poem_openapi::payload::Json;

use super::generated::{GetWebhookSettingsResponse, WebhookEndpointsApi, WebhookSettings};
use super::{HoverBot, RequestContext};
use crate::webhooks::schedule::{self, JITTER, WINDOW};
use crate::webhooks::{ATTEMPT_TIMEOUT, SIGNATURE_SCHEME};

/// Whole seconds, as the wire's integers (a schedule's delays are at most 24 h each).
fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
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
}
