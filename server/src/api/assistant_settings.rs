//! `/v1/assistant-settings`: how the assistant behaves in the caller's workspace.

use poem_openapi::payload::Json;

use super::generated::{
    AssistantDefaults, AssistantSettings, AssistantSettingsApi, GetAssistantSettingsResponse,
    UpdateAssistantSettingsRequest, UpdateAssistantSettingsResponse,
};
use super::{HoverBot, RequestContext};
use crate::problem::ApiError;
use crate::store::tenant::WorkspaceId;
use crate::store::workspaces;

impl HoverBot {
    async fn assistant_settings(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<AssistantSettings, ApiError> {
        let own = workspaces::lead_qualification_threshold(&self.db, workspace).await?;
        Ok(AssistantSettings {
            lead_qualification_threshold: own.unwrap_or(self.lead_qualification_threshold),
            defaults: AssistantDefaults {
                lead_qualification_threshold: self.lead_qualification_threshold,
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
        let threshold: Option<Option<i32>> = body.lead_qualification_threshold.into();
        if let Some(threshold) = threshold {
            workspaces::set_lead_qualification_threshold(&self.db, workspace, threshold).await?;
        }
        let settings = self.assistant_settings(workspace).await?;
        Ok(UpdateAssistantSettingsResponse::Ok(Json(settings)))
    }
}
