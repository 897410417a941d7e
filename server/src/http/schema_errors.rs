//! What a JSON Schema violation says to a client: the member it is about, and what is wrong with it
//! in plain words (the limit, the allowed values, the expected type), never more than a short
//! prefix of the value sent. The validator's own messages start by echoing the value, which a long
//! value pushes past any length a problem can carry, and they name a union's rule rather than the
//! member that broke it.

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
    let (has, one, many) = match instance {
        Value::String(text) => (
            format!("{} characters", text.chars().count()),
            "character",
            "characters",
        ),
        Value::Array(items) => (items.len().to_string(), "item", "items"),
        Value::Object(fields) => (fields.len().to_string(), "entry", "entries"),
        _ => return format!("must have {bound} {limit}"),
    };
    format!(
        "must have {bound} {} (it has {has})",
        noun(limit, one, many)
    )
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
    let text = value.to_string();
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
