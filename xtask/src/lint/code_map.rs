//! Code map freshness: docs/ARCHITECTURE.md names only files that exist, and names every
//! migration, every top-level module of `server/src` and every directory under it.
//!
//! The document names files relative to the section they are in (`store/idempotency.rs`,
//! `derived/hoverbot.json`), which is hard to resolve, so a name passes when some file of the
//! repository ends with it.

use std::collections::BTreeSet;

use super::ARCHITECTURE;
use super::sources::SERVER_SRC;

/// What a file name in a code span must end with to be checked.
const EXTENSIONS: [&str; 5] = [".rs", ".md", ".yaml", ".json", ".toml"];

/// Every stale or missing entry of `doc`, given every file of the repository (relative paths).
pub fn check(doc: &str, files: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for (line, name) in file_names(doc) {
        let exists = files
            .iter()
            .any(|file| *file == name || file.ends_with(&format!("/{name}")));
        if !exists {
            problems.push(format!(
                "{ARCHITECTURE}:{line}: `{name}` names no file in the repository"
            ));
        }
    }
    for file in files {
        if let Some(name) = file.strip_prefix("migrations/src/")
            && name
                .strip_prefix('m')
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            && name.ends_with(".rs")
            && !name.contains('/')
            && !doc.contains(name)
        {
            problems.push(format!(
                "{ARCHITECTURE}: migration `{file}` is not in the code map"
            ));
        }
    }
    let mut modules = BTreeSet::new();
    let mut directories = BTreeSet::new();
    for relative in files
        .iter()
        .filter_map(|file| file.strip_prefix(SERVER_SRC))
    {
        let first = relative.split('/').next().unwrap_or(relative);
        modules.insert(first.strip_suffix(".rs").unwrap_or(first));
        let slashes = relative.match_indices('/');
        directories.extend(slashes.map(|(end, _)| &relative[..end]));
    }
    for module in modules {
        let mentioned = [
            format!("{module}/"),
            format!("{module}.rs"),
            format!("{SERVER_SRC}{module}"),
        ]
        .iter()
        .any(|needle| mentions(doc, needle));
        if !mentioned {
            problems.push(format!(
                "{ARCHITECTURE}: module `{SERVER_SRC}{module}` is not in the code map"
            ));
        }
    }
    for directory in directories {
        let last = directory.rsplit('/').next().unwrap_or(directory);
        if !mentions(doc, &format!("{last}/"))
            && !mentions(doc, &format!("{SERVER_SRC}{directory}"))
        {
            problems.push(format!(
                "{ARCHITECTURE}: directory `{SERVER_SRC}{directory}/` is not in the code map"
            ));
        }
    }
    problems
}

/// The file names in the document's code spans, with their lines: words of a code span that end
/// in one of [`EXTENSIONS`] and are no pattern (`api/<resource>.rs`, `benches/*.rs`) or URL. Fenced
/// blocks are left out: backticks inside them are text.
fn file_names(doc: &str) -> Vec<(usize, String)> {
    let mut prose = String::with_capacity(doc.len());
    let mut fenced = false;
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            prose.push_str(line);
        }
        prose.push('\n');
    }
    let mut names = Vec::new();
    let mut offset = 0;
    for (index, piece) in prose.split('`').enumerate() {
        if index % 2 == 1 {
            let line = prose[..offset].matches('\n').count() + 1;
            for word in piece.split_whitespace() {
                // A pattern, or a URL or URL path (`/openapi.yaml` is served, not stored).
                let pattern = word.contains(['<', '*', '{', '…', ':']) || word.starts_with('/');
                if !pattern && EXTENSIONS.iter().any(|extension| word.ends_with(extension)) {
                    names.push((line, word.to_owned()));
                }
            }
        }
        offset += piece.len() + 1;
    }
    names
}

/// Whether `needle` occurs in `doc` as a whole name: not preceded by a letter, digit, `_` or
/// `-`, nor followed by one when it ends in one (`ids` is not in `server/src/ids_v2`).
fn mentions(doc: &str, needle: &str) -> bool {
    let is_name = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    doc.match_indices(needle).any(|(start, _)| {
        let before = doc[..start].chars().next_back();
        let after = doc[start + needle.len()..].chars().next();
        let starts_a_name = !before.is_some_and(is_name);
        let ends_a_name = !(needle.ends_with(is_name) && after.is_some_and(is_name));
        starts_a_name && ends_a_name
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|path| (*path).to_owned()).collect()
    }

    #[test]
    fn named_files_must_exist_somewhere() {
        let doc = "`openapi/hoverbot.yaml` and `derived/hoverbot.json`, `store/gone.rs`,\n\
                   `server/src/api/<resource>.rs`, `server/benches/*.rs`, `/openapi.json`, `cargo xtask lint`\n\
                   ```\n`inside/a/fence.rs`\n```\n\
                   run `hoverbot\nsync.rs` and `old.md`\n";
        let repository = files(&[
            "openapi/hoverbot.yaml",
            "openapi/derived/hoverbot.json",
            "server/src/sync.rs",
        ]);
        assert_eq!(
            check(doc, &repository),
            [
                "docs/ARCHITECTURE.md:1: `store/gone.rs` names no file in the repository",
                "docs/ARCHITECTURE.md:7: `old.md` names no file in the repository",
            ]
        );
    }

    #[test]
    fn every_migration_module_and_directory_is_mentioned() {
        let doc = "`m1_initial.rs`; `server/src/api/`: `mod.rs`; `ids.rs`; under `entity/`\n";
        let repository = files(&[
            "migrations/src/lib.rs",
            "migrations/src/main.rs",
            "migrations/src/m1_initial.rs",
            "migrations/src/m2_more.rs",
            "server/src/api/mod.rs",
            "server/src/ids.rs",
            "server/src/uuids.rs",
            "server/src/store/mod.rs",
            "server/src/store/entity/workspace.rs",
            "server/src/knowledge/crawl/fetch.rs",
        ]);
        assert_eq!(
            check(doc, &repository),
            [
                "docs/ARCHITECTURE.md: migration `migrations/src/m2_more.rs` is not in the code map",
                "docs/ARCHITECTURE.md: module `server/src/knowledge` is not in the code map",
                "docs/ARCHITECTURE.md: module `server/src/store` is not in the code map",
                "docs/ARCHITECTURE.md: module `server/src/uuids` is not in the code map",
                "docs/ARCHITECTURE.md: directory `server/src/knowledge/` is not in the code map",
                "docs/ARCHITECTURE.md: directory `server/src/knowledge/crawl/` is not in the code map",
                "docs/ARCHITECTURE.md: directory `server/src/store/` is not in the code map",
            ]
        );
    }

    /// `cargo test` fails as `cargo xtask check` does when the code map lags the tree.
    #[test]
    fn the_code_map_is_fresh() {
        let root = crate::project::root();
        let doc = std::fs::read_to_string(root.join(ARCHITECTURE)).unwrap();
        let problems = check(
            &doc,
            &super::super::sources::repository_files(&root).unwrap(),
        );
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
