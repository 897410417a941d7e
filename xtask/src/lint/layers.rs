//! The import layering: the ```` ```layers ```` block of docs/ARCHITECTURE.md lists the server's
//! top-level modules in layers, top first, and a module may refer only to its own layer and the
//! ones below it.
//!
//! Every reference that names a module through `crate::`, `super::` or `self::` counts: `use` trees
//! (groups included), paths in expressions, types, patterns and attributes, and paths written
//! inside macro invocations. A reference that breaks the rule passes only under an `allow` line of
//! the block, and an `allow` line that excuses nothing fails too, so exceptions do not outlive the
//! code they were written for.

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::visit::{self, Visit};

use super::ARCHITECTURE;
use super::sources::{self, SourceFile, UseLeaf};

/// The parsed block: each module's layer (0 is the top), and the documented exceptions.
struct Layering {
    layer: BTreeMap<String, usize>,
    allows: Vec<Allow>,
}

/// `allow <from> -> <to>  # why`: code in module `from` may refer to `to` and what is inside it.
struct Allow {
    doc_line: usize,
    from: Vec<String>,
    to: Vec<String>,
}

/// One reference from a file to a module path of the crate, resolved from the crate root.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Reference {
    line: usize,
    path: Vec<String>,
}

/// Every layering problem in `files` against the layers block of `doc`, one line each.
pub fn check(doc: &str, files: &[SourceFile]) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(layering) = Layering::parse(doc, &mut problems) else {
        return problems;
    };
    let mut excused = vec![false; layering.allows.len()];
    let mut unlisted = BTreeSet::new();
    for file in files {
        let Some(&own) = layering.layer.get(&file.top) else {
            if unlisted.insert(&file.top) {
                problems.push(format!(
                    "{}: module `{}` is on no line of the layers block",
                    file.path, file.top
                ));
            }
            continue;
        };
        // A crate root's references come from the module it is named after.
        let source = if file.module.is_empty() {
            vec![file.top.clone()]
        } else {
            file.module.clone()
        };
        for reference in references(file) {
            let Some(target) = reference.path.first() else {
                continue;
            };
            let Some(&layer) = layering.layer.get(target) else {
                continue;
            };
            if target == &file.top || layer >= own {
                continue;
            }
            let mut allowed = false;
            for (allow, excused) in layering.allows.iter().zip(&mut excused) {
                if source.starts_with(&allow.from) && reference.path.starts_with(&allow.to) {
                    *excused = true;
                    allowed = true;
                }
            }
            if !allowed {
                problems.push(format!(
                    "{}:{}: `{}` (layer {}) imports `{}` (layer {}), which is above it",
                    file.path,
                    reference.line,
                    file.top,
                    own + 1,
                    reference.path.join("::"),
                    layer + 1
                ));
            }
        }
    }
    for (allow, excused) in layering.allows.iter().zip(excused) {
        if !excused {
            problems.push(format!(
                "{ARCHITECTURE}:{}: `allow {} -> {}` excuses no reference any more: remove it",
                allow.doc_line,
                allow.from.join("::"),
                allow.to.join("::")
            ));
        }
    }
    problems
}

impl Layering {
    /// Reads the one ```` ```layers ```` block of `doc`; `None` when there is none to read.
    fn parse(doc: &str, problems: &mut Vec<String>) -> Option<Self> {
        let lines: Vec<&str> = doc.lines().collect();
        let openings: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i].trim() == "```layers")
            .collect();
        let &[opening] = openings.as_slice() else {
            problems.push(format!(
                "{ARCHITECTURE} needs exactly one ```layers block (in its `## Layers` section), \
                 not {}",
                openings.len()
            ));
            return None;
        };
        let Some(length) = lines[opening + 1..]
            .iter()
            .position(|line| line.trim() == "```")
        else {
            problems.push(format!(
                "{ARCHITECTURE}:{}: the layers block is not closed",
                opening + 1
            ));
            return None;
        };
        let mut layering = Layering {
            layer: BTreeMap::new(),
            allows: Vec::new(),
        };
        let mut layers = 0;
        for (index, line) in lines[opening + 1..opening + 1 + length].iter().enumerate() {
            let doc_line = opening + 2 + index;
            let (content, comment) = match line.split_once('#') {
                Some((content, comment)) => (content.trim(), Some(comment.trim())),
                None => (line.trim(), None),
            };
            if let Some(exception) = content.strip_prefix("allow ") {
                match Allow::parse(exception, comment, doc_line) {
                    Some(allow) => layering.allows.push(allow),
                    None => problems.push(format!(
                        "{ARCHITECTURE}:{doc_line}: an exception reads \
                         `allow <module path> -> <module path>  # why`"
                    )),
                }
                continue;
            }
            if content.is_empty() {
                continue;
            }
            for name in content.split_whitespace() {
                if let Some(earlier) = layering.layer.insert(name.to_owned(), layers) {
                    problems.push(format!(
                        "{ARCHITECTURE}:{doc_line}: `{name}` is already on layer {}",
                        earlier + 1
                    ));
                }
            }
            layers += 1;
        }
        Some(layering)
    }
}

