//! MySQL (RDS MySQL 8 in AWS, MariaDB 10.11 locally) through sqlx.

use crate::config::DatabaseConfig;
use sqlx::{
    MySql, MySqlPool,
    migrate::{MigrateDatabase, MigrateError, Migrator},
    mysql::MySqlPoolOptions,
};
use std::time::Duration;

/// The schema, embedded in the binary so a deploy's one-off `migrate` task needs nothing else.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot reach MySQL at {url}: {source}")]
    Unreachable { url: String, source: sqlx::Error },
    #[error("cannot create database {name}: {source}")]
    Create { name: String, source: sqlx::Error },
    #[error("migrations failed: {0}")]
    Migrate(#[from] MigrateError),
    #[error("query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// A pool that connects lazily: the service starts (and reports not-ready) while the
/// database is still coming up, instead of crash-looping.
pub fn pool(config: &DatabaseConfig) -> MySqlPool {
    MySqlPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(config.min_connections)
        .acquire_timeout(config.acquire_timeout)
        .idle_timeout(Some(Duration::from_secs(300)))
        // RDS and MariaDB close idle connections after wait_timeout; recycle well before.
        .max_lifetime(Some(Duration::from_secs(1800)))
        .test_before_acquire(false)
        .connect_lazy_with(config.connect_options())
}

/// Whether `err` says MySQL could not be reached (down, starting, or out of connections),
/// rather than that it refused a statement.
pub fn is_unreachable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
    )
}

/// Creates the configured database if it does not exist (dev, test and the first deploy).
pub async fn create_database_if_missing(config: &DatabaseConfig) -> Result<(), DbError> {
    let url = config.url.to_string();
    let name = config.url.database().unwrap_or_default().to_owned();
    let raw = &config.url_with_tls();
    let exists = MySql::database_exists(raw)
        .await
        .map_err(|source| DbError::Unreachable { url, source })?;
    if !exists {
        MySql::create_database(raw)
            .await
            .map_err(|source| DbError::Create {
                name: name.clone(),
                source,
            })?;
        tracing::info!(database = %name, "created database");
    }
    Ok(())
}

/// Applies pending migrations; already-applied ones are skipped.
pub async fn migrate(pool: &MySqlPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// The current time at the precision MySQL stores (`DATETIME(6)`: microseconds), so a value
/// written and read back compares equal to the one the API answered with.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}

/// Whether a read also locks the rows it reads, for update until its transaction commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Plain,
    ForUpdate,
}

impl Read {
    /// `select` with this read's locking clause.
    pub fn sql(self, select: &str) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Plain => select.into(),
            Self::ForUpdate => format!("{select} FOR UPDATE").into(),
        }
    }
}

/// A write whose unique key is already taken answers `Ok(None)`: the one place a duplicate
/// is told apart from other failures, which each caller turns into its own 409.
pub fn unless_duplicate<T>(result: Result<T, sqlx::Error>) -> Result<Option<T>, sqlx::Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(sqlx::Error::Database(err)) if err.is_unique_violation() => Ok(None),
        Err(err) => Err(err),
    }
}
