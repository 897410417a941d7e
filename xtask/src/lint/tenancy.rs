//! Tenant scoping: a tenant's rows are read, updated and deleted through `TenantScoped`, and only
//! the store queries at all.
//!
//! In `server/src/store/`, an entity's `find`, `find_by_id`, `update_many`, `delete_many` and
//! `delete_by_id` are flagged when the entity is one that `tenant_scoped!(...)` in
//! `store/tenant.rs` lists; anywhere else in `server/src`, they are flagged on any entity. A call
//! passes when the line, the comments right above it, or the comments right above its function
//! carry `// cross-tenant: <reason>`: those markers are the allow-list, so each must say why.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};

use super::sources::{self, SourceFile};

const TENANT_RS: &str = "server/src/store/tenant.rs";
const MARKER: &str = "// cross-tenant:";

/// An entity method the check looks for, what it does to the rows, and what to call instead.
struct Query {
    method: &'static str,
    does: &'static str,
    instead: &'static str,
}

static QUERIES: [Query; 5] = [
    Query::new("find", "loads", "use TenantScoped::find_in"),
    Query::new("find_by_id", "loads", "use TenantScoped::find_in"),
    Query::new("update_many", "updates", "go through TenantScoped"),
    Query::new("delete_many", "deletes", "go through TenantScoped"),
    Query::new("delete_by_id", "deletes", "go through TenantScoped"),
];

impl Query {
    const fn new(method: &'static str, does: &'static str, instead: &'static str) -> Self {
        Self {
            method,
            does,
            instead,
        }
    }
}

/// Every unmarked query of a tenant's rows, query outside the store, and marker without a reason.
pub fn check(files: &[SourceFile]) -> Result<Vec<String>> {
    let tenant = files
        .iter()
        .find(|file| file.path == TENANT_RS)
        .with_context(|| format!("{TENANT_RS} is missing"))?;
    let scoped = scoped_entities(&tenant.syntax)?;
    let mut problems = Vec::new();
    for file in files {
        let lines: Vec<&str> = file.text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if reason(line) == Some("") {
                problems.push(format!(
                    "{}:{}: `{MARKER}` needs a reason after it",
                    file.path,
                    index + 1
                ));
            }
        }
        let in_store = file.is_under("store/");
        for call in calls(file) {
            let tenant_rows = call.entity.as_ref().is_some_and(|e| scoped.contains(e));
            let allowed =
                marked(&lines, call.line) || call.function.is_some_and(|f| marked(&lines, f));
            if (in_store && !tenant_rows) || allowed {
                continue;
            }
            let method = call.query.method;
            let name = match &call.entity {
                Some(entity) => format!("{entity}::Entity::{method}()"),
                None => format!("Entity::{method}()"),
            };
            problems.push(if in_store {
                format!(
                    "{}:{}: `{name}` {} a tenant's rows without its workspace: {}, or mark the \
                     function `{MARKER} why`.",
                    file.path, call.line, call.query.does, call.query.instead
                )
            } else {
                format!(
                    "{}:{}: `{name}` queries the database outside server/src/store/, the only \
                     module that queries: move it into a repository.",
                    file.path, call.line
                )
            });
        }
    }
    Ok(problems)
}

/// The entity modules listed in `tenant_scoped!(...)`.
fn scoped_entities(tenant: &syn::File) -> Result<BTreeSet<String>> {
    let invocation = tenant
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Macro(item) if item.mac.path.is_ident("tenant_scoped") => Some(&item.mac),
            _ => None,
        })
        .with_context(|| {
            format!(
                "{TENANT_RS} has no `tenant_scoped!(...)` to read the tenant-scoped entities from"
            )
        })?;
    let modules = invocation
        .parse_body_with(Punctuated::<syn::Ident, syn::Token![,]>::parse_terminated)
        .with_context(|| format!("`tenant_scoped!` in {TENANT_RS} does not list entity modules"))?;
    Ok(modules.iter().map(ToString::to_string).collect())
}

