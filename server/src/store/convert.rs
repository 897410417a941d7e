//! Rows to wire types. A stored value that does not parse is corruption or a bug: an internal error.

use std::str::FromStr;

use crate::problem::ApiError;

/// Parses a stored enum value.
#[track_caller]
pub fn parse<T>(value: &str) -> Result<T, ApiError>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value.parse().map_err(ApiError::internal)
}
