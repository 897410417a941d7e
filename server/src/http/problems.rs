//! Renders every error (ours, poem's, poem-openapi's) as `application/problem+json`, with the
//! request id, so that no client ever sees another error format. Internal errors are logged here,
//! with their cause, and leave as an opaque 500.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use serde_json::json;

use super::operations;
use crate::ids::RequestId;
use crate::problem::{ApiError, Problem};

pub const CONTENT_TYPE: &str = "application/problem+json";

pub async fn layer<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    let request_id = RequestId::of(&request);
    let path = request.uri().path().to_string();
    let mut response = match next.call(request).await {
        Ok(response) => response.into_response(),
        Err(err) => respond(err, &request_id),
    };
    // RFC 9110: a 405 says which methods the resource does support.
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Ok(allow) = HeaderValue::from_str(&operations::allowed_methods(&path).join(", "))
    {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(response)
}

/// The problem response for any error.
pub fn respond(err: poem::Error, request_id: &str) -> Response {
    render(&to_problem(err, request_id), request_id)
}

/// The response for `problem`.
pub fn render(problem: &Problem, request_id: &str) -> Response {
    let mut body = json!({
        "type": format!("https://hoverbot.ai/problems/{}", problem.code),
        "title": problem.title(),
        "status": problem.status.as_u16(),
        "detail": problem.detail,
        "code": problem.code,
        "requestId": request_id,
    });
    if !problem.errors.is_empty() {
        body["errors"] = json!(problem.errors);
    }
    let mut response = Response::builder()
        .status(problem.status)
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .body(body.to_string());
    for (name, value) in &problem.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

fn internal(
    request_id: &str,
    cause: &dyn std::fmt::Display,
    location: &dyn std::fmt::Display,
) -> Problem {
    tracing::error!(request_id, %location, "internal error: {cause:#}");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "the server failed to complete the request; quote the request id when reporting it",
    )
}

fn to_problem(err: poem::Error, request_id: &str) -> Problem {
    if let Some(err) = err.downcast_ref::<ApiError>() {
        return match err {
            ApiError::Public(problem) => problem.clone(),
            ApiError::Internal(internal_error) => internal(
                request_id,
                &format!("{:#}", internal_error.cause),
                internal_error.location,
            ),
        };
    }
    if let Some(problem) = err.downcast_ref::<Problem>() {
        return problem.clone();
    }
    // `parameters::layer` words what the spec describes; poem-openapi's own words are left for
    // the rest.
    if let Some(err) = err.downcast_ref::<ParseParamError>() {
        return Problem::bad_parameter(err.name, &err.reason);
    }
    if let Some(err) = err.downcast_ref::<ParsePathError>() {
        return Problem::bad_parameter(err.name, &err.reason);
    }
    if let Some(err) = err.downcast_ref::<ParseRequestPayloadError>() {
        return Problem::malformed(format!(
            "the request body does not match the schema: {}",
            err.reason
        ));
    }
    if err.is::<ContentTypeError>() {
        return Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as `Content-Type: application/json`",
        );
    }
    if err.is::<AuthorizationError>() {
        return Problem::unauthorized(
            "send an API key or access token as `Authorization: Bearer <token>`",
            false,
        );
    }
    if let Some(poem::error::ReadBodyError::PayloadTooLarge) =
        err.downcast_ref::<poem::error::ReadBodyError>()
    {
        return payload_too_large();
    }
    let status = err.status();
    match status {
        StatusCode::NOT_FOUND => Problem::new(
            status,
            "not_found",
            "no such endpoint; see /docs for the API",
        ),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            status,
            "method_not_allowed",
            "this endpoint does not accept that method",
        ),
        status if status.is_server_error() => internal(request_id, &err, &"poem"),
        status => Problem::new(status, "bad_request", err.to_string()),
    }
}

/// Why a request body could not be read: too large (413), too slow (408), or cut off (400).
pub fn unreadable_body(err: poem::error::ReadBodyError) -> Problem {
    match err {
        poem::error::ReadBodyError::PayloadTooLarge => payload_too_large(),
        poem::error::ReadBodyError::Io(err) if err.kind() == std::io::ErrorKind::TimedOut => {
            Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive in time",
            )
        }
        other => Problem::malformed(format!("cannot read the request body: {other}")),
    }
}

pub fn payload_too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is larger than this server accepts",
    )
}
