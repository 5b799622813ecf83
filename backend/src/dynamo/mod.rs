//! DynamoDB through the AWS SDK: one table, single-table design (`pk`/`sk` strings and an
//! `expires_at` TTL attribute). Key patterns are documented in `docs/dynamodb.md`.

pub mod writer;

use crate::config::DynamoConfig;
use aws_config::{BehaviorVersion, Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, SdkError},
    types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        TimeToLiveSpecification,
    },
};
use aws_smithy_http_client::{Builder as HttpClientBuilder, tls};
use std::time::Duration;

/// The table's partition and sort key attribute names.
pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// Epoch seconds after which DynamoDB deletes the item (sessions, idempotency records…).
pub const TTL_ATTRIBUTE: &str = "expires_at";

#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    #[error("DynamoDB table {table} is unavailable: {detail}")]
    Unavailable { table: String, detail: String },
    #[error("cannot create DynamoDB table {table}: {detail}")]
    Create { table: String, detail: String },
}

/// Builds the client. Credentials come from the default chain (the task role on Fargate,
/// environment variables locally); the endpoint override points at DynamoDB Local.
pub async fn client(config: &DynamoConfig) -> Client {
    client_with(&sdk_config(config).await, config)
}

/// [`client`] on an SDK configuration already loaded.
pub fn client_with(sdk: &aws_config::SdkConfig, config: &DynamoConfig) -> Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    Client::from_conf(builder.build())
}

/// The AWS SDK configuration of the process: region, timeouts, retries and the one TLS stack;
/// the Secrets Manager client of the database credentials shares it.
pub async fn sdk_config(config: &DynamoConfig) -> aws_config::SdkConfig {
    // rustls with ring, like sqlx, so the binary carries one TLS stack.
    let http_client = HttpClientBuilder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .http_client(http_client)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(500).min(config.attempt_timeout))
                .operation_attempt_timeout(config.attempt_timeout)
                .operation_timeout(config.operation_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    DisplayErrorContext(err).to_string()
}

/// One cheap call against the table, for readiness.
pub async fn ping(client: &Client, table: &str) -> Result<(), DynamoError> {
    client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map(|_| ())
        .map_err(|err| DynamoError::Unavailable {
            table: table.to_owned(),
            detail: describe(&err),
        })
}

/// Creates the table with the single-table key schema and TTL when it does not exist yet.
/// Only dev and test call this; in AWS the table belongs to CloudFormation.
pub async fn ensure_table(client: &Client, table: &str) -> Result<(), DynamoError> {
    let create_error = |detail: String| DynamoError::Create {
        table: table.to_owned(),
        detail,
    };
    match client.describe_table().table_name(table).send().await {
        Ok(_) => return Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(err) => return Err(create_error(describe(&err))),
    }
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| create_error(e.to_string()))
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| create_error(e.to_string()))
    };
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .send()
        .await;
    match created {
        Ok(_) => tracing::info!(table, "created DynamoDB table"),
        // Another process won the race; the table exists either way.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(err) => return Err(create_error(describe(&err))),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build()
                .map_err(|e| create_error(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|err| create_error(describe(&err)))?;
    Ok(())
}
