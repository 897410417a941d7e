//! Request bodies are checked against the spec's own JSON Schemas (2020-12) before the router parses
//! them. The spec says more than Rust types can (string lengths, patterns, formats, unknown fields,
//! nested bounds), and a validator reports every violation with a JSON pointer, so clients get one
//! 422 naming each bad field instead of the first parse error.
//!
//! Two things JSON Schema allows are settled here too: NUL characters, which PostgreSQL cannot
//! store, are refused in every string (the spec says so), and whole-number floats such as `5.0`,
//! which JSON Schema counts as integers, are passed on as integers.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use poem::http::header;
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::{Value, json};

use super::problems::{payload_too_large, unreadable_body};
use super::{operations, schema_errors};
use crate::problem::{FieldError, Problem};
use hoverbot_api::OPERATIONS;

/// At most this many field errors are reported for one request.
const MAX_ERRORS: usize = 100;

pub struct Validators {
    by_schema: HashMap<&'static str, jsonschema::Validator>,
    max_body_bytes: usize,
}

impl Validators {
    /// Compiles a validator for every request body schema of the spec.
    pub fn new(spec: &Value, max_body_bytes: usize) -> Result<Self> {
        let components = spec.get("components").cloned().unwrap_or_default();
        let mut by_schema = HashMap::new();
        for schema in OPERATIONS
            .iter()
            .filter_map(|operation| operation.request_body)
        {
            if by_schema.contains_key(schema) {
                continue;
            }
            let root = json!({
                "$ref": format!("#/components/schemas/{schema}"),
                "components": components,
            });
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .with_context(|| format!("the spec's schema {schema} does not compile"))?;
            by_schema.insert(schema, validator);
        }
        Ok(Self {
            by_schema,
            max_body_bytes,
        })
    }

    fn errors(&self, schema: &str, instance: &Value) -> Vec<FieldError> {
        let Some(validator) = self.by_schema.get(schema) else {
            return Vec::new();
        };
        validator
            .iter_errors(instance)
            .flat_map(|error| schema_errors::field_errors(&error))
            .take(MAX_ERRORS)
            .collect()
    }
}

fn is_json(request: &Request) -> bool {
    request
        .header(header::CONTENT_TYPE)
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        })
}

/// Pointers to the strings (values or keys) that contain NUL.
fn nul_strings(value: &Value, pointer: &mut String, found: &mut Vec<String>) {
    match value {
        Value::String(text) if text.contains('\0') => found.push(pointer.clone()),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let length = pointer.len();
                pointer.push_str(&format!("/{index}"));
                nul_strings(item, pointer, found);
                pointer.truncate(length);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                let length = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                if key.contains('\0') {
                    found.push(pointer.clone());
                }
                nul_strings(item, pointer, found);
                pointer.truncate(length);
            }
        }
        _ => {}
    }
}

/// Turns floats with no fractional part into integers; returns whether anything changed.
fn integral_floats_to_integers(value: &mut Value) -> bool {
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            // Within ±2^53 a float is an exact integer, so nothing is rounded.
            if float.fract() == 0.0 && float.abs() <= 9_007_199_254_740_992.0 {
                *value = Value::from(float as i64);
                return true;
            }
            false
        }
        Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
            integral_floats_to_integers(item) | changed
        }),
        Value::Object(fields) => fields.values_mut().fold(false, |changed, item| {
            integral_floats_to_integers(item) | changed
        }),
        _ => false,
    }
}

