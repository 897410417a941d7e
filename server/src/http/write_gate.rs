//! One mutating request at a time on SQLite.
//!
//! SQLite has a single writer; a writer that finds the database locked sleeps in SQLite's busy
//! handler, milliseconds at a time, which made write latency jump by tens of milliseconds under
//! concurrency. Queuing mutating requests here, in a fair async queue, keeps their latency to the
//! time the writes take, while reads still run in parallel on the pool. PostgreSQL gets no gate.

use std::sync::Arc;

use poem::http::Method;
use poem::{Endpoint, IntoResponse, Request, Response};
use tokio::sync::Semaphore;

pub async fn layer<E: Endpoint>(
    next: E,
    request: Request,
    gate: Arc<Semaphore>,
) -> poem::Result<Response> {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.call(request).await.map(IntoResponse::into_response);
    }
    // The semaphore is never closed, so acquiring only waits.
    let _permit = gate
        .acquire()
        .await
        .map_err(crate::problem::ApiError::internal)?;
    next.call(request).await.map(IntoResponse::into_response)
}
