//! What a JSON Schema violation says to a client: the member it is about, and what is wrong with it
//! in plain words (the limit, the allowed values, the expected type), never more than a short
//! prefix of the value sent. The validator's own messages start by echoing the value, which a long
//! value pushes past any length a problem can carry, and they name a union's rule rather than the
//! member that broke it. A parameter is worded the same way, from its schema and the text sent.

use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use crate::problem::FieldError;

/// The longest value quoted in a message, in characters.
const QUOTED_CHARS: usize = 40;

/// The field errors one violation makes (an unknown-fields violation makes one per field).
pub fn field_errors(error: &ValidationError<'_>) -> Vec<FieldError> {
    let at = error.instance_path().to_string();
    let instance = error.instance().as_ref();
    let one = |pointer: String, message: String| {
        vec![FieldError {
            pointer: Some(pointer),
            parameter: None,
            message,
        }]
    };
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => unexpected
            .iter()
            .map(|field| FieldError {
                pointer: Some(format!("{at}/{}", escape(field))),
                parameter: None,
                message: "is not a field of this object".to_string(),
            })
            .collect(),
        ValidationErrorKind::Required { property } => one(
            format!("{at}/{}", escape(property.as_str().unwrap_or_default())),
            "is required".to_string(),
        ),
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            union(&at, instance, context)
        }
        _ => one(at, describe(error.kind(), instance)),
    }
}

/// What is wrong with `instance`, by the rule it breaks.
fn describe(kind: &ValidationErrorKind, instance: &Value) -> String {
    match kind {
        ValidationErrorKind::MaxLength { limit }
        | ValidationErrorKind::MaxItems { limit }
        | ValidationErrorKind::MaxProperties { limit } => size("at most", *limit, instance),
        ValidationErrorKind::MinLength { limit }
        | ValidationErrorKind::MinItems { limit }
        | ValidationErrorKind::MinProperties { limit } => size("at least", *limit, instance),
        ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}"),
        ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        ValidationErrorKind::ExclusiveMinimum { limit } => format!("must be more than {limit}"),
        ValidationErrorKind::Enum { options } => format!(
            "must be one of {}, not {}",
            list(options.as_array().map_or(&[][..], Vec::as_slice)),
            quote(instance)
        ),
        ValidationErrorKind::Constant { expected_value } => {
            format!("must be {}, not {}", quote(expected_value), quote(instance))
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(one) => one.to_string(),
                TypeKind::Multiple(many) => many
                    .iter()
                    .map(|one| one.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            format!("must be of type {expected}, not {}", type_of(instance))
        }
        ValidationErrorKind::Pattern { pattern } => {
            format!(
                "must match the pattern {pattern}, which {} does not",
                quote(instance)
            )
        }
        ValidationErrorKind::Format { format } => {
            format!("must be a valid {format}, which {} is not", quote(instance))
        }
        ValidationErrorKind::UniqueItems => "must not list the same item twice".to_string(),
        ValidationErrorKind::MultipleOf { multiple_of, .. } => {
            format!("must be a multiple of {multiple_of}")
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            "matches more than one of the allowed forms; make it match exactly one".to_string()
        }
        other => format!("is not valid here ({})", keyword(other)),
    }
}

/// What is wrong with a parameter's value (query, path and header values are text), by its
/// schema: `must be an integer from 1 to 100, not "abc"`. `what` names the value, from the spec's
/// description (`the id of the conversation (`conv_…`)`), for a string, whose type alone does not
/// say what is expected; `example` shows a value that fits. `None` when `value` breaks no rule
/// known here.
pub fn parameter(
    schema: &Value,
    value: Option<&str>,
    what: Option<&str>,
    example: Option<&Value>,
) -> Option<String> {
    let Some(value) = value else {
        return Some("is required".to_string());
    };
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        let allowed = |option: &Value| match option {
            Value::String(option) => option == value,
            option => serde_json::from_str::<Value>(value).is_ok_and(|sent| sent == *option),
        };
        if !options.iter().any(allowed) {
            // Quoted when the values allowed are strings, bare when they are numbers.
            let sent = if options.iter().all(Value::is_string) {
                quote(&Value::from(value))
            } else {
                cut(value.to_string())
            };
            return Some(format!("must be one of {}, not {sent}", list(options)));
        }
    }
    match schema.get("type").and_then(Value::as_str)? {
        "integer" => integer_parameter(schema, value),
        "string" => string_parameter(schema, value, what, example),
        _ => None,
    }
}

