//! `Idempotency-Key` for the requests that create a release, kept in DynamoDB
//! (`pk = IDEMPOTENCY#<user id>#<key>`, `sk = IDEMPOTENCY`, 24 h TTL), so a repeat lands on the
//! same release whichever backend task answers it.
//!
//! A request first *claims* its key with a conditional put: a pending record holding the
//! SHA-256 of the request and a 30 s lease. The claimant marks the record done with the new
//! release's id *before* committing the release; a repeat then answers with that release. A
//! repeat that finds the key pending waits for the claimant; an expired lease (the claimant
//! died) or a done record whose release never committed may be taken over.

use crate::{
    AppState,
    dynamo::{PK, SK, TTL_ATTRIBUTE},
    error::ApiError,
};
use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, SdkError},
    types::AttributeValue,
};
use axum::http::HeaderMap;
use faro_types::FieldError;
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

pub const HEADER: &str = "Idempotency-Key";
/// How long a claimant owns a pending key before another request may take it over.
const LEASE: Duration = Duration::from_secs(30);
/// How long a key is remembered.
const TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a concurrent duplicate waits for the claimant to finish.
const WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// The key from the request headers: 1–255 visible ASCII characters.
pub fn key_from(headers: &HeaderMap) -> Result<String, FieldError> {
    let error = |message: &str| FieldError {
        field: HEADER.to_owned(),
        message: message.to_owned(),
    };
    let value = headers.get(HEADER).ok_or_else(|| {
        error("is required: send a unique key (such as a UUID) per release you mean to create")
    })?;
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 || !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(error("must be 1 to 255 visible ASCII characters"));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// The fingerprint that tells a repeat from a different request under the same key.
pub fn request_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn reused() -> ApiError {
    ApiError::field(
        HEADER,
        "was already used for a different request; send a new key for a new release",
    )
}

pub fn still_running() -> ApiError {
    ApiError::Conflict {
        detail: "A request with this Idempotency-Key is still being processed; repeat it shortly."
            .into(),
        field: Some(HEADER.to_owned()),
    }
}

fn dynamo<E: std::error::Error + 'static, R: std::fmt::Debug>(err: SdkError<E, R>) -> ApiError {
    ApiError::dynamo(DisplayErrorContext(err))
}

fn is_condition_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

fn epoch(offset: Duration) -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + offset
}

fn millis(offset: Duration) -> String {
    epoch(offset).as_millis().to_string()
}

fn secs(offset: Duration) -> String {
    epoch(offset).as_secs().to_string()
}

fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// What [`begin`] decided.
#[derive(Debug)]
pub enum Begin {
    /// The caller owns the key and creates the release.
    Claimed(Claim),
    /// The key already produced this release.
    Replay(u64),
}

/// Ownership of a pending key.
#[derive(Debug)]
pub struct Claim {
    pk: String,
    token: String,
}

#[derive(Debug)]
pub enum CompleteError {
    /// Another request took the key over (this one outlived its lease); roll back.
    LeaseLost,
    Store(ApiError),
}

#[derive(Debug)]
struct Record {
    hash: String,
    done: bool,
    release_id: Option<u64>,
    token: String,
    lease_until_ms: u128,
}

fn record(item: &HashMap<String, AttributeValue>) -> Option<Record> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let n = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).cloned();
    let expires: u64 = n(TTL_ATTRIBUTE)?.parse().ok()?;
    if Duration::from_secs(expires) < epoch(Duration::ZERO) {
        // TTL deletion is lazy; an expired record is gone as far as we are concerned.
        return None;
    }
    Some(Record {
        hash: s("request_hash")?,
        done: s("phase")? == "done",
        release_id: n("release_id").and_then(|v| v.parse().ok()),
        token: s("lease_token")?,
        lease_until_ms: n("lease_until")?.parse().ok()?,
    })
}

