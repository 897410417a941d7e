//! Authorization codes and OAuth tokens, kept as SHA-256 hashes. Each redemption step is one
//! conditional update, so that of two requests presenting the same code or refresh token at once,
//! exactly one wins and the other is treated as the reuse it is: the whole family (every token
//! descended from that code) is revoked.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
};

use super::api_keys::encode_scopes;
use super::entity::{oauth_app, oauth_code, oauth_installation, oauth_token, workspace};
use crate::api::generated::Scope;
use crate::auth::scopes::decode_scopes;
use crate::auth::secret;
use crate::ids;

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
    /// Used before: its family, of this installation, has been revoked.
    Reused {
        installation: String,
    },
    /// Revoked, or its installation was uninstalled.
    Revoked,
}

impl Refusal {
    pub fn describe(&self) -> &'static str {
        match self {
            Refusal::Unknown => "the grant is not known to this client",
            Refusal::Expired => "the grant has expired",
            Refusal::Reused { .. } => {
                "the grant was used before; every token issued from it has been revoked"
            }
            Refusal::Revoked => "the grant has been revoked",
        }
    }
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
pub async fn issue_code(db: &impl ConnectionTrait, new: NewCode<'_>) -> Result<String, DbErr> {
    let code = secret::generate_with(CODE_PREFIX);
    let now = Utc::now();
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
    }
    .insert(db)
    .await?;
    Ok(code.secret)
}

/// Marks `code` used, once. The caller checks the PKCE verifier and redirect URI before issuing
/// tokens: a code spent on a failed check stays spent, as a guessed verifier must not get retries.
pub async fn redeem_code(
    db: &impl TransactionTrait,
    code: &str,
    app_id: &str,
) -> Result<Result<Redeemed, Refusal>, DbErr> {
    let hash = secret::hash(code);
    let txn = db.begin().await?;
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
    } else if installation.revoked_at.is_some() {
        Some(Refusal::Revoked)
    } else {
        None
    };
    txn.commit().await?;
    Ok(match refusal {
        Some(refusal) => Err(refusal),
        None => Ok(Redeemed { code, installation }),
    })
}

/// Issues an access token and a refresh token in `family`.
pub async fn issue_tokens(
    db: &impl ConnectionTrait,
    installation: &oauth_installation::Model,
    family_id: &str,
    scopes: Vec<Scope>,
    access_ttl: Duration,
) -> Result<Issued, DbErr> {
    let now = Utc::now();
    let issue = async |prefix: &str, kind: &str, ttl: Duration| -> Result<String, DbErr> {
        let token = secret::generate_with(prefix);
        oauth_token::ActiveModel {
            id: Set(ids::new(ids::OAUTH_TOKEN)),
            token_hash: Set(token.hash),
            kind: Set(kind.to_string()),
            app_id: Set(installation.app_id.clone()),
            installation_id: Set(installation.id.clone()),
            workspace_id: Set(installation.workspace_id.clone()),
            family_id: Set(family_id.to_string()),
            scopes: Set(encode_scopes(&scopes)),
            created_at: Set(now),
            expires_at: Set(now + ttl),
            revoked_at: Set(None),
            replaced_at: Set(None),
        }
        .insert(db)
        .await?;
        Ok(token.secret)
    };
    let access_token = issue(ACCESS_TOKEN_PREFIX, ACCESS, access_ttl).await?;
    let refresh_token = issue(REFRESH_TOKEN_PREFIX, REFRESH, REFRESH_TOKEN_TTL).await?;
    Ok(Issued {
        access_token,
        refresh_token,
        expires_in: access_ttl,
        scopes,
    })
}

