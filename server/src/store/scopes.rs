//! Scopes as they are stored: names separated by single spaces.

use hoverbot_api::Scope;

/// The stored form of a list of scopes.
pub fn encode_scopes(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|scope| scope.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The stored scopes. A name this build does not know (a scope since removed) grants nothing and is
/// skipped with a warning rather than failing the credential.
pub fn decode_scopes(stored: &str) -> Vec<Scope> {
    stored
        .split_whitespace()
        .filter_map(|name| match name.parse::<Scope>() {
            Ok(scope) => Some(scope),
            Err(err) => {
                tracing::warn!("ignoring a stored scope: {err}");
                None
            }
        })
        .collect()
}
