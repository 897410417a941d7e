//! The spec lowered to OpenAPI 3.0.3, for tools that read only 3.0 (progenitor, older generators):
//! `openapi/derived/hoverbot-3.0.json`. Every 3.1-only construct the spec uses has a faithful 3.0
//! form, applied to every schema wherever it appears:
//!
//! - `type: [T, "null"]` becomes `type: T` with `nullable: true`;
//! - a `oneOf`/`anyOf` with a `{type: "null"}` branch loses that branch and gains `nullable: true`
//!   (a lone `$ref` left over is wrapped in `allOf`, since 3.0 ignores a `$ref`'s siblings);
//! - a `$ref` with siblings (a description, say) is wrapped in `allOf` for the same reason;
//! - `const: x` becomes `enum: [x]`, and a schema's `examples` list its first item as `example`;
//! - numeric `exclusiveMinimum`/`exclusiveMaximum` become the 3.0 boolean form;
//! - keywords 3.0 has no form for ([`WITHOUT_30_FORM`], such as `propertyNames`) are dropped: the
//!   spec states every such constraint in the schema's description too, and the server enforces it.
//!
//! At the top: `openapi` becomes `3.0.3`, `webhooks` moves to the `x-webhooks` extension (3.0 has no
//! webhooks), and `jsonSchemaDialect` and the license's SPDX `identifier` (3.1 only) are dropped.

use serde_json::{Map, Value, json};

/// JSON Schema keywords that OpenAPI 3.0's schema object does not have.
const WITHOUT_30_FORM: [&str; 17] = [
    "propertyNames",
    "prefixItems",
    "contains",
    "minContains",
    "maxContains",
    "dependentRequired",
    "dependentSchemas",
    "unevaluatedProperties",
    "unevaluatedItems",
    "if",
    "then",
    "else",
    "$defs",
    "$comment",
    "$schema",
    "contentEncoding",
    "contentMediaType",
];

pub fn lower(document: &Value) -> Value {
    let mut document = document.clone();
    let Some(top) = document.as_object_mut() else {
        return document;
    };
    top.insert("openapi".into(), json!("3.0.3"));
    top.remove("jsonSchemaDialect");
    if let Some(license) = top
        .get_mut("info")
        .and_then(|info| info.get_mut("license"))
        .and_then(Value::as_object_mut)
    {
        license.remove("identifier");
    }
    if let Some(webhooks) = top.remove("webhooks") {
        top.insert("x-webhooks".into(), webhooks);
    }
    if let Some(schemas) = top
        .get_mut("components")
        .and_then(|components| components.get_mut("schemas"))
        .and_then(Value::as_object_mut)
    {
        for schema in schemas.values_mut() {
            lower_schema(schema);
        }
    }
    lower_schemas_below(&mut document);
    document
}

/// Lowers every value under a `schema` key (parameters, headers, media types), anywhere.
fn lower_schemas_below(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                if key == "schema" {
                    lower_schema(child);
                } else if key != "schemas" {
                    lower_schemas_below(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(lower_schemas_below),
        _ => {}
    }
}

fn is_null_type(schema: &Value) -> bool {
    schema.get("type") == Some(&json!("null"))
}

fn lower_schema(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    // Children first, so that the rules below see 3.0 forms.
    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(properties)) = object.get_mut(key) {
            properties.values_mut().for_each(lower_schema);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child @ Value::Object(_)) = object.get_mut(key) {
            lower_schema(child);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = object.get_mut(key) {
            branches.iter_mut().for_each(lower_schema);
        }
    }

    if let Some(Value::Array(types)) = object.get("type").cloned() {
        let without_null: Vec<Value> = types
            .iter()
            .filter(|t| **t != json!("null"))
            .cloned()
            .collect();
        if without_null.len() < types.len() {
            object.insert("nullable".into(), json!(true));
        }
        match without_null.as_slice() {
            [single] => {
                object.insert("type".into(), single.clone());
            }
            _ => {
                object.insert("type".into(), Value::Array(without_null));
            }
        }
    }
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(branches)) = object.get(key).cloned() else {
            continue;
        };
        let kept: Vec<Value> = branches
            .iter()
            .filter(|branch| !is_null_type(branch))
            .cloned()
            .collect();
        if kept.len() == branches.len() {
            continue;
        }
        object.insert("nullable".into(), json!(true));
        object.remove(key);
        match kept.as_slice() {
            [only] if only.get("$ref").is_some() => {
                object.insert("allOf".into(), json!([only]));
            }
            [Value::Object(only)] => {
                for (name, value) in only {
                    object.entry(name.clone()).or_insert_with(|| value.clone());
                }
            }
            _ => {
                object.insert(key.into(), Value::Array(kept));
            }
        }
    }
    for keyword in WITHOUT_30_FORM {
        object.remove(keyword);
    }
    if let Some(value) = object.remove("const") {
        object.insert("enum".into(), json!([value]));
    }
    if let Some(Value::Array(examples)) = object.remove("examples")
        && let Some(first) = examples.into_iter().next()
    {
        object.entry("example").or_insert(first);
    }
    for (exclusive, inclusive) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if let Some(bound @ Value::Number(_)) = object.get(exclusive).cloned() {
            object.insert(inclusive.into(), bound);
            object.insert(exclusive.into(), json!(true));
        }
    }
    if object.contains_key("$ref") && object.len() > 1 {
        let reference = object.remove("$ref").expect("checked above");
        let mut wrapped = Map::new();
        wrapped.insert("allOf".into(), json!([{ "$ref": reference }]));
        wrapped.extend(std::mem::take(object));
        *object = wrapped;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_each_31_construct() {
        let spec = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1", "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
            "paths": {"/x": {"get": {"parameters": [{"name": "q", "in": "query",
                "schema": {"type": ["string", "null"], "examples": ["a", "b"]}}]}}},
            "webhooks": {"e": {}},
            "components": {"schemas": {
                "M": {"type": "object", "propertyNames": {"maxLength": 40}},
                "A": {"type": "object", "properties": {
                    "kind": {"type": "string", "const": "a"},
                    "owner": {"oneOf": [{"$ref": "#/components/schemas/B"}, {"type": "null"}], "description": "who"},
                    "score": {"type": "number", "exclusiveMinimum": 0},
                    "b": {"$ref": "#/components/schemas/B", "description": "a b"}
                }},
                "B": {"type": "string"}
            }}
        });
        let lowered = lower(&spec);
        assert_eq!(lowered["openapi"], "3.0.3");
        assert!(lowered.get("webhooks").is_none());
        assert_eq!(lowered["x-webhooks"], json!({"e": {}}));
        assert!(lowered["info"]["license"].get("identifier").is_none());
        assert_eq!(
            lowered["paths"]["/x"]["get"]["parameters"][0]["schema"],
            json!({"type": "string", "nullable": true, "example": "a"})
        );
        assert_eq!(
            lowered["components"]["schemas"]["M"],
            json!({"type": "object"})
        );
        let properties = &lowered["components"]["schemas"]["A"]["properties"];
        assert_eq!(properties["kind"], json!({"type": "string", "enum": ["a"]}));
        assert_eq!(
            properties["owner"],
            json!({"allOf": [{"$ref": "#/components/schemas/B"}], "nullable": true, "description": "who"})
        );
        assert_eq!(
            properties["score"],
            json!({"type": "number", "minimum": 0, "exclusiveMinimum": true})
        );
        assert_eq!(
            properties["b"],
            json!({"allOf": [{"$ref": "#/components/schemas/B"}], "description": "a b"})
        );
    }
}
