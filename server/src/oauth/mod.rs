//! OAuth 2.0 for multi-tenant marketplace apps (RFC 6749 with the OAuth 2.1 rules: PKCE with S256
//! for every client, exact redirect URIs, rotating refresh tokens). An app is registered once by
//! the platform operator (`hoverbot apps create`) and installed by workspaces: a workspace admin
//! approves it on the consent page of the authorization endpoint, and the app exchanges the code
//! for tokens that act for that workspace with the scopes approved, like an API key would.
//!
//! These endpoints speak OAuth (form bodies, RFC 6749 error objects, HTML pages) rather than the
//! API's JSON and problem documents, so they are served here, beside the generated API; the
//! server's metadata (RFC 8414) and the installations are API operations of the spec.

pub mod apps;
mod authorize;
mod client;
mod error;
mod pages;
mod revocation;
pub mod scopes;
mod session;
mod token;

use std::sync::Arc;

use poem::{EndpointExt, Route, get, post};
use sea_orm::DatabaseConnection;

use crate::auth::Authenticator;
use crate::sealing::Sealer;

/// What the OAuth endpoints share.
pub struct OAuth {
    pub db: DatabaseConnection,
    /// The API's authenticator: the admin's key is checked with it, and it forgets revoked tokens.
    pub auth: Arc<Authenticator>,
    /// Seals the consent page's sign-in cookie.
    pub sealer: Arc<Sealer>,
    /// The issuer identifier (the deployment's public URL, without a trailing slash).
    pub issuer: String,
    pub access_ttl: chrono::Duration,
    /// Whether `X-Forwarded-Proto` says how the browser reached us (for the cookie's `Secure`).
    pub trust_proxy: bool,
}

/// The endpoints under `/oauth`, and the methods each answers (for `Allow` on a 405).
pub const ROUTES: &[(&str, &[&str])] = &[
    ("/oauth/authorize", &["GET", "POST"]),
    ("/oauth/token", &["POST"]),
    ("/oauth/revoke", &["POST"]),
    ("/oauth/introspect", &["POST"]),
];

/// The endpoints, to be nested at `/oauth`.
pub fn routes(oauth: Arc<OAuth>) -> Route {
    Route::new()
        .at(
            "/authorize",
            get(authorize::show)
                .post(authorize::decide)
                .data(oauth.clone()),
        )
        .at("/token", post(token::exchange).data(oauth.clone()))
        .at("/revoke", post(revocation::revoke).data(oauth.clone()))
        .at("/introspect", post(revocation::introspect).data(oauth))
}

/// The issuer identifier of a deployment reached at `public_url`.
pub fn issuer(public_url: &url::Url) -> String {
    public_url.as_str().trim_end_matches('/').to_string()
}
