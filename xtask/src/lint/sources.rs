//! The repository's files as the static checks see them: relative paths, and the server's Rust
//! files parsed once, each with the module path it has in the crate.

use std::path::Path;

use anyhow::{Context, Result};
use proc_macro2::Span;

/// Where the server's modules live, relative to the repository root.
pub const SERVER_SRC: &str = "server/src/";

/// One `.rs` file under `server/src`.
pub struct SourceFile {
    /// Relative to the repository root, with `/` separators: `server/src/store/mod.rs`.
    pub path: String,
    /// The top-level module it belongs to: `store`, or `main` and `lib` for the crate roots.
    pub top: String,
    /// Its module path in the crate: `["store"]` for `store/mod.rs`, `[]` for a crate root.
    pub module: Vec<String>,
    pub text: String,
    pub syntax: syn::File,
}

impl SourceFile {
    /// Parses `text` as the file at `path`, which starts with [`SERVER_SRC`].
    pub fn parse(path: &str, text: String) -> Result<Self> {
        let relative = path
            .strip_prefix(SERVER_SRC)
            .with_context(|| format!("{path} is not under {SERVER_SRC}"))?;
        let relative = relative.strip_suffix(".rs").unwrap_or(relative);
        let mut module: Vec<String> = relative.split('/').map(str::to_owned).collect();
        let top = module[0].clone();
        if module.len() == 1 && (top == "main" || top == "lib") {
            module.clear();
        } else if module.last().is_some_and(|name| name == "mod") {
            module.pop();
        }
        let syntax = syn::parse_file(&text).with_context(|| format!("cannot parse {path}"))?;
        Ok(Self {
            path: path.to_owned(),
            top,
            module,
            text,
            syntax,
        })
    }

    /// Whether the file lies under `directory` (relative to `server/src`, ending in `/`).
    pub fn is_under(&self, directory: &str) -> bool {
        self.path[SERVER_SRC.len()..].starts_with(directory)
    }
}

/// Every file under `root` (skipping hidden directories and build output), relative to it and
/// sorted.
pub fn repository_files(root: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    collect(root, "", &mut files)?;
    files.sort();
    Ok(files)
}

fn collect(root: &Path, relative: &str, files: &mut Vec<String>) -> Result<()> {
    let directory = root.join(relative);
    let entries = std::fs::read_dir(&directory)
        .with_context(|| format!("cannot list {}", directory.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        let path = format!("{relative}{name}");
        if entry.file_type()?.is_dir() {
            collect(root, &format!("{path}/"), files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// Reads and parses every `.rs` file under `server/src`.
pub fn server_sources(root: &Path, files: &[String]) -> Result<Vec<SourceFile>> {
    files
        .iter()
        .filter(|path| path.starts_with(SERVER_SRC) && path.ends_with(".rs"))
        .map(|path| {
            let text = std::fs::read_to_string(root.join(path))
                .with_context(|| format!("cannot read {path}"))?;
            SourceFile::parse(path, text)
        })
        .collect()
}

/// The 1-based line a span starts on.
pub fn line(span: Span) -> usize {
    span.start().line
}

/// One path a `use` item brings into scope: `use a::{b, c::d as e}` has two.
pub struct UseLeaf {
    pub path: Vec<String>,
    /// The name it is known by here; `None` for a glob.
    pub name: Option<String>,
    pub line: usize,
}

/// The paths of a `use` tree, groups flattened; `a::{self}` is `a`.
pub fn use_leaves(tree: &syn::UseTree) -> Vec<UseLeaf> {
    let mut leaves = Vec::new();
    flatten(tree, &mut Vec::new(), &mut leaves);
    leaves
}

fn flatten(tree: &syn::UseTree, prefix: &mut Vec<String>, leaves: &mut Vec<UseLeaf>) {
    let mut leaf = |ident: &syn::Ident, name: Option<&syn::Ident>| {
        let mut path = prefix.clone();
        if ident != "self" {
            path.push(ident.to_string());
        }
        let name = name
            .map(ToString::to_string)
            .or_else(|| path.last().cloned());
        leaves.push(UseLeaf {
            path,
            name,
            line: line(ident.span()),
        });
    };
    match tree {
        syn::UseTree::Path(path) => {
            prefix.push(path.ident.to_string());
            flatten(&path.tree, prefix, leaves);
            prefix.pop();
        }
        syn::UseTree::Name(name) => leaf(&name.ident, None),
        syn::UseTree::Rename(rename) => leaf(&rename.ident, Some(&rename.rename)),
        syn::UseTree::Glob(glob) => leaves.push(UseLeaf {
            path: prefix.clone(),
            name: None,
            line: line(glob.star_token.spans[0]),
        }),
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                flatten(tree, prefix, leaves);
            }
        }
    }
}