/// The reason of a `// cross-tenant:` marker on `line`, if it has one.
fn reason(line: &str) -> Option<&str> {
    line.split_once(MARKER).map(|(_, reason)| reason.trim())
}

/// Whether line `number` (1-based), or the comments and attributes right above it, carry a marker
/// with a reason.
fn marked(lines: &[&str], number: usize) -> bool {
    let has_reason = |line: &str| reason(line).is_some_and(|reason| !reason.is_empty());
    let above = lines[..number - 1].iter().rev().take_while(|line| {
        let line = line.trim_start();
        line.starts_with("//") || line.starts_with("#[")
    });
    has_reason(lines[number - 1]) || above.copied().any(has_reason)
}

/// A call of one of the [`QUERIES`] on an entity.
struct Call {
    line: usize,
    /// The line of the `fn` it is in.
    function: Option<usize>,
    /// The entity's module (`conversation` for `conversation::Entity`), when the path names it.
    entity: Option<String>,
    query: &'static Query,
}

fn calls(file: &SourceFile) -> Vec<Call> {
    let mut visitor = Calls {
        entities: entity_names(file),
        functions: Vec::new(),
        found: Vec::new(),
    };
    visitor.visit_file(&file.syntax);
    visitor.found
}

/// The names that stand for an entity in `file`, and the entity module each means: `Entity` in an
/// entity's own module, and what the file's top-level `use` items bring in (`use
/// conversation::Entity as Conversation`).
fn entity_names(file: &SourceFile) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    if file.is_under("store/entity/")
        && let Some(own) = file.module.last()
    {
        names.insert("Entity".to_owned(), own.clone());
    }
    for item in &file.syntax.items {
        let syn::Item::Use(item) = item else {
            continue;
        };
        for leaf in sources::use_leaves(&item.tree) {
            if let ([.., module, last], Some(name)) = (leaf.path.as_slice(), leaf.name)
                && last == "Entity"
            {
                names.insert(name, module.clone());
            }
        }
    }
    names
}

struct Calls {
    entities: BTreeMap<String, String>,
    functions: Vec<usize>,
    found: Vec<Call>,
}

impl Calls {
    fn function<F: FnOnce(&mut Self)>(&mut self, signature: &syn::Signature, visit: F) {
        self.functions.push(sources::line(signature.fn_token.span));
        visit(self);
        self.functions.pop();
    }
}

