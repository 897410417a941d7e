//! `POST /oauth/token` (RFC 6749 §3.2): an authorization code and its PKCE verifier, or a refresh
//! token, for an access token and a new refresh token.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response, handler};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::OAuth;
use super::apps::redirect_uri_matches;
use super::client::{self, Form};
use super::error::{OAuthError, json_response};
use super::scopes;
use crate::store::entity::oauth_code;
use crate::store::oauth_tokens::{self, Issued, Refusal};

#[handler]
pub async fn exchange(request: &Request, body: Body, Data(oauth): Data<&Arc<OAuth>>) -> Response {
    match respond(request, body, oauth).await {
        Ok(issued) => json_response(
            StatusCode::OK,
            &json!({
                "access_token": issued.access_token,
                "token_type": "Bearer",
                "expires_in": issued.expires_in.num_seconds(),
                "refresh_token": issued.refresh_token,
                "scope": scopes::join(&issued.scopes),
            }),
        ),
        Err(err) => err.into_response(),
    }
}

async fn respond(request: &Request, body: Body, oauth: &OAuth) -> Result<Issued, OAuthError> {
    let form = Form::read(request, body).await?;
    let app = client::authenticate(&oauth.db, request, &form).await?;
    oauth.admit_app(&app.id).await?;
    match form.require("grant_type")? {
        "authorization_code" => redeem(oauth, &app, &form).await,
        "refresh_token" => refresh(oauth, &app, &form).await,
        other => Err(OAuthError::unsupported_grant_type(format!(
            "`{other}` is not a grant type of this server; use authorization_code or \
             refresh_token"
        ))),
    }
}

async fn redeem(
    oauth: &OAuth,
    app: &crate::store::entity::oauth_app::Model,
    form: &Form,
) -> Result<Issued, OAuthError> {
    let code = form.require("code")?;
    let verifier = form.require("code_verifier")?;
    if !is_verifier(verifier) {
        return Err(OAuthError::invalid_request(
            "code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, `-`, `.`, `_` and `~` \
             (RFC 7636 §4.1)",
        ));
    }
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let given = form.get("redirect_uri");
    let check = |code: &oauth_code::Model| {
        if !bool::from(challenge.as_bytes().ct_eq(code.code_challenge.as_bytes())) {
            return Err(
                "code_verifier does not match the code_challenge of the authorization request",
            );
        }
        let redirect_ok = match (&code.redirect_uri, given) {
            (Some(expected), Some(given)) => expected == given,
            (Some(_), None) => false,
            (None, Some(given)) => redirect_uri_matches(app, given),
            (None, None) => true,
        };
        if redirect_ok {
            Ok(())
        } else {
            Err("redirect_uri must be the one of the authorization request")
        }
    };
    oauth_tokens::redeem_code(&oauth.db, code, &app.id, check, oauth.lifetimes)
        .await?
        .map_err(|refusal| oauth.refused(&refusal))
}

async fn refresh(
    oauth: &OAuth,
    app: &crate::store::entity::oauth_app::Model,
    form: &Form,
) -> Result<Issued, OAuthError> {
    let token = form.require("refresh_token")?;
    let narrowed = form
        .get("scope")
        .map(scopes::parse)
        .transpose()
        .map_err(OAuthError::invalid_scope)?;
    oauth_tokens::refresh(&oauth.db, token, &app.id, narrowed, oauth.lifetimes)
        .await?
        .map_err(|refusal| oauth.refused(&refusal))
}

impl OAuth {
    /// `invalid_grant` (`invalid_scope` for a scope not granted); after a reuse, which revoked
    /// tokens, this node forgets the ones it cached.
    fn refused(&self, refusal: &Refusal) -> OAuthError {
        match refusal {
            Refusal::Ungranted(scope) => {
                return OAuthError::invalid_scope(format!(
                    "`{scope}` was not granted; a refresh may only keep or narrow the scopes"
                ));
            }
            Refusal::Reused { installation } => self.auth.forget_installation(installation),
            _ => {}
        }
        OAuthError::invalid_grant(refusal.describe())
    }
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn is_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_of_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(is_verifier(verifier));
        assert_eq!(
            URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(!is_verifier("short"));
        assert!(!is_verifier(&"a".repeat(129)));
        assert!(!is_verifier(&format!("{}!", "a".repeat(43))));
    }
}
