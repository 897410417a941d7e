//! Request bodies are checked against the spec's own JSON Schemas (2020-12) before the router parses
//! them. The spec says more than Rust types can (string lengths, patterns, formats, unknown fields,
//! nested bounds), and a validator reports every violation with a JSON pointer, so clients get one
//! 422 naming each bad field instead of the first parse error.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use poem::http::header;
use poem::{Endpoint, IntoResponse, Request, Response};
use serde_json::{Value, json};

use super::operations;
use super::problems::payload_too_large;
use crate::api::generated::OPERATIONS;
use crate::problem::{FieldError, Problem};

/// At most this many field errors are reported for one request.
const MAX_ERRORS: usize = 100;
/// Messages quote the offending value; long values are cut so a problem stays small.
const MAX_MESSAGE_CHARS: usize = 300;

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
            .take(MAX_ERRORS)
            .map(|error| {
                let mut message = error.to_string();
                if message.chars().count() > MAX_MESSAGE_CHARS {
                    message = message.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
                }
                FieldError {
                    pointer: Some(error.instance_path().to_string()),
                    parameter: None,
                    message,
                }
            })
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

pub async fn layer<E: Endpoint>(
    next: E,
    mut request: Request,
    validators: Arc<Validators>,
) -> poem::Result<Response> {
    let Some(schema) =
        operations::find(request.method(), request.uri().path()).and_then(|op| op.request_body)
    else {
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
        .map_err(|err| match err {
            poem::error::ReadBodyError::PayloadTooLarge => payload_too_large(),
            other => Problem::malformed(format!("cannot read the request body: {other}")),
        })?;
    let instance: Value = serde_json::from_slice(&bytes)
        .map_err(|err| Problem::malformed(format!("the request body is not valid JSON: {err}")))?;
    let errors = validators.errors(schema, &instance);
    if !errors.is_empty() {
        return Err(Problem::validation(errors).into());
    }
    request.set_body(bytes);
    next.call(request).await.map(IntoResponse::into_response)
}