impl Allow {
    /// `from -> to`, with the reason after `#` that every exception needs.
    fn parse(exception: &str, reason: Option<&str>, doc_line: usize) -> Option<Self> {
        let (from, to) = exception.split_once("->")?;
        let path = |text: &str| -> Option<Vec<String>> {
            let text = text.trim();
            let valid = !text.is_empty() && !text.contains(char::is_whitespace);
            valid.then(|| text.split("::").map(str::to_owned).collect())
        };
        reason.filter(|reason| !reason.is_empty())?;
        Some(Allow {
            doc_line,
            from: path(from)?,
            to: path(to)?,
        })
    }
}

/// Every distinct reference `file` makes to a module path of the crate.
fn references(file: &SourceFile) -> BTreeSet<Reference> {
    let mut visitor = References {
        module: file.module.clone(),
        found: BTreeSet::new(),
    };
    visitor.visit_file(&file.syntax);
    visitor.found
}

struct References {
    /// The module being visited: the file's, then each inline module inside it.
    module: Vec<String>,
    found: BTreeSet<Reference>,
}

impl References {
    fn add(&mut self, segments: &[String], line: usize) {
        if let Some(path) = self.resolve(segments) {
            self.found.insert(Reference { line, path });
        }
    }

    /// The path from the crate root that `segments` names, if it starts at the crate root or at
    /// the current module.
    fn resolve(&self, segments: &[String]) -> Option<Vec<String>> {
        let (first, mut rest) = segments.split_first()?;
        let mut path = match first.as_str() {
            // The binary (`main.rs`) names the library by its crate name.
            "crate" | "hoverbot_server" => Vec::new(),
            "self" => self.module.clone(),
            "super" => {
                let mut path = self.module.clone();
                path.pop()?;
                path
            }
            _ => return None,
        };
        while let Some((first, tail)) = rest.split_first()
            && first == "super"
        {
            path.pop()?;
            rest = tail;
        }
        path.extend(rest.iter().cloned());
        Some(path)
    }

    /// Finds `a::b::c` in the tokens of a macro invocation, which syn leaves unparsed.
    fn scan(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut index = 0;
        while index < tokens.len() {
            match &tokens[index] {
                TokenTree::Group(group) => self.scan(group.stream()),
                TokenTree::Ident(start) => {
                    let mut segments = vec![start.to_string()];
                    while let [
                        TokenTree::Punct(first),
                        TokenTree::Punct(second),
                        TokenTree::Ident(next),
                        ..,
                    ] = &tokens[index + 1..]
                        && first.as_char() == ':'
                        && first.spacing() == Spacing::Joint
                        && second.as_char() == ':'
                    {
                        segments.push(next.to_string());
                        index += 3;
                    }
                    if segments.len() > 1 {
                        self.add(&segments, sources::line(start.span()));
                    }
                }
                _ => {}
            }
            index += 1;
        }
    }
}

impl<'ast> Visit<'ast> for References {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        self.module.push(item.ident.to_string());
        visit::visit_item_mod(self, item);
        self.module.pop();
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        if item.leading_colon.is_some() {
            return;
        }
        for UseLeaf { path, line, .. } in sources::use_leaves(&item.tree) {
            self.add(&path, line);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none()
            && let Some(first) = path.segments.first()
        {
            let segments: Vec<String> = path
                .segments
                .iter()
                .map(|segment| segment.ident.to_string())
                .collect();
            self.add(&segments, sources::line(first.ident.span()));
        }
        visit::visit_path(self, path);
    }

