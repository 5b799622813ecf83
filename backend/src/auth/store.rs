//! What resolving a session reads from MySQL.

use chrono::{DateTime, Utc};
use sqlx::MySqlPool;

/// The account a session belongs to.
#[derive(Debug, sqlx::FromRow)]
pub struct SessionUser {
    pub email: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    /// Sessions that began before this are over (signed out everywhere, password changed).
    pub sessions_valid_from: Option<DateTime<Utc>>,
}

pub async fn user(db: &MySqlPool, id: u64) -> Result<Option<SessionUser>, sqlx::Error> {
    sqlx::query_as(
        "SELECT email, display_name, created_at, sessions_valid_from FROM users WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}
