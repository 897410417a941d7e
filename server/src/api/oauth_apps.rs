//! `/v1/oauth-apps`: the operator's registry of marketplace apps, with an operator key.

use poem_openapi::payload::Json;

use super::{HoverBot, OperatorContext};
use crate::oauth::apps::{self, redirect_uris};
use crate::problem::{ApiError, Problem};
use crate::store::entity::oauth_app;
use crate::store::oauth_apps;
use crate::store::scopes::decode_scopes;
use hoverbot_api::{
    CreateOauthAppRequest, CreateOauthAppResponse, ListOauthAppsParams, ListOauthAppsResponse,
    OauthApp, OauthAppList, OauthAppWithSecret, OauthAppsApi, RevokeOauthAppParams,
    RevokeOauthAppResponse,
};

fn to_wire(app: oauth_app::Model) -> OauthApp {
    OauthApp {
        redirect_uris: redirect_uris(&app),
        scopes: decode_scopes(&app.scopes),
        public: !app.confidential,
        client_secret_prefix: app.secret_prefix,
        created_at: app.created_at,
        id: app.id,
        name: app.name,
    }
}

impl OauthAppsApi for HoverBot {
    async fn list_oauth_apps(
        &self,
        _ctx: OperatorContext,
        params: ListOauthAppsParams,
    ) -> poem::Result<ListOauthAppsResponse> {
        let page = oauth_apps::list_live(&self.db, params.limit, params.cursor.as_deref()).await?;
        let has_more = page.has_more();
        let page = page.map(to_wire);
        Ok(ListOauthAppsResponse::Ok(Json(OauthAppList {
            data: page.items,
            has_more,
            next_cursor: page.next_cursor,
        })))
    }

    async fn create_oauth_app(
        &self,
        ctx: OperatorContext,
        body: CreateOauthAppRequest,
    ) -> poem::Result<CreateOauthAppResponse> {
        let registration = apps::check(&body.name, &body.redirect_uris, &body.scopes, !body.public)
            .map_err(|invalid| {
                Problem::refused_field("invalid_registration", invalid.pointer, invalid.message)
            })?;
        let created = oauth_apps::create(&self.db, &registration).await?;
        tracing::info!(
            operator_key = %ctx.key_id,
            app = %created.app.id,
            "registered an OAuth app"
        );
        let app = to_wire(created.app);
        Ok(CreateOauthAppResponse::Created(Json(OauthAppWithSecret {
            id: app.id,
            name: app.name,
            redirect_uris: app.redirect_uris,
            scopes: app.scopes,
            public: app.public,
            client_secret_prefix: app.client_secret_prefix,
            created_at: app.created_at,
            client_secret: created.secret,
        })))
    }

    async fn revoke_oauth_app(
        &self,
        ctx: OperatorContext,
        params: RevokeOauthAppParams,
    ) -> poem::Result<RevokeOauthAppResponse> {
        if !oauth_apps::revoke(&self.db, &params.app_id)
            .await
            .map_err(ApiError::from)?
        {
            return Err(Problem::not_found("the app").into());
        }
        self.auth.forget_app(&params.app_id);
        tracing::info!(operator_key = %ctx.key_id, app = %params.app_id, "revoked an OAuth app");
        Ok(RevokeOauthAppResponse::NoContent)
    }
}
