//! One structured log line per request: request id, operation, workspace, status and latency, and
//! the same facts counted in the metrics. It
//! names the operation by its spec id and the path by its template, and never logs query strings,
//! bodies or headers, so no secret and no message text reaches the log.

use std::sync::Arc;
use std::time::Instant;

use poem::{Endpoint, IntoResponse, Request, Response};

use super::operations;
use crate::auth::Caller;
use crate::ids::RequestId;
use crate::metrics::Metrics;

pub async fn layer<E: Endpoint>(
    next: E,
    mut request: Request,
    metrics: Arc<Metrics>,
) -> poem::Result<Response> {
    let started = Instant::now();
    let in_flight = metrics.request_started();
    let method = request.method().clone();
    let operation = operations::remember(&mut request);
    let request_id = RequestId::of(&request);
    let workspace = Caller::of(&request)
        .principal()
        .map(|principal| principal.workspace.clone());
    let result = next.call(request).await.map(IntoResponse::into_response);
    let status = match &result {
        Ok(response) => response.status().as_u16(),
        Err(err) => err.status().as_u16(),
    };
    drop(in_flight);
    let latency = started.elapsed();
    let operation_id = operation.map_or("-", |operation| operation.operation_id);
    metrics.request_finished(operation_id, status, latency.as_secs_f64());
    tracing::info!(
        target: "hoverbot::access",
        request_id,
        method = %method,
        operation = operation_id,
        path = operation.map_or("-", |operation| operation.path),
        workspace = workspace.as_ref().map_or("-", |workspace| workspace.as_str()),
        status,
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request"
    );
    result
}