/// An integer outside its format's and its schema's range, or no integer at all: the range and
/// the value, `must be an integer from 1 to 100, not 0`.
fn integer_parameter(schema: &Value, value: &str) -> Option<String> {
    let (format_low, format_high) = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => (Some(i128::from(i32::MIN)), Some(i128::from(i32::MAX))),
        Some("int64") => (Some(i128::from(i64::MIN)), Some(i128::from(i64::MAX))),
        _ => (None, None),
    };
    let bound = |keyword: &str| schema.get(keyword).and_then(Value::as_f64);
    // The integers within the bounds: a minimum of 0.5 admits 1, an exclusive minimum of 1 admits 2.
    let low = [
        format_low,
        bound("minimum").map(|limit| limit.ceil() as i128),
        bound("exclusiveMinimum").map(|limit| limit.floor() as i128 + 1),
    ]
    .into_iter()
    .flatten()
    .max();
    let high = [
        format_high,
        bound("maximum").map(|limit| limit.floor() as i128),
        bound("exclusiveMaximum").map(|limit| limit.ceil() as i128 - 1),
    ]
    .into_iter()
    .flatten()
    .min();
    let number = value.parse::<i128>().ok();
    if number.is_some_and(|number| {
        low.is_none_or(|low| number >= low) && high.is_none_or(|high| number <= high)
    }) {
        return None;
    }
    let range = match (low, high) {
        (Some(low), Some(high)) => format!(" from {low} to {high}"),
        (Some(low), None) => format!(" of at least {low}"),
        (None, Some(high)) => format!(" of at most {high}"),
        (None, None) => String::new(),
    };
    let sent = match number {
        Some(_) => cut(value.to_string()),
        None => quote(&Value::from(value)),
    };
    Some(format!("must be an integer{range}, not {sent}"))
}

