//! The retrieval index's rebuild generation (one row, id 1): every process rebuilds its index from
//! the chunks when it changes.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "knowledge_index")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub generation: i32,
}

impl ActiveModelBehavior for ActiveModel {}