    /// `pub(in crate::x)` says who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        visit::visit_macro(self, mac);
        self.scan(mac.tokens.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# Architecture\n\
        \n\
        ```layers\n\
        main lib cli     # composition\n\
        \n\
        api oauth        # handlers\n\
        store\n\
        ids problem      # leaves\n\
        allow store -> api::convert  # moved out in the next change\n\
        ```\n";

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile::parse(path, text.to_owned()).unwrap()
    }

    #[test]
    fn references_below_and_beside_pass() {
        let files = [
            file(
                "server/src/api/mod.rs",
                "use crate::{oauth::token, store::x};\n",
            ),
            file("server/src/ids.rs", "use crate::problem::Problem;\n"),
            file(
                "server/src/main.rs",
                "fn main() { hoverbot_server::cli::main() }\n",
            ),
            file("server/src/lib.rs", "pub mod api;\n"),
            file(
                "server/src/store/mod.rs",
                "use super::api::convert::parse;\n",
            ),
        ];
        assert_eq!(check(DOC, &files), Vec::<String>::new());
    }

    #[test]
    fn references_above_fail_with_their_lines() {
        let files = [
            file(
                "server/src/store/page.rs",
                "use crate::{\n    ids::Id,\n    oauth::{self, token::Token},\n};\n\
                 fn f() -> crate::cli::Command { super::super::api::mod_fn() }\n",
            ),
            file(
                "server/src/ids.rs",
                "fn f() { tracing::info!(\"{}\", crate::store::x()); }\n",
            ),
        ];
        assert_eq!(
            check(DOC, &files),
            [
                "server/src/store/page.rs:3: `store` (layer 3) imports `oauth` (layer 2), which is above it",
                "server/src/store/page.rs:3: `store` (layer 3) imports `oauth::token::Token` (layer 2), which is above it",
                "server/src/store/page.rs:5: `store` (layer 3) imports `api::mod_fn` (layer 2), which is above it",
                "server/src/store/page.rs:5: `store` (layer 3) imports `cli::Command` (layer 1), which is above it",
                "server/src/ids.rs:1: `ids` (layer 4) imports `store::x` (layer 3), which is above it",
                "docs/ARCHITECTURE.md:9: `allow store -> api::convert` excuses no reference any more: remove it",
            ]
        );
    }

    #[test]
    fn super_resolves_against_inline_modules() {
        let files = [file(
            "server/src/ids.rs",
            "mod tests {\n    use super::*;\n    use super::super::store;\n}\n",
        )];
        assert_eq!(
            check(DOC, &files)[0],
            "server/src/ids.rs:3: `ids` (layer 4) imports `store` (layer 3), which is above it"
        );
    }

    #[test]
    fn unlisted_modules_and_bad_exceptions_are_reported() {
        let doc = "```layers\napi\napi store\nallow store -> api\n```\n";
        let files = [
            file("server/src/secrets.rs", "use crate::api::X;\n"),
            file("server/src/secrets/keys.rs", ""),
        ];
        assert_eq!(
            check(doc, &files),
            [
                "docs/ARCHITECTURE.md:3: `api` is already on layer 1",
                "docs/ARCHITECTURE.md:4: an exception reads `allow <module path> -> <module path>  # why`",
                "server/src/secrets.rs: module `secrets` is on no line of the layers block",
            ]
        );
    }

    #[test]
    fn a_document_without_the_block_fails() {
        assert_eq!(
            check("# Architecture\n", &[]),
            [
                "docs/ARCHITECTURE.md needs exactly one ```layers block (in its `## Layers` section), not 0"
            ]
        );
    }

    /// `cargo test` fails as `cargo xtask check` does when an import points up.
    #[test]
    fn the_server_follows_its_layers() {
        let root = crate::project::root();
        let files = sources::repository_files(&root).unwrap();
        let doc = std::fs::read_to_string(root.join(ARCHITECTURE)).unwrap();
        let problems = check(&doc, &sources::server_sources(&root, &files).unwrap());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
