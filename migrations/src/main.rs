//! Command-line front end for the migrations (`up`, `down`, `fresh`, `status`, ...);
//! the database comes from `DATABASE_URL` or `--database-url`.

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli(hoverbot_migrations::Migrator).await
}
