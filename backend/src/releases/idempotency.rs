//! `Idempotency-Key` for the requests that create a release, kept in DynamoDB
//! (`pk = IDEMPOTENCY#<user id>#<key>`, `sk = IDEMPOTENCY`, 24 h TTL), so a repeat lands on the
//! same release whichever backend task answers it.
//!
//! A request first *claims* its key with a conditional put: a pending record holding the
//! SHA-256 of the request and a 30 s lease. The release it then creates carries the key's
//! hash in MySQL, unique per user, so the release row itself says the key is used: a repeat
//! with the same request answers with that release, one with another request gets 422. A
//! repeat that finds no release yet waits for the claimant; once the claimant's lease is over
//! (it died, or its request failed without giving the key up) the key may be taken over. A
//! slow claimant and the request that took over cannot both create a release: the second
//! commit is a unique violation, and that request answers with the first one's release.
//!
//! One DynamoDB write per new release (the claim), and nothing to mark afterwards.

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

/// The key, unless it or the request's fields (`checked`, the body's validation) are
/// refused: every problem in one 422, the body's first.
pub fn key_and_body(
    headers: &HeaderMap,
    checked: Result<(), Vec<FieldError>>,
) -> Result<String, ApiError> {
    let key = key_from(headers);
    let mut errors = checked.err().unwrap_or_default();
    errors.extend(key.as_ref().err().cloned());
    match key {
        Ok(key) if errors.is_empty() => Ok(key),
        _ => Err(ApiError::Validation(errors)),
    }
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

/// The key named another request: `Idempotency-Key reused for a different request`.
pub fn reused() -> ApiError {
    ApiError::conflict_on(
        HEADER,
        "reused for a different request; send a new key for a new release",
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
    key_hash: String,
}

/// The table key of the record of the key whose partition key is `pk`.
fn record_key(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk.to_owned())),
        (SK.to_owned(), AttributeValue::S("IDEMPOTENCY".into())),
    ])
}

#[derive(Debug)]
struct Record {
    hash: String,
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
    let key_hash = hex::encode(Sha256::digest(key.as_bytes()));
    let deadline = Instant::now() + WAIT;
    loop {
        let token = random_token()?;
        let put = state
            .dynamo
            .put_item()
            .table_name(&*state.table)
            .set_item(Some(record_key(&pk)))
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
            Ok(_) => {
                return Ok(Begin::Claimed(Claim {
                    pk,
                    token,
                    key_hash,
                }));
            }
            Err(err) if is_condition_failure(&err) => {}
            Err(err) => return Err(dynamo(err)),
        }

        let existing = state
            .dynamo
            .get_item()
            .table_name(&*state.table)
            .set_key(Some(record_key(&pk)))
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
        if let Some(release_id) = created(state, user_id, &key_hash).await? {
            return Ok(Begin::Replay(release_id));
        }
        let lease_over = existing.lease_until_ms < epoch(Duration::ZERO).as_millis();
        if lease_over {
            if let Some(token) = take_over(state, &pk, &existing.token).await? {
                let claim = Claim {
                    pk,
                    token,
                    key_hash,
                };
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

/// The release `user_id`'s key (its hash) created, if one committed.
pub async fn created(
    state: &AppState,
    user_id: u64,
    key_hash: &str,
) -> Result<Option<u64>, ApiError> {
    Ok(super::store::by_idempotency_key(&state.db, user_id, key_hash).await?)
}

/// Takes a key over from a claimant whose lease ended: the new lease token, or `None` if
/// someone else was faster.
async fn take_over(
    state: &AppState,
    pk: &str,
    old_token: &str,
) -> Result<Option<String>, ApiError> {
    let token = random_token()?;
    let updated = state
        .dynamo
        .update_item()
        .table_name(&*state.table)
        .set_key(Some(record_key(pk)))
        .update_expression("SET #token = :token, #until = :until, #ttl = :ttl")
        .condition_expression("#token = :old")
        .expression_attribute_names("#token", "lease_token")
        .expression_attribute_names("#until", "lease_until")
        .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
        .expression_attribute_values(":token", AttributeValue::S(token.clone()))
        .expression_attribute_values(":until", AttributeValue::N(millis(LEASE)))
        .expression_attribute_values(":ttl", AttributeValue::N(secs(TTL)))
        .expression_attribute_values(":old", AttributeValue::S(old_token.to_owned()))
        .send()
        .await;
    match updated {
        Ok(_) => {
            tracing::info!("took over an idempotency key whose claimant did not finish");
            Ok(Some(token))
        }
        Err(err) if is_condition_failure(&err) => Ok(None),
        Err(err) => Err(dynamo(err)),
    }
}

impl Claim {
    /// What the release stores in `releases.idempotency_key`.
    pub fn key_hash(&self) -> &str {
        &self.key_hash
    }

    /// Gives the key up after a failure, so a repeat starts afresh. Best effort: if this
    /// fails too, the lease runs out in 30 s.
    pub async fn abandon(&self, state: &AppState) {
        let deleted = state
            .dynamo
            .delete_item()
            .table_name(&*state.table)
            .set_key(Some(record_key(&self.pk)))
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
