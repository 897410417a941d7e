//! `/v1/api-keys`: a workspace's keys. The secret is in the creation response and nowhere else.

use poem_openapi::payload::Json;

use super::{HoverBot, RequestContext};
use crate::problem::{ApiError, Problem};
use crate::store::api_keys;
use crate::store::convert::parse;
use crate::store::entity::api_key;
use hoverbot_api::{
    ApiKey, ApiKeyList, ApiKeyWithSecret, ApiKeysApi, CreateApiKeyParams, CreateApiKeyRequest,
    CreateApiKeyResponse, ListApiKeysParams, ListApiKeysResponse, RevokeApiKeyParams,
    RevokeApiKeyResponse, Scope,
};

fn to_wire(key: api_key::Model) -> Result<ApiKey, ApiError> {
    let scopes = key
        .scopes
        .split_whitespace()
        .map(parse::<Scope>)
        .collect::<Result<_, _>>()?;
    Ok(ApiKey {
        id: key.id,
        name: key.name,
        prefix: key.prefix,
        scopes,
        created_at: key.created_at,
        last_used_at: key.last_used_at,
        expires_at: key.expires_at,
    })
}

impl ApiKeysApi for HoverBot {
    async fn list_api_keys(
        &self,
        ctx: RequestContext,
        params: ListApiKeysParams,
    ) -> poem::Result<ListApiKeysResponse> {
        let page = api_keys::list(
            &self.db,
            &ctx.principal.workspace,
            params.limit,
            params.cursor.as_deref(),
        )
        .await?;
        let has_more = page.has_more();
        let page = page.try_map(to_wire)?;
        Ok(ListApiKeysResponse::Ok(Json(ApiKeyList {
            data: page.items,
            has_more,
            next_cursor: page.next_cursor,
        })))
    }

    async fn create_api_key(
        &self,
        ctx: RequestContext,
        _params: CreateApiKeyParams,
        body: CreateApiKeyRequest,
    ) -> poem::Result<CreateApiKeyResponse> {
        let created = api_keys::create(
            &self.db,
            &ctx.principal.workspace,
            &body.name,
            &body.scopes,
            body.expires_at,
        )
        .await?;
        let key = to_wire(created.key)?;
        Ok(CreateApiKeyResponse::Created(Json(ApiKeyWithSecret {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            scopes: key.scopes,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            expires_at: key.expires_at,
            secret: created.secret,
        })))
    }

    async fn revoke_api_key(
        &self,
        ctx: RequestContext,
        params: RevokeApiKeyParams,
    ) -> poem::Result<RevokeApiKeyResponse> {
        if !api_keys::revoke(&self.db, &ctx.principal.workspace, &params.api_key_id).await? {
            return Err(Problem::not_found("the API key").into());
        }
        self.auth.forget(&params.api_key_id);
        Ok(RevokeApiKeyResponse::NoContent)
    }
}
