//! `/v1/installations`: the OAuth apps installed in the workspace, and uninstalling them.

use poem_openapi::payload::Json;

use super::{HoverBot, RequestContext};
use crate::problem::{ApiError, Problem};
use crate::store::oauth_installations;
use crate::store::scopes::decode_scopes;
use hoverbot_api::{
    Installation, InstallationList, InstallationsApi, ListInstallationsParams,
    ListInstallationsResponse, UninstallAppParams, UninstallAppResponse,
};

impl InstallationsApi for HoverBot {
    async fn list_installations(
        &self,
        ctx: RequestContext,
        params: ListInstallationsParams,
    ) -> poem::Result<ListInstallationsResponse> {
        let page = oauth_installations::list(
            &self.db,
            &ctx.principal.workspace,
            params.limit,
            params.cursor.as_deref(),
        )
        .await?;
        let has_more = page.has_more();
        let page = page.map(|(installation, app)| Installation {
            id: installation.id,
            app_id: app.id,
            app_name: app.name,
            scopes: decode_scopes(&installation.scopes),
            created_at: installation.created_at,
            updated_at: installation.updated_at,
        });
        Ok(ListInstallationsResponse::Ok(Json(InstallationList {
            data: page.items,
            has_more,
            next_cursor: page.next_cursor,
        })))
    }

    async fn uninstall_app(
        &self,
        ctx: RequestContext,
        params: UninstallAppParams,
    ) -> poem::Result<UninstallAppResponse> {
        let workspace = &ctx.principal.workspace;
        if !oauth_installations::uninstall(&self.db, workspace, &params.installation_id)
            .await
            .map_err(ApiError::from)?
        {
            return Err(Problem::not_found("the installation").into());
        }
        self.auth.forget_installation(&params.installation_id);
        Ok(UninstallAppResponse::NoContent)
    }
}
