//! Component schemas to poem-openapi `Object`, `Enum` and `Union` types.

use std::collections::HashMap;
use std::fmt::Write;

use anyhow::Result;
use serde_json::Value;

use super::names::{doc, literal, pascal, snake};
use super::spec::{SchemaKind, Spec, segment, unsupported};

/// A Rust type for a schema used in a field or parameter.
pub struct RustType {
    pub ty: String,
    pub nullable: bool,
    /// poem-openapi validator arguments (`max_length = 10`, …).
    pub validators: Vec<String>,
}

impl RustType {
    fn plain(ty: &str) -> Self {
        Self {
            ty: ty.to_string(),
            nullable: false,
            validators: Vec::new(),
        }
    }

    /// The `validator(...)` attribute argument, if any.
    pub fn validator_attr(&self) -> Option<String> {
        (!self.validators.is_empty()).then(|| format!("validator({})", self.validators.join(", ")))
    }
}

/// Writes the component types to `out` and their default-value functions to `defaults`.
pub fn generate(spec: &Spec, out: &mut String, defaults: &mut String) -> Result<()> {
    let schemas = spec.object("/components/schemas")?;
    let variants = union_variants(spec)?;
    for name in schemas.keys() {
        let pointer = format!("/components/schemas/{}", segment(name));
        let schema = spec.schema(name)?;
        check_name(name, &pointer)?;
        match spec.schema_kind(name)? {
            SchemaKind::Object(properties) => object(
                spec,
                name,
                schema,
                properties,
                variants.get(name.as_str()).copied(),
                out,
                defaults,
            )?,
            SchemaKind::Enum(values) => enumeration(spec, name, schema, &values, out)?,
            SchemaKind::Union { property, variants } => {
                union(name, schema, property, &variants, out)
            }
            SchemaKind::Map(values) => {
                let value =
                    property_type(spec, values, &format!("{pointer}/additionalProperties"))?;
                out.push_str(&doc(description(schema)));
                writeln!(
                    out,
                    "pub type {name} = std::collections::BTreeMap<String, {}>;\n",
                    value.ty
                )?;
            }
        }
    }
    Ok(())
}

fn check_name(name: &str, pointer: &str) -> Result<()> {
    if pascal(name) != name {
        return Err(unsupported(
            pointer,
            format!("component schema names are PascalCase (`{}`)", pascal(name)),
        ));
    }
    Ok(())
}

fn description(schema: &Value) -> Option<&str> {
    schema.get("description").and_then(Value::as_str)
}

/// Object schemas that are variants of a discriminated union, with the discriminator property that
/// poem-openapi adds to them itself (so the Rust struct must not have it).
fn union_variants<'a>(spec: &Spec<'a>) -> Result<HashMap<&'a str, &'a str>> {
    let mut variants = HashMap::new();
    for name in spec.object("/components/schemas")?.keys() {
        if let SchemaKind::Union {
            property,
            variants: pairs,
        } = spec.schema_kind(name)?
        {
            for (tag, variant) in pairs {
                let pointer = format!("/components/schemas/{}", segment(variant));
                let constant = spec
                    .schema(variant)?
                    .pointer(&format!("/properties/{}/const", segment(property)))
                    .and_then(Value::as_str);
                if constant != Some(tag) {
                    return Err(unsupported(
                        &pointer,
                        format!("a `{name}` variant must declare `{property}` with `const: {tag}`"),
                    ));
                }
                variants.insert(variant, property);
            }
        }
    }
    Ok(variants)
}

