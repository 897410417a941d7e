//! Rate limits at the edge: decides, answers 429 or passes on, and sets the headers of the IETF
//! httpapi draft (and the `X-RateLimit-*` ones) on whatever comes back from a `/v1` request.
//!
//! A request of a live token ([`Caller::Workspace`]) is counted against that token, under its
//! workspace's limit: an API key by its id, an OAuth access token by its installation
//! (`inst:<id>`), whose tokens share one quota so that refreshing mints none. Every other request
//! (no token, an unknown, revoked or expired one, an operator key) is counted against the client's
//! address (`addr:<ip>`). None of these keys meets another.

use std::fmt::Write;
use std::sync::Arc;

use poem::http::{HeaderName, HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use super::caller;
use super::problems;
use crate::auth::Caller;
use crate::ids::RequestId;
use crate::limits::gcra::Decision;
use crate::limits::{Limit, RateLimiter};
use crate::metrics::Metrics;
use crate::problem::Problem;

const POLICY: &str = "workspace";

/// What the layer needs.
pub struct Limits {
    pub limiter: Arc<RateLimiter>,
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

impl Limits {
    async fn decide(&self, request: &Request) -> (Decision, Limit, Counted) {
        if let Some(principal) = Caller::of(request).principal() {
            let limit = principal.rate_limit.unwrap_or(self.default);
            let decision = match &principal.installation {
                Some(installation) => {
                    self.limiter
                        .check(&format!("inst:{installation}"), limit)
                        .await
                }
                None => self.limiter.check(&principal.key_id, limit).await,
            };
            return (decision, limit, Counted::Token);
        }
        let address = caller::address_key(request, self.trust_proxy);
        let decision = self.limiter.check(&address, self.default).await;
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
