//! `Idempotency-Key` on POSTs: the first request with a key runs, and its response (status, own
//! headers, body) is stored; a retry with the same key and the same request gets those bytes back
//! with `Idempotent-Replayed: true`; the same key on a different request is a 422, and a retry
//! while the first still runs is a 409. Keys belong to the token's workspace and live for 24 hours.

use std::sync::Arc;

use chrono::Utc;
use poem::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

use super::caller::bearer_token;
use super::problems::{self, unreadable_body};
use crate::auth::Caller;
use crate::ids::RequestId;
use crate::metrics::Metrics;
use crate::problem::Problem;
use crate::store::idempotency::{self, Begin, StoredResponse};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 255;

/// The response headers that belong to the response itself (others, like the request id and the
/// rate-limit state, describe the request that carries them).
const STORED_HEADERS: [HeaderName; 2] = [header::CONTENT_TYPE, header::LOCATION];

pub struct Idempotency {
    pub db: DatabaseConnection,
    pub max_body_bytes: usize,
    pub metrics: Arc<Metrics>,
    /// Seals stored response bodies: they may hold secrets shown once (a new API key's, a
    /// webhook endpoint's signing secret), which must not rest in the clear.
    pub sealer: Arc<crate::sealing::Sealer>,
}

/// Responses worth replaying: what the request did, not whether the caller could send it then.
fn storable(status: StatusCode) -> bool {
    !status.is_server_error()
        && ![
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::TOO_MANY_REQUESTS,
        ]
        .contains(&status)
}

/// What a stored body is sealed for: its workspace and key, so it opens for no other row.
fn sealed_for(workspace: &crate::store::tenant::WorkspaceId, key: &str) -> String {
    format!("idempotency:{}:{key}", workspace.as_str())
}

fn fingerprint(request: &Request, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(request.method().as_str());
    hasher.update(b" ");
    hasher.update(
        request
            .uri()
            .path_and_query()
            .map_or("", |path| path.as_str()),
    );
    hasher.update(b"\n");
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn replay(stored: StoredResponse) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
        .body(stored.body);
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

pub async fn layer<E: Endpoint>(
    next: E,
    mut request: Request,
    state: Arc<Idempotency>,
) -> poem::Result<Response> {
    let key = request.header(HEADER).map(str::to_string);
    let (Some(key), true) = (key, bearer_token(&request).is_some()) else {
        return next.call(request).await.map(IntoResponse::into_response);
    };
    if request.method() != Method::POST || !request.uri().path().starts_with("/v1/") {
        return next.call(request).await.map(IntoResponse::into_response);
    }
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(Problem::bad_parameter(
            "Idempotency-Key",
            format!("must have 1 to {MAX_KEY_LEN} characters"),
        )
        .into());
    }
    // An unauthenticated request is the router's to refuse; nothing is stored for it.
    let Some(principal) = Caller::of(&request).principal().cloned() else {
        return next.call(request).await.map(IntoResponse::into_response);
    };
    let body = request
        .take_body()
        .into_bytes_limit(state.max_body_bytes)
        .await
        .map_err(unreadable_body)?;
    let workspace = &principal.workspace;
    match idempotency::begin(
        &state.db,
        workspace,
        &key,
        &fingerprint(&request, &body),
        Utc::now(),
    )
    .await?
    {
        Begin::Replay(mut stored) => {
            state.metrics.idempotent_replay();
            stored.body = state
                .sealer
                .open_bytes(&sealed_for(workspace, &key), &stored.body)
                .map_err(|_| {
                    crate::problem::ApiError::internal(anyhow::anyhow!(
                        "a stored idempotent response does not open with the deployment's key"
                    ))
                })?;
            return Ok(replay(stored));
        }
        Begin::Mismatch => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request; use a new key for a new request",
            )
            .into());
        }
        Begin::InProgress => {
            return Err(Problem::conflict(
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .into());
        }
        Begin::Started => {}
    }
    request.set_body(body);
    let request_id = RequestId::of(&request);
    let response = match next.call(request).await {
        Ok(response) => response.into_response(),
        Err(err) => problems::respond(err, &request_id),
    };
    let status = response.status();
    if !storable(status) {
        idempotency::abandon(&state.db, workspace, &key).await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = body
        .into_vec()
        .await
        .map_err(crate::problem::ApiError::internal)?;
    let headers = STORED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = parts.headers.get(name)?.to_str().ok()?;
            Some((name.as_str().to_string(), value.to_string()))
        })
        .collect();
    let stored = StoredResponse {
        status: status.as_u16(),
        headers,
        body: state.sealer.seal_bytes(&sealed_for(workspace, &key), &body),
    };
    idempotency::complete(&state.db, workspace, &key, &stored).await?;
    // Only a replay is marked: the spec says the header is absent otherwise.
    Ok(Response::from_parts(parts, body.into()))
}
