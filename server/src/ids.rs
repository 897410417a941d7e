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
}