fn object(
    spec: &Spec,
    name: &str,
    schema: &Value,
    properties: &serde_json::Map<String, Value>,
    discriminator: Option<&str>,
    out: &mut String,
    defaults: &mut String,
) -> Result<()> {
    let pointer = format!("/components/schemas/{}", segment(name));
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let deny_unknown = match schema.get("additionalProperties") {
        None | Some(Value::Bool(true)) => false,
        Some(Value::Bool(false)) => true,
        Some(_) => {
            return Err(unsupported(
                &pointer,
                "an object with properties takes `additionalProperties: false` or nothing",
            ));
        }
    };
    out.push_str(&doc(description(schema)));
    out.push_str("#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]\n");
    // A union variant sees its discriminator as an unknown field; the spec's own validation (which
    // runs first) still refuses unknown fields in it.
    if deny_unknown && discriminator.is_none() {
        out.push_str("#[oai(deny_unknown_fields)]\n");
    }
    writeln!(out, "pub struct {name} {{")?;
    for (property, property_schema) in properties {
        if Some(property.as_str()) == discriminator {
            continue;
        }
        let property_pointer = format!("{pointer}/properties/{}", segment(property));
        let field = snake(property);
        let ty = property_type(spec, property_schema, &property_pointer)?;
        let mut attrs = vec![format!("rename = {}", literal(property))];
        let is_required = required.contains(&property.as_str());
        let default = default_value(spec, property_schema, &ty, &property_pointer)?;
        let rust_ty = match (is_required, ty.nullable, &default) {
            (true, false, _) => ty.ty.clone(),
            (true, true, _) => format!("Option<{}>", ty.ty),
            (false, _, Some(value)) => {
                let function = format!(
                    "default_{}_{}",
                    snake(name).trim_start_matches("r#"),
                    field.trim_start_matches("r#")
                );
                writeln!(defaults, "pub fn {function}() -> {} {{ {value} }}", ty.ty)?;
                attrs.push(format!("default = \"{function}\""));
                ty.ty.clone()
            }
            (false, false, None) => {
                attrs.push("skip_serializing_if_is_none".to_string());
                format!("Option<{}>", ty.ty)
            }
            // Absent and `null` mean different things in an update (keep, clear).
            (false, true, None) => format!("poem_openapi::types::MaybeUndefined<{}>", ty.ty),
        };
        attrs.extend(ty.validator_attr());
        out.push_str(&doc(description(property_schema)));
        writeln!(out, "#[oai({})]", attrs.join(", "))?;
        writeln!(out, "pub {field}: {rust_ty},")?;
    }
    out.push_str("}\n\n");
    Ok(())
}

/// The Rust expression for a property's `default`, if it has one.
pub fn default_value(
    spec: &Spec,
    schema: &Value,
    ty: &RustType,
    pointer: &str,
) -> Result<Option<String>> {
    let Some(default) = schema.get("default") else {
        return Ok(None);
    };
    if let Some(name) = spec.schema_ref_name(schema, pointer)? {
        return match (spec.schema_kind(name)?, default.as_str()) {
            (SchemaKind::Enum(values), Some(value)) if values.contains(&value) => {
                Ok(Some(format!("{name}::{}", pascal(value))))
            }
            _ => Err(unsupported(
                pointer,
                "a default next to a `$ref` must be one of the enum's values",
            )),
        };
    }
    let expression = match (ty.ty.as_str(), default) {
        ("String", Value::String(text)) => format!("{}.to_string()", literal(text)),
        ("i32" | "i64", Value::Number(number)) if number.is_i64() => number.to_string(),
        ("f64", Value::Number(number)) => format!("{:?}", number.as_f64().unwrap_or_default()),
        ("bool", Value::Bool(flag)) => flag.to_string(),
        _ => return Err(unsupported(pointer, "unsupported `default` for this type")),
    };
    Ok(Some(expression))
}

