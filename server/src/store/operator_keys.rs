//! Operator keys: the platform operator's credentials, made on the command line (`hoverbot
//! operator-keys`), stored as hashes; the secret exists once, in what `create` returns.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

use super::entity::operator_key;
use crate::ids;
use crate::secrets;

/// What an operator key starts with.
pub const PREFIX: &str = "hb_op_";

/// A new key: its row and its secret, which is not stored.
pub async fn create(db: &super::Db, name: &str) -> Result<(operator_key::Model, String), DbErr> {
    let new = secrets::generate_with(PREFIX);
    let txn = db.write().await?;
    let key = operator_key::ActiveModel {
        id: Set(ids::new(ids::OPERATOR_KEY)),
        name: Set(name.to_string()),
        prefix: Set(new.prefix),
        secret_hash: Set(new.hash),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    txn.commit().await?;
    Ok((key, new.secret))
}

/// The live keys, oldest first.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<operator_key::Model>, DbErr> {
    operator_key::Entity::find()
        .filter(operator_key::Column::RevokedAt.is_null())
        .order_by_asc(operator_key::Column::Id)
        .all(db)
        .await
}

/// Revokes a live key; `false` when there is no such live key.
pub async fn revoke(db: &super::Db, id: &str) -> Result<bool, DbErr> {
    let txn = db.write().await?;
    let revoked = operator_key::Entity::update_many()
        .col_expr(operator_key::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(operator_key::Column::Id.eq(id))
        .filter(operator_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(revoked.rows_affected == 1)
}

/// The live key whose secret is `token`, compared in constant time after the index lookup.
pub async fn find_live(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<Option<operator_key::Model>, DbErr> {
    if !token.starts_with(PREFIX) || token.len() > secrets::MAX_TOKEN_LEN {
        return Ok(None);
    }
    Ok(operator_key::Entity::find()
        .filter(operator_key::Column::SecretHash.eq(secrets::hash(token)))
        .one(db)
        .await?
        .filter(|key| key.revoked_at.is_none() && secrets::matches(&key.secret_hash, token)))
}
