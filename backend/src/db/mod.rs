//! MySQL (RDS MySQL 8 in AWS, MariaDB 10.11 locally) through sqlx.

pub mod credentials;
pub mod users;

use crate::config::{DatabaseConfig, UserSecrets};
use credentials::{Credentials, CredentialsError, SecretReader};
use sqlx::{
    MySql, MySqlPool,
    migrate::{MigrateDatabase, MigrateError, Migrator},
    mysql::MySqlPoolOptions,
};
use std::{sync::Arc, time::Duration};
use users::{Role, UsersError};

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
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Users(#[from] UsersError),
}

/// What a request MySQL refused answers, and readiness says: neither the user nor anything of
/// the secret.
pub const CREDENTIALS_REFUSED: &str = "MySQL refused the database credentials (access denied)";

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

/// [`pool`], logged in with the secret's credentials when `FARO_DATABASE_SECRET_ARN` is set:
/// those then follow the secret ([`credentials`]).
pub async fn connect(
    config: &DatabaseConfig,
    sdk: &aws_config::SdkConfig,
) -> Result<(MySqlPool, Option<Arc<Credentials>>), DbError> {
    let pool = pool(config);
    let Some(arn) = &config.secret_arn else {
        return Ok((pool, None));
    };
    let reader = SecretReader::new(sdk, config.secrets_endpoint.as_deref());
    let base = (*pool.connect_options()).clone();
    let credentials = Credentials::load(reader, arn.clone(), base, pool.clone()).await?;
    Ok((pool, Some(credentials)))
}

/// Whether `err` says MySQL could not be reached (down, starting, or out of connections) or
/// refused the credentials (a rotation the pool has not followed yet), rather than that it
/// refused a statement.
pub fn is_unreachable(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
    ) || credentials::is_refused(err)
}

/// `err` as readiness and problem details may show it.
pub fn describe(err: &sqlx::Error) -> String {
    if credentials::is_refused(err) {
        CREDENTIALS_REFUSED.to_owned()
    } else {
        err.to_string()
    }
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

/// `migrate` in AWS: as the administrator of `admin`, keeps the migration user and the
/// application user of `secrets` ([`users`]), then applies the migrations as the migration
/// user.
pub async fn migrate_as_migrator(
    admin: &MySqlPool,
    config: &DatabaseConfig,
    secrets: &UserSecrets,
    sdk: &aws_config::SdkConfig,
) -> Result<(), DbError> {
    let reader = SecretReader::new(sdk, config.secrets_endpoint.as_deref());
    let migrator = reader.read(&secrets.migrator).await?;
    let app = reader.read(&secrets.app).await?;
    // Where the administrator logs in (TLS included) is where the users do.
    let base = (*admin.connect_options()).clone();
    let database = config.url.database().unwrap_or_default();
    users::keep(admin, &base, database, &migrator, Role::Migrator).await?;
    users::keep(admin, &base, database, &app, Role::App).await?;
    let pool = MySqlPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(config.acquire_timeout)
        .connect_with(migrator.apply(&base))
        .await?;
    let migrated = migrate(&pool).await;
    pool.close().await;
    migrated
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
