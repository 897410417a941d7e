//! Who is calling: bearer tokens to principals (a workspace and its scopes). A token is a
//! workspace API key (`hb_live_…`) or an OAuth access token (`hb_at_…`) of an installed app; both
//! resolve the same way and are checked the same way by every operation.
//!
//! Tokens are looked up by the hash of the presented secret (an index lookup that reveals nothing
//! about other secrets), then compared in constant time. Results are cached for [`CACHE_TTL`], so a
//! revocation takes effect at once on the node that revoked and within that bound on the others.

pub mod scopes;
pub mod secret;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::api::generated::Scope;
use crate::limits::Limit;
use crate::problem::{ApiError, Problem};
use crate::store::tenant::WorkspaceId;
use crate::store::{api_keys, oauth_tokens, workspaces};

pub const CACHE_TTL: Duration = Duration::from_secs(10);
const CACHE_CAPACITY: usize = 10_000;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub workspace: WorkspaceId,
    /// The API key's id, or the OAuth access token's.
    pub key_id: String,
    pub scopes: Vec<Scope>,
    /// The workspace plan's rate limit, when it has its own.
    pub rate_limit: Option<Limit>,
    /// The installation an OAuth access token was issued under, and its app.
    pub installation: Option<String>,
    pub app: Option<String>,
    expires_at: Option<chrono::DateTime<Utc>>,
}

/// What the rate limiter counts a live token against, and under which limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Quota {
    /// The workspace plan's limit, when it has its own.
    pub limit: Option<Limit>,
    /// The installation whose quota an OAuth token shares with the installation's other tokens
    /// (so that refreshing does not mint fresh quota); `None` for an API key, which has its own.
    pub installation: Option<String>,
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

impl Principal {
    fn is_live(&self) -> bool {
        self.expires_at.is_none_or(|at| at > Utc::now())
    }

    pub fn quota(&self) -> Quota {
        Quota {
            limit: self.rate_limit,
            installation: self.installation.clone(),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is case-insensitive (RFC 9110),
/// as it is for the router, so every layer sees the same token the handler will.
pub fn bearer_token(request: &poem::Request) -> Option<&str> {
    let (scheme, token) = request
        .header(poem::http::header::AUTHORIZATION)?
        .split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether a token has the shape of a key or an access token at all; anything else is refused
/// without a lookup.
fn looks_like_a_key(token: &str) -> bool {
    (token.starts_with(secret::PREFIX) || token.starts_with(oauth_tokens::ACCESS_TOKEN_PREFIX))
        && token.len() <= secret::MAX_TOKEN_LEN
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

    /// The principal of a token, or 401.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ApiError> {
        self.resolve(token).await?.ok_or_else(invalid)
    }

    /// The principal of a token; `None` when it is not a live key. Errs only when the store fails.
    pub async fn resolve(&self, token: &str) -> Result<Option<Principal>, ApiError> {
        if !looks_like_a_key(token) {
            return Ok(None);
        }
        let hash = secret::hash(token);
        let principal = match self.cached(&hash) {
            Some(principal) => principal,
            None => {
                let principal = self.load(token, &hash).await?;
                self.remember(hash, principal.clone());
                principal
            }
        };
        Ok(principal.filter(Principal::is_live))
    }

    /// What the rate limiter needs of a token this node authenticated recently, by the token's
    /// hash: `Some` when the token is live. Copies nothing else, because it runs on every request.
    pub fn cached_quota(&self, hash: &str) -> Option<Quota> {
        self.with_entry(hash, |entry| {
            entry
                .principal
                .as_ref()
                .filter(|principal| entry.fetched.elapsed() < CACHE_TTL && principal.is_live())
                .map(Principal::quota)
        })
        .flatten()
    }

    /// Whether this node has seen the token with this hash as a live key, however long ago (the
    /// cache entry may be stale): such a token is worth a lookup even when its address is over its
    /// limit.
    pub fn seen_live(&self, hash: &str) -> bool {
        self.with_entry(hash, |entry| {
            entry.principal.as_ref().is_some_and(Principal::is_live)
        })
        .unwrap_or(false)
    }

    fn cached(&self, hash: &str) -> Option<Option<Principal>> {
        self.with_entry(hash, |entry| {
            (entry.fetched.elapsed() < CACHE_TTL).then(|| entry.principal.clone())
        })
        .flatten()
    }

    /// Looks at the cache entry of `hash`, fresh or stale, under the lock.
    fn with_entry<T>(&self, hash: &str, look: impl FnOnce(&Cached) -> T) -> Option<T> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.get(hash).map(look)
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
        if token.starts_with(oauth_tokens::ACCESS_TOKEN_PREFIX) {
            return self.load_access_token(token).await;
        }
        let Some((key, workspace)) = api_keys::find_by_hash(&self.db, hash).await? else {
            return Ok(None);
        };
        if !secret::matches(&key.secret_hash, token) || key.revoked_at.is_some() {
            return Ok(None);
        }
        // Refreshed at most once per cache period, which is as precise as "last used" needs to be.
        api_keys::mark_used(&self.db, &key.id, Utc::now()).await?;
        let rate_limit = workspace.as_ref().and_then(workspaces::rate_limit);
        Ok(Some(Principal {
            workspace: WorkspaceId::from_row(key.workspace_id),
            scopes: scopes::decode_scopes(&key.scopes),
            key_id: key.id,
            rate_limit,
            installation: None,
            app: None,
            expires_at: key.expires_at,
        }))
    }

    /// An OAuth access token: its own scopes, which never exceed what the workspace granted.
    async fn load_access_token(&self, token: &str) -> Result<Option<Principal>, ApiError> {
        let Some((live, app)) = oauth_tokens::find_live(&self.db, token).await? else {
            return Ok(None);
        };
        if !oauth_tokens::is_access(&live.token) {
            return Ok(None);
        }
        Ok(Some(Principal {
            workspace: WorkspaceId::from_row(live.token.workspace_id),
            scopes: scopes::decode_scopes(&live.token.scopes),
            key_id: live.token.id,
            rate_limit: workspaces::rate_limit(&live.workspace),
            installation: Some(live.installation.id),
            app: Some(app.id),
            expires_at: Some(live.token.expires_at),
        }))
    }

    /// The workspace of a token this node authenticated recently; from the cache only, for logs.
    pub fn cached_workspace(&self, token: &str) -> Option<WorkspaceId> {
        if !looks_like_a_key(token) {
            return None;
        }
        self.cached(&secret::hash(token))
            .flatten()
            .filter(Principal::is_live)
            .map(|principal| principal.workspace)
    }

    /// Drops every token of an installation (uninstalled, or a token of it revoked) from this
    /// node's cache; the live ones are looked up again.
    pub fn forget_installation(&self, installation: &str) {
        self.forget_where(|principal| principal.installation.as_deref() == Some(installation));
    }

    /// Drops every token of a revoked app from this node's cache.
    pub fn forget_app(&self, app: &str) {
        self.forget_where(|principal| principal.app.as_deref() == Some(app));
    }

    /// Drops a revoked key from this node's cache.
    pub fn forget(&self, key_id: &str) {
        self.forget_where(|principal| principal.key_id == key_id);
    }

    fn forget_where(&self, stale: impl Fn(&Principal) -> bool) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.retain(|_, entry| !entry.principal.as_ref().is_some_and(&stale));
    }
}
