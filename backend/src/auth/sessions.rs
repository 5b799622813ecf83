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

/// A live session, as its item says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub user_id: u64,
    pub expires_at: DateTime<Utc>,
    /// When the session began counting: its issue, or the password change it outlived. A
    /// revocation of all of the user's sessions ends those that began before it.
    pub valid_from: DateTime<Utc>,
    /// When it ends unless used again (`FARO_SESSION_IDLE_MINUTES` after its recorded use).
    pub idle_until: DateTime<Utc>,
}

/// Use is recorded when the last record is older than this share of the idle timeout: one
/// write per session every few minutes, never one per request. A session therefore ends after
/// 90–100 % of the idle timeout without use.
const TOUCH_SHARE: u32 = 10;

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

fn millis(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(at.timestamp_millis().to_string())
}

/// Starts a session for `user_id` at `now`, lasting `ttl`.
pub async fn issue(
    client: &Client,
    table: &str,
    user_id: u64,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<Issued, SessionError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SessionError::Random(e.to_string()))?;
    let token = hex::encode(bytes);
    let expires_at = now + ttl;
    client
        .put_item()
        .table_name(table)
        .item(PK, key(&token))
        .item(SK, AttributeValue::S("SESSION".into()))
        .item("user_id", AttributeValue::N(user_id.to_string()))
        .item("created_at", AttributeValue::S(now.to_rfc3339()))
        .item(VALID_FROM, millis(now))
        .item(LAST_SEEN, millis(now))
        .item(
            TTL_ATTRIBUTE,
            AttributeValue::N(expires_at.timestamp().to_string()),
        )
        .send()
        .await
        .map_err(store_error)?;
    Ok(Issued { token, expires_at })
}

const VALID_FROM: &str = "valid_from";
const LAST_SEEN: &str = "last_seen";

/// The session of `token` if it has neither expired nor been idle for `idle` at `now`; its
/// use is recorded on the way (now and then, see [`TOUCH_SHARE`]). Whether the user ended
/// all of their sessions since is in MySQL: [`super::live_user`] asks both, and is what the
/// rest of the app calls.
pub(super) async fn find(
    client: &Client,
    table: &str,
    token: &str,
    now: DateTime<Utc>,
    idle: Duration,
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
    // TTL deletion is lazy: an expired item may still be there.
    if expires_at <= now {
        return Ok(None);
    }
    let at = |name: &str| number(name).and_then(DateTime::from_timestamp_millis);
    // Sessions issued before use was recorded count from their first use since.
    let recorded = at(LAST_SEEN);
    let last_seen = recorded.unwrap_or(now);
    let idle = chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX);
    if now - last_seen >= idle {
        return Ok(None);
    }
    let idle_until = if recorded.is_none() || now - last_seen >= idle / TOUCH_SHARE as i32 {
        touch(client, table, token, now).await;
        now + idle
    } else {
        last_seen + idle
    };
    Ok(Some(Found {
        user_id: user_id.try_into().unwrap_or_default(),
        expires_at,
        valid_from: at(VALID_FROM).unwrap_or(DateTime::UNIX_EPOCH),
        idle_until,
    }))
}

/// Records a use of the session. A failure only costs the record (the session may end a
/// little early), so it is logged, not answered.
async fn touch(client: &Client, table: &str, token: &str, now: DateTime<Utc>) {
    if let Err(err) = set_if_present(client, table, token, LAST_SEEN, now).await {
        tracing::warn!(error = %err, "could not record a session's use");
    }
}

/// Sets `attribute` of the session of `token`, unless the session is gone (an update would
/// otherwise bring back an item without a user or an expiry).
async fn set_if_present(
    client: &Client,
    table: &str,
    token: &str,
    attribute: &str,
    at: DateTime<Utc>,
) -> Result<(), SessionError> {
    let updated = client
        .update_item()
        .table_name(table)
        .key(PK, key(token))
        .key(SK, AttributeValue::S("SESSION".into()))
        .update_expression("SET #a = :at")
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#a", attribute)
        .expression_attribute_names("#pk", PK)
        .expression_attribute_values(":at", millis(at))
        .send()
        .await;
    match updated {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(store_error(err)),
    }
}

/// Moves the start of the session of `token` to `at`, so that it outlives the revocation of
/// the user's sessions at `at` (the session a password is changed from).
pub(super) async fn restart(
    client: &Client,
    table: &str,
    token: &str,
    at: DateTime<Utc>,
) -> Result<(), SessionError> {
    set_if_present(client, table, token, VALID_FROM, at).await
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
