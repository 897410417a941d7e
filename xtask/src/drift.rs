//! The drift check: does the server's router serve what `openapi/hoverbot.yaml` says?
//!
//! Both documents are reduced to "facts" (one per operation, parameter, request body, response,
//! component schema, security scheme and webhook), then compared fact by fact. The reduction
//! normalises what poem-openapi cannot express or spells differently: it emits OpenAPI 3.0.0, adds
//! `; charset=utf-8` to JSON media types, upper-cases header names, inlines map schemas, wraps
//! discriminated-union variants in `allOf`, marks no field as required-but-nullable, and carries no
//! per-item array constraints. Documentation (descriptions, summaries, examples) is not compared:
//! the server serves the source document itself, so only behaviour can drift.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::project;

pub fn run() -> Result<()> {
    let source = project::load_spec()?;
    let served = router_document()?;
    let differences = compare(&source, &served);
    if differences.is_empty() {
        eprintln!(
            "drift check: the router serves {} as written",
            project::SPEC
        );
        return Ok(());
    }
    bail!(
        "the router does not serve what {} says ({} differences; `-` spec, `+` router):\n{}\n\
         Run `cargo xtask codegen` and make the handlers compile; if the spec is what changed, that is all.",
        project::SPEC,
        differences.len(),
        differences.join("\n")
    )
}

/// The document the router emits, from `hoverbot openapi --router`.
fn router_document() -> Result<Value> {
    let document = project::cargo_run(
        "hoverbot-server",
        Some("hoverbot"),
        &["openapi", "--router"],
    )
    .context("`hoverbot openapi --router` failed")?;
    serde_json::from_slice(&document)
        .context("`hoverbot openapi --router` printed no JSON document")
}

/// The differences between two documents, one line each; empty when they agree.
pub fn compare(source: &Value, served: &Value) -> Vec<String> {
    let (expected, actual) = (facts(source), facts(served));
    let mut differences = Vec::new();
    for (key, value) in &expected {
        match actual.get(key) {
            None => differences.push(format!("- {key}: {value}")),
            Some(other) if other != value => {
                differences.push(format!("- {key}: {value}\n+ {key}: {other}"));
            }
            Some(_) => {}
        }
    }
    for (key, value) in &actual {
        if !expected.contains_key(key) {
            differences.push(format!("+ {key}: {value}"));
        }
    }
    differences
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn facts(doc: &Value) -> BTreeMap<String, Value> {
    let mut facts = BTreeMap::new();
    let global_security = doc.get("security").cloned().unwrap_or(json!([]));
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let name = format!("{} {path}", method.to_uppercase());
            let security = op.get("security").unwrap_or(&global_security);
            facts.insert(
                name.clone(),
                json!({
                    "operationId": op.get("operationId"),
                    "tags": sorted(op.get("tags")),
                    "security": security_facts(security),
                }),
            );
            for param in op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let param = resolve(doc, param);
                let location = param.get("in").and_then(Value::as_str).unwrap_or_default();
                let mut param_name = param
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if location == "header" {
                    param_name = param_name.to_lowercase();
                }
                facts.insert(
                    format!("{name} parameter {location}:{param_name}"),
                    json!({
                        "required": param.get("required").and_then(Value::as_bool).unwrap_or(false),
                        "schema": param.get("schema").map(|schema| canon(doc, schema)),
                    }),
                );
            }
            if let Some(body) = op.get("requestBody") {
                let body = resolve(doc, body);
                facts.insert(
                    format!("{name} requestBody"),
                    content_facts(doc, body, true),
                );
            }
            for (status, response) in op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let response = resolve(doc, response);
                facts.insert(
                    format!("{name} response {status}"),
                    content_facts(doc, response, false),
                );
            }
        }
    }
    let variants = union_variants(doc);
    for (name, schema) in doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if is_map(schema) || is_union_wrapper(schema) {
            continue;
        }
        facts.insert(
            format!("schema {name}"),
            canon_definition(doc, schema, variants.contains(name)),
        );
    }
    for (name, scheme) in doc
        .pointer("/components/securitySchemes")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let flow = scheme.pointer("/flows/authorizationCode");
        facts.insert(
            format!("securityScheme {name}"),
            json!({
                "type": scheme.get("type"),
                "scheme": scheme.get("scheme"),
                "authorizationUrl": flow.and_then(|flow| flow.get("authorizationUrl")),
                "tokenUrl": flow.and_then(|flow| flow.get("tokenUrl")),
                "scopes": flow.and_then(|flow| flow.get("scopes")).and_then(Value::as_object).map(|scopes| scopes.keys().cloned().collect::<Vec<_>>()),
            }),
        );
    }
    for (name, item) in doc
        .get("webhooks")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let body = op.get("requestBody").map(|body| resolve(doc, body));
            facts.insert(
                format!("webhook {name} {}", method.to_uppercase()),
                json!({
                    "operationId": op.get("operationId"),
                    "body": body.and_then(|body| first_schema(body)).map(|schema| canon(doc, schema)),
                }),
            );
        }
    }
    facts
}