/// A string that is no date-time its format asks for, misses its pattern, or is too long or too
/// short, in that order.
fn string_parameter(
    schema: &Value,
    value: &str,
    what: Option<&str>,
    example: Option<&Value>,
) -> Option<String> {
    let sent = quote(&Value::from(value));
    let example = example.map(|example| {
        example
            .as_str()
            .map_or_else(|| example.to_string(), str::to_string)
    });
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && value
            .parse::<chrono::DateTime<chrono::FixedOffset>>()
            .is_err()
    {
        let such_as = example.as_deref().unwrap_or("2026-01-31T09:30:00Z");
        let rule = format!("a date and time such as {such_as} (RFC 3339)");
        return Some(match what {
            Some(what) => format!("must be {what}, {rule}, not {sent}"),
            None => format!("must be {rule}, not {sent}"),
        });
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && regex::Regex::new(pattern).is_ok_and(|regex| !regex.is_match(value))
    {
        let such_as = example.map_or(String::new(), |example| format!(" (such as {example})"));
        let rule = format!("the pattern {pattern}{such_as}, which {sent} does not");
        return Some(match what {
            Some(what) => format!("must be {what}, matching {rule}"),
            None => format!("must match {rule}"),
        });
    }
    let length = value.chars().count() as u64;
    let limit = |keyword: &str| schema.get(keyword).and_then(Value::as_u64);
    let rule = match (limit("maxLength"), limit("minLength")) {
        (Some(max), _) if length > max => sized("at most", max, &Value::from(value)),
        (_, Some(min)) if length < min => sized("at least", min, &Value::from(value)),
        _ => return None,
    };
    Some(match what {
        Some(what) => format!("must be {what}, with {rule}"),
        None => format!("must have {rule}"),
    })
}

/// A union (`oneOf`, `anyOf`) none of whose branches matched. The branch meant is the one whose
/// discriminator (a member fixed by `const` or `enum`) matched, and its own errors are the answer;
/// when no branch's discriminator matched, the discriminator is what is wrong.
fn union(
    at: &str,
    instance: &Value,
    branches: &[Vec<ValidationError<'static>>],
) -> Vec<FieldError> {
    let is_discriminator = |error: &ValidationError<'_>| {
        matches!(
            error.kind(),
            ValidationErrorKind::Constant { .. } | ValidationErrorKind::Enum { .. }
        ) && error
            .instance_path()
            .to_string()
            .rsplit_once('/')
            .map(|(parent, _)| parent)
            == Some(at)
    };
    let meant = branches
        .iter()
        .filter(|errors| !errors.iter().any(is_discriminator))
        .min_by_key(|errors| errors.len());
    if let Some(errors) = meant {
        return errors.iter().flat_map(field_errors).collect();
    }
    // Every branch refused its discriminator: name the member and every value it may take.
    let mut member = None;
    let mut allowed = Vec::new();
    for error in branches
        .iter()
        .flatten()
        .filter(|error| is_discriminator(error))
    {
        member.get_or_insert_with(|| error.instance_path().to_string());
        match error.kind() {
            ValidationErrorKind::Constant { expected_value } => {
                allowed.push(expected_value.as_ref().clone());
            }
            ValidationErrorKind::Enum { options } => {
                allowed.extend(options.as_array().into_iter().flatten().cloned());
            }
            _ => {}
        }
    }
    allowed.dedup();
    match member {
        Some(member) => {
            let sent = instance
                .pointer(member.strip_prefix(at).unwrap_or_default())
                .unwrap_or(&Value::Null);
            vec![FieldError {
                pointer: Some(member),
                parameter: None,
                message: format!("must be one of {}, not {}", list(&allowed), quote(sent)),
            }]
        }
        None => vec![FieldError {
            pointer: Some(at.to_string()),
            parameter: None,
            message: "matches none of the allowed forms".to_string(),
        }],
    }
}

/// A bound on the size of a string, an array or an object, and the size sent: `must have at most
/// 255 characters (it has 300 characters)`, `must have at least 1 item (it has 0)`.
fn size(bound: &str, limit: u64, instance: &Value) -> String {
    format!("must have {}", sized(bound, limit, instance))
}

/// [`size`] without its verb: `at most 255 characters (it has 300 characters)`.
fn sized(bound: &str, limit: u64, instance: &Value) -> String {
    let (has, one, many) = match instance {
        Value::String(text) => (
            noun(text.chars().count() as u64, "character", "characters"),
            "character",
            "characters",
        ),
        Value::Array(items) => (items.len().to_string(), "item", "items"),
        Value::Object(fields) => (fields.len().to_string(), "entry", "entries"),
        _ => return format!("{bound} {limit}"),
    };
    format!("{bound} {} (it has {has})", noun(limit, one, many))
}

/// `1 item`, `2 items`.
fn noun(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// A JSON pointer segment.
fn escape(field: &str) -> String {
    field.replace('~', "~0").replace('/', "~1")
}

/// `"web", "email" or "sms"`.
fn list(values: &[Value]) -> String {
    let quoted: Vec<String> = values.iter().map(quote).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "nothing".to_string(),
    }
}

/// The value as JSON, cut to a short prefix.
fn quote(value: &Value) -> String {
    cut(value.to_string())
}

/// The text cut to a short prefix.
fn cut(text: String) -> String {
    if text.chars().count() <= QUOTED_CHARS {
        return text;
    }
    text.chars().take(QUOTED_CHARS).collect::<String>() + "…"
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The keyword of a rule without a sentence of its own.
fn keyword(kind: &ValidationErrorKind) -> &'static str {
    match kind {
        ValidationErrorKind::Not { .. } => "not",
        ValidationErrorKind::FalseSchema => "false schema",
        ValidationErrorKind::PropertyNames { .. } => "propertyNames",
        ValidationErrorKind::Contains => "contains",
        _ => "schema",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Parameter rules beyond those the spec's parameters use today (`http::parameters` checks
    /// those against the spec itself): other ranges, a date-time, a missing value.
    #[test]
    fn parameters_say_why() {
        /// The schema, the value sent, what it is, and what is said.
        type Case = (
            Value,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
        );
        let cases: [Case; 9] = [
            (
                json!({"type": "integer", "format": "int32"}),
                Some("3000000000"),
                None,
                Some("must be an integer from -2147483648 to 2147483647, not 3000000000"),
            ),
            (
                json!({"type": "integer", "exclusiveMinimum": 0}),
                Some("0"),
                None,
                Some("must be an integer of at least 1, not 0"),
            ),
            (
                json!({"type": "integer", "maximum": 10.5}),
                Some("ten"),
                None,
                Some("must be an integer of at most 10, not \"ten\""),
            ),
            (json!({"type": "integer"}), Some("+7"), None, None),
            (
                json!({"type": "integer", "enum": [1, 2]}),
                Some("3"),
                None,
                Some("must be one of 1 or 2, not 3"),
            ),
            (
                json!({"type": "string", "format": "date-time"}),
                Some("yesterday"),
                Some("the time of the first message"),
                Some(
                    "must be the time of the first message, a date and time such as \
                     2026-01-31T09:30:00Z (RFC 3339), not \"yesterday\"",
                ),
            ),
            (
                json!({"type": "string", "format": "date-time"}),
                Some("2026-01-31T09:30:00+01:00"),
                None,
                None,
            ),
            (
                json!({"type": "string", "pattern": "^[a-z]+$", "minLength": 2}),
                Some("a"),
                None,
                Some("must have at least 2 characters (it has 1 character)"),
            ),
            (json!({"type": "string"}), None, None, Some("is required")),
        ];
        for (schema, value, what, says) in cases {
            assert_eq!(
                parameter(&schema, value, what, None).as_deref(),
                says,
                "{schema} {value:?}"
            );
        }
    }
}
