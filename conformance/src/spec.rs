//! The OpenAPI document the suites test against: the one built into the binary, a file, or a
//! deployment's own `/openapi.yaml`. Only what the suites need is read from it, generically (any
//! operation, any schema), so a newer spec than the binary was built with works too.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The spec this binary was built with.
pub const BUILTIN: &str = include_str!("../../openapi/hoverbot.yaml");

/// An OpenAPI 3.1 document.
pub struct Spec {
    pub doc: Value,
}

/// Who may call an operation, from its `security`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `security: []`.
    Public,
    /// A workspace token with this scope.
    Scope(String),
    /// A scheme the suites hold no credential for (the deployment operator's).
    Other(String),
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub location: Location,
    pub required: bool,
    pub schema: Value,
}

/// A documented response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The media type and schema of its body, when it has one.
    pub content: Option<(String, Value)>,
    /// Its headers, and whether each is required.
    pub headers: Vec<(String, bool)>,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    /// Upper case.
    pub method: String,
    /// The path template (`/v1/conversations/{conversationId}`).
    pub path: String,
    pub access: Access,
    pub params: Vec<Param>,
    /// The JSON request body's schema, when it takes one.
    pub body: Option<Value>,
    /// By status code as written (`200`, `4XX`, `default`).
    pub responses: BTreeMap<String, Response>,
}

impl Spec {
    pub fn builtin() -> Self {
        Self::parse(BUILTIN).expect("the built-in spec parses")
    }

    pub fn parse(text: &str) -> Result<Self> {
        let doc: Value = serde_yaml_ng::from_str(text).context("the spec is not YAML or JSON")?;
        if !doc
            .get("openapi")
            .and_then(Value::as_str)
            .is_some_and(|version| version.starts_with("3.1"))
        {
            bail!("the spec is not an OpenAPI 3.1 document");
        }
        Ok(Self { doc })
    }

    /// A spec from a file or an `http(s)` URL.
    pub async fn load(source: &str) -> Result<Self> {
        let text = if source.starts_with("http://") || source.starts_with("https://") {
            let response = reqwest::get(source)
                .await
                .with_context(|| format!("cannot fetch the spec at {source}"))?;
            if !response.status().is_success() {
                bail!("fetching the spec at {source}: {}", response.status());
            }
            response.text().await?
        } else {
            std::fs::read_to_string(source)
                .with_context(|| format!("cannot read the spec file {source}"))?
        };
        Self::parse(&text)
    }

    /// `value`, or what its local `$ref` points at (followed until it is not a reference).
    pub fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        for _ in 0..32 {
            match value
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|reference| reference.strip_prefix('#'))
                .and_then(|pointer| self.doc.pointer(pointer))
            {
                Some(target) => value = target,
                None => break,
            }
        }
        value
    }

    /// Every operation, in document order.
    pub fn operations(&self) -> Result<Vec<Operation>> {
        let global_security = self.doc.get("security").cloned().unwrap_or(Value::Null);
        let mut operations = Vec::new();
        let Some(paths) = self.doc.get("paths").and_then(Value::as_object) else {
            return Ok(operations);
        };
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    continue;
                }
                let id = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("{method} {path}"), str::to_string);
                let security = op.get("security").unwrap_or(&global_security);
                operations.push(Operation {
                    access: access(security),
                    params: self.params(item.get("parameters"), op.get("parameters")),
                    body: op
                        .get("requestBody")
                        .map(|body| self.resolve(body))
                        .and_then(|body| body.pointer("/content/application~1json/schema"))
                        .cloned(),
                    responses: self.responses(op),
                    method: method.to_uppercase(),
                    path: path.clone(),
                    id,
                });
            }
        }
        Ok(operations)
    }

    fn params(&self, shared: Option<&Value>, own: Option<&Value>) -> Vec<Param> {
        let mut params: Vec<Param> = Vec::new();
        for param in [shared, own]
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
            .flatten()
        {
            let param = self.resolve(param);
            let location = match param.get("in").and_then(Value::as_str) {
                Some("path") => Location::Path,
                Some("query") => Location::Query,
                Some("header") => Location::Header,
                _ => continue,
            };
            let name = param
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            // An operation's own parameter replaces the path item's of the same name and place.
            params.retain(|known| !(known.name == name && known.location == location));
            params.push(Param {
                required: param.get("required") == Some(&Value::Bool(true)),
                schema: param.get("schema").cloned().unwrap_or(Value::Bool(true)),
                name,
                location,
            });
        }
        params
    }

    fn responses(&self, op: &Value) -> BTreeMap<String, Response> {
        let mut responses = BTreeMap::new();
        for (status, response) in op
            .get("responses")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let response = self.resolve(response);
            let content = response
                .get("content")
                .and_then(Value::as_object)
                .and_then(|content| content.iter().next())
                .map(|(media_type, media)| {
                    (
                        media_type.clone(),
                        media.get("schema").cloned().unwrap_or(Value::Bool(true)),
                    )
                });
            let headers = response
                .get("headers")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(name, header)| {
                    let header = self.resolve(header);
                    (
                        name.clone(),
                        header.get("required") == Some(&Value::Bool(true)),
                    )
                })
                .collect();
            responses.insert(status.clone(), Response { content, headers });
        }
        responses
    }
}

/// The access an operation's `security` asks for: public when empty; the one scope of its
/// alternatives' first scoped one otherwise.
fn access(security: &Value) -> Access {
    let Some(alternatives) = security.as_array() else {
        return Access::Public;
    };
    if alternatives.is_empty() {
        return Access::Public;
    }
    for alternative in alternatives.iter().filter_map(Value::as_object) {
        for (scheme, scopes) in alternative {
            if let Some(scope) = scopes
                .as_array()
                .and_then(|scopes| scopes.first())
                .and_then(Value::as_str)
            {
                return Access::Scope(scope.to_string());
            }
            if scheme != "bearerAuth" {
                return Access::Other(scheme.clone());
            }
        }
    }
    Access::Public
}

impl Operation {
    /// The documented response for `status`: exact, then its range (`4XX`), then `default`.
    pub fn response_for(&self, status: u16) -> Option<&Response> {
        self.responses
            .get(&status.to_string())
            .or_else(|| self.responses.get(&format!("{}XX", status / 100)))
            .or_else(|| self.responses.get("default"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_spec_has_its_operations_with_their_access() {
        let spec = Spec::builtin();
        let operations = spec.operations().unwrap();
        let create = operations
            .iter()
            .find(|op| op.id == "createConversation")
            .unwrap();
        assert_eq!(create.method, "POST");
        assert_eq!(create.access, Access::Scope("conversations:write".into()));
        assert!(create.body.is_some());
        assert!(create.response_for(201).unwrap().content.is_some());
        let health = operations.iter().find(|op| op.id == "getHealth").unwrap();
        assert_eq!(health.access, Access::Public);
        let apps = operations
            .iter()
            .find(|op| op.id == "listOauthApps")
            .unwrap();
        assert_eq!(apps.access, Access::Other("operatorKey".into()));
    }
}
