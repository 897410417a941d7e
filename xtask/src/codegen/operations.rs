//! Operations to poem-openapi: one `ApiResponse` enum and one parameters struct per operation, the
//! `Handlers` trait the server implements, the `#[OpenApi]` router that calls it, security schemes,
//! tags, a table of operations for the middleware, and the webhooks.

use std::fmt::Write;

use anyhow::Result;
use serde_json::Value;

use super::names::{doc, literal, pascal, snake};
use super::schemas::{RustType, default_value, property_type};
use super::spec::{Spec, segment, unsupported};

/// The Rust type of the OAuth scopes (it is also the `Scope` component schema, when there is one).
pub const SCOPE_TYPE: &str = "Scope";
/// The security scheme of the deployment's operator, for the operations no workspace owns: they
/// name it alone, without scopes, and their handlers get the operator's context.
const OPERATOR_SCHEME: &str = "operatorKey";

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

struct Operation<'a> {
    path: &'a str,
    method: &'a str,
    id: &'a str,
    summary: Option<&'a str>,
    description: Option<&'a str>,
    tags: Vec<&'a str>,
    access: Access<'a>,
    params: Vec<Param<'a>>,
    body: Option<&'a str>,
    responses: Vec<Response<'a>>,
}

struct Param<'a> {
    name: &'a str,
    location: &'a str,
    ty: RustType,
    required: bool,
    default: Option<String>,
}

struct Response<'a> {
    status: u16,
    description: Option<&'a str>,
    content_type: Option<&'a str>,
    schema: Option<&'a str>,
    headers: Vec<(&'a str, &'static str, Option<&'a str>)>,
}

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq)]
enum Access<'a> {
    /// `security: []`.
    Public,
    /// A workspace's token with this scope (an API key or an OAuth access token).
    Scope(&'a str),
    /// The deployment's operator.
    Operator,
}

impl Operation<'_> {
    fn fn_name(&self) -> String {
        snake(self.id)
    }

    fn type_prefix(&self) -> String {
        pascal(self.id)
    }

    fn params_type(&self) -> Option<String> {
        (!self.params.is_empty()).then(|| format!("{}Params", self.type_prefix()))
    }
}

/// The scopes of the `oauth2` security scheme's authorization-code flow, with their descriptions.
pub fn oauth_scopes<'a>(spec: &Spec<'a>) -> Result<Vec<(&'a str, &'a str)>> {
    let Some(schemes) = spec
        .at("/components/securitySchemes")
        .and_then(Value::as_object)
    else {
        return Ok(Vec::new());
    };
    for scheme in schemes.values() {
        if let Some(scopes) = scheme
            .pointer("/flows/authorizationCode/scopes")
            .and_then(Value::as_object)
        {
            return Ok(scopes
                .iter()
                .map(|(scope, description)| {
                    (scope.as_str(), description.as_str().unwrap_or_default())
                })
                .collect());
        }
    }
    Ok(Vec::new())
}

pub fn generate(spec: &Spec, out: &mut String, defaults: &mut String) -> Result<()> {
    let operations = operations(spec, defaults)?;
    tags(spec, out)?;
    security_schemes(spec, out)?;
    for operation in &operations {
        params_struct(operation, out)?;
        response_enum(operation, out)?;
    }
    handlers_trait(&operations, out)?;
    router(spec, &operations, out)?;
    operation_table(&operations, out)?;
    webhooks(spec, out)?;
    Ok(())
}

fn operations<'a>(spec: &Spec<'a>, defaults: &mut String) -> Result<Vec<Operation<'a>>> {
    let mut operations = Vec::new();
    for (path, item) in spec.object("/paths")? {
        let item_pointer = format!("/paths/{}", segment(path));
        for (key, _) in item.as_object().into_iter().flatten() {
            if !METHODS.contains(&key.as_str()) {
                return Err(unsupported(
                    &item_pointer,
                    format!("`{key}` in a path item is not supported"),
                ));
            }
        }
        for method in METHODS {
            if item.get(method).is_some() {
                operations.push(operation(
                    spec,
                    path,
                    method,
                    &format!("{item_pointer}/{method}"),
                    defaults,
                )?);
            }
        }
    }
    Ok(operations)
}

