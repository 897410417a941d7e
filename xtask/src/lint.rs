//! `cargo xtask lint`: the static checks of the server's sources against docs/ARCHITECTURE.md,
//! which `cargo xtask check` runs too. They read files only, so they run without building the
//! server: the import layering, tenant scoping, writes through `Db::write`, and the code map's
//! freshness.

mod code_map;
mod layers;
mod sources;
mod tenancy;
mod writes;

use anyhow::{Context, Result, bail};

use crate::project;

/// The code map and the layering the checks hold the server to.
pub const ARCHITECTURE: &str = "docs/ARCHITECTURE.md";

/// Runs every check, prints every problem each finds, and fails if any found one.
pub fn run() -> Result<()> {
    let root = project::root();
    let files = sources::repository_files(&root)?;
    let server = sources::server_sources(&root, &files)?;
    let doc = std::fs::read_to_string(root.join(ARCHITECTURE))
        .with_context(|| format!("cannot read {ARCHITECTURE}"))?;
    let checks = [
        (
            "layers",
            layers::check(&doc, &server),
            "A module may refer only to its own layer and the layers below it, as the `## Layers` \
             section of docs/ARCHITECTURE.md lists them: move the code, or document an `allow` \
             exception there.",
        ),
        (
            "tenant scoping",
            tenancy::check(&server)?,
            "Only server/src/store/ queries, and it reaches a tenant's rows through TenantScoped \
             (server/src/store/tenant.rs) unless the function says `// cross-tenant: why`.",
        ),
        (
            "writes",
            writes::check(&server),
            "Every write is a transaction of `Db::write` (server/src/store/db.rs), which queues \
             SQLite's writers fairly and keeps a keyed request's writes with its stored response.",
        ),
        (
            "code map",
            code_map::check(&doc, &files),
            "docs/ARCHITECTURE.md's code map names files that are gone, or misses ones that are \
             there: bring it up to date.",
        ),
    ];
    let mut failed = Vec::new();
    for (name, problems, advice) in checks {
        if problems.is_empty() {
            continue;
        }
        eprintln!("{name}: {} problems", problems.len());
        for problem in &problems {
            eprintln!("{problem}");
        }
        eprintln!("{advice}\n");
        failed.push(name);
    }
    if !failed.is_empty() {
        bail!("lint failed: {} (see above)", failed.join(", "));
    }
    eprintln!("lint: the layers, tenant scoping, writes and code map agree with {ARCHITECTURE}");
    Ok(())
}
