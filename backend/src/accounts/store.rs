//! Accounts in MySQL: the `users` table.

use chrono::{DateTime, Utc};
use sqlx::{MySqlExecutor, MySqlPool};

/// What signing in checks a password against.
#[derive(Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: u64,
    pub display_name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// The new account's id, or `None` when the email is taken.
pub async fn insert(
    db: impl MySqlExecutor<'_>,
    email: &str,
    name: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<u64>, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO users (email, display_name, password_hash, created_at, updated_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .bind(now)
    .bind(now)
    .execute(db)
    .await;
    Ok(crate::db::unless_duplicate(inserted)?.map(|done| done.last_insert_id()))
}

pub async fn credentials(db: &MySqlPool, email: &str) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query_as("SELECT id, display_name, password_hash, created_at FROM users WHERE email = ?")
        .bind(email)
        .fetch_optional(db)
        .await
}

/// The id of the account with this (normalized) email.
pub async fn id_by_email(
    db: impl MySqlExecutor<'_>,
    email: &str,
) -> Result<Option<u64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE email = ?")
        .bind(email)
        .fetch_optional(db)
        .await
}

/// The password hash of account `id`.
pub async fn password_hash(db: &MySqlPool, id: u64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Ends account `id`'s sessions begun before `at` (the `commit` of
/// `crate::auth::end_sessions`) and, in the same statement, sets its new password if any.
pub async fn end_sessions(
    db: &MySqlPool,
    id: u64,
    at: DateTime<Utc>,
    new_password_hash: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE users SET sessions_valid_from = ?, updated_at = ?, \
         password_hash = COALESCE(?, password_hash) WHERE id = ?",
    )
    .bind(at)
    .bind(at)
    .bind(new_password_hash)
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}
