//! `Idempotency-Key` on POSTs: the first request with a key runs, and its response (status, own
//! headers, body) is stored in the same transaction as the request's writes; a retry with the same
//! key and the same request gets those bytes back with `Idempotent-Replayed: true`; the same key on
//! a different request is a 422, and a retry while the first still runs is a 409. Keys belong to
//! the token's workspace and live for 24 hours.
//!
//! A request that does not commit (its client went away, the process died, its writes failed)
//! leaves nothing behind: its key is free again at once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use poem::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Request, Response};
use sha2::{Digest, Sha256};

use super::caller::bearer_token;
use super::problems::{self, unreadable_body};
use crate::auth::Caller;
use crate::ids::{self, RequestId};
use crate::metrics::Metrics;
use crate::problem::{ApiError, Problem};
use crate::store::Db;
use crate::store::db::{Finished, Unit};
use crate::store::idempotency::{self, Found, StoredResponse};
use crate::store::tenant::WorkspaceId;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";
const MAX_KEY_LEN: usize = 255;

/// The response headers that belong to the response itself (others, like the request id and the
/// rate-limit state, describe the request that carries them).
const STORED_HEADERS: [HeaderName; 2] = [header::CONTENT_TYPE, header::LOCATION];

pub struct Idempotency {
    pub db: Db,
    pub max_body_bytes: usize,
    pub metrics: Arc<Metrics>,
    /// Seals stored response bodies: they may hold secrets shown once (a new API key's, a
    /// webhook endpoint's signing secret), which must not rest in the clear.
    pub sealer: Arc<crate::sealing::Sealer>,
    /// The keys this process runs now. A key in here is in progress for as long as its request
    /// runs, and no longer: the entry goes with the request, however it ends.
    pub running: Running,
}

/// Keyed requests running in this process, by workspace and key.
#[derive(Default)]
pub struct Running(Arc<Mutex<HashSet<(String, String)>>>);

/// A key's place in [`Running`], given up when dropped.
struct Entered {
    running: Arc<Mutex<HashSet<(String, String)>>>,
    entry: (String, String),
}

impl Running {
    fn enter(&self, workspace: &WorkspaceId, key: &str) -> Option<Entered> {
        let entry = (workspace.as_str().to_string(), key.to_string());
        lock(&self.0).insert(entry.clone()).then(|| Entered {
            running: self.0.clone(),
            entry,
        })
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        lock(&self.running).remove(&self.entry);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
fn sealed_for(workspace: &WorkspaceId, key: &str) -> String {
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
    let workspace = &principal.workspace;
    let body = request
        .take_body()
        .into_bytes_limit(state.max_body_bytes)
        .await
        .map_err(unreadable_body)?;
    let fingerprint = fingerprint(&request, &body);
    let Some(_entered) = state.running.enter(workspace, &key) else {
        return Err(in_progress());
    };
    if let Some(answer) = state.answer(workspace, &key, &fingerprint).await? {
        return Ok(answer);
    }
    request.set_body(body);
    let request_id = RequestId::of(&request);
    let unit = Arc::new(Unit::default());
    let response = match unit.run(next.call(request)).await {
        Ok(response) => response.into_response(),
        Err(err) => problems::respond(err, &request_id),
    };
    let status = response.status();
    let finished = unit.finish();
    if !storable(status) {
        // Whatever the request wrote rolls back with `finished`: it did not happen.
        return Ok(response);
    }
    let write = match finished {
        Finished::Written(write) => write,
        Finished::RolledBack if status.is_success() => {
            return Err(ApiError::internal(anyhow::anyhow!(
                "a keyed request answered {status}, but its writes rolled back"
            ))
            .into());
        }
        Finished::Nothing | Finished::RolledBack => {
            state.db.write().await.map_err(ApiError::from)?
        }
    };
    let (parts, body) = response.into_parts();
    let body = body.into_vec().await.map_err(ApiError::internal)?;
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
    // The body is sealed at rest; the conversation it carries is noted beside it, so that deleting
    // the conversation forgets the response too.
    let conversation = ids::first_quoted(&body, ids::CONVERSATION);
    let saved = idempotency::save(
        &write,
        workspace,
        &key,
        &fingerprint,
        &stored,
        conversation,
        Utc::now(),
    )
    .await?;
    if !saved {
        // Another node ran the same request and committed first: this run rolls back, and the
        // first run's response is the answer.
        drop(write);
        return match state.answer(workspace, &key, &fingerprint).await? {
            Some(answer) => Ok(answer),
            None => Err(in_progress()),
        };
    }
    write.commit().await.map_err(ApiError::from)?;
    // Only a replay is marked: the spec says the header is absent otherwise.
    Ok(Response::from_parts(parts, body.into()))
}

impl Idempotency {
    /// The answer the store holds for the key, if any: a replay, a 422 for another request, or a
    /// 409 while a node of an earlier release runs it.
    async fn answer(
        &self,
        workspace: &WorkspaceId,
        key: &str,
        fingerprint: &str,
    ) -> poem::Result<Option<Response>> {
        match idempotency::find(&self.db, workspace, key, fingerprint, Utc::now()).await? {
            Found::Nothing => Ok(None),
            Found::Replay(mut stored) => {
                self.metrics.idempotent_replay();
                stored.body = self
                    .sealer
                    .open_bytes(&sealed_for(workspace, key), &stored.body)
                    .map_err(|_| {
                        ApiError::internal(anyhow::anyhow!(
                            "a stored idempotent response does not open with the deployment's key"
                        ))
                    })?;
                Ok(Some(replay(stored)))
            }
            Found::Mismatch => Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request; use a new key for a new request",
            )
            .into()),
            Found::InProgress => Err(in_progress()),
        }
    }
}

/// The 409 for a key whose request runs now. Its run is short (a request's own work, bounded by
/// the model's timeout at most), and its key is free or answered the moment it ends.
fn in_progress() -> poem::Error {
    Problem::conflict(
        "idempotency_in_progress",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    .into()
}
