//! Who is calling: bearer tokens to principals (a workspace and its scopes).
//!
//! Keys are looked up by the hash of the presented secret (an index lookup that reveals nothing
//! about other secrets), then compared in constant time. Results are cached for [`CACHE_TTL`], so a
//! revocation takes effect at once on the node that revoked and within that bound on the others.

pub mod secret;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::api::generated::Scope;
use crate::problem::{ApiError, Problem};
use crate::store::api_keys;
use crate::store::tenant::WorkspaceId;

pub const CACHE_TTL: Duration = Duration::from_secs(10);
const CACHE_CAPACITY: usize = 10_000;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub workspace: WorkspaceId,
    pub key_id: String,
    pub scopes: Vec<Scope>,
    expires_at: Option<chrono::DateTime<Utc>>,
}

struct Cached {
    /// `None`: no live key has this secret.
    principal: Option<Principal>,
    fetched: Instant,
}

pub struct Authenticator {
    db: DatabaseConnection,
    cache: Mutex<HashMap<String, Cached>>,
}

fn invalid() -> ApiError {
    Problem::unauthorized(
        "the bearer token is not a valid API key or access token",
        true,
    )
    .into()
}

impl Authenticator {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn authenticate(&self, token: &str) -> Result<Principal, ApiError> {
        if !token.starts_with(secret::PREFIX) || token.len() > secret::MAX_TOKEN_LEN {
            return Err(invalid());
        }
        let hash = secret::hash(token);
        let cached = self.cached(&hash);
        let principal = match cached {
            Some(principal) => principal,
            None => {
                let principal = self.load(token, &hash).await?;
                self.remember(hash, principal.clone());
                principal
            }
        };
        match principal {
            Some(principal) if principal.expires_at.is_none_or(|at| at > Utc::now()) => {
                Ok(principal)
            }
            _ => Err(invalid()),
        }
    }

    fn cached(&self, hash: &str) -> Option<Option<Principal>> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .get(hash)
            .filter(|entry| entry.fetched.elapsed() < CACHE_TTL)
            .map(|entry| entry.principal.clone())
    }

    fn remember(&self, hash: String, principal: Option<Principal>) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, entry| entry.fetched.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(
            hash,
            Cached {
                principal,
                fetched: Instant::now(),
            },
        );
    }

    async fn load(&self, token: &str, hash: &str) -> Result<Option<Principal>, ApiError> {
        let Some(key) = api_keys::find_by_hash(&self.db, hash).await? else {
            return Ok(None);
        };
        if !secret::matches(&key.secret_hash, token) || key.revoked_at.is_some() {
            return Ok(None);
        }
        // Refreshed at most once per cache period, which is as precise as "last used" needs to be.
        api_keys::mark_used(&self.db, &key.id, Utc::now()).await?;
        let scopes = key
            .scopes
            .split_whitespace()
            .filter_map(|scope| match scope.parse::<Scope>() {
                Ok(scope) => Some(scope),
                Err(err) => {
                    tracing::warn!(key_id = %key.id, "ignoring a stored scope: {err}");
                    None
                }
            })
            .collect();
        Ok(Some(Principal {
            workspace: WorkspaceId::from_row(key.workspace_id),
            key_id: key.id,
            scopes,
            expires_at: key.expires_at,
        }))
    }

    /// The workspace of a token this node authenticated recently; from the cache only, for logs.
    pub fn cached_workspace(&self, token: &str) -> Option<WorkspaceId> {
        if !token.starts_with(secret::PREFIX) || token.len() > secret::MAX_TOKEN_LEN {
            return None;
        }
        self.cached(&secret::hash(token))
            .flatten()
            .map(|principal| principal.workspace)
    }

    /// Drops a revoked key from this node's cache.
    pub fn forget(&self, key_id: &str) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.retain(|_, entry| {
            entry
                .principal
                .as_ref()
                .is_none_or(|principal| principal.key_id != key_id)
        });
    }
}
