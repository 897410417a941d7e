//! Cursor pagination, newest first. Ids are ULID-based and sort by creation time, so a page is
//! "ids below the cursor, descending", stable under concurrent inserts. The cursor is the last id of
//! the page: any string of that shape (the spec's pattern, checked by the router) is a position, so
//! no cursor a client can send is "unreadable".

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::problem::ApiError;

/// A page of rows and the cursor of the next one.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn has_more(&self) -> bool {
        self.next_cursor.is_some()
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }

    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, E>>()?,
            next_cursor: self.next_cursor,
        })
    }
}

/// One page of `select`, ordered by `id` descending, after `cursor`.
pub async fn fetch<E, C>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id_column: C,
    id_of: impl Fn(&E::Model) -> &str,
    limit: i32,
    cursor: Option<&str>,
) -> Result<Page<E::Model>, ApiError>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    let limit = u64::try_from(limit.clamp(1, 100)).unwrap_or(20);
    let mut select = select.order_by_desc(id_column).limit(limit + 1);
    if let Some(cursor) = cursor {
        select = select.filter(id_column.lt(cursor));
    }
    let mut items = select.all(db).await?;
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        items.last().map(|last| id_of(last).to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}