fn sorted(list: Option<&Value>) -> Value {
    let mut items: Vec<String> = list
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| item.as_str().map(str::to_string))
        .collect();
    items.sort();
    json!(items)
}

fn security_facts(security: &Value) -> Value {
    let mut alternatives: Vec<String> = security
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|requirement| {
            requirement
                .iter()
                .map(|(scheme, scopes)| format!("{scheme}{}", sorted(Some(scopes))))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    alternatives.sort();
    json!(alternatives)
}

fn content_facts(doc: &Value, item: &Value, is_request: bool) -> Value {
    let mut content = Map::new();
    for (media_type, media) in item
        .get("content")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let essence = media_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        content.insert(
            essence,
            media
                .get("schema")
                .map_or(Value::Null, |schema| canon(doc, schema)),
        );
    }
    let mut headers: Vec<String> = item
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, _)| name.to_lowercase())
        .collect();
    headers.sort();
    if is_request {
        json!({ "required": item.get("required").and_then(Value::as_bool).unwrap_or(false), "content": content })
    } else {
        json!({ "content": content, "headers": headers })
    }
}

fn first_schema(item: &Value) -> Option<&Value> {
    item.get("content")?
        .as_object()?
        .values()
        .next()?
        .get("schema")
}

fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(target) = value
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
    {
        match doc.pointer(target) {
            Some(next) => value = next,
            None => break,
        }
    }
    value
}

fn is_map(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("object")
        && schema.get("properties").is_none()
        && schema
            .get("additionalProperties")
            .is_some_and(Value::is_object)
}

/// The `$ref` inside an `allOf`: poem-openapi wraps references in `allOf` to attach a description,
/// and wraps discriminated-union variants as `allOf: [{tag}, $ref variant]`.
fn all_of_ref(schema: &Value) -> Option<&Value> {
    schema
        .get("allOf")
        .and_then(Value::as_array)
        .and_then(|items| items.iter().find(|item| item.get("$ref").is_some()))
}

fn is_union_wrapper(schema: &Value) -> bool {
    all_of_ref(schema).is_some()
}

const CONSTRAINTS: [&str; 10] = [
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
];

/// The schemas a discriminator mapping points to directly.
fn union_variants(doc: &Value) -> Vec<String> {
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object);
    schemas
        .into_iter()
        .flatten()
        .filter_map(|(_, schema)| {
            schema
                .pointer("/discriminator/mapping")
                .and_then(Value::as_object)
        })
        .flat_map(|mapping| mapping.values())
        .filter_map(|target| {
            target
                .as_str()
                .and_then(|t| t.rsplit('/').next())
                .map(str::to_string)
        })
        .collect()
}

/// A component schema's definition, canonical.
fn canon_definition(doc: &Value, schema: &Value, is_variant: bool) -> Value {
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        let mut refs: Vec<Value> = variants.iter().map(|variant| canon(doc, variant)).collect();
        refs.sort_by_key(Value::to_string);
        let mut tags: Vec<&String> = schema
            .pointer("/discriminator/mapping")
            .and_then(Value::as_object)
            .map(|mapping| mapping.keys().collect())
            .unwrap_or_default();
        tags.sort();
        return json!({ "oneOf": refs, "discriminator": schema.pointer("/discriminator/propertyName"), "tags": tags });
    }
    if let Some(values) = schema.get("enum") {
        return json!({ "type": "string", "enum": values });
    }
    let mut canonical = Map::new();
    canonical.insert("type".into(), json!("object"));
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut properties = Map::new();
    let mut really_required = Vec::new();
    for (name, property) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        // A discriminator's `const` lives in the union, not in the variant, for poem-openapi.
        if is_variant && property.get("const").is_some() {
            continue;
        }
        if required.contains(&name.as_str()) && !is_nullable(property) {
            really_required.push(name.clone());
        }
        properties.insert(name.clone(), canon(doc, property));
    }
    really_required.sort();
    canonical.insert("properties".into(), Value::Object(properties));
    canonical.insert("required".into(), json!(really_required));
    Value::Object(canonical)
}

