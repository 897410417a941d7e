//! The middleware: decides, answers 429 or passes on, and sets the headers on whatever comes back.

use std::sync::Arc;

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};

use super::RateLimiter;
use super::gcra::Decision;
use crate::auth::secret;
use crate::http::problems;
use crate::http::request_id::RequestId;
use crate::problem::Problem;

const POLICY: &str = "workspace";

/// The limiter's key: the token's hash, or the client's address for requests without a token.
fn key(request: &Request) -> String {
    let token = request
        .header(header::AUTHORIZATION)
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|token| !token.is_empty());
    match token {
        Some(token) => format!("token:{}", secret::hash(token)),
        None => match request.remote_addr().as_socket_addr() {
            Some(addr) => format!("addr:{}", addr.ip()),
            None => "addr:unknown".to_string(),
        },
    }
}

fn seconds_up(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000_000)
}

pub async fn layer<E: Endpoint>(
    next: E,
    request: Request,
    limiter: Arc<RateLimiter>,
) -> poem::Result<Response> {
    if !request.uri().path().starts_with("/v1/") {
        return next.call(request).await.map(IntoResponse::into_response);
    }
    let decision = limiter.check(&key(&request)).await;
    let mut response = if decision.admitted {
        next.call(request).await.map(IntoResponse::into_response)?
    } else {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let retry_after = seconds_up(decision.retry_after_ns);
        let problem = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("this token is over its rate limit of {} requests a minute; retry in {retry_after} s", limiter.per_minute),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after));
        problems::render(&problem, &request_id)
    };
    set_headers(&mut response, &limiter, &decision);
    Ok(response)
}

fn set_headers(response: &mut Response, limiter: &RateLimiter, decision: &Decision) {
    let reset = seconds_up(decision.reset_ns);
    let headers = response.headers_mut();
    let policy = format!("\"{POLICY}\";q={};w=60", limiter.per_minute);
    let state = format!("\"{POLICY}\";r={};t={reset}", decision.remaining);
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
        headers.insert(
            name,
            HeaderValue::from_str(&value).expect("digits and quotes are header-safe"),
        );
    }
    headers.insert("x-ratelimit-limit", HeaderValue::from(limiter.per_minute));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(decision.remaining),
    );
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
}
