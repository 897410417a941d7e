//! Read access to the spec with JSON pointers, so every error names the place it is about.

use anyhow::{Result, anyhow};
use serde_json::{Map, Value};

pub struct Spec<'a> {
    pub doc: &'a Value,
}

/// What a named component schema is, in the dialect the generator supports.
pub enum SchemaKind<'a> {
    Object(&'a Map<String, Value>),
    Enum(Vec<&'a str>),
    /// `oneOf` with a `discriminator`: the discriminator property and `(tag, schema name)` pairs.
    Union {
        property: &'a str,
        variants: Vec<(&'a str, &'a str)>,
    },
    /// `type: object` with only `additionalProperties`: a string-keyed map.
    Map(&'a Value),
}

/// An error about the construct at `pointer`.
pub fn unsupported(pointer: &str, message: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("#{pointer}: {message}")
}

/// Escapes one JSON pointer segment.
pub fn segment(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

impl<'a> Spec<'a> {
    pub fn new(doc: &'a Value) -> Self {
        Self { doc }
    }

    pub fn at(&self, pointer: &str) -> Option<&'a Value> {
        self.doc.pointer(pointer)
    }

    pub fn object(&self, pointer: &str) -> Result<&'a Map<String, Value>> {
        self.at(pointer)
            .and_then(Value::as_object)
            .ok_or_else(|| unsupported(pointer, "expected an object here"))
    }

    /// Follows a local `$ref` (once or repeatedly); returns the target and its pointer.
    pub fn resolve(&self, value: &'a Value, pointer: &str) -> Result<(&'a Value, String)> {
        let mut value = value;
        let mut pointer = pointer.to_string();
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            let target = reference.strip_prefix('#').ok_or_else(|| {
                unsupported(
                    &pointer,
                    "only local `$ref`s (starting with #) are supported",
                )
            })?;
            value = self.at(target).ok_or_else(|| {
                unsupported(&pointer, format!("`$ref` {reference} points nowhere"))
            })?;
            pointer = target.to_string();
        }
        Ok((value, pointer))
    }

    /// The component schema name a `$ref` points to.
    pub fn schema_ref_name<'v>(&self, value: &'v Value, pointer: &str) -> Result<Option<&'v str>> {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Ok(None);
        };
        let name = reference
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| {
                unsupported(
                    pointer,
                    "a schema `$ref` must point into #/components/schemas",
                )
            })?;
        if self
            .at(&format!("/components/schemas/{}", segment(name)))
            .is_none()
        {
            return Err(unsupported(
                pointer,
                format!("no component schema named {name}"),
            ));
        }
        Ok(Some(name))
    }

    pub fn schema(&self, name: &str) -> Result<&'a Value> {
        let pointer = format!("/components/schemas/{}", segment(name));
        self.at(&pointer)
            .ok_or_else(|| unsupported(&pointer, "no such component schema"))
    }

    pub fn schema_kind(&self, name: &str) -> Result<SchemaKind<'a>> {
        let pointer = format!("/components/schemas/{}", segment(name));
        let schema = self.schema(name)?;
        if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
            let discriminator = schema.get("discriminator").ok_or_else(|| {
                unsupported(
                    &pointer,
                    "a `oneOf` component schema needs a `discriminator`",
                )
            })?;
            let property = discriminator
                .get("propertyName")
                .and_then(Value::as_str)
                .ok_or_else(|| unsupported(&pointer, "discriminator without propertyName"))?;
            let mapping = discriminator
                .get("mapping")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    unsupported(&pointer, "the discriminator needs an explicit `mapping`")
                })?;
            let mut pairs = Vec::new();
            for (tag, target) in mapping {
                let target = target
                    .as_str()
                    .and_then(|target| target.strip_prefix("#/components/schemas/"))
                    .ok_or_else(|| {
                        unsupported(
                            &pointer,
                            format!("mapping `{tag}` must name a component schema"),
                        )
                    })?;
                pairs.push((tag.as_str(), target));
            }
            if pairs.len() != variants.len() {
                return Err(unsupported(
                    &pointer,
                    "every `oneOf` variant needs exactly one mapping entry",
                ));
            }
            return Ok(SchemaKind::Union {
                property,
                variants: pairs,
            });
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("string") => {
                let values = schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .ok_or_else(|| {
                        unsupported(&pointer, "a string component schema must be an `enum`")
                    })?;
                let values = values
                    .iter()
                    .map(|value| {
                        value
                            .as_str()
                            .ok_or_else(|| unsupported(&pointer, "enum values must be strings"))
                    })
                    .collect::<Result<_>>()?;
                Ok(SchemaKind::Enum(values))
            }
            Some("object") => {
                match (schema.get("properties"), schema.get("additionalProperties")) {
                    (Some(Value::Object(properties)), _) => Ok(SchemaKind::Object(properties)),
                    (None, Some(values @ Value::Object(_))) => Ok(SchemaKind::Map(values)),
                    _ => Err(unsupported(
                        &pointer,
                        "an object schema needs `properties`, or `additionalProperties` with a schema",
                    )),
                }
            }
            _ => Err(unsupported(
                &pointer,
                "a component schema must be an object, a string enum or a discriminated oneOf",
            )),
        }
    }
}
