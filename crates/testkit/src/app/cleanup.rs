//! Dropping what a test app made: its database, its DynamoDB table, its copy of the frontend.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::Client;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use faro_backend::Config;
use std::path::PathBuf;

/// What to drop once the test is over, even when it panicked.
#[derive(Debug)]
pub struct Cleanup {
    database_url: String,
    table: String,
    region: String,
    endpoint: Option<String>,
    frontend: Option<PathBuf>,
}

impl Cleanup {
    pub fn of(config: &Config, frontend: Option<PathBuf>) -> Self {
        Self {
            database_url: config.database.url.expose().to_owned(),
            table: config.dynamodb.table.clone(),
            region: config.dynamodb.region.clone(),
            endpoint: config.dynamodb.endpoint.clone(),
            frontend,
        }
    }

    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dir) = &self.frontend {
            let _ = std::fs::remove_dir_all(dir);
        }
        let url = std::mem::take(&mut self.database_url);
        let table = std::mem::take(&mut self.table);
        let region = std::mem::take(&mut self.region);
        let endpoint = self.endpoint.take();
        run_from_drop(move || async move {
            drop_database(&url).await;
            // Only DynamoDB Local: a test never deletes a real table.
            if let Some(endpoint) = endpoint {
                let _ = dynamodb_local(&endpoint, region)
                    .await
                    .delete_table()
                    .table_name(&table)
                    .send()
                    .await;
            }
        });
    }
}

/// Runs the future `work` makes to its end from a `Drop`: drop cannot await, and may run on a
/// runtime's thread, so a short-lived runtime on a thread of its own does the work (the future
/// is made there, so it need not be `Send`).
pub fn run_from_drop<F, W>(work: W)
where
    W: FnOnce() -> F + Send + 'static,
    F: Future<Output = ()>,
{
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(work());
    })
    .join();
}

/// Drops the database `url` names. The test's runtime no longer runs the app once the test is
/// over, so a transaction the app had open (the worker's, say) never ends, and its metadata
/// lock would keep `DROP DATABASE` waiting forever: the app's sessions are ended first.
async fn drop_database(url: &str) {
    use sqlx::{ConnectOptions, mysql::MySqlConnectOptions};
    let Ok(options) = url.parse::<MySqlConnectOptions>() else {
        return;
    };
    let Some(name) = options.get_database().map(str::to_owned) else {
        return;
    };
    let Ok(mut conn) = options.database("information_schema").connect().await else {
        return;
    };
    // MariaDB says BIGINT, MySQL BIGINT UNSIGNED: read as text, either way.
    let sessions: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(id AS CHAR) FROM information_schema.processlist \
         WHERE db = ? AND id <> CONNECTION_ID()",
    )
    .bind(&name)
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    for id in sessions.iter().filter_map(|id| id.parse::<u64>().ok()) {
        let _ = sqlx::query(&format!("KILL {id}")).execute(&mut conn).await;
    }
    // Should anything else hold the database, give up rather than hang the test run.
    let _ = sqlx::query("SET SESSION lock_wait_timeout = 30")
        .execute(&mut conn)
        .await;
    let statement = format!("DROP DATABASE IF EXISTS `{}`", name.replace('`', "``"));
    let _ = sqlx::query(&statement).execute(&mut conn).await;
}

/// A client of the DynamoDB Local at `endpoint`, credentials from the environment.
async fn dynamodb_local(endpoint: &str, region: String) -> Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region))
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .load()
        .await;
    let config = aws_sdk_dynamodb::config::Builder::from(&shared)
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}
