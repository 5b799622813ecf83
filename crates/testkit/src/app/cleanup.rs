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
        // Drop cannot await, and may run on a runtime's thread: a short-lived runtime on its
        // own thread does the dropping.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                use sqlx::migrate::MigrateDatabase;
                let _ = sqlx::MySql::drop_database(&url).await;
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
        })
        .join();
    }
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
