//! Authorization codes and OAuth tokens, kept as SHA-256 hashes. Each redemption step is one
//! conditional update, so that of two requests presenting the same code or refresh token at once,
//! exactly one wins and the other is treated as the reuse it is: the whole family (every token
//! descended from that code) is revoked.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};

use super::db::{Db, Write};
use super::entity::{oauth_app, oauth_code, oauth_installation, oauth_token, workspace};
use super::scopes::decode_scopes;
use super::scopes::encode_scopes;
use crate::ids;
use crate::secrets;
use hoverbot_api::Scope;

/// What an authorization code starts with.
pub const CODE_PREFIX: &str = "hb_ac_";
/// What an access token starts with.
pub const ACCESS_TOKEN_PREFIX: &str = "hb_at_";
/// What a refresh token starts with.
pub const REFRESH_TOKEN_PREFIX: &str = "hb_rt_";
/// How long a code may wait to be redeemed (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_TTL: Duration = Duration::minutes(10);
/// How long a refresh token lives; each refresh issues a new one with a fresh lifetime, so an app
/// in use never meets it.
pub const REFRESH_TOKEN_TTL: Duration = Duration::days(90);

const ACCESS: &str = "access";
const REFRESH: &str = "refresh";

/// What is asked of a new code.
pub struct NewCode<'a> {
    pub installation: &'a oauth_installation::Model,
    pub redirect_uri: Option<&'a str>,
    pub scopes: &'a [Scope],
    pub code_challenge: &'a str,
}

/// An access token and its refresh token, as the token endpoint returns them.
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: Duration,
    pub scopes: Vec<Scope>,
}

/// Why a code or refresh token was not accepted (each is `invalid_grant` to the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such code or token, or it belongs to another app.
    Unknown,
    Expired,
    /// The family is older than its lifetime: the approval must be given again.
    FamilyExpired,
    /// Used before: its family, of this installation, has been revoked.
    Reused {
        installation: String,
    },
    /// Revoked, or its installation was uninstalled.
    Revoked,
    /// The code's PKCE verifier or redirect URI was not the request's.
    Mismatch(&'static str),
    /// A refresh asked for a scope the token was not granted (the token is not spent).
    Ungranted(Scope),
}

impl Refusal {
    pub fn describe(&self) -> &'static str {
        match self {
            Refusal::Unknown => "the grant is not known to this client",
            Refusal::Expired => "the grant has expired",
            Refusal::FamilyExpired => {
                "the approval this grant comes from is older than this server allows; ask the \
                 workspace admin to approve the app again"
            }
            Refusal::Reused { .. } => {
                "the grant was used before; every token issued from it has been revoked"
            }
            Refusal::Revoked => "the grant has been revoked",
            Refusal::Mismatch(what) => what,
            Refusal::Ungranted(_) => "a refresh may only keep or narrow the granted scopes",
        }
    }
}

/// How long what an approval grants lives: each access token, and the whole family of rotating
/// refresh tokens, counted from the approval. A family outlives no approval by more than `family`,
/// however often it is refreshed: then the user approves the app again.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub access: Duration,
    pub family: Duration,
}

/// A code that was redeemed.
pub struct Redeemed {
    pub code: oauth_code::Model,
    pub installation: oauth_installation::Model,
}

/// A live token with its installation and workspace.
pub struct LiveToken {
    pub token: oauth_token::Model,
    pub installation: oauth_installation::Model,
    pub workspace: workspace::Model,
}

