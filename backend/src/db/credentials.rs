//! The database user and password from Secrets Manager (`FARO_DATABASE_SECRET_ARN`).
//!
//! ECS injects a secret into a task's environment only when the task starts, and a rotation
//! changes the password under a running task: every connection opened after it would be refused
//! until the task restarts. So the backend reads the secret itself, at start-up and again when
//! MySQL refuses the credentials (error 1045), and gives the pool the new ones for the
//! connections it opens next; the connections it holds keep working (MySQL checks a password at
//! log-in only). A secret that stays wrong is read again less and less often (1 s doubling to
//! 5 min), so a broken rotation cannot turn every request into a Secrets Manager call.

use aws_sdk_secretsmanager::{Client, error::DisplayErrorContext};
use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use faro_resilience::Secret;
use serde::Deserialize;
use sqlx::{MySqlPool, mysql::MySqlConnectOptions};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// MySQL's ER_ACCESS_DENIED_ERROR.
const ACCESS_DENIED: u16 = 1045;

/// The wait after a read of the secret before the next one, when the read changed something.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait, reached by doubling while the secret stays the one MySQL refuses.
const LONGEST_WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read the database secret {arn}: {detail}")]
    Read { arn: String, detail: String },
    #[error(
        "the database secret {arn} is not JSON with \"username\" and \"password\" (as RDS and the data stack write it)"
    )]
    Shape { arn: String },
}

/// A user and its password, as RDS-managed secrets and the data stack's secrets hold them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserSecret {
    pub username: String,
    #[serde(deserialize_with = "secret")]
    pub password: Secret,
}

fn secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    String::deserialize(d).map(Secret::new)
}

impl UserSecret {
    /// `base` (host, port, database, TLS) logging in as this user.
    pub fn apply(&self, base: &MySqlConnectOptions) -> MySqlConnectOptions {
        base.clone()
            .username(&self.username)
            .password(self.password.expose())
    }
}

/// Reads database secrets (the backend's own, and the users `migrate` keeps).
#[derive(Debug, Clone)]
pub struct SecretReader {
    client: Client,
}

impl SecretReader {
    /// A client on the SDK configuration of the process (region, timeouts, retries), at
    /// `endpoint` when one is given (moto in tests).
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> Self {
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Some(endpoint) = endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Self {
            client: Client::from_conf(builder.build()),
        }
    }

    /// The current version of secret `arn`.
    pub async fn read(&self, arn: &str) -> Result<UserSecret, CredentialsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| CredentialsError::Read {
                arn: arn.to_owned(),
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        let shape = || CredentialsError::Shape {
            arn: arn.to_owned(),
        };
        // serde_json's errors quote no input, but the text itself is never logged either.
        let text = Secret::new(out.secret_string().ok_or_else(shape)?);
        serde_json::from_str(text.expose()).map_err(|_| shape())
    }
}

/// The credentials of one pool, kept from one secret.
#[derive(Debug)]
pub struct Credentials {
    reader: SecretReader,
    arn: String,
    /// Host, port, database and TLS from the configuration; the user and password are the
    /// secret's.
    base: MySqlConnectOptions,
    pool: MySqlPool,
    /// Held during a read, so a burst of refusals makes one call, not one each.
    renewal: tokio::sync::Mutex<Renewal>,
}

#[derive(Debug)]
struct Renewal {
    last: Option<Instant>,
    wait: Duration,
    current: Option<UserSecret>,
}

/// What a request for a new read did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewed {
    /// The secret holds other credentials than the pool had: new connections use them.
    Changed,
    /// The secret holds what the pool already had (it is wrong, or a rotation is half done).
    Unchanged,
    /// Another read is running, or the last one is too recent.
    Skipped,
}

impl Credentials {
    /// Reads secret `arn` and gives `pool` its credentials; `base` is where they log in.
    pub async fn load(
        reader: SecretReader,
        arn: String,
        base: MySqlConnectOptions,
        pool: MySqlPool,
    ) -> Result<Arc<Self>, CredentialsError> {
        let this = Arc::new(Self {
            reader,
            arn,
            base,
            pool,
            renewal: tokio::sync::Mutex::new(Renewal {
                last: None,
                wait: FIRST_WAIT,
                current: None,
            }),
        });
        this.renew().await?;
        Ok(this)
    }

    /// Reads the secret again unless the last read is more recent than the current wait; a
    /// caller that comes while a read runs waits for it, and does not read again.
    pub async fn renew(&self) -> Result<Renewed, CredentialsError> {
        let mut renewal = self.renewal.lock().await;
        if renewal.last.is_some_and(|at| at.elapsed() < renewal.wait) {
            return Ok(Renewed::Skipped);
        }
        renewal.last = Some(Instant::now());
        let read = self.reader.read(&self.arn).await;
        let fresh = match read {
            Ok(fresh) => fresh,
            Err(err) => {
                renewal.wait = (renewal.wait * 2).min(LONGEST_WAIT);
                return Err(err);
            }
        };
        if renewal.current.as_ref() == Some(&fresh) {
            renewal.wait = (renewal.wait * 2).min(LONGEST_WAIT);
            tracing::warn!(
                user = %fresh.username,
                next_read_within_secs = renewal.wait.as_secs(),
                "MySQL refuses the credentials the database secret holds"
            );
            return Ok(Renewed::Unchanged);
        }
        self.pool.set_connect_options(fresh.apply(&self.base));
        if renewal.current.is_some() {
            tracing::info!(user = %fresh.username, "database credentials renewed from Secrets Manager");
        }
        renewal.wait = FIRST_WAIT;
        renewal.current = Some(fresh);
        Ok(Renewed::Changed)
    }

    /// [`Self::renew`] on a task of its own, for a caller that must not wait: the answer to
    /// a refusal goes out at once, and the next connection gets the new credentials.
    pub fn renew_soon(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(err) = this.renew().await {
                tracing::error!(error = %err, "the database credentials could not be renewed");
            }
        });
    }
}

/// Marks an answer that MySQL's refusal of the credentials made (set by `ApiError`).
#[derive(Debug, Clone, Copy)]
pub struct Refused;

/// Middleware: after an answer that MySQL's refusal of the credentials made, reads the secret
/// again for the next connections, and holds the answer until that read is done: a client that
/// retries at once then finds the new credentials in place instead of failing again.
pub async fn renew_on_refusal(
    State(credentials): State<Arc<Credentials>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if response.extensions().get::<Refused>().is_some()
        && let Err(err) = credentials.renew().await
    {
        tracing::error!(error = %err, "the database credentials could not be renewed");
    }
    response
}

/// Whether MySQL refused the user or password (error 1045, "Access denied"), which a new
/// password in the secret may cure.
pub fn is_refused(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some_and(|e| e.number() == ACCESS_DENIED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_reads_like_rds_writes_it_and_debug_hides_the_password() {
        let secret: UserSecret = serde_json::from_str(
            r#"{"username": "faro_app", "password": "p4ss", "host": "db", "port": 3306}"#,
        )
        .expect("parses");
        assert_eq!(secret.username, "faro_app");
        assert_eq!(secret.password.expose(), "p4ss");
        assert!(!format!("{secret:?}").contains("p4ss"));
    }
}
