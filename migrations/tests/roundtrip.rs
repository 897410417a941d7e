//! Every migration must apply, roll back and reapply cleanly on each backend
//! the server supports: always on SQLite, and on PostgreSQL when
//! `HOVERBOT_TEST_DATABASE_URL` names a server where the test may create and
//! drop its own database (e.g. `postgres://postgres@127.0.0.1:5432/postgres`).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use hoverbot_migrations::{Migrator, MigratorTrait};
use sea_orm_migration::SchemaManager;
use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbErr, Statement};

const POSTGRES_URL_VAR: &str = "HOVERBOT_TEST_DATABASE_URL";

/// Every table the migrations own, parents first.
const TABLES: [&str; 19] = [
    "workspaces",
    "api_keys",
    "conversations",
    "messages",
    "knowledge_sources",
    "escalations",
    "idempotency_keys",
    "rate_limits",
    "webhook_endpoints",
    "webhook_events",
    "webhook_deliveries",
    "webhook_attempts",
    "knowledge_chunks",
    "knowledge_index",
    "oauth_apps",
    "oauth_installations",
    "oauth_codes",
    "oauth_tokens",
    "operator_keys",
];

#[tokio::test]
async fn sqlite_round_trip() {
    let file = TempDatabaseFile::new();
    let db = Database::connect(format!("sqlite://{}?mode=rwc", file.path.display()))
        .await
        .expect("open the SQLite database");

    let outcome = tokio::spawn(round_trip(db.clone())).await;
    db.close().await.expect("close the SQLite database");
    finish(outcome);
}

#[tokio::test]
#[cfg_attr(
    no_test_postgres,
    ignore = "needs PostgreSQL: set HOVERBOT_TEST_DATABASE_URL"
)]
async fn postgres_round_trip() {
    let admin_url = std::env::var(POSTGRES_URL_VAR)
        .expect("the test was built with HOVERBOT_TEST_DATABASE_URL set; run it with it too");
    let admin = Database::connect(&admin_url)
        .await
        .expect("connect to the PostgreSQL server");
    let name = unique_name("hoverbot_migrations_test");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the test database");

    let db = Database::connect(with_database(&admin_url, &name))
        .await
        .expect("connect to the test database");
    let outcome = tokio::spawn(round_trip(db.clone())).await;
    db.close().await.expect("close the test database");

    admin
        .execute_unprepared(&format!("DROP DATABASE {name}"))
        .await
        .expect("drop the test database");
    admin.close().await.expect("close the PostgreSQL server");
    finish(outcome);
}

/// Runs on its own task so that a failed assertion still lets the caller
/// clean up the database before the failure is reported.
async fn round_trip(db: DatabaseConnection) -> Result<(), DbErr> {
    let manager = SchemaManager::new(&db);

    Migrator::up(&db, None).await?;
    assert_tables(&manager, true).await?;
    assert!(Migrator::get_pending_migrations(&db).await?.is_empty());

    Migrator::down(&db, None).await?;
    assert_tables(&manager, false).await?;
    assert!(Migrator::get_applied_migrations(&db).await?.is_empty());

    // `fresh` must also clear out whatever an earlier run left behind.
    Migrator::up(&db, None).await?;
    db.execute_unprepared(
        "INSERT INTO workspaces (id, name, created_at) \
         VALUES ('ws_roundtrip', 'round trip', '2026-11-23T00:00:00Z')",
    )
    .await?;
    Migrator::fresh(&db).await?;
    assert_tables(&manager, true).await?;
    let leftover = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM workspaces",
        ))
        .await?
        .expect("COUNT(*) returns a row")
        .try_get::<i64>("", "n")?;
    assert_eq!(leftover, 0, "fresh kept rows from before");

    Ok(())
}

async fn assert_tables(manager: &SchemaManager<'_>, present: bool) -> Result<(), DbErr> {
    for table in TABLES {
        assert_eq!(
            manager.has_table(table).await?,
            present,
            "table `{table}` should {}exist",
            if present { "" } else { "no longer " },
        );
    }
    Ok(())
}

fn finish(outcome: Result<Result<(), DbErr>, tokio::task::JoinError>) {
    match outcome {
        Ok(result) => result.expect("round trip"),
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(join) => panic!("round trip did not finish: {join}"),
    }
}

/// `url` with its database name replaced by `name`, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// Unique across concurrent test processes and across runs.
fn unique_name(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// A SQLite database file in the temp directory, removed with its journal
/// files when dropped.
struct TempDatabaseFile {
    path: PathBuf,
}

impl TempDatabaseFile {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name("hoverbot-migrations")));
        Self { path }
    }
}

impl Drop for TempDatabaseFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut file = self.path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

#[test]
fn with_database_replaces_only_the_database_name() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@db:5432/test?sslmode=disable", "x"),
        "postgres://u:p@db:5432/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
}
