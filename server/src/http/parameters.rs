//! What a refused query, path or header parameter is told. poem-openapi's parameter errors carry
//! only the name and poem-openapi's own wording (`verification failed. minimum(1, exclusive:
//! false)`), so this layer, the innermost, keeps what the request sent, and when the router refuses
//! a parameter it words the problem from the parameter's schema in the spec and the value sent, as
//! body violations are worded. Being innermost, it words the problem before any layer above
//! renders or stores it (a keyed POST's response is stored by the idempotency layer).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use percent_encoding::percent_decode_str;
use poem::http::{HeaderValue, Uri};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::error::{ParseParamError, ParsePathError};
use serde_json::Value;

use super::{operations, schema_errors};
use crate::problem::Problem;
use hoverbot_api::{OPERATIONS, OperationInfo};

/// The spec's parameters, by operation id.
pub struct Parameters {
    by_operation: HashMap<&'static str, Vec<Parameter>>,
}

struct Parameter {
    name: String,
    location: Location,
    /// With every `$ref` followed.
    schema: Value,
    /// What the value is, from the description: `the id of the conversation (`conv_…`)`.
    what: Option<String>,
    example: Option<Value>,
}

#[derive(Clone, Copy, PartialEq)]
enum Location {
    Query,
    Path,
    Header,
}

impl Parameters {
    /// Reads the query, path and header parameters of every operation in `OPERATIONS` from the
    /// spec.
    pub fn new(spec: &Value) -> Result<Self> {
        let mut by_operation = HashMap::new();
        for operation in OPERATIONS {
            let item = spec
                .pointer(&format!("/paths/{}", pointer_segment(operation.path)))
                .with_context(|| format!("the spec has no path {}", operation.path))?;
            let method = operation.method.to_ascii_lowercase();
            let declared = item
                .get(&method)
                .with_context(|| format!("the spec has no {method} {}", operation.path))?;
            // The operation's own parameters first: they override the path's.
            let mut parameters = Vec::new();
            for parameter in [declared, item]
                .into_iter()
                .filter_map(|owner| owner.get("parameters").and_then(Value::as_array))
                .flatten()
            {
                let parameter = resolve(spec, parameter, 0)?;
                if let Some(parameter) = Parameter::new(spec, &parameter)? {
                    parameters.push(parameter);
                }
            }
            by_operation.insert(operation.operation_id, parameters);
        }
        Ok(Self { by_operation })
    }

    /// What `request` sends that its parameter errors may need, once the router has the request.
    fn sent(&self, request: &Request) -> Option<Sent<'_>> {
        let operation = operations::of(request)?;
        let parameters = self.by_operation.get(operation.operation_id)?;
        if parameters.is_empty() {
            return None;
        }
        let headers = parameters
            .iter()
            .enumerate()
            .filter(|(_, parameter)| parameter.location == Location::Header)
            .filter_map(|(at, parameter)| {
                Some((at, request.headers().get(&parameter.name)?.clone()))
            })
            .collect();
        Some(Sent {
            operation,
            parameters,
            uri: request.uri().clone(),
            headers,
        })
    }
}

impl Parameter {
    /// The parameter, unless it is a cookie's (the spec has none, and poem-openapi words them).
    fn new(spec: &Value, parameter: &Value) -> Result<Option<Self>> {
        let name = parameter
            .get("name")
            .and_then(Value::as_str)
            .context("a parameter without a name")?;
        let location = match parameter.get("in").and_then(Value::as_str) {
            Some("query") => Location::Query,
            Some("path") => Location::Path,
            Some("header") => Location::Header,
            _ => return Ok(None),
        };
        let schema = resolve(spec, parameter.get("schema").unwrap_or(&Value::Null), 0)
            .with_context(|| format!("the schema of parameter {name}"))?;
        Ok(Some(Self {
            name: name.to_string(),
            location,
            what: parameter
                .get("description")
                .and_then(Value::as_str)
                .and_then(what),
            example: parameter
                .get("example")
                .or_else(|| schema.get("example"))
                .cloned(),
            schema,
        }))
    }
}

