//! `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662), both for the calling
//! app's own tokens: another app's token is treated as unknown, so neither endpoint tells an app
//! anything about tokens it does not hold.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response, handler};
use serde_json::json;

use super::OAuth;
use super::client::{self, Form};
use super::error::{OAuthError, json_response};
use crate::store::oauth_tokens;
use crate::store::scopes::decode_scopes;

#[handler]
pub async fn revoke(request: &Request, body: Body, Data(oauth): Data<&Arc<OAuth>>) -> Response {
    let revoked = async {
        let form = Form::read(request, body).await?;
        let app = client::authenticate(&oauth.db, request, &form).await?;
        oauth.admit_app(&app.id).await?;
        let token = form.require("token")?;
        if let Some(installation) = oauth_tokens::revoke(&oauth.db, token, &app.id).await? {
            oauth.auth.forget_installation(&installation);
        }
        Ok::<_, OAuthError>(())
    };
    match revoked.await {
        // RFC 7009 §2.2: 200 whether or not the token was known.
        Ok(()) => json_response(StatusCode::OK, &json!({})),
        Err(err) => err.into_response(),
    }
}

#[handler]
pub async fn introspect(request: &Request, body: Body, Data(oauth): Data<&Arc<OAuth>>) -> Response {
    let answer = async {
        let form = Form::read(request, body).await?;
        let app = client::authenticate(&oauth.db, request, &form).await?;
        oauth.admit_app(&app.id).await?;
        let token = form.require("token")?;
        let Some((live, _)) = oauth_tokens::find_live(&oauth.db, token)
            .await?
            .filter(|(live, _)| live.token.app_id == app.id)
        else {
            return Ok(json!({"active": false}));
        };
        let token = &live.token;
        let mut answer = json!({
            "active": true,
            "scope": super::scopes::join(&decode_scopes(&token.scopes)),
            "client_id": token.app_id,
            "exp": token.expires_at.timestamp(),
            "iat": token.created_at.timestamp(),
            "iss": oauth.issuer,
            "sub": live.installation.id,
            "workspace_id": token.workspace_id,
        });
        if oauth_tokens::is_access(token) {
            answer["token_type"] = json!("Bearer");
        }
        Ok::<_, OAuthError>(answer)
    };
    match answer.await {
        Ok(answer) => json_response(StatusCode::OK, &answer),
        Err(err) => err.into_response(),
    }
}