/// The Rust type of a property or parameter schema.
pub fn property_type(spec: &Spec, schema: &Value, pointer: &str) -> Result<RustType> {
    if let Some(name) = spec.schema_ref_name(schema, pointer)? {
        if let SchemaKind::Map(_) = spec.schema_kind(name)? {
            let map = spec.schema(name)?;
            let mut ty = RustType::plain(name);
            push_usize(&mut ty.validators, map, "maxProperties", "max_properties");
            push_usize(&mut ty.validators, map, "minProperties", "min_properties");
            return Ok(ty);
        }
        return Ok(RustType::plain(name));
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let not_null: Vec<&Value> = options
            .iter()
            .filter(|option| !is_null_schema(option))
            .collect();
        if options.len() == 2 && not_null.len() == 1 {
            let mut inner = property_type(spec, not_null[0], &format!("{pointer}/oneOf/0"))?;
            inner.nullable = true;
            return Ok(inner);
        }
        return Err(unsupported(
            pointer,
            "an inline `oneOf` may only make a `$ref` nullable",
        ));
    }
    let (kind, nullable) = match schema.get("type") {
        Some(Value::String(kind)) => (kind.as_str(), false),
        Some(Value::Array(kinds)) => {
            let kinds: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
            match kinds.as_slice() {
                [kind, "null"] | ["null", kind] => (*kind, true),
                _ => {
                    return Err(unsupported(
                        pointer,
                        "a type list must be one type and \"null\"",
                    ));
                }
            }
        }
        _ => {
            return Err(unsupported(
                pointer,
                "a schema here needs a `type` or a `$ref`",
            ));
        }
    };
    let mut ty = match kind {
        "string" => string_type(schema, pointer)?,
        "integer" => {
            let rust = if schema.get("format").and_then(Value::as_str) == Some("int32") {
                "i32"
            } else {
                "i64"
            };
            number_type(rust, schema)
        }
        "number" => number_type("f64", schema),
        "boolean" => RustType::plain("bool"),
        "array" => {
            let items = schema
                .get("items")
                .ok_or_else(|| unsupported(pointer, "an array needs `items`"))?;
            let item = property_type(spec, items, &format!("{pointer}/items"))?;
            if item.nullable {
                return Err(unsupported(
                    pointer,
                    "nullable array items are not supported",
                ));
            }
            let mut ty = RustType::plain(&format!("Vec<{}>", item.ty));
            ty.validators = item.validators;
            push_usize(&mut ty.validators, schema, "maxItems", "max_items");
            push_usize(&mut ty.validators, schema, "minItems", "min_items");
            if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
                ty.validators.push("unique_items = true".to_string());
            }
            ty
        }
        "object" => {
            return Err(unsupported(
                pointer,
                "inline objects are not supported: name it in #/components/schemas",
            ));
        }
        other => {
            return Err(unsupported(
                pointer,
                format!("type `{other}` is not supported"),
            ));
        }
    };
    ty.nullable = nullable;
    Ok(ty)
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

fn string_type(schema: &Value, pointer: &str) -> Result<RustType> {
    if schema.get("enum").is_some() {
        return Err(unsupported(
            pointer,
            "inline enums are not supported: name it in #/components/schemas",
        ));
    }
    let mut ty = match (
        schema.get("format").and_then(Value::as_str),
        schema.get("const"),
    ) {
        // A timestamp's syntax is its bound: the parser refuses anything else.
        (Some("date-time"), _) => return Ok(RustType::plain("chrono::DateTime<chrono::Utc>")),
        // poem-openapi cannot express `const`: the server writes the one value itself.
        (_, Some(Value::String(_))) => return Ok(RustType::plain("String")),
        (_, Some(_)) => return Err(unsupported(pointer, "only string `const`s are supported")),
        _ => RustType::plain("String"),
    };
    push_usize(&mut ty.validators, schema, "maxLength", "max_length");
    push_usize(&mut ty.validators, schema, "minLength", "min_length");
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        ty.validators
            .push(format!("pattern = {}", literal(pattern)));
    }
    Ok(ty)
}

fn number_type(rust: &str, schema: &Value) -> RustType {
    let mut ty = RustType::plain(rust);
    for (keyword, validator) in [("maximum", "maximum"), ("minimum", "minimum")] {
        if let Some(bound) = schema.get(keyword).and_then(Value::as_f64) {
            ty.validators
                .push(format!("{validator}(value = \"{bound}\")"));
        }
    }
    ty
}

fn push_usize(validators: &mut Vec<String>, schema: &Value, keyword: &str, validator: &str) {
    if let Some(bound) = schema.get(keyword).and_then(Value::as_u64) {
        validators.push(format!("{validator} = {bound}"));
    }
}

