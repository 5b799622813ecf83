//! Readiness's statements: one round trip each.

use sqlx::MySqlPool;

/// One round trip.
pub async fn ping(pool: &MySqlPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

/// The newest migration applied to the schema; `None` when none is (not even the table that
/// records them exists yet).
pub async fn newest_migration(pool: &MySqlPool) -> Result<Option<i64>, sqlx::Error> {
    let newest = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await;
    match newest {
        Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("42S02") => Ok(None),
        other => other,
    }
}