/// A NUL in the path or query (percent-encoded: raw ones never parse) is refused before routing.
fn check_uri(request: &Request) -> Result<(), Problem> {
    let uri = request.uri();
    let has_nul = |text: &str| text.to_ascii_lowercase().contains("%00");
    if has_nul(uri.path()) {
        return Err(Problem::malformed(
            "the path must not contain NUL characters",
        ));
    }
    if let Some(query) = uri.query()
        && has_nul(query)
    {
        let parameter = query
            .split('&')
            .find(|pair| has_nul(pair))
            .and_then(|pair| pair.split('=').next())
            .unwrap_or("query");
        return Err(Problem::bad_parameter(
            parameter,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

pub async fn layer<E: Endpoint>(
    next: E,
    mut request: Request,
    validators: Arc<Validators>,
) -> poem::Result<Response> {
    check_uri(&request)?;
    let Some(schema) = operations::of(&request).and_then(|op| op.request_body) else {
        return next.call(request).await.map(IntoResponse::into_response);
    };
    if !is_json(&request) {
        return Err(Problem::new(
            poem::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as `Content-Type: application/json`",
        )
        .into());
    }
    let declared = request
        .header(header::CONTENT_LENGTH)
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > validators.max_body_bytes) {
        return Err(payload_too_large().into());
    }
    let bytes = request
        .take_body()
        .into_bytes_limit(validators.max_body_bytes)
        .await
        .map_err(unreadable_body)?;
    let mut instance: Value = serde_json::from_slice(&bytes)
        .map_err(|err| Problem::malformed(format!("the request body is not valid JSON: {err}")))?;
    let mut errors = validators.errors(schema, &instance);
    let mut nul = Vec::new();
    nul_strings(&instance, &mut String::new(), &mut nul);
    errors.extend(nul.into_iter().take(MAX_ERRORS).map(|pointer| FieldError {
        pointer: Some(pointer),
        parameter: None,
        message: "must not contain the NUL character (U+0000)".to_string(),
    }));
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }
    if integral_floats_to_integers(&mut instance) {
        request.set_body(instance.to_string());
    } else {
        request.set_body(bytes);
    }
    next.call(request).await.map(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// What a client is told for each kind of rule the spec's request bodies use: the member, and
    /// the reason in plain words.
    #[test]
    fn violations_name_the_member_and_say_why() {
        let spec: Value = serde_json::from_str(hoverbot_api::SPEC_JSON).unwrap();
        let validators = Validators::new(&spec, 1 << 20).unwrap();
        let long = "x".repeat(300);
        let many: serde_json::Map<String, Value> =
            (0..51).map(|i| (format!("k{i}"), json!("v"))).collect();
        let cases: [(&str, Value, &str, &str); 10] = [
            (
                "CreateConversationRequest",
                json!({"channel": "web", "externalUserId": long}),
                "/externalUserId",
                "must have at most 255 characters (it has 300 characters)",
            ),
            (
                "CreateConversationRequest",
                json!({"channel": "pigeon"}),
                "/channel",
                "\"sms\"",
            ),
            (
                "CreateConversationRequest",
                json!({"channel": "web", "colour": "blue"}),
                "/colour",
                "is not a field of this object",
            ),
            (
                "CreateConversationRequest",
                json!({"channel": "web", "metadata": many}),
                "/metadata",
                "must have at most 50 entries (it has 51)",
            ),
            (
                "CreateConversationRequest",
                json!({"channel": 5}),
                "/channel",
                "must be of type string, not integer",
            ),
            (
                "CreateConversationRequest",
                json!({}),
                "/channel",
                "is required",
            ),
            (
                "KnowledgeSourceInput",
                json!({"type": "fax", "name": "Help"}),
                "/type",
                "must be one of \"url-crawl\", \"sitemap\" or \"text\", not \"fax\"",
            ),
            (
                "KnowledgeSourceInput",
                json!({"type": "text", "name": "Help"}),
                "/documents",
                "is required",
            ),
            (
                "KnowledgeSourceInput",
                json!({"type": "sitemap", "name": "Help", "sitemapUrl": "not a url"}),
                "/sitemapUrl",
                "must be a valid uri",
            ),
            (
                "KnowledgeSourceInput",
                json!({"type": "url-crawl", "name": "Help", "seedUrls": []}),
                "/seedUrls",
                "must have at least 1 item (it has 0)",
            ),
        ];
        for (schema, body, pointer, says) in cases {
            let errors = validators.errors(schema, &body);
            assert!(
                errors
                    .iter()
                    .any(|error| error.pointer.as_deref() == Some(pointer)
                        && error.message.contains(says)),
                "{schema} {body}: expected {pointer} to say `{says}`, got {:#?}",
                errors
                    .iter()
                    .map(|error| (error.pointer.clone(), error.message.clone()))
                    .collect::<Vec<_>>()
            );
            assert!(
                errors
                    .iter()
                    .all(|error| error.message.chars().count() < 300),
                "messages quote only a prefix of the value"
            );
        }
    }

    #[test]
    fn finds_nul_in_values_and_keys() {
        let mut found = Vec::new();
        nul_strings(
            &json!({"a": ["ok", "b\0d"], "k\0": 1, "c/d": "\0"}),
            &mut String::new(),
            &mut found,
        );
        found.sort();
        assert_eq!(found, ["/a/1", "/c~1d", "/k\0"]);
    }

    #[test]
    fn whole_floats_become_integers_and_others_stay() {
        let mut value = json!({"maxPages": 873.0, "confidence": 0.5, "list": [2.0, 3]});
        assert!(integral_floats_to_integers(&mut value));
        assert_eq!(
            value,
            json!({"maxPages": 873, "confidence": 0.5, "list": [2, 3]})
        );
        assert!(!integral_floats_to_integers(&mut json!({"x": 1.5})));
    }
}
