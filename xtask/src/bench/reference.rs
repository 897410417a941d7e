//! The reference implementations: `GET /v1/conversations/{id}` and `POST /v1/conversations`
//! (without `Idempotency-Key`) written for speed and nothing else, on the database a server under
//! test uses, served by this process on a runtime of its own as the bare baseline is. They do the
//! same work as the server (the bearer token hashed and looked up in memory, as a cached key is; one
//! read of the conversation and its messages, or one transaction with the conversation and its
//! `conversation.created` event; the same JSON), with none of what makes the server a product: no
//! middleware stack, no ORM, no request ids, logs, metrics, rate limits or problem documents. What
//! they reach is the best this framework, this database and this machine allow for that work, which
//! the server's figures are quoted against. A third sends the same statements through sea-orm
//! ([`Orm`]): the most a server with sea-orm underneath can reach.

mod orm;
mod postgres;
mod sqlite;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use poem::http::{Method, StatusCode, header};
use poem::{Body, Endpoint, Request, Response};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub use orm::Orm;
pub use postgres::{Database, Postgres};
pub use sqlite::Sqlite;

/// The names of the reference servers' threads (for their CPU time): one per reference, so that
/// one's idle threads ending do not take their time out of the other's sum.
pub const SQLITE_THREADS: &str = "bench-ref-lite";
pub const POSTGRES_THREADS: &str = "bench-ref-pg";
pub const ORM_SQLITE_THREADS: &str = "bench-orm-lite";
pub const ORM_POSTGRES_THREADS: &str = "bench-orm-pg";

/// The live API keys: the SHA-256 of the secret, the workspace and the scopes.
const KEYS: &str = "SELECT secret_hash, workspace_id, scopes FROM api_keys \
     WHERE revoked_at IS NULL AND expires_at IS NULL";

const READ: &str = "conversations:read";
const WRITE: &str = "conversations:write";

