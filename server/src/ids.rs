//! Resource ids: opaque strings with a type prefix (`conv_…`, `msg_…`) and a ULID, so that ids sort
//! by creation time and lists can page by id; and the id of the request being served.

use std::sync::Mutex;

use poem::Request;
use ulid::Generator;

/// One generator per process keeps ids created in the same millisecond in creation order.
static GENERATOR: Mutex<Option<Generator>> = Mutex::new(None);

pub const WORKSPACE: &str = "ws";
pub const API_KEY: &str = "key";
pub const CONVERSATION: &str = "conv";
pub const MESSAGE: &str = "msg";
pub const KNOWLEDGE_SOURCE: &str = "ks";
pub const CHUNK: &str = "chk";
pub const ESCALATION: &str = "esc";
pub const WEBHOOK_ENDPOINT: &str = "whep";
pub const EVENT: &str = "evt";
pub const DELIVERY: &str = "dlv";
pub const ATTEMPT: &str = "att";
pub const REQUEST: &str = "req";
pub const TRACE: &str = "trace";
pub const OAUTH_APP: &str = "app";
pub const INSTALLATION: &str = "inst";
pub const OAUTH_TOKEN: &str = "tok";
pub const TOKEN_FAMILY: &str = "fam";
pub const OPERATOR_KEY: &str = "opk";

/// A new id with `prefix`.
pub fn new(prefix: &str) -> String {
    let mut generator = GENERATOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let generator = generator.get_or_insert_with(Generator::new);
    // A monotonic generator only fails when 2^80 ids are made in one millisecond; fall back to a
    // fresh random ULID then, which is still unique.
    let ulid = generator.generate().unwrap_or_else(|_| ulid::Ulid::new());
    format!("{prefix}_{}", ulid.to_string().to_lowercase())
}

/// The first id with `prefix` quoted in `json` (a response body), if any.
pub fn first_quoted(json: &[u8], prefix: &str) -> Option<String> {
    let needle = format!("\"{prefix}_");
    let text = std::str::from_utf8(json).ok()?;
    text.match_indices(&needle).find_map(|(at, _)| {
        // A ULID is 26 characters, lower-cased here.
        let id = text.get(at + 1..at + needle.len() + 26)?;
        id[needle.len() - 1..]
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte.is_ascii_lowercase())
            .then(|| id.to_string())
    })
}

/// The id of the request being served, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id of `request`, as the request-id layer set it (empty outside that layer).
    pub fn of(request: &Request) -> String {
        request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_sort_in_creation_order() {
        let ids: Vec<String> = (0..1000).map(|_| super::new("conv")).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(ids[0].starts_with("conv_") && ids[0].len() == 31);
    }

    #[test]
    fn the_first_quoted_id_of_a_kind_is_found_in_a_body() {
        let id = super::new("conv");
        let body = format!(r#"{{"userMessage":{{"id":"msg_x","conversationId":"{id}"}}}}"#);
        assert_eq!(
            super::first_quoted(body.as_bytes(), "conv"),
            Some(id.clone())
        );
        for nothing in [
            r#"{"text":"see conv_ in the docs"}"#.to_string(),
            r#"{"id":"conv_TOO_SHORT"}"#.to_string(),
            format!(r#"{{"id":"xconv_{}"}}"#, &id[5..]),
            r#"{"conversationsDeleted":2}"#.to_string(),
        ] {
            assert_eq!(
                super::first_quoted(nothing.as_bytes(), "conv"),
                None,
                "{nothing}"
            );
        }
    }
}
