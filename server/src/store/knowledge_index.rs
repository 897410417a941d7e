//! The retrieval index's rebuild generation: raising it makes every process rebuild its index from
//! the chunks (`hoverbot index rebuild`).

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::entity::knowledge_index;

const ROW: i32 = 1;

/// The generation the indexes should be built at.
pub async fn generation(db: &impl ConnectionTrait) -> Result<i32, DbErr> {
    Ok(knowledge_index::Entity::find_by_id(ROW)
        .one(db)
        .await?
        .map_or(0, |row| row.generation))
}

/// Asks every process to rebuild its index; returns the new generation.
pub async fn request_rebuild(db: &super::Db) -> Result<i32, DbErr> {
    let txn = db.write().await?;
    knowledge_index::Entity::update_many()
        .col_expr(
            knowledge_index::Column::Generation,
            Expr::col(knowledge_index::Column::Generation).add(1),
        )
        .filter(knowledge_index::Column::Id.eq(ROW))
        .exec(&txn)
        .await?;
    let generation = generation(&txn).await?;
    txn.commit().await?;
    Ok(generation)
}
