//! Refuses, at once, the requests that need the database while it does not answer (see
//! `store::availability`): the API, OAuth and the readiness probe; and answers the same to those
//! in flight when it stops answering, which would otherwise wait on connections gone quiet
//! (dropping one is what a client that hangs up does, which changes nothing). Outside the layers
//! that read the database (the caller, the rate limits), so that a refused request costs nothing
//! and waits for nothing. `/healthz`, the spec and the docs need no database and are always
//! served.

use std::sync::Arc;

use poem::{Endpoint, IntoResponse, Request, Response};

use super::problems;
use crate::ids::RequestId;
use crate::problem::Problem;
use crate::store::availability::Availability;

pub async fn layer<E: Endpoint>(
    next: E,
    request: Request,
    availability: Arc<Availability>,
) -> poem::Result<Response> {
    let path = request.uri().path();
    let needs_database =
        path.starts_with("/v1/") || path.starts_with("/oauth/") || path == "/readyz";
    if !needs_database {
        return next.call(request).await.map(IntoResponse::into_response);
    }
    let request_id = RequestId::of(&request);
    let refused = || problems::render(&Problem::database_unavailable(), &request_id);
    if !availability.answering() {
        return Ok(refused());
    }
    tokio::select! {
        response = next.call(request) => response.map(IntoResponse::into_response),
        () = availability.gone() => Ok(refused()),
    }
}
