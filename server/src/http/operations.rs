//! Which spec operation a request is for, from the generated operation table.

use poem::http::Method;

use crate::api::generated::{OPERATIONS, OperationInfo};

/// Finds the operation whose method and path template match; templates' `{param}` segments match any
/// non-empty segment.
pub fn find(method: &Method, path: &str) -> Option<&'static OperationInfo> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    OPERATIONS.iter().find(|operation| {
        operation.method == method.as_str() && {
            let template: Vec<&str> = operation.path.split('/').collect();
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(expected, actual)| {
                    (expected.starts_with('{') && !actual.is_empty()) || expected == actual
                })
        }
    })
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
    }
}
