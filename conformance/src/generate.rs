//! Test inputs from the spec's JSON Schemas: proptest strategies for values a schema accepts, and
//! for values that break exactly one of its constraints. Strategies shrink, so a failing case is
//! reduced to a small one before it is reported.
//!
//! Written here because no crate turns JSON Schema 2020-12 into proptest strategies; the parts
//! that exist (regular expressions to strings) are proptest's own.

use proptest::prelude::*;
use proptest::string::string_regex;
use serde_json::{Map, Value, json};

use crate::spec::Spec;

/// How deep nested schemas are followed before only the required minimum is generated.
const MAX_DEPTH: usize = 6;
/// The longest string generated where a schema sets no bound, so inputs stay readable.
const DEFAULT_MAX_CHARS: usize = 40;
/// The longest of the usual strings; the longest a schema allows is generated one time in ten.
const SHORT_CHARS: usize = 64;
/// The most items generated in an array where a schema sets no bound, and in any array of a
/// typical value.
const DEFAULT_MAX_ITEMS: usize = 3;

/// How large generated strings and arrays may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sizes {
    /// Anything the schema allows, the largest now and then.
    Any,
    /// What a user usually sends: short strings, a few items. A schema may allow far more than
    /// a deployment takes in one body (a text source holds up to 100 documents of 100,000
    /// characters), and a test of something else must not meet the body limit instead.
    Typical,
}

/// Values `schema` accepts, of any size it allows.
pub fn valid(spec: &Spec, schema: &Value) -> BoxedStrategy<Value> {
    valid_at(spec, schema, Sizes::Any, 0)
}

/// Values `schema` accepts, of the sizes a user usually sends.
pub fn typical(spec: &Spec, schema: &Value) -> BoxedStrategy<Value> {
    valid_at(spec, schema, Sizes::Typical, 0)
}

fn valid_at(spec: &Spec, schema: &Value, sizes: Sizes, depth: usize) -> BoxedStrategy<Value> {
    let schema = spec.resolve(schema);
    if let Some(value) = schema.get("const") {
        return Just(value.clone()).boxed();
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return proptest::sample::select(values.clone()).boxed();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(variants) = schema.get(key).and_then(Value::as_array) {
            let strategies: Vec<BoxedStrategy<Value>> = variants
                .iter()
                .map(|variant| valid_at(spec, variant, sizes, depth + 1))
                .collect();
            return proptest::strategy::Union::new(strategies).boxed();
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ if schema.get("properties").is_some() => vec!["object"],
        _ => vec!["string", "integer", "boolean"],
    };
    let strategies: Vec<BoxedStrategy<Value>> = types
        .iter()
        .map(|ty| of_type(spec, schema, ty, sizes, depth))
        .collect();
    proptest::strategy::Union::new(strategies).boxed()
}

fn of_type(
    spec: &Spec,
    schema: &Value,
    ty: &str,
    sizes: Sizes,
    depth: usize,
) -> BoxedStrategy<Value> {
    match ty {
        "null" => Just(Value::Null).boxed(),
        "boolean" => any::<bool>().prop_map(Value::from).boxed(),
        "integer" => {
            let (min, max) = bounds(schema, -1_000_000, 1_000_000);
            (min..=max).prop_map(Value::from).boxed()
        }
        "number" => {
            let (min, max) = bounds(schema, -1_000_000, 1_000_000);
            (min as f64..=max as f64)
                .prop_map(|n| json!((n * 100.0).round() / 100.0))
                .boxed()
        }
        "string" => string(schema, sizes),
        "array" => {
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            let min = usize_of(schema, "minItems").unwrap_or(0);
            let max = usize_of(schema, "maxItems").unwrap_or(DEFAULT_MAX_ITEMS.max(min));
            let max = match sizes {
                _ if depth >= MAX_DEPTH => min,
                Sizes::Typical => max.min(DEFAULT_MAX_ITEMS.max(min)),
                Sizes::Any => max,
            };
            let unique = schema.get("uniqueItems") == Some(&Value::Bool(true));
            proptest::collection::vec(valid_at(spec, &items, sizes, depth + 1), min..=max.max(min))
                .prop_map(move |mut values| {
                    if unique {
                        let mut seen = Vec::new();
                        values.retain(|value| {
                            let fresh = !seen.contains(value);
                            seen.push(value.clone());
                            fresh
                        });
                    }
                    Value::Array(values)
                })
                .prop_filter("enough unique items", move |value| {
                    value.as_array().is_some_and(|items| items.len() >= min)
                })
                .boxed()
        }
        _ => object(spec, schema, sizes, depth),
    }
}

/// An object with every required property, and each optional one or not.
fn object(spec: &Spec, schema: &Value, sizes: Sizes, depth: usize) -> BoxedStrategy<Value> {
    let required = required(schema);
    let properties: Vec<(String, Value)> = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(name, property)| (name.clone(), property.clone()))
        .collect();
    let mut fields: Vec<BoxedStrategy<Option<(String, Value)>>> = Vec::new();
    for (name, property) in properties {
        let is_required = required.contains(&name);
        if !is_required && depth >= MAX_DEPTH {
            continue;
        }
        let value = valid_at(spec, &property, sizes, depth + 1);
        let key = name.clone();
        let field = value.prop_map(move |value| Some((key.clone(), value)));
        fields.push(if is_required {
            field.boxed()
        } else {
            prop_oneof![Just(None), field].boxed()
        });
    }
    let min_properties = usize_of(schema, "minProperties").unwrap_or(0);
    fields
        .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect::<Map<_, _>>()))
        .prop_filter("enough properties", move |value| {
            value
                .as_object()
                .is_some_and(|object| object.len() >= min_properties)
        })
        .boxed()
}