fn operation<'a>(
    spec: &Spec<'a>,
    path: &'a str,
    method: &'a str,
    pointer: &str,
    defaults: &mut String,
) -> Result<Operation<'a>> {
    let op = spec.at(pointer).expect("the caller saw it");
    let text = |key: &str| op.get(key).and_then(Value::as_str);
    let id = text("operationId")
        .ok_or_else(|| unsupported(pointer, "every operation needs an operationId"))?;
    let tags: Vec<&str> = op
        .get("tags")
        .and_then(Value::as_array)
        .map(|tags| tags.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if tags.is_empty() {
        return Err(unsupported(
            pointer,
            "every operation needs a tag (it names the handler trait)",
        ));
    }
    let mut params = Vec::new();
    for (index, param) in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let (param, param_pointer) =
            spec.resolve(param, &format!("{pointer}/parameters/{index}"))?;
        params.push(parameter(spec, param, &param_pointer, id, defaults)?);
    }
    let body = match op.get("requestBody") {
        None => None,
        Some(body) => {
            let (body, body_pointer) = spec.resolve(body, &format!("{pointer}/requestBody"))?;
            if body.get("required") != Some(&Value::Bool(true)) {
                return Err(unsupported(
                    &body_pointer,
                    "request bodies must be `required: true`",
                ));
            }
            let schema = body
                .pointer("/content/application~1json/schema")
                .filter(|_| {
                    body.get("content")
                        .and_then(Value::as_object)
                        .is_some_and(|c| c.len() == 1)
                })
                .ok_or_else(|| {
                    unsupported(
                        &body_pointer,
                        "a request body has exactly one media type, application/json",
                    )
                })?;
            Some(
                spec.schema_ref_name(schema, &body_pointer)?
                    .ok_or_else(|| {
                        unsupported(&body_pointer, "a request body schema must be a `$ref`")
                    })?,
            )
        }
    };
    let mut responses = Vec::new();
    for (status, response) in op
        .get("responses")
        .and_then(Value::as_object)
        .ok_or_else(|| unsupported(pointer, "an operation needs `responses`"))?
    {
        let response_pointer = format!("{pointer}/responses/{status}");
        let status: u16 = status.parse().map_err(|_| {
            unsupported(&response_pointer, "only numeric status codes are supported")
        })?;
        let (response, response_pointer) = spec.resolve(response, &response_pointer)?;
        responses.push(self::response(spec, status, response, &response_pointer)?);
    }
    Ok(Operation {
        path,
        method,
        id,
        summary: text("summary"),
        description: text("description"),
        tags,
        access: access(op, pointer)?,
        params,
        body,
        responses,
    })
}

/// Who may call an operation: nobody in particular (`security: []`), the operator (its scheme
/// alone, no scopes), or a workspace token with the one scope every alternative names.
fn access<'a>(op: &'a Value, pointer: &str) -> Result<Access<'a>> {
    let requirements = op
        .get("security")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            unsupported(
                pointer,
                "every operation declares its `security` (`[]` for none)",
            )
        })?;
    if requirements.is_empty() {
        return Ok(Access::Public);
    }
    let names_operator = |requirement: &Value| {
        requirement
            .as_object()
            .is_some_and(|r| r.contains_key(OPERATOR_SCHEME))
    };
    if requirements.iter().any(names_operator) {
        let only = requirements.len() == 1
            && requirements[0].as_object().is_some_and(|r| r.len() == 1)
            && requirements[0][OPERATOR_SCHEME]
                .as_array()
                .is_some_and(Vec::is_empty);
        if !only {
            return Err(unsupported(
                pointer,
                "an operator operation names the operator scheme alone, without scopes",
            ));
        }
        return Ok(Access::Operator);
    }
    let mut scope = None;
    for requirement in requirements {
        for scopes in requirement.as_object().into_iter().flat_map(|r| r.values()) {
            match scopes.as_array().map(Vec::as_slice) {
                Some([Value::String(one)]) if scope.is_none_or(|seen| seen == one) => {
                    scope = Some(one.as_str())
                }
                _ => {
                    return Err(unsupported(
                        pointer,
                        "every security alternative names the same single scope",
                    ));
                }
            }
        }
    }
    scope
        .map(Access::Scope)
        .ok_or_else(|| unsupported(pointer, "a secured operation names its scope"))
}

