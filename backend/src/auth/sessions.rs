//! Sessions in DynamoDB: `pk = SESSION#<sha256(token)>`. The token itself (256 random bits)
//! exists only in the client's cookie or script; a leaked table cannot be replayed.

use crate::dynamo::{PK, SK, TTL_ATTRIBUTE};
use aws_sdk_dynamodb::{Client, types::AttributeValue};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("DynamoDB: {0}")]
    Store(String),
}

/// A freshly issued session. `token` goes to the client once and is never stored.
pub struct Issued {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub user_id: u64,
    pub expires_at: DateTime<Utc>,
}

fn key(token: &str) -> AttributeValue {
    AttributeValue::S(format!(
        "SESSION#{}",
        hex::encode(Sha256::digest(token.as_bytes()))
    ))
}

fn store_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    err: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> SessionError {
    SessionError::Store(aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string())
}

pub async fn issue(
    client: &Client,
    table: &str,
    user_id: u64,
    ttl: Duration,
) -> Result<Issued, SessionError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SessionError::Random(e.to_string()))?;
    let token = hex::encode(bytes);
    let now = Utc::now();
    let expires_at = now + ttl;
    client
        .put_item()
        .table_name(table)
        .item(PK, key(&token))
        .item(SK, AttributeValue::S("SESSION".into()))
        .item("user_id", AttributeValue::N(user_id.to_string()))
        .item("created_at", AttributeValue::S(now.to_rfc3339()))
        .item(
            TTL_ATTRIBUTE,
            AttributeValue::N(expires_at.timestamp().to_string()),
        )
        .send()
        .await
        .map_err(store_error)?;
    Ok(Issued { token, expires_at })
}

/// The live session for `token`, if any. TTL deletion is lazy, so expiry is checked here.
pub async fn find(
    client: &Client,
    table: &str,
    token: &str,
) -> Result<Option<Found>, SessionError> {
    // Real tokens are 64 hex characters; anything else cannot match and costs no round trip.
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let item = client
        .get_item()
        .table_name(table)
        .key(PK, key(token))
        .key(SK, AttributeValue::S("SESSION".into()))
        .consistent_read(true)
        .send()
        .await
        .map_err(store_error)?
        .item;
    let Some(item) = item else { return Ok(None) };
    let number = |name: &str| -> Option<i64> {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
    };
    let (Some(user_id), Some(expires)) = (number("user_id"), number(TTL_ATTRIBUTE)) else {
        return Ok(None);
    };
    let Some(expires_at) = DateTime::from_timestamp(expires, 0) else {
        return Ok(None);
    };
    if expires_at <= Utc::now() {
        return Ok(None);
    }
    Ok(Some(Found {
        user_id: user_id.try_into().unwrap_or_default(),
        expires_at,
    }))
}

pub async fn revoke(client: &Client, table: &str, token: &str) -> Result<(), SessionError> {
    client
        .delete_item()
        .table_name(table)
        .key(PK, key(token))
        .key(SK, AttributeValue::S("SESSION".into()))
        .send()
        .await
        .map_err(store_error)?;
    Ok(())
}
