//! A chunk of a knowledge source: a piece of one page or document, with what a citation needs.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "knowledge_chunks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub workspace_id: String,
    pub source_id: String,
    /// Its place in the source, from 0.
    pub position: i32,
    pub url: Option<String>,
    pub title: String,
    /// A JSON array of the headings above the chunk, outermost first.
    pub headings: String,
    pub text: String,
    pub created_at: DateTimeUtc,
    /// The chunk's meaning: little-endian f32s, a unit vector (`embedding::to_bytes`).
    pub embedding: Option<Vec<u8>>,
    /// The `Embedder::id` of the model that made `embedding`.
    pub embedding_model: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}
