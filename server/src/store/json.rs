//! JSON values kept in text columns (portable across SQLite and PostgreSQL).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::problem::ApiError;

#[track_caller]
pub fn encode<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(ApiError::internal)
}

/// Decodes a column; a value that does not parse is a bug or corruption, so an internal error.
#[track_caller]
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(ApiError::internal)
}