fn parameter<'a>(
    spec: &Spec<'a>,
    param: &'a Value,
    pointer: &str,
    operation_id: &str,
    defaults: &mut String,
) -> Result<Param<'a>> {
    let name = param
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| unsupported(pointer, "a parameter needs a name"))?;
    let location = param.get("in").and_then(Value::as_str).unwrap_or_default();
    if !["path", "query", "header"].contains(&location) {
        return Err(unsupported(
            pointer,
            "parameters are in path, query or header",
        ));
    }
    let schema = param
        .get("schema")
        .ok_or_else(|| unsupported(pointer, "a parameter needs a schema"))?;
    let ty = property_type(spec, schema, &format!("{pointer}/schema"))?;
    if ty.nullable || ty.ty.starts_with("Vec<") {
        return Err(unsupported(
            pointer,
            "nullable and array parameters are not supported",
        ));
    }
    let required = param.get("required") == Some(&Value::Bool(true));
    if location == "path" && !required {
        return Err(unsupported(pointer, "path parameters are required"));
    }
    let default = match default_value(spec, schema, &ty, &format!("{pointer}/schema"))? {
        Some(value) => {
            let function = format!(
                "default_{}_{}",
                snake(operation_id),
                snake(name).trim_start_matches("r#")
            );
            writeln!(defaults, "pub fn {function}() -> {} {{ {value} }}", ty.ty)?;
            Some(function)
        }
        None => None,
    };
    Ok(Param {
        name,
        location,
        ty,
        required,
        default,
    })
}

fn response<'a>(
    spec: &Spec<'a>,
    status: u16,
    response: &'a Value,
    pointer: &str,
) -> Result<Response<'a>> {
    let (content_type, schema) = match response.get("content").and_then(Value::as_object) {
        None => (None, None),
        Some(content) if content.len() == 1 => {
            let (content_type, media) = content.iter().next().expect("one entry");
            let media_pointer = format!("{pointer}/content/{}", segment(content_type));
            let schema = media.get("schema").ok_or_else(|| {
                unsupported(&media_pointer, "a response media type needs a schema")
            })?;
            let name = spec
                .schema_ref_name(schema, &media_pointer)?
                .ok_or_else(|| unsupported(&media_pointer, "a response schema must be a `$ref`"))?;
            if !content_type.ends_with("json") {
                return Err(unsupported(
                    &media_pointer,
                    "responses are JSON (application/json or application/*+json)",
                ));
            }
            (Some(content_type.as_str()), Some(name))
        }
        Some(_) => {
            return Err(unsupported(
                pointer,
                "a response has at most one media type",
            ));
        }
    };
    let mut headers = Vec::new();
    for (name, header) in response
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let header_pointer = format!("{pointer}/headers/{}", segment(name));
        let (header, header_pointer) = spec.resolve(header, &header_pointer)?;
        let ty = match header.pointer("/schema/type").and_then(Value::as_str) {
            Some("string") => "String",
            Some("integer") => "i64",
            Some("boolean") => "bool",
            _ => {
                return Err(unsupported(
                    &header_pointer,
                    "a header's schema is a string, integer or boolean",
                ));
            }
        };
        headers.push((
            name.as_str(),
            ty,
            header.get("description").and_then(Value::as_str),
        ));
    }
    Ok(Response {
        status,
        description: response.get("description").and_then(Value::as_str),
        content_type,
        schema,
        headers,
    })
}

fn tags(spec: &Spec, out: &mut String) -> Result<()> {
    out.push_str(
        "/// The tags operations are grouped by.\n#[derive(poem_openapi::Tags)]\npub enum Tag {\n",
    );
    for tag in spec
        .at("/tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = tag
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| unsupported("/tags", "a tag needs a name"))?;
        out.push_str(&doc(tag.get("description").and_then(Value::as_str)));
        writeln!(out, "#[oai(rename = {})]\n{},", literal(name), pascal(name))?;
    }
    out.push_str("}\n\n");
    Ok(())
}

