//! The PostgreSQL 15 manual (the HTML of Debian's `postgresql-doc-15`) served on loopback, as a
//! help center to crawl: `cargo xtask bench` measures the crawl, `cargo xtask eval` asks questions
//! of it. Files are read from disk on each request, as a plain web server would.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use poem::http::StatusCode;
use poem::{Request, Response};

use super::server::Background;

/// Where Debian installs the manual's HTML.
pub const MANUAL: &str = "/usr/share/doc/postgresql-doc-15/html";
/// The name of the site server's threads.
const THREADS: &str = "bench-site";

/// The manual at `dir`, if it is there (its `index.html`).
pub fn manual(dir: &Path) -> Option<PathBuf> {
    dir.join("index.html").is_file().then(|| dir.to_path_buf())
}

/// Serves the files under `dir` (and nothing outside it); `/` is its `index.html`.
pub fn serve(dir: &Path) -> Result<Background> {
    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot open {}", dir.display()))?;
    let site = poem::endpoint::make_sync(move |request: Request| {
        let path = request.uri().path().trim_start_matches('/');
        let file = root.join(if path.is_empty() { "index.html" } else { path });
        let inside = file
            .canonicalize()
            .ok()
            .filter(|file| file.starts_with(&root));
        match inside.and_then(|file| Some((std::fs::read(&file).ok()?, file))) {
            Some((body, file)) => Response::builder()
                .content_type(content_type(&file))
                .body(body),
            None => Response::builder()
                .status(StatusCode::NOT_FOUND)
                .body("not found"),
        }
    });
    Background::serve(site, THREADS)
}

/// The site's HTML pages, as paths (`/index.html`).
pub fn pages(dir: &Path) -> Result<Vec<String>> {
    let mut pages = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".html") {
            pages.push(format!("/{name}"));
        }
    }
    pages.sort();
    Ok(pages)
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|extension| extension.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}
