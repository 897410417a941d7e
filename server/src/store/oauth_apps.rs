//! OAuth apps: the platform's registry of marketplace apps (not a tenant's data, so not
//! workspace-scoped). A confidential app's client secret exists once, in what `create` returns.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

use super::entity::oauth_app;
use super::json;
use super::page::{self, Page};
use super::scopes::encode_scopes;
use crate::ids;
use crate::problem::ApiError;
use crate::secrets::{self, NewSecret};
use hoverbot_api::Scope;

/// An app's registration, as `oauth::apps::check` passed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<Scope>,
    /// Whether the app keeps a client secret (a server-side app) or relies on PKCE alone (a
    /// browser or native app).
    pub confidential: bool,
}

/// What a client secret starts with.
pub const CLIENT_SECRET_PREFIX: &str = "hb_cs_";

/// An app as registered: its row and, for a confidential app, the client secret (not stored).
pub struct CreatedApp {
    pub app: oauth_app::Model,
    pub secret: Option<String>,
}

pub async fn create(db: &super::Db, registration: &Registration) -> Result<CreatedApp, ApiError> {
    let secret = registration
        .confidential
        .then(|| secrets::generate_with(CLIENT_SECRET_PREFIX));
    let (prefix, hash, shown) = match secret {
        Some(NewSecret {
            secret,
            hash,
            prefix,
        }) => (Some(prefix), Some(hash), Some(secret)),
        None => (None, None, None),
    };
    let model = oauth_app::ActiveModel {
        id: Set(ids::new(ids::OAUTH_APP)),
        name: Set(registration.name.clone()),
        redirect_uris: Set(json::encode(&registration.redirect_uris)?),
        scopes: Set(encode_scopes(&registration.scopes)),
        confidential: Set(registration.confidential),
        secret_prefix: Set(prefix),
        secret_hash: Set(hash),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
    };
    let txn = db.write().await?;
    let app = model.insert(&txn).await?;
    txn.commit().await?;
    Ok(CreatedApp { app, secret: shown })
}

/// A page of the apps that are not revoked, newest first.
pub async fn list_live(
    db: &impl ConnectionTrait,
    limit: i32,
    cursor: Option<&str>,
) -> Result<Page<oauth_app::Model>, ApiError> {
    let select = oauth_app::Entity::find().filter(oauth_app::Column::RevokedAt.is_null());
    page::fetch(
        db,
        select,
        oauth_app::Column::Id,
        |app| &app.id,
        limit,
        cursor,
    )
    .await
}

/// Every registered app, oldest first.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<oauth_app::Model>, DbErr> {
    oauth_app::Entity::find()
        .order_by_asc(oauth_app::Column::Id)
        .all(db)
        .await
}

/// Revokes a live app; `false` when there is no such live app. One conditional update, so two
/// revocations at once cannot both succeed.
pub async fn revoke(db: &super::Db, id: &str) -> Result<bool, DbErr> {
    let txn = db.write().await?;
    let revoked = oauth_app::Entity::update_many()
        .col_expr(oauth_app::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(oauth_app::Column::Id.eq(id))
        .filter(oauth_app::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(revoked.rows_affected == 1)
}

/// The app with this client id, unless it is revoked.
pub async fn find_live(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<oauth_app::Model>, DbErr> {
    Ok(oauth_app::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|app| app.revoked_at.is_none()))
}
