//! OAuth installations: an app's standing grant in a workspace. Installing widens the grant to
//! the scopes approved; uninstalling revokes the installation, spends its unredeemed codes and
//! revokes every token issued under it in one transaction, so nothing issued before the uninstall
//! works after it, even when the app is installed again.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};

use super::db::Db;
use super::entity::{oauth_app, oauth_code, oauth_installation, oauth_token};
use super::page::{self, Page};
use super::scopes::decode_scopes;
use super::scopes::encode_scopes;
use super::tenant::{TenantScoped, WorkspaceId};
use crate::ids;
use crate::problem::ApiError;
use hoverbot_api::Scope;

/// Installs `app` in `workspace` with `scopes`, or, when it is installed already, adds `scopes` to
/// what it was granted; an uninstalled app's row is revived with `scopes` alone.
pub async fn install(
    db: &Db,
    workspace: &WorkspaceId,
    app: &oauth_app::Model,
    scopes: &[Scope],
) -> Result<oauth_installation::Model, DbErr> {
    let txn = db.write().await?;
    let now = Utc::now();
    let existing = oauth_installation::Entity::find_in(workspace)
        .filter(oauth_installation::Column::AppId.eq(&app.id))
        .one(&txn)
        .await?;
    let installed = match existing {
        Some(row) => {
            let mut granted = if row.revoked_at.is_none() {
                decode_scopes(&row.scopes)
            } else {
                Vec::new()
            };
            for scope in scopes {
                if !granted.contains(scope) {
                    granted.push(*scope);
                }
            }
            let mut row: oauth_installation::ActiveModel = row.into();
            row.scopes = Set(encode_scopes(&granted));
            row.updated_at = Set(now);
            row.revoked_at = Set(None);
            row.update(&txn).await?
        }
        None => {
            oauth_installation::ActiveModel {
                id: Set(ids::new(ids::INSTALLATION)),
                workspace_id: Set(workspace.as_str().to_string()),
                app_id: Set(app.id.clone()),
                scopes: Set(encode_scopes(scopes)),
                created_at: Set(now),
                updated_at: Set(now),
                revoked_at: Set(None),
            }
            .insert(&txn)
            .await?
        }
    };
    txn.commit().await?;
    Ok(installed)
}

/// The workspace's live installations, newest first, each with its app.
pub async fn list(
    db: &impl ConnectionTrait,
    workspace: &WorkspaceId,
    limit: i32,
    cursor: Option<&str>,
) -> Result<Page<(oauth_installation::Model, oauth_app::Model)>, ApiError> {
    let select = oauth_installation::Entity::find_in(workspace)
        .filter(oauth_installation::Column::RevokedAt.is_null());
    let page = page::fetch(
        db,
        select,
        oauth_installation::Column::Id,
        |installation| &installation.id,
        limit,
        cursor,
    )
    .await?;
    let app_ids: Vec<&str> = page.items.iter().map(|row| row.app_id.as_str()).collect();
    let apps = oauth_app::Entity::find()
        .filter(oauth_app::Column::Id.is_in(app_ids))
        .all(db)
        .await?;
    page.try_map(|installation| {
        let app = apps
            .iter()
            .find(|app| app.id == installation.app_id)
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("an installation's app is gone")))?;
        Ok((installation, app))
    })
}

/// Uninstalls: the installation and every token issued under it are revoked. `false` when the
/// workspace has no such live installation.
pub async fn uninstall(db: &Db, workspace: &WorkspaceId, id: &str) -> Result<bool, DbErr> {
    let txn = db.write().await?;
    let now = Utc::now();
    let revoked = oauth_installation::Entity::update_in(workspace)
        .col_expr(oauth_installation::Column::RevokedAt, Expr::value(now))
        .filter(oauth_installation::Column::Id.eq(id))
        .filter(oauth_installation::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if revoked.rows_affected == 1 {
        // Codes not yet redeemed are spent, and every family is marked revoked, so nothing issued
        // before the uninstall works after a later install revives the row.
        oauth_code::Entity::update_many()
            .col_expr(oauth_code::Column::UsedAt, Expr::value(now))
            .filter(oauth_code::Column::InstallationId.eq(id))
            .filter(oauth_code::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        oauth_code::Entity::update_many()
            .col_expr(oauth_code::Column::FamilyRevokedAt, Expr::value(now))
            .filter(oauth_code::Column::InstallationId.eq(id))
            .filter(oauth_code::Column::FamilyRevokedAt.is_null())
            .exec(&txn)
            .await?;
        oauth_token::Entity::update_in(workspace)
            .col_expr(oauth_token::Column::RevokedAt, Expr::value(now))
            .filter(oauth_token::Column::InstallationId.eq(id))
            .filter(oauth_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(revoked.rows_affected == 1)
}
