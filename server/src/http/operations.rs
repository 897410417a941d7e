//! Which spec operation a request is for, from the generated operation table.

use poem::Request;
use poem::http::Method;

use hoverbot_api::{OPERATIONS, OperationInfo};

/// Whether `path` fits the template; a template's `{param}` segment matches any non-empty segment.
fn matches(template: &str, path: &str) -> bool {
    let mut expected = template.split('/');
    let mut actual = path.trim_end_matches('/').split('/');
    loop {
        match (expected.next(), actual.next()) {
            (None, None) => return true,
            (Some(expected), Some(actual))
                if (expected.starts_with('{') && !actual.is_empty()) || expected == actual => {}
            _ => return false,
        }
    }
}

/// Finds the operation whose method and path template match.
pub fn find(method: &Method, path: &str) -> Option<&'static OperationInfo> {
    OPERATIONS
        .iter()
        .find(|operation| operation.method == method.as_str() && matches(operation.path, path))
}

/// The operation found for a request, kept in its extensions so the layers inside look it up no
/// more.
#[derive(Clone, Copy)]
struct Found(Option<&'static OperationInfo>);

/// Finds the operation of `request` and keeps it in the request for [`of`].
pub fn remember(request: &mut Request) -> Option<&'static OperationInfo> {
    let operation = find(request.method(), request.uri().path());
    request.extensions_mut().insert(Found(operation));
    operation
}

/// The operation of `request`: as an outer layer remembered it, or found now.
pub fn of(request: &Request) -> Option<&'static OperationInfo> {
    match request.extensions().get::<Found>() {
        Some(Found(operation)) => *operation,
        None => find(request.method(), request.uri().path()),
    }
}

/// The methods the spec defines for `path`, or the OAuth endpoints answer; `GET` alone for what
/// else the server serves besides the API.
pub fn allowed_methods(path: &str) -> Vec<&'static str> {
    if let Some(methods) = crate::oauth::allowed_methods(path) {
        return methods;
    }
    let methods: Vec<&'static str> = OPERATIONS
        .iter()
        .filter(|operation| matches(operation.path, path))
        .map(|operation| operation.method)
        .collect();
    if methods.is_empty() {
        vec!["GET"]
    } else {
        methods
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_templates() {
        let found = find(&Method::POST, "/v1/conversations/conv_1/messages").unwrap();
        assert_eq!(found.operation_id, "sendMessage");
        assert_eq!(
            find(&Method::GET, "/v1/conversations")
                .unwrap()
                .operation_id,
            "listConversations"
        );
        assert!(find(&Method::PUT, "/v1/conversations").is_none());
        assert!(find(&Method::GET, "/v1/conversations//messages").is_none());
        assert!(find(&Method::GET, "/v1/conversations/a/b").is_none());
        assert_eq!(allowed_methods("/v1/conversations"), ["GET", "POST"]);
    }
}