/// A database the reference reads and writes: the same rows the server's store does.
pub trait Store: Send + Sync + 'static {
    /// The transcript's JSON, as the server serves it; `None` when the workspace has no such
    /// conversation.
    fn transcript(
        &self,
        workspace: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;

    /// Inserts `conversation` and its `conversation.created` event in one transaction.
    fn create(
        &self,
        conversation: wire::NewConversation,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// The live API keys: the hex SHA-256 of the secret (as the server stores it) to the workspace and
/// the scopes, read once at start, as the server's cache holds a key it has seen.
pub struct Keys(HashMap<String, Key>);

struct Key {
    workspace: String,
    scopes: String,
}

impl Keys {
    /// `(secret_hash, workspace_id, scopes)` of the live keys.
    fn new(rows: impl IntoIterator<Item = (String, String, String)>) -> Self {
        Self(
            rows.into_iter()
                .map(|(hash, workspace, scopes)| (hash, Key { workspace, scopes }))
                .collect(),
        )
    }

    /// The workspace of the request's bearer token, when it is a live key with `scope`.
    fn workspace(&self, request: &Request, scope: &str) -> Option<&str> {
        let (scheme, token) = request.header(header::AUTHORIZATION)?.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let key = self.0.get(&hash(token.trim()))?;
        key.scopes
            .split_whitespace()
            .any(|granted| granted == scope)
            .then_some(key.workspace.as_str())
    }
}

/// The server's hash of a secret: SHA-256 in lowercase hex.
fn hash(secret: &str) -> String {
    format!("{:x}", Sha256::digest(secret.as_bytes()))
}

/// The two operations over a [`Store`], routed by hand: the router is part of what the server
/// pays for, this is the least that tells the two apart.
pub struct Reference<S> {
    store: Arc<S>,
    keys: Keys,
}

impl<S: Store> Reference<S> {
    pub fn new(store: S, keys: Keys) -> Self {
        Self {
            store: Arc::new(store),
            keys,
        }
    }
}

/// The body of `POST /v1/conversations`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateConversation {
    channel: wire::Channel,
    external_user_id: Option<String>,
    locale: Option<String>,
    metadata: Option<serde_json::Map<String, Value>>,
}

impl<S: Store> Endpoint for Reference<S> {
    type Output = Response;

    async fn call(&self, mut request: Request) -> poem::Result<Response> {
        let path = request.uri().path();
        let scope = match (request.method(), path) {
            (&Method::POST, "/v1/conversations") => WRITE,
            (&Method::GET, path) if path.starts_with("/v1/conversations/") => READ,
            _ => return Ok(status(StatusCode::NOT_FOUND)),
        };
        let Some(workspace) = self.keys.workspace(&request, scope) else {
            return Ok(status(StatusCode::UNAUTHORIZED));
        };
        let workspace = workspace.to_string();
        if scope == READ {
            let id = &path["/v1/conversations/".len()..];
            return Ok(match self.store.transcript(&workspace, id).await {
                Ok(Some(json)) => self::json(StatusCode::OK, json),
                Ok(None) => status(StatusCode::NOT_FOUND),
                Err(err) => failed(&err),
            });
        }
        let body = request.take_body().into_bytes().await?;
        let Ok(body) = serde_json::from_slice::<CreateConversation>(&body) else {
            return Ok(status(StatusCode::BAD_REQUEST));
        };
        let conversation = wire::NewConversation::new(
            workspace,
            body.channel,
            body.external_user_id,
            body.locale,
            body.metadata.unwrap_or_default(),
        );
        let created = conversation.json();
        Ok(match self.store.create(conversation).await {
            Ok(()) => json(StatusCode::CREATED, created),
            Err(err) => failed(&err),
        })
    }
}

fn status(status: StatusCode) -> Response {
    Response::builder().status(status).finish()
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .body(Body::from_vec(body))
}

/// A database error: the bench counts the 500 as a failed request and stops.
fn failed(err: &anyhow::Error) -> Response {
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .body(format!("{err:#}"))
}

/// Whether the server's and the reference's answers are the same document, but for what each
/// creates anew (`id`, and times, of a new conversation). A reference that answered less would be
/// measuring less work.
pub fn same_document(server: &[u8], reference: &[u8]) -> Result<()> {
    fn masked(body: &[u8], who: &str) -> Result<Value> {
        let mut document: Value = serde_json::from_slice(body)
            .with_context(|| format!("the {who}'s answer is not JSON"))?;
        if let Some(object) = document.as_object_mut()
            && object.contains_key("channel")
        {
            // A conversation just created: its id and times are its own.
            for field in ["id", "createdAt", "updatedAt"] {
                if let Some(value) = object.get_mut(field) {
                    *value = Value::String("…".into());
                }
            }
        }
        Ok(document)
    }
    let (ours, theirs) = (masked(server, "server")?, masked(reference, "reference")?);
    ensure!(
        ours == theirs,
        "the reference answers differently from the server:\nserver:    {ours}\nreference: {theirs}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{hash, same_document};

    #[test]
    fn a_new_conversation_may_differ_only_in_its_id_and_times() {
        let server =
            br#"{"id":"conv_1","channel":"web","status":"active","createdAt":"a","updatedAt":"a"}"#;
        let reference =
            br#"{"id":"conv_2","channel":"web","status":"active","createdAt":"b","updatedAt":"b"}"#;
        assert!(same_document(server, reference).is_ok());
        let other = br#"{"id":"conv_2","channel":"email","status":"active","createdAt":"b","updatedAt":"b"}"#;
        assert!(same_document(server, other).is_err());
        let transcript = br#"{"conversation":{"id":"conv_1"},"messages":[]}"#;
        let fewer = br#"{"conversation":{"id":"conv_1"}}"#;
        assert!(same_document(transcript, transcript).is_ok());
        assert!(same_document(transcript, fewer).is_err());
    }

    #[test]
    fn hashes_a_secret_as_the_server_stores_it() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