/// Claims `key` for `user_id`'s request fingerprinted `hash`, or finds the release it already
/// made, waiting up to a few seconds for a concurrent claimant.
pub async fn begin(
    state: &AppState,
    user_id: u64,
    key: &str,
    hash: &str,
) -> Result<Begin, ApiError> {
    let pk = format!("IDEMPOTENCY#{user_id}#{key}");
    let deadline = Instant::now() + WAIT;
    loop {
        let token = random_token()?;
        let put = state
            .dynamo
            .put_item()
            .table_name(&*state.table)
            .item(PK, AttributeValue::S(pk.clone()))
            .item(SK, AttributeValue::S("IDEMPOTENCY".into()))
            .item("phase", AttributeValue::S("pending".into()))
            .item("request_hash", AttributeValue::S(hash.to_owned()))
            .item("lease_token", AttributeValue::S(token.clone()))
            .item("lease_until", AttributeValue::N(millis(LEASE)))
            .item(TTL_ATTRIBUTE, AttributeValue::N(secs(TTL)))
            .condition_expression("attribute_not_exists(#pk) OR #ttl < :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", AttributeValue::N(secs(Duration::ZERO)))
            .send()
            .await;
        match put {
            Ok(_) => return Ok(Begin::Claimed(Claim { pk, token })),
            Err(err) if is_condition_failure(&err) => {}
            Err(err) => return Err(dynamo(err)),
        }

        let existing = state
            .dynamo
            .get_item()
            .table_name(&*state.table)
            .key(PK, AttributeValue::S(pk.clone()))
            .key(SK, AttributeValue::S("IDEMPOTENCY".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo)?
            .item
            .as_ref()
            .and_then(record);
        // Deleted or expired meanwhile: claim again.
        let Some(existing) = existing else { continue };
        if existing.hash != hash {
            return Err(reused());
        }
        let lease_over = existing.lease_until_ms < epoch(Duration::ZERO).as_millis();
        if existing.done
            && let Some(release_id) = existing.release_id
        {
            let committed: Option<(u64,)> = sqlx::query_as("SELECT id FROM releases WHERE id = ?")
                .bind(release_id)
                .fetch_optional(&state.db)
                .await?;
            if committed.is_some() {
                return Ok(Begin::Replay(release_id));
            }
            // Marked done but not (yet) committed: the claimant is committing, or its commit
            // failed, which the end of its lease tells.
        }
        if lease_over {
            if let Some(claim) = take_over(state, &pk, &existing.token).await? {
                return Ok(Begin::Claimed(claim));
            }
            continue;
        }
        if Instant::now() >= deadline {
            return Err(still_running());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Takes a key over from a claimant whose lease ended; `None` if someone else was faster.
async fn take_over(state: &AppState, pk: &str, old_token: &str) -> Result<Option<Claim>, ApiError> {
    let token = random_token()?;
    let updated = state
        .dynamo
        .update_item()
        .table_name(&*state.table)
        .key(PK, AttributeValue::S(pk.to_owned()))
        .key(SK, AttributeValue::S("IDEMPOTENCY".into()))
        .update_expression(
            "SET #phase = :pending, #token = :token, #until = :until, #ttl = :ttl \
             REMOVE #release",
        )
        .condition_expression("#token = :old")
        .expression_attribute_names("#phase", "phase")
        .expression_attribute_names("#token", "lease_token")
        .expression_attribute_names("#until", "lease_until")
        .expression_attribute_names("#release", "release_id")
        .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
        .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
        .expression_attribute_values(":token", AttributeValue::S(token.clone()))
        .expression_attribute_values(":until", AttributeValue::N(millis(LEASE)))
        .expression_attribute_values(":ttl", AttributeValue::N(secs(TTL)))
        .expression_attribute_values(":old", AttributeValue::S(old_token.to_owned()))
        .send()
        .await;
    match updated {
        Ok(_) => {
            tracing::info!("took over an idempotency key whose claimant did not finish");
            Ok(Some(Claim {
                pk: pk.to_owned(),
                token,
            }))
        }
        Err(err) if is_condition_failure(&err) => Ok(None),
        Err(err) => Err(dynamo(err)),
    }
}

impl Claim {
    /// Records that the key produced `release_id`. Called before the release commits.
    pub async fn complete(&self, state: &AppState, release_id: u64) -> Result<(), CompleteError> {
        let updated = state
            .dynamo
            .update_item()
            .table_name(&*state.table)
            .key(PK, AttributeValue::S(self.pk.clone()))
            .key(SK, AttributeValue::S("IDEMPOTENCY".into()))
            .update_expression("SET #phase = :done, #release = :release")
            .condition_expression("#token = :token AND #phase = :pending")
            .expression_attribute_names("#phase", "phase")
            .expression_attribute_names("#token", "lease_token")
            .expression_attribute_names("#release", "release_id")
            .expression_attribute_values(":done", AttributeValue::S("done".into()))
            .expression_attribute_values(":pending", AttributeValue::S("pending".into()))
            .expression_attribute_values(":release", AttributeValue::N(release_id.to_string()))
            .expression_attribute_values(":token", AttributeValue::S(self.token.clone()))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Err(CompleteError::LeaseLost),
            Err(err) => Err(CompleteError::Store(dynamo(err))),
        }
    }

    /// Gives the key up after a failure, so a repeat starts afresh. Best effort: if this
    /// fails too, the lease runs out in 30 s.
    pub async fn abandon(&self, state: &AppState) {
        let deleted = state
            .dynamo
            .delete_item()
            .table_name(&*state.table)
            .key(PK, AttributeValue::S(self.pk.clone()))
            .key(SK, AttributeValue::S("IDEMPOTENCY".into()))
            .condition_expression("#token = :token")
            .expression_attribute_names("#token", "lease_token")
            .expression_attribute_values(":token", AttributeValue::S(self.token.clone()))
            .send()
            .await;
        if let Err(err) = deleted
            && !is_condition_failure(&err)
        {
            tracing::warn!(error = %DisplayErrorContext(err), "could not release an idempotency key");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn key(value: Option<&[u8]>) -> Result<String, FieldError> {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert(HEADER, HeaderValue::from_bytes(v).expect("header"));
        }
        key_from(&headers)
    }

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert_eq!(key(Some(b"3f1c-uuid")).as_deref(), Ok("3f1c-uuid"));
        assert!(key(Some(&[b'k'; 255])).is_ok());
        for bad in [&b""[..], b"a b", &[b'k'; 256], b"caf\xc3\xa9"] {
            let err = key(Some(bad)).expect_err("invalid");
            assert_eq!(err.field, HEADER);
        }
        assert_eq!(key(None).expect_err("missing").field, HEADER);
    }

    #[test]
    fn hashes_separate_their_parts() {
        assert_ne!(request_hash(&["ab", "c"]), request_hash(&["a", "bc"]));
        assert_eq!(request_hash(&["x"]), request_hash(&["x"]));
    }
}