fn enumeration(
    spec: &Spec,
    name: &str,
    schema: &Value,
    values: &[&str],
    out: &mut String,
) -> Result<()> {
    // The OAuth scopes enum is also the `Scope` schema: one type for both.
    let scopes = super::operations::oauth_scopes(spec)?;
    let is_scopes = !scopes.is_empty()
        && scopes
            .iter()
            .map(|(scope, _)| *scope)
            .eq(values.iter().copied());
    if name == super::operations::SCOPE_TYPE && !is_scopes {
        return Err(unsupported(
            &format!("/components/schemas/{name}"),
            "the `Scope` schema must list exactly the oauth2 scopes, in the same order",
        ));
    }
    out.push_str(&doc(description(schema)));
    out.push_str("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, poem_openapi::Enum");
    out.push_str(if is_scopes {
        ", poem_openapi::OAuthScopes)]\n"
    } else {
        ")]\n"
    });
    // With the `sea-orm` feature an enum is also a column type, kept as its wire string, so the
    // store holds the API's values rather than strings that each reader parses again.
    out.push_str(
        "#[cfg_attr(feature = \"sea-orm\", derive(sea_orm::DeriveValueType), sea_orm(value_type = \"String\"))]\n",
    );
    let variants = variant_names(name, schema, values)?;
    writeln!(out, "pub enum {name} {{")?;
    for (index, value) in values.iter().enumerate() {
        if is_scopes {
            out.push_str(&doc(Some(scopes[index].1)));
        }
        writeln!(
            out,
            "#[oai(rename = {})]\n{},",
            literal(value),
            variants[index]
        )?;
    }
    out.push_str("}\n\n");
    writeln!(out, "impl {name} {{")?;
    writeln!(
        out,
        "pub const ALL: &[Self] = &[{}];",
        variants
            .iter()
            .map(|variant| format!("Self::{variant}"))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    out.push_str("/// The value as it appears on the wire.\n");
    out.push_str("pub const fn as_str(self) -> &'static str {\nmatch self {\n");
    for (variant, value) in variants.iter().zip(values) {
        writeln!(out, "Self::{variant} => {},", literal(value))?;
    }
    out.push_str("}\n}\n");
    if is_scopes {
        // What the consent page tells a workspace admin an app is asking for.
        out.push_str("/// What the scope allows, in words (the oauth2 scheme's description).\n");
        out.push_str("pub const fn description(self) -> &'static str {\nmatch self {\n");
        for (variant, (_, description)) in variants.iter().zip(&scopes) {
            writeln!(out, "Self::{variant} => {},", literal(description))?;
        }
        out.push_str("}\n}\n");
    }
    out.push_str("}\n\n");
    writeln!(
        out,
        "impl std::fmt::Display for {name} {{\nfn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{\nf.write_str(self.as_str())\n}}\n}}\n"
    )?;
    writeln!(
        out,
        "impl std::str::FromStr for {name} {{\ntype Err = UnknownValue;\nfn from_str(value: &str) -> Result<Self, Self::Err> {{\nSelf::ALL.iter().copied().find(|item| item.as_str() == value).ok_or_else(|| UnknownValue(value.to_string()))\n}}\n}}\n"
    )?;
    Ok(())
}

/// The Rust names of an enum's values: `x-enum-varnames` when the spec gives them (for values with no
/// letters, such as `*`; openapi-generator reads the same extension), else the values in PascalCase.
fn variant_names(name: &str, schema: &Value, values: &[&str]) -> Result<Vec<String>> {
    let pointer = format!("/components/schemas/{name}");
    let Some(names) = schema.get("x-enum-varnames") else {
        return values
            .iter()
            .map(|value| match pascal(value) {
                variant if variant.is_empty() => Err(unsupported(
                    &pointer,
                    format!("the value {value:?} needs a name in `x-enum-varnames`"),
                )),
                variant => Ok(variant),
            })
            .collect();
    };
    let names: Option<Vec<String>> = names
        .as_array()
        .map(|names| names.iter().map(|name| name.as_str().map(pascal)).collect())
        .unwrap_or_default();
    match names {
        Some(names) if names.len() == values.len() && names.iter().all(|name| !name.is_empty()) => {
            Ok(names)
        }
        _ => Err(unsupported(
            &pointer,
            "`x-enum-varnames` must name every value of `enum`, in order",
        )),
    }
}

fn union(name: &str, schema: &Value, property: &str, variants: &[(&str, &str)], out: &mut String) {
    out.push_str(&doc(description(schema)));
    out.push_str("#[derive(Debug, Clone, PartialEq, poem_openapi::Union)]\n");
    out.push_str(&format!(
        "#[oai(discriminator_name = {}, one_of)]\n",
        literal(property)
    ));
    out.push_str(&format!("pub enum {name} {{\n"));
    for (tag, variant) in variants {
        out.push_str(&format!(
            "#[oai(mapping = {})]\n{variant}({variant}),\n",
            literal(tag)
        ));
    }
    out.push_str("}\n\n");
}
