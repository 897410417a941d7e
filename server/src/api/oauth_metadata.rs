//! `/.well-known/oauth-authorization-server` (RFC 8414): where the OAuth endpoints are and what
//! they support, for client libraries.

use poem_openapi::payload::Json;

use super::HoverBot;
use hoverbot_api::{
    AuthorizationServerMetadata, GetAuthorizationServerMetadataResponse, OauthApi, Scope,
};

/// How apps authenticate at the token, revocation and introspection endpoints.
const CLIENT_AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

impl OauthApi for HoverBot {
    async fn get_authorization_server_metadata(
        &self,
    ) -> poem::Result<GetAuthorizationServerMetadataResponse> {
        let issuer = &self.oauth_issuer;
        let methods = || CLIENT_AUTH_METHODS.map(str::to_string).to_vec();
        Ok(GetAuthorizationServerMetadataResponse::Ok(Json(
            AuthorizationServerMetadata {
                issuer: issuer.clone(),
                authorization_endpoint: format!("{issuer}/oauth/authorize"),
                token_endpoint: format!("{issuer}/oauth/token"),
                revocation_endpoint: format!("{issuer}/oauth/revoke"),
                introspection_endpoint: format!("{issuer}/oauth/introspect"),
                scopes_supported: Scope::ALL.to_vec(),
                response_types_supported: vec!["code".to_string()],
                grant_types_supported: vec![
                    "authorization_code".to_string(),
                    "refresh_token".to_string(),
                ],
                token_endpoint_auth_methods_supported: methods(),
                revocation_endpoint_auth_methods_supported: methods(),
                introspection_endpoint_auth_methods_supported: methods(),
                code_challenge_methods_supported: vec!["S256".to_string()],
                authorization_response_iss_parameter_supported: true,
                service_documentation: Some(format!("{issuer}/docs/")),
            },
        )))
    }
}
