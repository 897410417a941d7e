//! `/v1/assistant-settings`: how the assistant behaves in the caller's workspace.

use poem_openapi::payload::Json;

use super::{DEFAULT_ESCALATION_DESTINATION, HoverBot, RequestContext};
use crate::assistant::MIN_CONFIDENCE;
use crate::problem::ApiError;
use crate::store::tenant::WorkspaceId;
use crate::store::workspaces::{self, AssistantSettingsChanges};
use hoverbot_api::{
    AssistantDefaults, AssistantSettings, AssistantSettingsApi, GetAssistantSettingsResponse,
    UpdateAssistantSettingsRequest, UpdateAssistantSettingsResponse,
};

impl HoverBot {
    async fn assistant_settings(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<AssistantSettings, ApiError> {
        let own = workspaces::assistant_settings(&self.db, workspace).await?;
        Ok(AssistantSettings {
            lead_qualification_threshold: own
                .lead_qualification_threshold
                .unwrap_or(self.lead_qualification_threshold),
            confidence_threshold: own
                .confidence_threshold_milli
                .map_or(MIN_CONFIDENCE, |milli| f64::from(milli) / 1000.0),
            escalate_qualified_leads: own.escalate_qualified_leads,
            escalation_destination: own
                .escalation_destination
                .unwrap_or_else(|| DEFAULT_ESCALATION_DESTINATION.to_string()),
            conversation_retention_days: own.conversation_retention_days,
            defaults: AssistantDefaults {
                lead_qualification_threshold: self.lead_qualification_threshold,
                confidence_threshold: MIN_CONFIDENCE,
                escalation_destination: DEFAULT_ESCALATION_DESTINATION.to_string(),
            },
        })
    }
}

impl AssistantSettingsApi for HoverBot {
    async fn get_assistant_settings(
        &self,
        ctx: RequestContext,
    ) -> poem::Result<GetAssistantSettingsResponse> {
        let settings = self.assistant_settings(&ctx.principal.workspace).await?;
        Ok(GetAssistantSettingsResponse::Ok(Json(settings)))
    }

    async fn update_assistant_settings(
        &self,
        ctx: RequestContext,
        body: UpdateAssistantSettingsRequest,
    ) -> poem::Result<UpdateAssistantSettingsResponse> {
        let workspace = &ctx.principal.workspace;
        // Absent: as it is; `null`: the deployment's.
        let confidence: Option<Option<f64>> = body.confidence_threshold.into();
        let changes = AssistantSettingsChanges {
            lead_qualification_threshold: body.lead_qualification_threshold.into(),
            // The schema bounds it to 0..=1, so the thousandths fit.
            confidence_threshold_milli: confidence
                .map(|threshold| threshold.map(|value| (value * 1000.0).round() as i32)),
            escalate_qualified_leads: body.escalate_qualified_leads,
            escalation_destination: body.escalation_destination.into(),
            conversation_retention_days: body.conversation_retention_days.into(),
        };
        workspaces::update_assistant_settings(&self.db, workspace, changes).await?;
        let settings = self.assistant_settings(workspace).await?;
        Ok(UpdateAssistantSettingsResponse::Ok(Json(settings)))
    }
}