impl<'ast> Visit<'ast> for Calls {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.function(&item.sig, |this| visit::visit_item_fn(this, item));
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.function(&item.sig, |this| visit::visit_impl_item_fn(this, item));
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        self.function(&item.sig, |this| visit::visit_trait_item_fn(this, item));
    }

    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let syn::Expr::Path(callee) = &*call.func
            && let Some(last) = callee.path.segments.last()
            && let Some(query) = QUERIES.iter().find(|query| last.ident == query.method)
        {
            // `a::Entity::find`, or `<a::Entity as EntityTrait>::find`.
            let type_path: Vec<&syn::Ident> = match &callee.qself {
                Some(qself) => match &*qself.ty {
                    syn::Type::Path(ty) => ty.path.segments.iter().map(|s| &s.ident).collect(),
                    _ => Vec::new(),
                },
                None => {
                    let segments = callee.path.segments.iter().map(|s| &s.ident);
                    segments.take(callee.path.segments.len() - 1).collect()
                }
            };
            let entity = match type_path.as_slice() {
                [.., module, last] if *last == "Entity" => Some(module.to_string()),
                [.., last] => self.entities.get(&last.to_string()).cloned(),
                [] => None,
            };
            if entity.is_some() || type_path.last().is_some_and(|last| *last == "Entity") {
                self.found.push(Call {
                    line: sources::line(last.ident.span()),
                    function: self.functions.last().copied(),
                    entity,
                    query,
                });
            }
        }
        visit::visit_expr_call(self, call);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: &str = "tenant_scoped!(conversation, message);\n";

    fn check_files(files: &[(&str, &str)]) -> Vec<String> {
        let mut sources = vec![SourceFile::parse(TENANT_RS, TENANT.to_owned()).unwrap()];
        for (path, text) in files {
            sources.push(SourceFile::parse(path, (*text).to_owned()).unwrap());
        }
        check(&sources).unwrap()
    }

    #[test]
    fn unscoped_queries_of_tenant_rows_are_flagged() {
        let problems = check_files(&[(
            "server/src/store/conversations.rs",
            "use super::entity::message::Entity as Message;\n\
             async fn list() {\n\
             \x20   conversation::Entity::find().all(db).await;\n\
             \x20   let n = Message::delete_many().exec(db);\n\
             \x20   workspace::Entity::find_by_id(id);\n\
             \x20   conversation::Entity::find_in(&workspace);\n\
             }\n",
        )]);
        assert_eq!(
            problems,
            [
                "server/src/store/conversations.rs:3: `conversation::Entity::find()` loads a tenant's rows without its workspace: use TenantScoped::find_in, or mark the function `// cross-tenant: why`.",
                "server/src/store/conversations.rs:4: `message::Entity::delete_many()` deletes a tenant's rows without its workspace: go through TenantScoped, or mark the function `// cross-tenant: why`.",
            ]
        );
    }

    #[test]
    fn an_entity_module_querying_itself_is_flagged() {
        let problems = check_files(&[(
            "server/src/store/entity/conversation.rs",
            "impl Model { fn all() { Entity::find(); <Entity as EntityTrait>::update_many(); } }\n",
        )]);
        assert_eq!(problems.len(), 2);
        assert!(problems[1].contains("`conversation::Entity::update_many()` updates"));
    }

    #[test]
    fn markers_with_a_reason_allow_a_function_or_a_line() {
        let problems = check_files(&[(
            "server/src/store/api_keys.rs",
            "/// Finds the key.\n\
             // cross-tenant: the key is how a request finds its tenant\n\
             #[instrument]\n\
             pub async fn find_by_hash() { conversation::Entity::find(); }\n\
             fn purge() {\n\
             \x20   // cross-tenant: expired rows of every workspace\n\
             \x20   message::Entity::delete_many();\n\
             \x20   message::Entity::update_many(); // cross-tenant:\n\
             }\n",
        )]);
        assert_eq!(
            problems,
            [
                "server/src/store/api_keys.rs:8: `// cross-tenant:` needs a reason after it",
                "server/src/store/api_keys.rs:8: `message::Entity::update_many()` updates a tenant's rows without its workspace: go through TenantScoped, or mark the function `// cross-tenant: why`.",
            ]
        );
    }

    #[test]
    fn only_the_store_queries() {
        let problems = check_files(&[(
            "server/src/api/health.rs",
            "fn ready() { crate::store::entity::workspace::Entity::find(); Entity::delete_by_id(1); }\n",
        )]);
        assert_eq!(
            problems,
            [
                "server/src/api/health.rs:1: `workspace::Entity::find()` queries the database outside server/src/store/, the only module that queries: move it into a repository.",
                "server/src/api/health.rs:1: `Entity::delete_by_id()` queries the database outside server/src/store/, the only module that queries: move it into a repository.",
            ]
        );
    }

    #[test]
    fn the_scoped_entities_come_from_the_macro() {
        let tenant = syn::parse_file("use x;\ntenant_scoped!(api_key, message);\n").unwrap();
        let scoped = scoped_entities(&tenant).unwrap();
        assert_eq!(
            scoped.into_iter().collect::<Vec<_>>(),
            ["api_key", "message"]
        );
        assert!(scoped_entities(&syn::parse_file("fn f() {}").unwrap()).is_err());
    }

    /// `cargo test` fails as `cargo xtask check` does when a tenant's rows are queried without
    /// the workspace.
    #[test]
    fn the_store_scopes_tenant_rows() {
        let root = crate::project::root();
        let files = sources::repository_files(&root).unwrap();
        let problems = check(&sources::server_sources(&root, &files).unwrap()).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
