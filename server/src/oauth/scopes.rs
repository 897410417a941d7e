//! Scopes as OAuth writes them: names separated by spaces (RFC 6749 §3.3).

use hoverbot_api::Scope;

/// The scopes of a `scope` parameter, each once; an unknown name is an error naming it.
pub fn parse(text: &str) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for name in text.split(' ').filter(|name| !name.is_empty()) {
        let scope: Scope = name.parse().map_err(|_| {
            let shown: String = name.chars().take(50).collect();
            format!("`{shown}` is not a scope of this server")
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err("scope names no scope".to_string());
    }
    Ok(scopes)
}

pub fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|scope| scope.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}
