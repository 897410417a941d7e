//! The middleware: decides, answers 429 or passes on, and sets the headers on whatever comes back.
//!
//! A request with a valid token is counted against that token, under its workspace's limit. Every
//! other request (no token, a malformed one, an unknown, revoked or expired one) is counted against
//! the client's address, and the address is checked *before* a token this node has never seen as
//! valid is looked up: a flood of made-up tokens from one address is refused at the limiter once
//! that address's quota is spent, and never reaches the key store. Tokens already seen as valid
//! are always looked up, so clients sharing an address with a flood keep working.

use std::fmt::Write;
use std::sync::Arc;

use poem::http::{HeaderName, HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use super::gcra::Decision;
use super::{Limit, RateLimiter};
use crate::auth::{Authenticator, Quota, bearer_token, secret};
use crate::http::request_id::RequestId;
use crate::http::{client, problems};
use crate::metrics::Metrics;
use crate::problem::Problem;

const POLICY: &str = "workspace";

/// What the layer needs.
pub struct Limits {
    pub limiter: RateLimiter,
    pub auth: Arc<Authenticator>,
    /// The deployment's limit, for tokens whose workspace has none of its own and for addresses.
    pub default: Limit,
    /// `RateLimit-Policy` of the default limit, made once.
    pub default_policy: HeaderValue,
    /// Whether the client address comes from `X-Forwarded-For`.
    pub trust_proxy: bool,
    pub metrics: Arc<Metrics>,
}

/// Who a request is counted against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counted {
    Token,
    Address,
}

impl Counted {
    fn label(self) -> &'static str {
        match self {
            Counted::Token => "token",
            Counted::Address => "address",
        }
    }
}

fn address_key(request: &Request, trust_proxy: bool) -> String {
    match client::address(request, trust_proxy) {
        Some(ip) => format!("addr:{ip}"),
        None => "addr:unknown".to_string(),
    }
}

impl Limits {
    /// API keys are keyed by their hash (64 hex digits), OAuth tokens by `inst:<id>`, addresses by
    /// `addr:<ip>`: none meets another.
    async fn decide(&self, request: &Request) -> (Decision, Limit, Counted) {
        // Made only when needed: most requests carry a token this node knows.
        let address = || address_key(request, self.trust_proxy);
        let Some(token) = bearer_token(request) else {
            return self.count_address(&address()).await;
        };
        let hash = secret::hash(token);
        if let Some(quota) = self.auth.cached_quota(&hash) {
            return self.count_token(&hash, quota).await;
        }
        // Over its limit, the address is refused (without counting) before an unknown token costs
        // a lookup.
        let address = address();
        if !self.auth.seen_live(&hash) && !self.limiter.would_admit(&address, self.default).await {
            return self.count_address(&address).await;
        }
        match self.auth.resolve(token).await {
            Ok(Some(principal)) => self.count_token(&hash, principal.quota()).await,
            // Not a live token, or the key store failed (the handler will say so): the address
            // pays for the request.
            Ok(None) | Err(_) => self.count_address(&address).await,
        }
    }

    /// An API key is counted by its hash; an OAuth token by its installation (`inst:<id>`), whose
    /// tokens share one quota.
    async fn count_token(&self, hash: &str, quota: Quota) -> (Decision, Limit, Counted) {
        let limit = quota.limit.unwrap_or(self.default);
        let decision = match &quota.installation {
            Some(installation) => {
                self.limiter
                    .check(&format!("inst:{installation}"), limit)
                    .await
            }
            None => self.limiter.check(hash, limit).await,
        };
        (decision, limit, Counted::Token)
    }

    async fn count_address(&self, address: &str) -> (Decision, Limit, Counted) {
        let decision = self.limiter.check(address, self.default).await;
        (decision, self.default, Counted::Address)
    }
}

fn seconds_up(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000_000)
}

pub async fn layer<E: Endpoint>(
    next: E,
    request: Request,
    limits: Arc<Limits>,
) -> poem::Result<Response> {
    if !request.uri().path().starts_with("/v1/") {
        return next.call(request).await.map(IntoResponse::into_response);
    }
    let (decision, limit, counted) = limits.decide(&request).await;
    let mut response = if decision.admitted {
        next.call(request).await.map(IntoResponse::into_response)?
    } else {
        limits.metrics.rate_limited(counted.label());
        let request_id = RequestId::of(&request);
        let retry_after = seconds_up(decision.retry_after_ns);
        let who = match counted {
            Counted::Token => "this token is over its rate limit",
            Counted::Address => {
                "this address is over its rate limit for requests without a valid token"
            }
        };
        let problem = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "{who} of {} requests a minute; retry in {retry_after} s",
                limit.per_minute
            ),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after));
        problems::render(&problem, &request_id)
    };
    set_headers(&mut response, &limits, limit, &decision);
    Ok(response)
}

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// `RateLimit-Policy` for a limit.
pub fn policy(limit: Limit) -> HeaderValue {
    HeaderValue::try_from(format!("\"{POLICY}\";q={};w=60", limit.per_minute))
        .expect("digits and quotes are header-safe")
}

/// Sets the headers; on every `/v1` response, so it formats as little as it can.
fn set_headers(response: &mut Response, limits: &Limits, limit: Limit, decision: &Decision) {
    let reset = seconds_up(decision.reset_ns);
    let mut state = String::with_capacity(40);
    let _ = write!(state, "\"{POLICY}\";r={};t={reset}", decision.remaining);
    let policy = if limit == limits.default {
        limits.default_policy.clone()
    } else {
        policy(limit)
    };
    let headers = response.headers_mut();
    headers.insert(RATELIMIT_POLICY, policy);
    headers.insert(
        RATELIMIT,
        HeaderValue::try_from(state).expect("digits and quotes are header-safe"),
    );
    headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(limit.per_minute));
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(X_RATELIMIT_RESET, HeaderValue::from(reset));
}
