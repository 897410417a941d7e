//! The knowledge engine: what a source's pages and documents become, so that the assistant can
//! answer from them. `sync` claims a source's sync job and runs it; `crawl` fetches the pages of
//! `url-crawl` and `sitemap` sources; `html` and `markdown` read pages and documents into
//! [`document::Document`]s; `chunk` cuts them into the chunks that are stored, retrieved and
//! cited; `index` is the per-process hybrid index of the chunks (BM25 over their words, `vectors`
//! over their meaning), and `retrieved` what a search of it hands the assistant; `source` is the stored definition of a source.

pub mod chunk;
pub mod crawl;
pub mod document;
pub mod html;
pub mod index;
pub mod markdown;
pub mod retrieved;
pub mod source;
pub mod sync;
pub mod vectors;