fn string(schema: &Value, sizes: Sizes) -> BoxedStrategy<Value> {
    let min = usize_of(schema, "minLength").unwrap_or(0);
    let max = usize_of(schema, "maxLength").unwrap_or(DEFAULT_MAX_CHARS.max(min));
    let length = move |text: &String| (min..=max).contains(&text.chars().count());
    match schema.get("format").and_then(Value::as_str) {
        Some("date-time") => (0i64..2_000_000_000)
            .prop_map(|secs| {
                let at = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
                Value::from(at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            })
            .boxed(),
        Some("email") => "[a-z]{1,10}"
            .prop_map(|user| Value::from(format!("{user}@example.com")))
            .boxed(),
        // Under `invalid`, which never resolves (RFC 6761): a deployment may call or crawl the
        // URLs it is given, long after the run, and these must reach no one.
        Some("uri") => "[a-z]{1,10}"
            .prop_map(|path| Value::from(format!("https://conformance.invalid/{path}")))
            .boxed(),
        _ => match schema.get("pattern").and_then(Value::as_str) {
            // JSON Schema patterns are unanchored, and proptest does not generate anchors:
            // generate what the pattern itself matches.
            Some(pattern) => {
                match string_regex(pattern.trim_start_matches('^').trim_end_matches('$')) {
                    Ok(strategy) => strategy
                        .prop_filter("within the length bounds", length)
                        .prop_map(Value::from)
                        .boxed(),
                    Err(_) => Just(Value::from("x".repeat(min.max(1)))).boxed(),
                }
            }
            // Mostly short strings, which read well in a report; now and then the longest allowed.
            None => {
                let short =
                    proptest::collection::vec(printable(), min..=max.min(min.max(SHORT_CHARS)));
                match sizes {
                    Sizes::Any => prop_oneof![
                        9 => short,
                        1 => proptest::collection::vec(printable(), max..=max),
                    ]
                    .boxed(),
                    Sizes::Typical => short.boxed(),
                }
                .prop_map(|chars| Value::from(chars.into_iter().collect::<String>()))
                .boxed()
            }
        },
    }
}

/// Characters a user might type: mostly ASCII, some beyond it, never NUL (which the spec forbids).
fn printable() -> BoxedStrategy<char> {
    prop_oneof![
        8 => proptest::char::range(' ', '~'),
        1 => proptest::char::range('\u{a1}', '\u{2fff}'),
    ]
    .boxed()
}

fn bounds(schema: &Value, low: i64, high: i64) -> (i64, i64) {
    let min = schema.get("minimum").and_then(Value::as_i64).unwrap_or(low);
    let max = schema
        .get("maximum")
        .and_then(Value::as_i64)
        .unwrap_or(high);
    (min, max.max(min))
}

fn usize_of(schema: &Value, key: &str) -> Option<usize> {
    schema
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

fn required(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// A value that breaks one constraint, and which: the JSON pointer of the broken spot and what
/// was broken.
#[derive(Debug, Clone)]
pub struct Broken {
    pub value: Value,
    pub pointer: String,
    pub constraint: String,
}

/// Values of an object schema that break exactly one of its constraints (a top-level property's):
/// a required property missing, an unknown property where none are allowed, a property of the
/// wrong type, a string too long, an enum value that is not one, a number out of range, too many
/// items. `None` when the schema is not an object with constraints to break.
pub fn broken(spec: &Spec, schema: &Value) -> Option<BoxedStrategy<Broken>> {
    let schema = spec.resolve(schema).clone();
    let properties = schema.get("properties")?.as_object()?;
    let mut mutations: Vec<Mutation> = required(&schema)
        .into_iter()
        .map(Mutation::Remove)
        .collect();
    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        mutations.push(Mutation::Unknown);
    }
    for (name, property) in properties {
        let property = spec.resolve(property);
        mutations.push(Mutation::Replace(
            name.clone(),
            wrong_type(property),
            "type".into(),
        ));
        if let Some(max) = usize_of(property, "maxLength") {
            mutations.push(Mutation::Replace(
                name.clone(),
                Value::from("x".repeat(max + 1)),
                format!("maxLength {max}"),
            ));
        }
        if property.get("enum").is_some() {
            mutations.push(Mutation::Replace(
                name.clone(),
                Value::from("not-a-value-of-this-enum"),
                "enum".into(),
            ));
        }
        if let Some(max) = property.get("maximum").and_then(Value::as_i64) {
            mutations.push(Mutation::Replace(
                name.clone(),
                Value::from(max + 1),
                format!("maximum {max}"),
            ));
        }
        if let Some(min) = property.get("minimum").and_then(Value::as_i64) {
            mutations.push(Mutation::Replace(
                name.clone(),
                Value::from(min - 1),
                format!("minimum {min}"),
            ));
        }
        if let Some(max) = usize_of(property, "maxItems") {
            let items = property.get("items").cloned().unwrap_or(json!({}));
            let one = example_of(spec, &items);
            mutations.push(Mutation::Replace(
                name.clone(),
                Value::Array(vec![one; max + 1]),
                format!("maxItems {max}"),
            ));
        }
    }
    if mutations.is_empty() {
        return None;
    }
    // The rest of the body stays small, so that what the deployment refuses is the one broken
    // constraint and not the body's size.
    let base = typical(spec, &schema);
    Some(
        (base, proptest::sample::select(mutations))
            .prop_map(|(value, mutation)| mutation.apply(value))
            .boxed(),
    )
}

#[derive(Debug, Clone)]
enum Mutation {
    Remove(String),
    Unknown,
    /// The property, and the value of a type its schema does not allow.
    Replace(String, Value, String),
}

impl Mutation {
    fn apply(self, value: Value) -> Broken {
        let mut object = value.as_object().cloned().unwrap_or_default();
        let (pointer, constraint) = match self {
            Mutation::Remove(name) => {
                object.remove(&name);
                (String::new(), format!("required `{name}`"))
            }
            Mutation::Unknown => {
                object.insert("unknownFieldXyz".into(), Value::from(1));
                // The object is what breaks `additionalProperties`, so that is where it points.
                (String::new(), "additionalProperties false".into())
            }
            Mutation::Replace(name, value, constraint) => {
                object.insert(name.clone(), value);
                (format!("/{name}"), constraint)
            }
        };
        Broken {
            value: Value::Object(object),
            pointer,
            constraint,
        }
    }
}

/// A value of a type `schema` does not allow.
fn wrong_type(schema: &Value) -> Value {
    let allows = |ty: &str| match schema.get("type") {
        Some(Value::String(one)) => one == ty,
        Some(Value::Array(many)) => many.iter().any(|t| t == ty),
        _ => ty == "string",
    };
    if !allows("object") && !allows("null") {
        json!({"unexpected": "object"})
    } else if !allows("boolean") {
        Value::Bool(true)
    } else {
        json!([1, 2])
    }
}

/// Some value of `schema`, for padding arrays past their bound.
fn example_of(spec: &Spec, schema: &Value) -> Value {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    valid(spec, schema)
        .new_tree(&mut TestRunner::deterministic())
        .map(|tree| tree.current())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    use super::*;

    fn validator(spec: &Spec, name: &str) -> jsonschema::Validator {
        let root = json!({
            "$ref": format!("#/components/schemas/{name}"),
            "components": spec.doc["components"],
        });
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap()
    }

    #[test]
    fn generated_values_are_valid_and_broken_ones_are_not() {
        let spec = Spec::builtin();
        let mut runner = TestRunner::deterministic();
        for name in [
            "CreateConversationRequest",
            "SendMessageRequest",
            "CreateEscalationRequest",
            "CreateWebhookEndpointRequest",
            "CreateApiKeyRequest",
            "UpdateAssistantSettingsRequest",
        ] {
            let schema = json!({"$ref": format!("#/components/schemas/{name}")});
            let validator = validator(&spec, name);
            for strategy in [valid(&spec, &schema), typical(&spec, &schema)] {
                for _ in 0..50 {
                    let value = strategy.new_tree(&mut runner).unwrap().current();
                    let errors: Vec<String> = validator
                        .iter_errors(&value)
                        .map(|e| e.to_string())
                        .collect();
                    assert!(errors.is_empty(), "{name}: {value} is invalid: {errors:?}");
                }
            }
            let broken = broken(&spec, &schema).unwrap();
            for _ in 0..50 {
                let case = broken.new_tree(&mut runner).unwrap().current();
                assert!(
                    !validator.is_valid(&case.value),
                    "{name}: breaking {} at {} left {} valid",
                    case.constraint,
                    case.pointer,
                    case.value
                );
            }
        }
    }
}