fn security_schemes(spec: &Spec, out: &mut String) -> Result<()> {
    let schemes = spec.object("/components/securitySchemes")?;
    let mut variants = Vec::new();
    for (name, scheme) in schemes {
        let pointer = format!("/components/securitySchemes/{}", segment(name));
        let ty = pascal(name);
        let mut args = vec![format!("rename = {}", literal(name))];
        match (
            scheme.get("type").and_then(Value::as_str),
            scheme.get("scheme").and_then(Value::as_str),
        ) {
            (Some("http"), Some("bearer")) => {
                args.push("ty = \"bearer\"".to_string());
                if let Some(format) = scheme.get("bearerFormat").and_then(Value::as_str) {
                    args.push(format!("bearer_format = {}", literal(format)));
                }
            }
            (Some("oauth2"), _) => {
                let flow = scheme.pointer("/flows/authorizationCode").ok_or_else(|| {
                    unsupported(&pointer, "only the authorizationCode flow is supported")
                })?;
                let url = |key: &str| {
                    flow.get(key)
                        .and_then(Value::as_str)
                        .map(|url| format!("{} = {}", snake(key), literal(url)))
                };
                let urls: Vec<String> = ["authorizationUrl", "tokenUrl", "refreshUrl"]
                    .iter()
                    .filter_map(|key| url(key))
                    .collect();
                args.push("ty = \"oauth2\"".to_string());
                args.push(format!(
                    "flows(authorization_code({}, scopes = \"{SCOPE_TYPE}\"))",
                    urls.join(", ")
                ));
            }
            _ => {
                return Err(unsupported(
                    &pointer,
                    "security schemes are HTTP bearer or oauth2",
                ));
            }
        }
        out.push_str(&doc(scheme.get("description").and_then(Value::as_str)));
        writeln!(
            out,
            "#[derive(poem_openapi::SecurityScheme)]\n#[oai({})]\npub struct {ty}(pub poem_openapi::auth::Bearer);\n",
            args.join(", ")
        )?;
        if name != OPERATOR_SCHEME {
            variants.push(ty);
        }
    }
    out.push_str("/// Any of the workspace security schemes: each carries a bearer token.\n");
    out.push_str("#[derive(poem_openapi::SecurityScheme)]\npub enum Auth {\n");
    for variant in &variants {
        writeln!(out, "{variant}({variant}),")?;
    }
    out.push_str("}\n\nimpl Auth {\n/// The bearer token, whichever scheme carried it.\npub fn token(&self) -> &str {\nmatch self {\n");
    for variant in &variants {
        writeln!(out, "Self::{variant}(scheme) => &scheme.0.token,")?;
    }
    out.push_str("}\n}\n}\n\n");
    Ok(())
}

fn params_struct(operation: &Operation, out: &mut String) -> Result<()> {
    let Some(name) = operation.params_type() else {
        return Ok(());
    };
    writeln!(
        out,
        "/// The parameters of `{}`.\n#[derive(Debug, Clone, PartialEq)]\npub struct {name} {{",
        operation.id
    )?;
    for param in &operation.params {
        writeln!(out, "pub {}: {},", snake(param.name), param_type(param))?;
    }
    out.push_str("}\n\n");
    Ok(())
}

fn param_type(param: &Param) -> String {
    if param.required || param.default.is_some() {
        param.ty.ty.clone()
    } else {
        format!("Option<{}>", param.ty.ty)
    }
}

fn variant_name(status: u16) -> String {
    match status {
        200 => "Ok".into(),
        201 => "Created".into(),
        202 => "Accepted".into(),
        204 => "NoContent".into(),
        400 => "BadRequest".into(),
        401 => "Unauthorized".into(),
        403 => "Forbidden".into(),
        404 => "NotFound".into(),
        409 => "Conflict".into(),
        413 => "PayloadTooLarge".into(),
        415 => "UnsupportedMediaType".into(),
        422 => "UnprocessableContent".into(),
        429 => "TooManyRequests".into(),
        500 => "InternalServerError".into(),
        503 => "ServiceUnavailable".into(),
        other => format!("Status{other}"),
    }
}

