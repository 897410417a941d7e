//! The database: connection, migrations, and the repositories that own each table.
//!
//! Architecture invariants: a tenant's rows are loaded only through [`tenant::TenantScoped`], which
//! needs a [`tenant::WorkspaceId`]; handlers never query entities directly; and every write is a
//! [`Db::write`] transaction (`cargo xtask lint` checks that none goes to the pool directly).

pub mod api_keys;
pub mod availability;
pub mod conversations;
pub mod convert;
pub mod db;
pub mod entity;
pub mod erasure;
pub mod escalations;
pub mod events;
pub mod idempotency;
pub mod json;
pub mod knowledge_index;
pub mod knowledge_sources;
pub mod oauth_apps;
pub mod oauth_installations;
pub mod oauth_tokens;
pub mod operator_keys;
pub mod outbox;
pub mod page;
pub mod scopes;
pub mod tenant;
pub mod unique;
pub mod webhook_deliveries;
pub mod webhook_endpoints;
pub mod workspaces;

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context, Result};
use hoverbot_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, Statement};

pub use db::{Db, Write};

/// Connects to `url`; for SQLite, creates the file's directory and turns on WAL.
pub async fn connect(url: &str) -> Result<Db> {
    let is_sqlite = url.starts_with("sqlite:");
    if is_sqlite
        && let Some(path) = sqlite_file(url)
        && let Some(dir) = std::path::Path::new(path).parent()
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    let mut options = ConnectOptions::new(url);
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    if is_sqlite {
        // SQLite has one writer at a time; a small pool of readers is plenty. WAL lets them read
        // while it writes, and `synchronous = NORMAL` (set on every connection: it is not kept in
        // the file) syncs at checkpoints rather than at each commit, which WAL keeps safe. A
        // connection is not tested before use, as a PostgreSQL one is (a server restarted or a
        // proxy's idle timeout may have dropped it): a file has no other end to hang up, and each
        // test would be one more hand-off to the connection's worker thread, as many as the reads.
        options
            .max_connections(8)
            .min_connections(1)
            .test_before_acquire(false)
            .map_sqlx_sqlite_opts(|sqlite| {
                sqlite
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
            });
    } else {
        options.max_connections(32);
    }
    let db = Database::connect(options)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact(url)))?;
    Ok(Db::new(db))
}

/// The file of a SQLite URL (`None` for another database, or SQLite in memory).
pub fn sqlite_file(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Applies pending migrations. A database that already has every migration of this build (and
/// perhaps newer ones, applied by a newer release during a rolling upgrade) is left as it is.
pub async fn migrate(db: &Db) -> Result<()> {
    if missing_migrations(db)
        .await
        .is_ok_and(|missing| missing == 0)
    {
        return Ok(());
    }
    Migrator::up(db.connection(), None)
        .await
        .context("cannot apply the database migrations")
}

/// Whether the database answers and has every migration this build knows. Newer ones do not
/// matter: their releases keep the schema working for this one.
pub async fn ready(db: &Db) -> Result<()> {
    let missing = missing_migrations(db).await?;
    anyhow::ensure!(missing == 0, "{missing} migrations are not applied");
    Ok(())
}

/// How many of this build's migrations the database lacks, read without changing anything.
async fn missing_migrations(db: &Db) -> Result<usize> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations",
        ))
        .await
        .context("cannot read the applied migrations")?;
    let applied: HashSet<String> = rows
        .iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect::<Result<_, _>>()?;
    Ok(Migrator::migrations()
        .iter()
        .filter(|migration| !applied.contains(migration.name()))
        .count())
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
