//! GCRA in PostgreSQL: one atomic upsert per request decides and moves the key's TAT, on the
//! database's clock, so any number of replicas share one quota per key.

use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, QueryResult, Statement};

use super::gcra::{self, Decision, Quota};

/// Inserts a fresh key as admitted; otherwise admits when `max(tat, now) - now <= tolerance` and
/// moves the TAT on. `SET` expressions all see the row as it was, and the row lock serialises
/// concurrent requests for one key.
const CHECK: &str = "\
INSERT INTO rate_limits AS r (key, tat, admitted, now_ns) \
SELECT $1, n.ns + $2, TRUE, n.ns \
FROM (SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000000)::BIGINT AS ns) AS n \
ON CONFLICT (key) DO UPDATE SET \
  admitted = GREATEST(r.tat, EXCLUDED.now_ns) - EXCLUDED.now_ns <= $3, \
  tat = CASE WHEN GREATEST(r.tat, EXCLUDED.now_ns) - EXCLUDED.now_ns <= $3 \
        THEN GREATEST(r.tat, EXCLUDED.now_ns) + $2 ELSE r.tat END, \
  now_ns = EXCLUDED.now_ns \
RETURNING tat, admitted, now_ns";

/// The key's TAT (0 when unknown) and the database's clock, for a decision that counts nothing.
const PEEK: &str = "\
SELECT COALESCE((SELECT tat FROM rate_limits WHERE key = $1), 0) AS tat, \
(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000000)::BIGINT AS now_ns";

const PURGE_IDLE: &str = "DELETE FROM rate_limits WHERE tat < (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000000)::BIGINT";

fn nanos(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub async fn check(db: &impl ConnectionTrait, quota: Quota, key: &str) -> Result<Decision, DbErr> {
    let statement = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        CHECK,
        [
            key.into(),
            nanos(quota.interval_ns).into(),
            nanos(gcra::tolerance_ns(quota)).into(),
        ],
    );
    let row = one_row(db, statement).await?;
    let (tat, now) = tat_and_now(&row)?;
    let admitted: bool = row.try_get("", "admitted")?;
    Ok(gcra::describe(quota, tat, now, admitted))
}

/// Whether a request of `key` would be admitted now, without counting one.
pub async fn would_admit(
    db: &impl ConnectionTrait,
    quota: Quota,
    key: &str,
) -> Result<bool, DbErr> {
    let statement = Statement::from_sql_and_values(DatabaseBackend::Postgres, PEEK, [key.into()]);
    let (tat, now) = tat_and_now(&one_row(db, statement).await?)?;
    Ok(gcra::check(quota, tat, now).0.admitted)
}

async fn one_row(db: &impl ConnectionTrait, statement: Statement) -> Result<QueryResult, DbErr> {
    db.query_one_raw(statement)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the rate-limit statement returned no row".into()))
}

/// The key's TAT and the database's clock, in nanoseconds.
fn tat_and_now(row: &QueryResult) -> Result<(u64, u64), DbErr> {
    let tat: i64 = row.try_get("", "tat")?;
    let now: i64 = row.try_get("", "now_ns")?;
    Ok((
        u64::try_from(tat).unwrap_or(0),
        u64::try_from(now).unwrap_or(0),
    ))
}

/// Drops keys that have their full burst back (they are the same as new ones).
pub async fn purge_idle(db: &crate::store::Db) -> Result<u64, DbErr> {
    let txn = db.write().await?;
    let purged = txn.execute_unprepared(PURGE_IDLE).await?.rows_affected();
    txn.commit().await?;
    Ok(purged)
}