/// Stores a new code and returns it.
pub async fn issue_code(db: &Db, new: NewCode<'_>) -> Result<String, DbErr> {
    let code = secrets::generate_with(CODE_PREFIX);
    let now = Utc::now();
    let txn = db.write().await?;
    oauth_code::ActiveModel {
        code_hash: Set(code.hash),
        installation_id: Set(new.installation.id.clone()),
        app_id: Set(new.installation.app_id.clone()),
        redirect_uri: Set(new.redirect_uri.map(str::to_string)),
        scopes: Set(encode_scopes(new.scopes)),
        code_challenge: Set(new.code_challenge.to_string()),
        family_id: Set(ids::new(ids::TOKEN_FAMILY)),
        created_at: Set(now),
        expires_at: Set(now + CODE_TTL),
        used_at: Set(None),
        family_revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok(code.secret)
}

/// Redeems `code` for tokens, in one transaction: the code is spent (once: a second use is
/// reuse, and revokes its family), then `check` looks at it (the PKCE verifier, the redirect URI),
/// then the tokens are issued. A code spent on a failed check stays spent, so a guessed verifier
/// gets no second try.
pub async fn redeem_code(
    db: &Db,
    code: &str,
    app_id: &str,
    check: impl FnOnce(&oauth_code::Model) -> Result<(), &'static str>,
    lifetimes: Lifetimes,
) -> Result<Result<Issued, Refusal>, DbErr> {
    let hash = secrets::hash(code);
    let txn = db.write().await?;
    let found = oauth_code::Entity::find_by_id(&hash)
        .find_also_related(oauth_installation::Entity)
        .one(&txn)
        .await?;
    let Some((code, Some(installation))) = found.filter(|(code, _)| code.app_id == app_id) else {
        return Ok(Err(Refusal::Unknown));
    };
    let now = Utc::now();
    let spent = oauth_code::Entity::update_many()
        .col_expr(oauth_code::Column::UsedAt, Expr::value(now))
        .filter(oauth_code::Column::CodeHash.eq(&hash))
        .filter(oauth_code::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    let refusal = if spent.rows_affected == 0 {
        // RFC 6749 §4.1.2: a code used twice revokes what was issued from it.
        revoke_family(&txn, &code.family_id, now).await?;
        Some(Refusal::Reused {
            installation: installation.id.clone(),
        })
    } else if code.expires_at <= now {
        Some(Refusal::Expired)
    } else if installation.revoked_at.is_some() || code.family_revoked_at.is_some() {
        Some(Refusal::Revoked)
    } else {
        check(&code).err().map(Refusal::Mismatch)
    };
    let issued = match refusal {
        Some(refusal) => Err(refusal),
        None => {
            let scopes = decode_scopes(&code.scopes);
            Ok(issue_tokens(
                &txn,
                &installation,
                &code.family_id,
                Granted {
                    access: scopes.clone(),
                    refresh: scopes,
                },
                lifetimes,
                code.created_at + lifetimes.family,
            )
            .await?)
        }
    };
    txn.commit().await?;
    Ok(issued)
}

/// The scopes of a new pair: a refresh may narrow the access token's, never the refresh token's
/// (RFC 6749 §6: what was granted stays granted).
pub struct Granted {
    pub access: Vec<Scope>,
    pub refresh: Vec<Scope>,
}

/// Issues an access token and a refresh token in `family`, which ends at `family_ends`.
async fn issue_tokens(
    txn: &Write,
    installation: &oauth_installation::Model,
    family_id: &str,
    granted: Granted,
    lifetimes: Lifetimes,
    family_ends: DateTime<Utc>,
) -> Result<Issued, DbErr> {
    let now = Utc::now();
    let access_ttl = lifetimes.access;
    let issue = async |prefix: &str,
                       kind: &str,
                       scopes: &[Scope],
                       ttl: Duration|
           -> Result<String, DbErr> {
        let token = secrets::generate_with(prefix);
        oauth_token::ActiveModel {
            id: Set(ids::new(ids::OAUTH_TOKEN)),
            token_hash: Set(token.hash),
            kind: Set(kind.to_string()),
            app_id: Set(installation.app_id.clone()),
            installation_id: Set(installation.id.clone()),
            workspace_id: Set(installation.workspace_id.clone()),
            family_id: Set(family_id.to_string()),
            scopes: Set(encode_scopes(scopes)),
            created_at: Set(now),
            expires_at: Set(now + ttl),
            revoked_at: Set(None),
            replaced_at: Set(None),
        }
        .insert(txn)
        .await?;
        Ok(token.secret)
    };
    let access_token = issue(ACCESS_TOKEN_PREFIX, ACCESS, &granted.access, access_ttl).await?;
    let refresh_token = issue(
        REFRESH_TOKEN_PREFIX,
        REFRESH,
        &granted.refresh,
        REFRESH_TOKEN_TTL.min(family_ends - now),
    )
    .await?;
    Ok(Issued {
        access_token,
        refresh_token,
        expires_in: access_ttl,
        scopes: granted.access,
    })
}

/// Exchanges a refresh token for a new pair (rotation). `scopes`, when given, narrow the new
/// access token; asking for one the token does not hold is refused without spending it. The family's row is locked
/// first, so a revocation of the family waits for this refresh or this refresh sees it.
// cross-tenant: the OAuth endpoints act for an app, and find a presented token by its hash before any workspace is known.
pub async fn refresh(
    db: &Db,
    refresh_token: &str,
    app_id: &str,
    scopes: Option<Vec<Scope>>,
    lifetimes: Lifetimes,
) -> Result<Result<Issued, Refusal>, DbErr> {
    let txn = db.write().await?;
    let now = Utc::now();
    let found = find(&txn, refresh_token).await?;
    let Some((token, installation)) =
        found.filter(|(token, _)| token.kind == REFRESH && token.app_id == app_id)
    else {
        return Ok(Err(Refusal::Unknown));
    };
    let family = lock_family(&txn, &token.family_id).await?;
    let family_live = family
        .as_ref()
        .is_some_and(|code| code.family_revoked_at.is_none());
    let family_ends = family
        .as_ref()
        .map_or(now, |code| code.created_at + lifetimes.family);
    let held = decode_scopes(&token.scopes);
    let ungranted = scopes
        .iter()
        .flatten()
        .find(|scope| !held.contains(scope))
        .copied();
    let refusal = if !family_live || installation.revoked_at.is_some() {
        Some(Refusal::Revoked)
    } else if token.expires_at <= now {
        Some(Refusal::Expired)
    } else if family_ends <= now {
        Some(Refusal::FamilyExpired)
    } else if let Some(scope) = ungranted {
        Some(Refusal::Ungranted(scope))
    } else {
        let rotated = oauth_token::Entity::update_many()
            .col_expr(oauth_token::Column::ReplacedAt, Expr::value(now))
            .filter(oauth_token::Column::Id.eq(&token.id))
            .filter(oauth_token::Column::ReplacedAt.is_null())
            .filter(oauth_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        if rotated.rows_affected == 1 {
            None
        } else if token.replaced_at.is_some() || token.revoked_at.is_none() {
            // Replaced already (now or before): the token was used twice.
            Some(Refusal::Reused {
                installation: installation.id.clone(),
            })
        } else {
            Some(Refusal::Revoked)
        }
    };
    let issued = match refusal {
        Some(reused @ Refusal::Reused { .. }) => {
            revoke_family(&txn, &token.family_id, now).await?;
            Err(reused)
        }
        Some(refusal) => Err(refusal),
        None => {
            let granted = Granted {
                access: scopes.unwrap_or_else(|| held.clone()),
                refresh: held,
            };
            Ok(issue_tokens(
                &txn,
                &installation,
                &token.family_id,
                granted,
                lifetimes,
                family_ends,
            )
            .await?)
        }
    };
    txn.commit().await?;
    Ok(issued)
}

/// Takes the family's row (its code's) for the rest of the transaction, and returns it.
async fn lock_family(
    txn: &impl ConnectionTrait,
    family_id: &str,
) -> Result<Option<oauth_code::Model>, DbErr> {
    oauth_code::Entity::update_many()
        .col_expr(
            oauth_code::Column::FamilyId,
            Expr::col(oauth_code::Column::FamilyId),
        )
        .filter(oauth_code::Column::FamilyId.eq(family_id))
        .exec(txn)
        .await?;
    oauth_code::Entity::find()
        .filter(oauth_code::Column::FamilyId.eq(family_id))
        .one(txn)
        .await
}

async fn family_live(db: &impl ConnectionTrait, family_id: &str) -> Result<bool, DbErr> {
    Ok(oauth_code::Entity::find()
        .filter(oauth_code::Column::FamilyId.eq(family_id))
        .one(db)
        .await?
        .is_some_and(|code| code.family_revoked_at.is_none()))
}

/// Revokes `token` if it is this app's (RFC 7009): an access token alone; a refresh token with its
/// whole family, since the grant it carries is withdrawn. Unknown tokens are no error. Returns the
/// installation of a token it revoked, whose cached tokens are then stale.
// cross-tenant: the OAuth endpoints act for an app, and find a presented token by its hash before any workspace is known.
pub async fn revoke(db: &Db, token: &str, app_id: &str) -> Result<Option<String>, DbErr> {
    let txn = db.write().await?;
    let Some((token, _)) = find(&txn, token)
        .await?
        .filter(|(token, _)| token.app_id == app_id)
    else {
        return Ok(None);
    };
    let now = Utc::now();
    if token.kind == REFRESH {
        revoke_family(&txn, &token.family_id, now).await?;
    } else {
        oauth_token::Entity::update_many()
            .col_expr(oauth_token::Column::RevokedAt, Expr::value(now))
            .filter(oauth_token::Column::Id.eq(&token.id))
            .filter(oauth_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(Some(token.installation_id))
}

/// The token, when it is live: not expired, revoked or replaced, its installation not
/// uninstalled, and its app not revoked. With the workspace, for the caller's rate limit.
pub async fn find_live(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<Option<(LiveToken, oauth_app::Model)>, DbErr> {
    let Some((token, installation)) = find(db, token).await? else {
        return Ok(None);
    };
    let now = Utc::now();
    if token.revoked_at.is_some()
        || token.replaced_at.is_some()
        || token.expires_at <= now
        || installation.revoked_at.is_some()
        || !family_live(db, &token.family_id).await?
    {
        return Ok(None);
    }
    let Some(app) = oauth_app::Entity::find_by_id(&token.app_id)
        .one(db)
        .await?
        .filter(|app| app.revoked_at.is_none())
    else {
        return Ok(None);
    };
    let Some(workspace) = workspace::Entity::find_by_id(&token.workspace_id)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some((
        LiveToken {
            token,
            installation,
            workspace,
        },
        app,
    )))
}

/// Whether a token is an access token (the others are refresh tokens).
pub fn is_access(token: &oauth_token::Model) -> bool {
    token.kind == ACCESS
}

// cross-tenant: the OAuth endpoints act for an app, and find a presented token by its hash before any workspace is known.
async fn find(
    db: &impl ConnectionTrait,
    presented: &str,
) -> Result<Option<(oauth_token::Model, oauth_installation::Model)>, DbErr> {
    let found = oauth_token::Entity::find()
        .filter(oauth_token::Column::TokenHash.eq(secrets::hash(presented)))
        .find_also_related(oauth_installation::Entity)
        .one(db)
        .await?;
    // The hash was found through the index; the comparison that decides is in constant time.
    Ok(found.and_then(|(token, installation)| {
        secrets::matches(&token.token_hash, presented).then_some((token, installation?))
    }))
}

/// Revokes every token of the family. The family's row goes first: a refresh in flight holds it,
/// so this waits for that refresh to commit and then revokes what it issued too.
// cross-tenant: a family is revoked by its id, which the token that names it was found by (see `find`).
pub(super) async fn revoke_family(
    txn: &Write,
    family_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    oauth_code::Entity::update_many()
        .col_expr(oauth_code::Column::FamilyRevokedAt, Expr::value(now))
        .filter(oauth_code::Column::FamilyId.eq(family_id))
        .filter(oauth_code::Column::FamilyRevokedAt.is_null())
        .exec(txn)
        .await?;
    oauth_token::Entity::update_many()
        .col_expr(oauth_token::Column::RevokedAt, Expr::value(now))
        .filter(oauth_token::Column::FamilyId.eq(family_id))
        .filter(oauth_token::Column::RevokedAt.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// Deletes tokens that expired before `cutoff`, and codes before it whose family has no token
/// left (a family's code row says whether it is revoked, so it stays while the family lives).
// cross-tenant: housekeeping removes every workspace's expired tokens at once.
pub async fn purge(db: &Db, cutoff: DateTime<Utc>) -> Result<u64, DbErr> {
    let txn = db.write().await?;
    let tokens = oauth_token::Entity::delete_many()
        .filter(oauth_token::Column::ExpiresAt.lt(cutoff))
        .exec(&txn)
        .await?;
    let holding = sea_orm::sea_query::Query::select()
        .expr(Expr::val(1))
        .from(oauth_token::Entity)
        .and_where(
            Expr::col((oauth_token::Entity, oauth_token::Column::FamilyId))
                .equals((oauth_code::Entity, oauth_code::Column::FamilyId)),
        )
        .to_owned();
    let codes = oauth_code::Entity::delete_many()
        .filter(oauth_code::Column::ExpiresAt.lt(cutoff))
        .filter(Expr::exists(holding).not())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(tokens.rows_affected + codes.rows_affected)
}