/// A request's operation, parameters and what it sent.
struct Sent<'a> {
    operation: &'static OperationInfo,
    parameters: &'a [Parameter],
    uri: Uri,
    /// The values of the header parameters sent, by their index in `parameters`.
    headers: Vec<(usize, HeaderValue)>,
}

impl Sent<'_> {
    /// A parameter error worded from the spec, or `err` as it is.
    fn reword(&self, err: poem::Error) -> poem::Error {
        let name = if let Some(err) = err.downcast_ref::<ParseParamError>() {
            err.name
        } else if let Some(err) = err.downcast_ref::<ParsePathError>() {
            err.name
        } else {
            return err;
        };
        match self.message(name) {
            Some(message) => Problem::bad_parameter(name, message).into(),
            None => err,
        }
    }

    /// What is wrong with parameter `name`, unless the spec does not know it or the value sent
    /// breaks no rule of its schema that [`schema_errors::parameter`] knows.
    fn message(&self, name: &str) -> Option<String> {
        let (at, parameter) = self
            .parameters
            .iter()
            .enumerate()
            .find(|(_, parameter)| parameter.name == name)?;
        let value: Option<Cow<'_, str>> = match parameter.location {
            Location::Query => self.uri.query().and_then(|query| {
                url::form_urlencoded::parse(query.as_bytes())
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value)
            }),
            Location::Path => self
                .operation
                .path
                .split('/')
                .zip(self.uri.path().split('/'))
                .find(|(template, _)| {
                    template
                        .strip_prefix('{')
                        .and_then(|rest| rest.strip_suffix('}'))
                        == Some(name)
                })
                .map(|(_, segment)| percent_decode_str(segment).decode_utf8_lossy()),
            Location::Header => self
                .headers
                .iter()
                .find(|(index, _)| *index == at)
                .map(|(_, value)| String::from_utf8_lossy(value.as_bytes())),
        };
        schema_errors::parameter(
            &parameter.schema,
            value.as_deref(),
            parameter.what.as_deref(),
            parameter.example.as_ref(),
        )
    }
}

/// `value` with its `$ref` followed within the spec, its own members over the target's.
fn resolve(spec: &Value, value: &Value, depth: usize) -> Result<Value> {
    let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
        return Ok(value.clone());
    };
    if depth > 16 {
        bail!("`{reference}` is at the end of a chain of more than 16 references");
    }
    let target = reference
        .strip_prefix('#')
        .and_then(|pointer| spec.pointer(pointer))
        .with_context(|| format!("`{reference}` points at nothing in the spec"))?;
    let mut resolved = resolve(spec, target, depth + 1)?;
    if let (Value::Object(resolved), Value::Object(own)) = (&mut resolved, value) {
        for (key, member) in own.iter().filter(|(key, _)| *key != "$ref") {
            resolved.insert(key.clone(), member.clone());
        }
    }
    Ok(resolved)
}