fn is_nullable(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::Array(types)) => types.iter().any(|t| t == "null"),
        _ => schema
            .get("oneOf")
            .and_then(Value::as_array)
            .is_some_and(|options| {
                options
                    .iter()
                    .any(|option| option.get("type") == Some(&json!("null")))
            }),
    }
}

/// A schema where it is used (property, item, parameter, body), canonical.
fn canon(doc: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer));
        return match target {
            Some(target) if is_map(target) => canon(doc, target),
            Some(target) if is_union_wrapper(target) => {
                canon(doc, all_of_ref(target).expect("checked"))
            }
            _ => json!({ "$ref": reference.rsplit('/').next() }),
        };
    }
    if let Some(reference) = all_of_ref(schema) {
        return canon(doc, reference);
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema.get(combinator).and_then(Value::as_array) {
            let not_null: Vec<&Value> = options
                .iter()
                .filter(|o| o.get("type") != Some(&json!("null")))
                .collect();
            if not_null.len() == 1 {
                return canon(doc, not_null[0]);
            }
        }
    }
    let kind = match schema.get("type") {
        Some(Value::Array(types)) => types
            .iter()
            .find(|t| *t != "null")
            .cloned()
            .unwrap_or(Value::Null),
        Some(kind) => kind.clone(),
        None => Value::Null,
    };
    let mut canonical = Map::new();
    let format = match (kind.as_str(), schema.get("format").and_then(Value::as_str)) {
        (Some("integer"), None) => Some("int64"),
        (Some("number"), None) => Some("double"),
        (Some("string"), Some("date-time")) => Some("date-time"),
        (Some("integer" | "number"), format) => format,
        _ => None,
    };
    canonical.insert("type".into(), kind.clone());
    if let Some(format) = format {
        canonical.insert("format".into(), json!(format));
    }
    let is_timestamp = format == Some("date-time");
    for keyword in CONSTRAINTS {
        if is_timestamp {
            break;
        }
        if let Some(value) = schema.get(keyword) {
            let value = match value.as_f64() {
                Some(number) if keyword != "uniqueItems" => json!(number),
                _ => value.clone(),
            };
            canonical.insert(keyword.into(), value);
        }
    }
    if let Some(default) = schema.get("default") {
        canonical.insert("default".into(), default.clone());
    }
    if let Some(items) = schema.get("items") {
        let mut items = canon(doc, items);
        // poem-openapi does not document constraints on array items.
        if let Some(items) = items.as_object_mut() {
            items.retain(|key, _| !CONSTRAINTS.contains(&key.as_str()));
        }
        canonical.insert("items".into(), items);
    }
    if let Some(values) = schema
        .get("additionalProperties")
        .filter(|values| values.is_object())
    {
        let mut values = canon(doc, values);
        // Nor on map values.
        if let Some(values) = values.as_object_mut() {
            values.retain(|key, _| !CONSTRAINTS.contains(&key.as_str()));
        }
        canonical.insert("additionalProperties".into(), values);
    }
    Value::Object(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_agrees_with_itself() {
        let spec = project::load_spec().unwrap();
        assert_eq!(compare(&spec, &spec), Vec::<String>::new());
    }

    #[test]
    fn catches_a_planted_mismatch() {
        let spec = project::load_spec().unwrap();
        let mut served = spec.clone();
        let limit = served
            .pointer_mut("/components/parameters/Limit/schema/maximum")
            .unwrap();
        *limit = json!(1000);
        let differences = compare(&spec, &served);
        assert!(
            differences
                .iter()
                .any(|line| line.contains("GET /v1/conversations parameter query:limit")),
            "{differences:#?}"
        );
    }

    #[test]
    fn catches_a_missing_operation_and_a_changed_schema() {
        let spec = project::load_spec().unwrap();
        let mut served = spec.clone();
        served["paths"]
            .as_object_mut()
            .unwrap()
            .remove("/v1/escalations");
        served["components"]["schemas"]["Conversation"]["required"] = json!([]);
        let differences = compare(&spec, &served).join("\n");
        assert!(
            differences.contains("- POST /v1/escalations"),
            "{differences}"
        );
        assert!(differences.contains("schema Conversation"), "{differences}");
    }
}
