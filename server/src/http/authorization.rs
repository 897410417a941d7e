//! Authorization before work: a request for a secured operation whose caller may not call it is
//! refused with 401 or 403 here, from its headers alone, before it queues for SQLite's writer, and
//! before its body is read, validated or stored for an `Idempotency-Key`. A stranger costs the
//! server no more than the headers it sent.
//!
//! The answers are the ones the operation's own `authorize` would give (it still runs, for the
//! requests let through), so a client sees the same 401 or 403 whichever of the two refuses it.

use poem::{Endpoint, IntoResponse, Request, Response};

use super::operations;
use crate::auth::Caller;

pub async fn layer<E: Endpoint>(next: E, request: Request) -> poem::Result<Response> {
    if let Some(operation) = operations::of(&request)
        && let Some(problem) = Caller::of(&request).refusal(operation.access)
    {
        return Err(problem.into());
    }
    next.call(request).await.map(IntoResponse::into_response)
}
