//! Who is calling: the bearer token of a `/v1` request, resolved once, before any layer needs it,
//! into a [`Caller`] in the request's extensions, which the rate limiter, the access log, the
//! idempotency layer and the operations' `authorize` all read.
//!
//! An unknown token is looked up only while the client's address is within its rate limit (see
//! [`Authenticator::resolve`]): a flood of made-up tokens from one address is refused by the
//! limiter once that address's quota is spent, and never reaches the key store.

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response};

use crate::auth::{Authenticator, Caller};
use crate::limits::{Limit, RateLimiter};
use crate::problem::ApiError;
use crate::store::operator_keys;

/// The token of an `Authorization: Bearer <token>` header. The scheme is case-insensitive (RFC 9110),
/// as it is for the router, so the caller is resolved from the token the router parses.
pub fn bearer_token(request: &Request) -> Option<&str> {
    let (scheme, token) = request
        .header(poem::http::header::AUTHORIZATION)?
        .split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// What resolving needs.
pub struct Callers {
    pub auth: Arc<Authenticator>,
    pub db: crate::store::Db,
    /// The limiter and the limit for addresses, when the deployment limits rates: an unknown token
    /// is looked up only while its address is within that limit.
    pub flood_guard: Option<(Arc<RateLimiter>, Limit)>,
    /// Whether the client address comes from `X-Forwarded-For`.
    pub trust_proxy: bool,
}

impl Callers {
    async fn resolve(&self, request: &Request) -> Caller {
        let Some(token) = bearer_token(request) else {
            return Caller::Anonymous;
        };
        if token.starts_with(operator_keys::PREFIX) {
            return match operator_keys::find_live(&self.db, token).await {
                Ok(Some(key)) => Caller::Operator { key_id: key.id },
                Ok(None) => Caller::Unknown,
                Err(err) => unavailable(ApiError::from(err)),
            };
        }
        let may_look_up = async {
            match &self.flood_guard {
                Some((limiter, limit)) => {
                    limiter
                        .would_admit(&address_key(request, self.trust_proxy), *limit)
                        .await
                }
                None => true,
            }
        };
        match self.auth.resolve(token, may_look_up).await {
            Ok(Some(principal)) => Caller::Workspace(principal),
            Ok(None) => Caller::Unknown,
            Err(err) => unavailable(err),
        }
    }
}

fn unavailable(err: ApiError) -> Caller {
    tracing::error!("cannot resolve the caller: {err}");
    Caller::Unavailable
}

/// The rate limiter's key for requests counted against the client's address.
pub fn address_key(request: &Request, trust_proxy: bool) -> String {
    match crate::forwarded::client_address(request, trust_proxy) {
        Some(ip) => format!("addr:{ip}"),
        None => "addr:unknown".to_string(),
    }
}

pub async fn layer<E: Endpoint>(
    next: E,
    mut request: Request,
    callers: Arc<Callers>,
) -> poem::Result<Response> {
    if request.uri().path().starts_with("/v1/") {
        let caller = callers.resolve(&request).await;
        request.extensions_mut().insert(caller);
    }
    next.call(request).await.map(IntoResponse::into_response)
}