/// A path as one JSON pointer segment.
fn pointer_segment(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

/// What a description says the value is, when it starts by naming it: its first clause, `The id
/// of the conversation (`conv_…`).` giving `the id of the conversation (`conv_…`)`.
fn what(description: &str) -> Option<String> {
    let end = description
        .char_indices()
        .find(|&(at, c)| {
            c == ','
                || (c == '.'
                    && description[at + 1..]
                        .chars()
                        .next()
                        .is_none_or(char::is_whitespace))
        })
        .map_or(description.len(), |(at, _)| at);
    let clause = description[..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    ["The ", "A ", "An "].iter().find_map(|article| {
        let rest = clause.strip_prefix(article)?;
        Some(format!("{}{rest}", article.to_lowercase()))
    })
}

pub async fn layer<E: Endpoint>(
    next: E,
    request: Request,
    parameters: Arc<Parameters>,
) -> poem::Result<Response> {
    let sent = parameters.sent(&request);
    match next.call(request).await {
        Ok(response) => Ok(response.into_response()),
        Err(err) => Err(match sent {
            Some(sent) => sent.reword(err),
            None => err,
        }),
    }
}

#[cfg(test)]
mod tests {
    use poem::http::Method;

    use super::*;

    fn parameters() -> Parameters {
        Parameters::new(&serde_json::from_str(hoverbot_api::SPEC_JSON).unwrap()).unwrap()
    }

    /// What a client is told for each kind of rule the spec's parameters use, in the query, the
    /// path and a header: the rule in plain words and a short prefix of the value.
    #[test]
    fn refused_parameters_say_why() {
        let parameters = parameters();
        let long = |n| "x".repeat(n);
        let cut = format!("which \"{}… does not", long(39));
        let eventually = "must be one of \"conversation.created\", \"conversation.deleted\", \
                          \"message.responded\", \"lead.qualified\", \"escalation.created\", \
                          \"escalation.updated\" or \"webhook_endpoint.disabled\", not \
                          \"message.sent\"";
        let cases: Vec<(Method, String, Option<&str>, &str, &str)> = vec![
            (
                Method::GET,
                "/v1/conversations?limit=0".into(),
                None,
                "limit",
                "must be an integer from 1 to 100, not 0",
            ),
            (
                Method::GET,
                "/v1/conversations?limit=101".into(),
                None,
                "limit",
                "must be an integer from 1 to 100, not 101",
            ),
            (
                Method::GET,
                "/v1/conversations?limit=abc".into(),
                None,
                "limit",
                "must be an integer from 1 to 100, not \"abc\"",
            ),
            (
                Method::GET,
                "/v1/conversations?limit=1.5".into(),
                None,
                "limit",
                "must be an integer from 1 to 100, not \"1.5\"",
            ),
            (
                Method::GET,
                "/v1/conversations?limit=99999999999".into(),
                None,
                "limit",
                "must be an integer from 1 to 100, not 99999999999",
            ),
            (
                Method::GET,
                "/v1/conversations?cursor=not-a-cursor".into(),
                None,
                "cursor",
                "must be the `nextCursor` of the previous page, matching the pattern \
                 ^[a-z]{2,5}_[0-9a-z]{26}$ (such as conv_01j9za3b4c5d6e7f8g9h0j1k2m), which \
                 \"not-a-cursor\" does not",
            ),
            (
                Method::GET,
                format!("/v1/conversations?cursor={}", long(60)),
                None,
                "cursor",
                &cut,
            ),
            (
                Method::GET,
                "/v1/conversations?status=very+closed".into(),
                None,
                "status",
                "must be one of \"active\" or \"escalated\", not \"very closed\"",
            ),
            (
                Method::GET,
                "/v1/webhook-endpoints/whep_1/deliveries?eventType=message.sent".into(),
                None,
                "eventType",
                eventually,
            ),
            (
                Method::GET,
                format!("/v1/conversations?externalUserId={}", long(300)),
                None,
                "externalUserId",
                "must have at most 255 characters (it has 300 characters)",
            ),
            (
                Method::GET,
                format!("/v1/escalations?conversationId={}", long(101)),
                None,
                "conversationId",
                "must have at most 100 characters (it has 101 characters)",
            ),
            (
                Method::GET,
                format!("/v1/conversations/{}%C3%A9", long(100)),
                None,
                "conversationId",
                "must be the id of the conversation (`conv_…`), with at most 100 characters \
                 (it has 101 characters)",
            ),
            (
                Method::DELETE,
                format!("/v1/api-keys/{}", long(101)),
                None,
                "apiKeyId",
                "must be the id of the API key (`key_…`), with at most 100 characters (it has \
                 101 characters)",
            ),
            (
                Method::GET,
                format!("/v1/shared-transcripts/{}", long(301)),
                None,
                "transcriptToken",
                "must be the signed token of a shared transcript link, with at most 300 \
                 characters (it has 301 characters)",
            ),
            (
                Method::POST,
                "/v1/conversations".into(),
                Some(""),
                "Idempotency-Key",
                "must be a unique key (for example a UUID) that makes the request safe to \
                 retry, with at least 1 character (it has 0 characters)",
            ),
        ];
        for (method, uri, key, name, says) in cases {
            let mut request = Request::builder().method(method.clone()).uri_str(&uri);
            if let Some(key) = key {
                request = request.header("Idempotency-Key", key);
            }
            let request = request.finish();
            let sent = parameters.sent(&request).unwrap();
            let message = sent.message(name);
            assert!(
                message
                    .as_deref()
                    .is_some_and(|message| message.contains(says)),
                "{method} {uri}: expected {name} to say `{says}`, got {message:?}"
            );
            assert!(
                message.unwrap().chars().count() < 250,
                "messages quote only a prefix of the value"
            );
        }
    }

    /// A parameter the spec does not know, or a value that breaks no rule, keeps poem-openapi's
    /// error, which the problem layer renders as before.
    #[test]
    fn unknown_parameters_keep_their_error() {
        let parameters = parameters();
        let request = Request::builder()
            .uri_str("/v1/conversations?limit=5")
            .finish();
        let sent = parameters.sent(&request).unwrap();
        assert_eq!(sent.message("limit"), None);
        let err = sent.reword(
            ParseParamError {
                name: "colour",
                reason: "because".to_string(),
            }
            .into(),
        );
        assert!(err.is::<ParseParamError>());
        let err = sent.reword(
            ParseParamError {
                name: "limit",
                reason: "because".to_string(),
            }
            .into(),
        );
        assert!(err.is::<ParseParamError>());
        let request = Request::builder()
            .uri_str("/v1/conversations?limit=0")
            .finish();
        let err = parameters.sent(&request).unwrap().reword(
            ParseParamError {
                name: "limit",
                reason: "verification failed. minimum(1, exclusive: false)".to_string(),
            }
            .into(),
        );
        let problem = err.downcast_ref::<Problem>().unwrap();
        assert_eq!(
            problem.detail,
            "parameter `limit`: must be an integer from 1 to 100, not 0"
        );
        assert_eq!(problem.errors[0].parameter.as_deref(), Some("limit"));
    }

    /// Every parameter of the spec is worded from rules `schema_errors::parameter` knows: a new
    /// kind of rule fails here, not as poem-openapi's words in a client's face.
    #[test]
    fn every_parameter_rule_is_known() {
        const KNOWN: [&str; 14] = [
            "type",
            "format",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "minLength",
            "maxLength",
            "pattern",
            "enum",
            "x-enum-varnames",
            "default",
            "description",
            "example",
        ];
        let parameters = parameters();
        let mut unknown = Vec::new();
        for (operation, parameter) in parameters
            .by_operation
            .iter()
            .flat_map(|(operation, list)| list.iter().map(move |parameter| (operation, parameter)))
        {
            let schema = parameter.schema.as_object().unwrap();
            for keyword in schema
                .keys()
                .filter(|keyword| !KNOWN.contains(&keyword.as_str()))
            {
                unknown.push(format!("{operation} {}: {keyword}", parameter.name));
            }
            let kind = (
                schema.get("type").and_then(Value::as_str),
                schema.get("format").and_then(Value::as_str),
            );
            if !matches!(
                kind,
                (Some("integer"), None | Some("int32" | "int64"))
                    | (Some("string"), None | Some("date-time"))
            ) {
                unknown.push(format!("{operation} {}: {kind:?}", parameter.name));
            }
        }
        assert!(unknown.is_empty(), "rules not worded: {unknown:#?}");
    }

    #[test]
    fn descriptions_name_the_value() {
        assert_eq!(
            what("The id of the API key (`key_…`), not its secret.").as_deref(),
            Some("the id of the API key (`key_…`)")
        );
        assert_eq!(
            what("A unique key (for example a UUID) that makes the request\nsafe to retry. Within")
                .as_deref(),
            Some("a unique key (for example a UUID) that makes the request safe to retry")
        );
        assert_eq!(what("Only return `conversation.created` events."), None);
    }
}