fn response_enum(operation: &Operation, out: &mut String) -> Result<()> {
    writeln!(
        out,
        "/// The responses of `{}`.\n#[derive(Debug, poem_openapi::ApiResponse)]\npub enum {}Response {{",
        operation.id,
        operation.type_prefix()
    )?;
    for response in &operation.responses {
        let mut args = vec![format!("status = {}", response.status)];
        if let Some(content_type) = response.content_type.filter(|ct| *ct != "application/json") {
            args.push(format!("content_type = {}", literal(content_type)));
        }
        for (name, ty, description) in &response.headers {
            let mut header = format!("name = {}, ty = \"{ty}\"", literal(name));
            if let Some(description) = description {
                write!(header, ", description = {}", literal(description.trim()))?;
            }
            args.push(format!("header({header})"));
        }
        out.push_str(&doc(response.description));
        writeln!(out, "#[oai({})]", args.join(", "))?;
        match response.schema {
            Some(schema) => writeln!(
                out,
                "{}(poem_openapi::payload::Json<{schema}>),",
                variant_name(response.status)
            )?,
            None => writeln!(out, "{},", variant_name(response.status))?,
        }
    }
    out.push_str("}\n\n");
    Ok(())
}

fn handler_args(operation: &Operation) -> Vec<String> {
    let mut args = Vec::new();
    match operation.access {
        Access::Scope(_) => args.push("ctx: Self::Context".to_string()),
        Access::Operator => args.push("ctx: Self::OperatorContext".to_string()),
        Access::Public => {}
    }
    if let Some(params) = operation.params_type() {
        args.push(format!("params: {params}"));
    }
    if let Some(body) = operation.body {
        args.push(format!("body: {body}"));
    }
    args
}

fn handlers_trait(operations: &[Operation], out: &mut String) -> Result<()> {
    out.push_str(
        "/// How requests are authorized: the base of every `…Api` trait.\n\
         pub trait Security: Send + Sync + 'static {\n\
         /// What an authorized request carries into its handler (its workspace, for instance).\n\
         type Context: Send;\n\n\
         /// Resolves a bearer token to a context, or fails with 401 (unknown token) or 403 (no `scope`).\n\
         fn authorize(&self, request: &poem::Request, token: &str, scope: Scope) -> impl Future<Output = poem::Result<Self::Context>> + Send;\n\n\
         /// What an operator's request carries into its handler.\n\
         type OperatorContext: Send;\n\n\
         /// Resolves the operator's bearer token, or fails with 401.\n\
         fn authorize_operator(&self, request: &poem::Request, token: &str) -> impl Future<Output = poem::Result<Self::OperatorContext>> + Send;\n\
         }\n\n",
    );
    let mut traits: Vec<String> = Vec::new();
    for operation in operations {
        let name = trait_name(operation);
        if !traits.contains(&name) {
            traits.push(name);
        }
    }
    for name in &traits {
        writeln!(
            out,
            "/// The operations tagged `{}`: the server implements this trait, so a spec change it lags behind is a compile error.\npub trait {name}: Security {{",
            name.trim_end_matches("Api")
        )?;
        for operation in operations
            .iter()
            .filter(|operation| &trait_name(operation) == name)
        {
            out.push_str(&doc(operation.summary));
            let args = handler_args(operation);
            let args = if args.is_empty() {
                String::new()
            } else {
                format!(", {}", args.join(", "))
            };
            writeln!(
                out,
                "fn {}(&self{args}) -> impl Future<Output = poem::Result<{}Response>> + Send;\n",
                operation.fn_name(),
                operation.type_prefix()
            )?;
        }
        out.push_str("}\n\n");
    }
    let bounds = traits.join(" + ");
    writeln!(
        out,
        "/// The whole API: every `…Api` trait.\npub trait Handlers: Security + {bounds} {{}}\n\n\
         impl<T: Security + {bounds}> Handlers for T {{}}\n"
    )?;
    Ok(())
}

/// The handler trait an operation belongs to: one per tag (its first).
fn trait_name(operation: &Operation) -> String {
    format!(
        "{}Api",
        pascal(operation.tags.first().copied().unwrap_or("Default"))
    )
}

