//! Who is calling: bearer tokens to principals (a workspace and its scopes). A token is a
//! workspace API key (`hb_live_…`) or an OAuth access token (`hb_at_…`) of an installed app; both
//! resolve the same way and are checked the same way by every operation.
//!
//! Tokens are looked up by the hash of the presented secret (an index lookup that reveals nothing
//! about other secrets), then compared in constant time. Results are cached for [`CACHE_TTL`], so a
//! revocation takes effect at once on the node that revoked and within that bound on the others.
//! The HTTP layer asks once per request and leaves the answer, a [`Caller`], in the request; the
//! cache and its invalidation (`forget…`) live here alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::problem::{ApiError, Problem};
use crate::secrets;
use crate::store::Db;
use crate::store::scopes;
use crate::store::tenant::WorkspaceId;
use crate::store::workspaces::{self, Limit};
use crate::store::{api_keys, oauth_tokens};
use hoverbot_api::{OperationAccess, Scope};

/// The result of resolving a request's bearer token.
#[derive(Clone)]
pub enum Caller {
    /// No bearer token.
    Anonymous,
    /// A token that is not a live key, access token or operator key, or one not looked up because
    /// its address is over its limit.
    Unknown,
    /// A live workspace API key or OAuth access token.
    Workspace(Arc<Principal>),
    /// A live operator key, for the operations of the `operatorKey` scheme.
    Operator { key_id: String },
    /// The key store failed: the request cannot be authorized now. The cause was logged.
    Unavailable,
}

impl Caller {
    /// The caller of a request that passed the caller layer; `Unavailable` for one that did not
    /// (the server is wired wrongly, and nothing may be authorized).
    pub fn of(request: &poem::Request) -> &Caller {
        request
            .extensions()
            .get::<Caller>()
            .unwrap_or(&Caller::Unavailable)
    }

    pub fn principal(&self) -> Option<&Arc<Principal>> {
        match self {
            Caller::Workspace(principal) => Some(principal),
            _ => None,
        }
    }

    /// Why this caller may not call an operation of `access`: 401 without a live credential of
    /// the right kind, 403 without the scope; `None` when it may (or when the key store failed,
    /// which is not the caller's doing).
    pub fn refusal(&self, access: OperationAccess) -> Option<Problem> {
        match (access, self) {
            (OperationAccess::Public, _) | (_, Caller::Unavailable) => None,
            (_, Caller::Anonymous) => Some(Problem::unauthorized(
                "send an API key or access token as `Authorization: Bearer <token>`",
                false,
            )),
            (OperationAccess::Operator, Caller::Operator { .. }) => None,
            (OperationAccess::Operator, _) => Some(Problem::unauthorized(
                "the bearer token is not a valid operator key",
                true,
            )),
            (OperationAccess::Scope(scope), Caller::Workspace(principal)) => {
                (!principal.scopes.contains(&scope)).then(|| Problem::forbidden(scope.as_str()))
            }
            (OperationAccess::Scope(_), Caller::Unknown | Caller::Operator { .. }) => {
                Some(Problem::unauthorized(
                    "the bearer token is not a valid API key or access token",
                    true,
                ))
            }
        }
    }
}

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

struct Cached {
    /// `None`: no live key has this secret.
    principal: Option<Arc<Principal>>,
    fetched: Instant,
}

pub struct Authenticator {
    db: Db,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Principal {
    fn is_live(&self) -> bool {
        self.expires_at.is_none_or(|at| at > Utc::now())
    }
}

/// Whether a token has the shape of a key or an access token at all; anything else is refused
/// without a lookup.
fn looks_like_a_key(token: &str) -> bool {
    (token.starts_with(secrets::PREFIX) || token.starts_with(oauth_tokens::ACCESS_TOKEN_PREFIX))
        && token.len() <= secrets::MAX_TOKEN_LEN
}

impl Authenticator {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The principal of a token; `None` when it is not a live key. Errs only when the store fails.
    ///
    /// A token this node has never seen live costs a lookup only once `may_look_up` agrees (the
    /// rate limiter asks whether the client's address is within its limit), so a flood of made-up
    /// tokens ends before the key store. The future is awaited only when that question arises.
    pub async fn resolve(
        &self,
        token: &str,
        may_look_up: impl Future<Output = bool>,
    ) -> Result<Option<Arc<Principal>>, ApiError> {
        if !looks_like_a_key(token) {
            return Ok(None);
        }
        let hash = secrets::hash(token);
        let principal = match self.cached(&hash) {
            Some(principal) => principal,
            None => {
                if !self.seen_live(&hash) && !may_look_up.await {
                    return Ok(None);
                }
                let principal = self.load(token, &hash).await?.map(Arc::new);
                self.remember(hash, principal.clone());
                principal
            }
        };
        Ok(principal.filter(|principal| principal.is_live()))
    }

    /// Whether this node has seen the token with this hash as a live key, however long ago (the
    /// cache entry may be stale): such a token is worth a lookup even when its address is over its
    /// limit, so clients sharing an address with a flood keep working.
    fn seen_live(&self, hash: &str) -> bool {
        self.with_entry(hash, |entry| {
            entry
                .principal
                .as_ref()
                .is_some_and(|principal| principal.is_live())
        })
        .unwrap_or(false)
    }

    fn cached(&self, hash: &str) -> Option<Option<Arc<Principal>>> {
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

    fn remember(&self, hash: String, principal: Option<Arc<Principal>>) {
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
        if !secrets::matches(&key.secret_hash, token) || key.revoked_at.is_some() {
            return Ok(None);
        }
        // Refreshed at most once per cache period, which is as precise as "last used" needs to be.
        let workspace_id = WorkspaceId::from_row(key.workspace_id);
        api_keys::mark_used(&self.db, &workspace_id, &key.id, Utc::now()).await?;
        let rate_limit = workspace.as_ref().and_then(workspaces::rate_limit);
        Ok(Some(Principal {
            workspace: workspace_id,
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
        cache.retain(|_, entry| !entry.principal.as_deref().is_some_and(&stale));
    }
}
