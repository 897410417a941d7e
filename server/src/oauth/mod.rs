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
mod limits;
mod pages;
mod revocation;
pub mod scopes;
mod session;
mod token;

use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem::{EndpointExt, Route, RouteMethod};

use crate::auth::Authenticator;
use crate::limits::RateLimiter;
use crate::sealing::Sealer;
use crate::store::Db;
use crate::store::oauth_tokens::Lifetimes;

/// What the OAuth endpoints share.
pub struct OAuth {
    pub db: Db,
    /// The API's authenticator: the admin's key is checked with it, and it forgets revoked tokens.
    pub auth: Arc<Authenticator>,
    /// Seals the consent page's sign-in cookie.
    pub sealer: Arc<Sealer>,
    /// The issuer identifier (the deployment's public URL, without a trailing slash).
    pub issuer: String,
    pub lifetimes: Lifetimes,
    /// Whether `X-Forwarded-Proto` says how the browser reached us (for the cookie's `Secure`),
    /// and `X-Forwarded-For` who it is (for the rate limits).
    pub trust_proxy: bool,
    /// The API's limiter, which counts these endpoints' requests under keys of their own.
    pub limiter: Arc<RateLimiter>,
    /// Whether rate limits apply (the deployment's `rate_limit_enabled`).
    pub rate_limited: bool,
}

/// Makes one endpoint's handler.
type Handler = fn(Arc<OAuth>) -> BoxEndpoint<'static>;

/// Every endpoint under `/oauth`: its path, a method and the handler. The router and the `Allow`
/// header of a 405 are both made from this one table.
const ENDPOINTS: &[(&str, Method, Handler)] = &[
    ("/authorize", Method::GET, |oauth| {
        authorize::show.data(oauth).boxed()
    }),
    ("/authorize", Method::POST, |oauth| {
        authorize::decide.data(oauth).boxed()
    }),
    ("/token", Method::POST, |oauth| {
        token::exchange.data(oauth).boxed()
    }),
    ("/revoke", Method::POST, |oauth| {
        revocation::revoke.data(oauth).boxed()
    }),
    ("/introspect", Method::POST, |oauth| {
        revocation::introspect.data(oauth).boxed()
    }),
];

/// The methods the endpoint at `path` (under `/oauth`) answers, or `None` when there is none.
pub fn allowed_methods(path: &str) -> Option<Vec<&'static str>> {
    let path = path.trim_end_matches('/').strip_prefix("/oauth")?;
    let methods: Vec<&'static str> = ENDPOINTS
        .iter()
        .filter(|(endpoint, _, _)| *endpoint == path)
        .map(|(_, method, _)| method.as_str())
        .collect();
    (!methods.is_empty()).then_some(methods)
}

/// The endpoints, to be nested at `/oauth`.
pub fn routes(oauth: Arc<OAuth>) -> Route {
    let mut paths: Vec<&str> = ENDPOINTS.iter().map(|(path, _, _)| *path).collect();
    paths.dedup();
    paths.into_iter().fold(Route::new(), |route, path| {
        let methods = ENDPOINTS
            .iter()
            .filter(|(endpoint, _, _)| *endpoint == path)
            .fold(RouteMethod::new(), |methods, (_, method, handler)| {
                let limited = oauth.clone();
                let endpoint = handler(oauth.clone()).around(move |next, request| {
                    let oauth = limited.clone();
                    async move { limits::per_address(next, request, &oauth).await }
                });
                methods.method(method.clone(), endpoint)
            });
        route.at(path, methods)
    })
}

/// The issuer identifier of a deployment reached at `public_url`.
pub fn issuer(public_url: &url::Url) -> String {
    public_url.as_str().trim_end_matches('/').to_string()
}