fn router(spec: &Spec, operations: &[Operation], out: &mut String) -> Result<()> {
    out.push_str(
        "/// The router: parses requests as the spec says and calls the [`Handlers`].\npub struct Api<H>(pub H);\n\n\
         #[poem_openapi::OpenApi]\nimpl<H: Handlers> Api<H> {\n",
    );
    for operation in operations {
        let poem_path = operation
            .path
            .split('/')
            .map(
                |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => format!(":{name}"),
                    None => part.to_string(),
                },
            )
            .collect::<Vec<_>>()
            .join("/");
        let mut attrs = vec![
            format!("path = {}", literal(&poem_path)),
            format!("method = \"{}\"", operation.method),
            format!("operation_id = {}", literal(operation.id)),
        ];
        for tag in &operation.tags {
            attrs.push(format!("tag = \"Tag::{}\"", pascal(tag)));
        }
        let summary = operation.summary.unwrap_or(operation.id);
        let text = match operation.description {
            Some(description) => format!("{summary}\n\n{description}"),
            None => summary.to_string(),
        };
        out.push_str(&doc(Some(&text)));
        writeln!(out, "#[oai({})]", attrs.join(", "))?;
        writeln!(out, "async fn {}(&self,", operation.fn_name())?;
        match operation.access {
            Access::Scope(scope) => writeln!(
                out,
                "request: &poem::Request,\n#[oai(scope = \"{SCOPE_TYPE}::{}\")] auth: Auth,",
                pascal(scope)
            )?,
            Access::Operator => writeln!(
                out,
                "request: &poem::Request,\nauth: {},",
                pascal(OPERATOR_SCHEME)
            )?,
            Access::Public => {}
        }
        for param in &operation.params {
            let mut param_attrs = vec![format!("name = {}", literal(param.name))];
            if let Some(function) = &param.default {
                param_attrs.push(format!("default = \"{function}\""));
            }
            param_attrs.extend(param.ty.validator_attr());
            let wrapper = match param.location {
                "path" => "Path",
                "query" => "Query",
                _ => "Header",
            };
            writeln!(
                out,
                "#[oai({})] {}: poem_openapi::param::{wrapper}<{}>,",
                param_attrs.join(", "),
                snake(param.name),
                param_type(param)
            )?;
        }
        if let Some(body) = operation.body {
            writeln!(out, "body: poem_openapi::payload::Json<{body}>,")?;
        }
        writeln!(
            out,
            ") -> poem::Result<{}Response> {{",
            operation.type_prefix()
        )?;
        let mut call = Vec::new();
        match operation.access {
            Access::Scope(scope) => writeln!(
                out,
                "let ctx = self.0.authorize(request, auth.token(), {SCOPE_TYPE}::{}).await?;",
                pascal(scope)
            )?,
            Access::Operator => writeln!(
                out,
                "let ctx = self.0.authorize_operator(request, &auth.0.token).await?;"
            )?,
            Access::Public => {}
        }
        if operation.access != Access::Public {
            call.push("ctx".to_string());
        }
        if let Some(params) = operation.params_type() {
            let fields: Vec<String> = operation
                .params
                .iter()
                .map(|param| format!("{}: {}.0", snake(param.name), snake(param.name)))
                .collect();
            call.push(format!("{params} {{ {} }}", fields.join(", ")));
        }
        if operation.body.is_some() {
            call.push("body.0".to_string());
        }
        writeln!(
            out,
            "self.0.{}({}).await\n}}\n",
            operation.fn_name(),
            call.join(", ")
        )?;
    }
    out.push_str("}\n\n");
    let title = spec
        .at("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("API");
    let version = spec
        .at("/info/version")
        .and_then(Value::as_str)
        .unwrap_or("0");
    writeln!(
        out,
        "/// The poem-openapi service for `handlers`, with the spec's title, version and webhooks.\n\
         pub fn service<H: Handlers>(handlers: H) -> poem_openapi::OpenApiService<Api<H>, AllWebhooks> {{\n\
         poem_openapi::OpenApiService::new(Api(handlers), {}, {}).webhooks::<AllWebhooks>()\n}}\n",
        literal(title),
        literal(version)
    )?;
    Ok(())
}

