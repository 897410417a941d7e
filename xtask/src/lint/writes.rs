//! Writes go through `Db::write`: on SQLite that is where a writer takes its turn in the process's
//! queue (and, in a keyed request, joins the request's transaction). A write sent to the pool
//! directly would skip both: it would wait in SQLite's busy handler, and commit apart from the
//! request's stored response.
//!
//! Flagged: sea-orm's writes (`insert`, `update`, `save`, `delete`, `exec`,
//! `exec_with_returning`, `exec_without_returning`) given the pool (a variable or field named
//! `db`) as their connection, and raw statements (`execute`, `execute_raw`,
//! `execute_unprepared`) sent on it. The store names the pool `db` and a write `txn` throughout,
//! which is what makes the check possible without types.

use syn::visit::{self, Visit};

use super::sources::{self, SourceFile};

const WRITES: [&str; 7] = [
    "insert",
    "update",
    "save",
    "delete",
    "exec",
    "exec_with_returning",
    "exec_without_returning",
];
const STATEMENTS: [&str; 3] = ["execute", "execute_raw", "execute_unprepared"];

/// Every write sent to the pool rather than to a `Db::write` transaction.
pub fn check(files: &[SourceFile]) -> Vec<String> {
    let mut problems = Vec::new();
    for file in files {
        let mut visitor = Writes { found: Vec::new() };
        visitor.visit_file(&file.syntax);
        for (line, method) in visitor.found {
            problems.push(format!(
                "{}:{line}: `{method}` writes to the pool, outside a transaction of `Db::write`: \
                 begin one (`let txn = db.write().await?`), write with `&txn`, and commit it.",
                file.path
            ));
        }
    }
    problems
}

struct Writes {
    found: Vec<(usize, String)>,
}

impl<'ast> Visit<'ast> for Writes {
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let method = call.method.to_string();
        let to_pool = (WRITES.contains(&method.as_str())
            && call.args.len() == 1
            && call.args.first().is_some_and(is_pool))
            || (STATEMENTS.contains(&method.as_str()) && is_pool(&call.receiver));
        if to_pool {
            self.found
                .push((sources::line(call.method.span()), format!(".{method}(…)")));
        }
        visit::visit_expr_method_call(self, call);
    }
}

/// `db`, `&db`, `self.db`, `&state.db`: the pool, by the store's naming.
fn is_pool(expr: &syn::Expr) -> bool {
    match expr {
        syn::Expr::Reference(reference) => is_pool(&reference.expr),
        syn::Expr::Paren(paren) => is_pool(&paren.expr),
        syn::Expr::Path(path) => path.path.is_ident("db"),
        syn::Expr::Field(field) => {
            matches!(&field.member, syn::Member::Named(name) if name == "db")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let file = SourceFile::parse("server/src/store/things.rs", text.to_owned()).unwrap();
        check(&[file])
    }

    #[test]
    fn writes_to_the_pool_are_flagged() {
        let found = problems(
            "async fn f(db: &Db) {\n\
             \x20   model.insert(db).await;\n\
             \x20   Thing::update_in(&w).exec(&self.db).await;\n\
             \x20   db.execute_unprepared(\"DELETE FROM t\").await;\n\
             }\n",
        );
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(found[0].starts_with("server/src/store/things.rs:2: `.insert(…)` writes"));
        assert!(found[1].starts_with("server/src/store/things.rs:3: `.exec(…)`"));
        assert!(found[2].starts_with("server/src/store/things.rs:4: `.execute_unprepared(…)`"));
    }

    #[test]
    fn writes_in_a_transaction_and_reads_pass() {
        let found = problems(
            "async fn f(db: &Db) {\n\
             \x20   let txn = db.write().await?;\n\
             \x20   model.insert(&txn).await;\n\
             \x20   Thing::update_in(&w).exec(&txn).await;\n\
             \x20   Thing::find_in(&w).one(db).await;\n\
             \x20   headers.insert(name, value);\n\
             \x20   txn.commit().await?;\n\
             }\n",
        );
        assert!(found.is_empty(), "{found:#?}");
    }
}
