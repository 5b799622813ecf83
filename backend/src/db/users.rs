//! The two users `migrate` creates and keeps, each with its password in a secret of its own:
//! the application's (SELECT, INSERT, UPDATE, DELETE on the database, nothing else) and the
//! migrations' (every privilege on the database, none beyond it). The administrator (the RDS
//! master user) does this at each deploy, so the service's tasks never need its password.
//!
//! Every statement is idempotent: a user that exists keeps its password unless it cannot log
//! in with the secret's (a restored snapshot, a rotation that failed half-way), and granting a
//! privilege it has changes nothing. Nothing is revoked here: a revoke followed by a grant
//! would refuse the running tasks' statements in between.

use super::credentials::UserSecret;
use sqlx::{Connection, MySqlConnection, MySqlPool, mysql::MySqlConnectOptions};

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error(
        "the user name {0:?} in a database secret is not 1-32 of a-z 0-9 _ (the data stack writes such names)"
    )]
    Name(String),
    #[error("the database name {0:?} cannot be granted on (expected a-z 0-9 _ only)")]
    Database(String),
    #[error("cannot {what} database user {user}: {source}")]
    Statement {
        what: &'static str,
        user: String,
        source: sqlx::Error,
    },
}

/// What a user may do in the application's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The service: reads and writes rows.
    App,
    /// `migrate`: changes the schema.
    Migrator,
}

impl Role {
    fn privileges(self) -> &'static str {
        match self {
            Self::App => "SELECT, INSERT, UPDATE, DELETE",
            Self::Migrator => "ALL PRIVILEGES",
        }
    }
}

/// Creates `user` if missing, sets its password when it cannot log in with the secret's, and
/// grants it `role`'s privileges on `database`. `admin` is a pool of the administrator; `base`
/// is where users log in (host, port, database, TLS).
pub async fn keep(
    admin: &MySqlPool,
    base: &MySqlConnectOptions,
    database: &str,
    user: &UserSecret,
    role: Role,
) -> Result<(), UsersError> {
    if !is_plain_name(&user.username) {
        return Err(UsersError::Name(user.username.clone()));
    }
    if !is_plain_name(database) {
        return Err(UsersError::Database(database.to_owned()));
    }
    let account = format!("'{}'@'%'", user.username);
    let password = quote(user.password.expose());
    let run = |what: &'static str, sql: String| async move {
        // The text protocol: MySQL takes no placeholders in account statements. The statement
        // holds the password, so it is never logged, and neither is sqlx's error about it.
        sqlx::raw_sql(&sql)
            .execute(admin)
            .await
            .map(|_| ())
            .map_err(|source| UsersError::Statement {
                what,
                user: user.username.clone(),
                source,
            })
    };
    run(
        "create",
        format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {password}"),
    )
    .await?;
    if !logs_in(base, user).await {
        tracing::warn!(user = %user.username, "the user's password differed from its secret; set again");
        run(
            "set the password of",
            format!("ALTER USER {account} IDENTIFIED BY {password}"),
        )
        .await?;
    }
    run(
        "grant privileges to",
        format!("GRANT {} ON `{database}`.* TO {account}", role.privileges()),
    )
    .await?;
    tracing::info!(user = %user.username, ?role, "database user kept");
    Ok(())
}

/// Whether `user` can log in with the secret's password right now.
async fn logs_in(base: &MySqlConnectOptions, user: &UserSecret) -> bool {
    match MySqlConnection::connect_with(&user.apply(base)).await {
        Ok(conn) => {
            let _ = conn.close().await;
            true
        }
        Err(_) => false,
    }
}

/// A name that needs no quoting beyond backticks or single quotes.
fn is_plain_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `value` as a MySQL string literal under the default `sql_mode` (backslash escapes on, as on
/// RDS and MariaDB). The data stack's generated passwords hold neither quotes nor backslashes;
/// this keeps any other value inside its literal all the same.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_are_taken() {
        assert!(is_plain_name("faro_app"));
        assert!(!is_plain_name(""));
        assert!(!is_plain_name("faro'; DROP"));
        assert!(!is_plain_name("FaroApp"));
        assert!(!is_plain_name(&"a".repeat(33)));
    }

    #[test]
    fn quotes_and_backslashes_stay_inside_the_literal() {
        assert_eq!(quote(r"a'b\c"), r"'a''b\\c'");
    }
}