fn operation_table(operations: &[Operation], out: &mut String) -> Result<()> {
    out.push_str(
        "/// What the middleware needs to know about an operation, straight from the spec.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq)]\n\
         pub struct OperationInfo {\n\
         pub operation_id: &'static str,\n\
         /// Upper-case HTTP method.\n\
         pub method: &'static str,\n\
         /// The path template, as in the spec (`/v1/conversations/{conversationId}`).\n\
         pub path: &'static str,\n\
         /// Who may call it.\n\
         pub access: OperationAccess,\n\
         /// The component schema of the JSON request body, if the operation takes one.\n\
         pub request_body: Option<&'static str>,\n\
         }\n\n\
         /// Who may call an operation, as its `security` says.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq)]\n\
         pub enum OperationAccess {\n\
         /// Anyone: `security: []`.\n\
         Public,\n\
         /// The deployment's operator, with an operator key.\n\
         Operator,\n\
         /// A workspace's API key or access token with this scope.\n\
         Scope(Scope),\n\
         }\n\n\
         /// Every operation of the spec, in spec order.\n\
         pub const OPERATIONS: &[OperationInfo] = &[\n",
    );
    for operation in operations {
        let access = match &operation.access {
            Access::Public => "OperationAccess::Public".to_string(),
            Access::Operator => "OperationAccess::Operator".to_string(),
            Access::Scope(scope) => {
                format!("OperationAccess::Scope({SCOPE_TYPE}::{})", pascal(scope))
            }
        };
        let body = operation.body.map_or("None".to_string(), |body| {
            format!("Some({})", literal(body))
        });
        writeln!(
            out,
            "OperationInfo {{ operation_id: {}, method: \"{}\", path: {}, access: {access}, request_body: {body} }},",
            literal(operation.id),
            operation.method.to_uppercase(),
            literal(operation.path),
        )?;
    }
    out.push_str("];\n\n");
    Ok(())
}

/// One `#[Webhook]` trait per event (poem-openapi keys a trait's webhooks by HTTP method, so one
/// trait holds one `post`), and [`AllWebhooks`] that documents them together.
fn webhooks(spec: &Spec, out: &mut String) -> Result<()> {
    let mut traits = Vec::new();
    for (name, item) in spec
        .at("/webhooks")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let pointer = format!("/webhooks/{}", segment(name));
        let op = item
            .get("post")
            .filter(|_| item.as_object().is_some_and(|item| item.len() == 1))
            .ok_or_else(|| {
                unsupported(&pointer, "a webhook has exactly one operation, a `post`")
            })?;
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .ok_or_else(|| unsupported(&pointer, "a webhook needs an operationId"))?;
        let schema = op
            .pointer("/requestBody/content/application~1json/schema")
            .ok_or_else(|| {
                unsupported(&pointer, "a webhook needs an application/json request body")
            })?;
        let body = spec
            .schema_ref_name(schema, &pointer)?
            .ok_or_else(|| unsupported(&pointer, "a webhook body schema must be a `$ref`"))?;
        let trait_name = format!("{}Webhook", pascal(name));
        writeln!(
            out,
            "/// The `{name}` webhook.\n#[poem_openapi::Webhook]\npub trait {trait_name}: Sync {{"
        )?;
        out.push_str(&doc(op.get("summary").and_then(Value::as_str)));
        writeln!(
            out,
            "#[oai(name = {}, method = \"post\", operation_id = {})]\nfn {}(&self, body: poem_openapi::payload::Json<{body}>);\n}}\n",
            literal(name),
            literal(id),
            snake(id)
        )?;
        traits.push(trait_name);
    }
    out.push_str(
        "/// Every webhook of the spec, for `OpenApiService::webhooks`.\npub struct AllWebhooks;\n\n\
         impl poem_openapi::Webhook for AllWebhooks {\n\
         fn meta() -> Vec<poem_openapi::registry::MetaWebhook> {\nlet mut all = Vec::new();\n",
    );
    for name in &traits {
        writeln!(
            out,
            "all.extend(<&dyn {name} as poem_openapi::Webhook>::meta());"
        )?;
    }
    out.push_str("all\n}\n\nfn register(registry: &mut poem_openapi::registry::Registry) {\n");
    for name in &traits {
        writeln!(
            out,
            "<&dyn {name} as poem_openapi::Webhook>::register(registry);"
        )?;
    }
    out.push_str("}\n}\n\n");
    Ok(())
}