/// Exchanges a refresh token for a new pair (rotation). `scopes`, when given, narrow the new
/// pair; the caller checks they are within the old token's.
pub async fn refresh(
    db: &impl TransactionTrait,
    refresh_token: &str,
    app_id: &str,
    scopes: Option<Vec<Scope>>,
    access_ttl: Duration,
) -> Result<Result<Issued, Refusal>, DbErr> {
    let txn = db.begin().await?;
    let now = Utc::now();
    let found = find(&txn, refresh_token).await?;
    let Some((token, installation)) =
        found.filter(|(token, _)| token.kind == REFRESH && token.app_id == app_id)
    else {
        return Ok(Err(Refusal::Unknown));
    };
    let refusal = if token.revoked_at.is_some() || installation.revoked_at.is_some() {
        Some(Refusal::Revoked)
    } else if token.expires_at <= now {
        Some(Refusal::Expired)
    } else {
        let rotated = oauth_token::Entity::update_many()
            .col_expr(oauth_token::Column::ReplacedAt, Expr::value(now))
            .filter(oauth_token::Column::Id.eq(&token.id))
            .filter(oauth_token::Column::ReplacedAt.is_null())
            .exec(&txn)
            .await?;
        (rotated.rows_affected == 0).then(|| Refusal::Reused {
            installation: installation.id.clone(),
        })
    };
    let issued = match refusal {
        Some(reused @ Refusal::Reused { .. }) => {
            revoke_family(&txn, &token.family_id, now).await?;
            Err(reused)
        }
        Some(refusal) => Err(refusal),
        None => {
            let scopes = scopes.unwrap_or_else(|| decode_scopes(&token.scopes));
            Ok(issue_tokens(&txn, &installation, &token.family_id, scopes, access_ttl).await?)
        }
    };
    txn.commit().await?;
    Ok(issued)
}

/// The scopes a refresh token carries, when it is this app's.
pub async fn refresh_token_scopes(
    db: &impl ConnectionTrait,
    refresh_token: &str,
    app_id: &str,
) -> Result<Option<Vec<Scope>>, DbErr> {
    Ok(find(db, refresh_token)
        .await?
        .filter(|(token, _)| token.kind == REFRESH && token.app_id == app_id)
        .map(|(token, _)| decode_scopes(&token.scopes)))
}

/// Revokes `token` if it is this app's (RFC 7009): an access token alone; a refresh token with its
/// whole family, since the grant it carries is withdrawn. Unknown tokens are no error. Returns the
/// installation of a token it revoked, whose cached tokens are then stale.
pub async fn revoke(
    db: &impl ConnectionTrait,
    token: &str,
    app_id: &str,
) -> Result<Option<String>, DbErr> {
    let Some((token, _)) = find(db, token)
        .await?
        .filter(|(token, _)| token.app_id == app_id)
    else {
        return Ok(None);
    };
    let now = Utc::now();
    if token.kind == REFRESH {
        revoke_family(db, &token.family_id, now).await?;
    } else {
        oauth_token::Entity::update_many()
            .col_expr(oauth_token::Column::RevokedAt, Expr::value(now))
            .filter(oauth_token::Column::Id.eq(&token.id))
            .filter(oauth_token::Column::RevokedAt.is_null())
            .exec(db)
            .await?;
    }
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

async fn find(
    db: &impl ConnectionTrait,
    presented: &str,
) -> Result<Option<(oauth_token::Model, oauth_installation::Model)>, DbErr> {
    let found = oauth_token::Entity::find()
        .filter(oauth_token::Column::TokenHash.eq(secret::hash(presented)))
        .find_also_related(oauth_installation::Entity)
        .one(db)
        .await?;
    // The hash was found through the index; the comparison that decides is in constant time.
    Ok(found.and_then(|(token, installation)| {
        secret::matches(&token.token_hash, presented).then_some((token, installation?))
    }))
}

async fn revoke_family(
    db: &impl ConnectionTrait,
    family_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    oauth_token::Entity::update_many()
        .col_expr(oauth_token::Column::RevokedAt, Expr::value(now))
        .filter(oauth_token::Column::FamilyId.eq(family_id))
        .filter(oauth_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
