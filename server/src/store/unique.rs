//! Reading the row that a unique key selects.

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Select};

/// The row `select` finds by a unique key (its primary key, or another unique column), if any.
///
/// Not `.one()`: that adds `LIMIT ?` with the limit bound as a parameter, and SQLite's planner reads
/// a bound limit's value, so it marks the statement to be prepared again whenever its bindings are
/// cleared, which sqlx does after every run: each lookup would parse and plan its SQL anew (a tenth
/// of the server's CPU for a transcript). A unique key needs no limit.
pub async fn unique<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Select<E>,
) -> Result<Option<E::Model>, DbErr> {
    Ok(select.all(db).await?.into_iter().next())
}
