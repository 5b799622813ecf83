//! Rate limiting shared by every backend task: fixed windows counted in DynamoDB (sign-in:
//! `pk = LOGINS#<subject>`, `sk = WINDOW#<start>`; sign-up and AI calls under their own
//! prefixes), incremented atomically *before* the guarded work, so concurrent attempts
//! cannot slip past the limit.

use crate::{
    clock::Clock,
    dynamo::{PK, SK, TTL_ATTRIBUTE},
};
use aws_sdk_dynamodb::{Client, types::AttributeValue, types::ReturnValue};
use std::time::{Duration, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("DynamoDB: {0}")]
    Store(String),
}

/// What a counter said after counting this attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit until the window ends.
    Limited {
        retry_after: Duration,
    },
}

fn now_secs(clock: &Clock) -> u64 {
    clock
        .wall()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Counts one attempt against `subject` (such as `email:ada@example.com` or `ip:10.0.0.1`).
pub async fn count(
    client: &Client,
    table: &str,
    clock: &Clock,
    subject: &str,
    limit: u32,
    window: Duration,
) -> Result<Verdict, RateLimitError> {
    count_in(
        client,
        table,
        clock,
        &format!("LOGINS#{subject}"),
        limit,
        window,
    )
    .await
}

/// Counts one use against the fixed-window counter stored under partition key `pk` (other
/// limits than sign-in share the mechanism under their own key prefix).
pub async fn count_in(
    client: &Client,
    table: &str,
    clock: &Clock,
    pk: &str,
    limit: u32,
    window: Duration,
) -> Result<Verdict, RateLimitError> {
    let tally = tally(client, table, clock, pk, window).await?;
    Ok(tally.verdict(limit))
}

/// Uses counted in the current window, this one included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub attempts: u64,
    /// Until the window ends.
    pub window_left: Duration,
}

impl Tally {
    pub fn verdict(self, limit: u32) -> Verdict {
        if self.attempts > u64::from(limit) {
            Verdict::Limited {
                retry_after: self.window_left,
            }
        } else {
            Verdict::Allowed
        }
    }
}

/// Counts one use under `pk`, as [`count_in`], and says how many there were: for what grows
/// with the count rather than stopping at a limit.
pub async fn tally(
    client: &Client,
    table: &str,
    clock: &Clock,
    pk: &str,
    window: Duration,
) -> Result<Tally, RateLimitError> {
    let window_secs = window.as_secs().max(1);
    let now = now_secs(clock);
    let start = now - now % window_secs;
    let end = start + window_secs;
    let output = client
        .update_item()
        .table_name(table)
        .key(PK, AttributeValue::S(pk.to_owned()))
        .key(SK, AttributeValue::S(format!("WINDOW#{start}")))
        .update_expression("ADD attempts :one SET #ttl = :end")
        .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .expression_attribute_values(":end", AttributeValue::N(end.to_string()))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await
        .map_err(|e| {
            RateLimitError::Store(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
        })?;
    let attempts: u64 = output
        .attributes()
        .and_then(|a| a.get("attempts"))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    Ok(Tally {
        attempts,
        window_left: Duration::from_secs((end - now).max(1)),
    })
}

/// Counts one use against the counter under `pk` and refuses (429 with `Retry-After`) past
/// `limit`: what a handler asks before the work it bounds.
pub async fn enforce(
    state: &crate::AppState,
    pk: &str,
    limit: u32,
    window: Duration,
) -> Result<(), crate::error::ApiError> {
    let verdict = count_in(&state.dynamo, &state.table, &state.clock, pk, limit, window)
        .await
        .map_err(crate::error::ApiError::dynamo)?;
    match verdict {
        Verdict::Allowed => Ok(()),
        Verdict::Limited { retry_after } => {
            Err(crate::error::ApiError::TooManyRequests { retry_after })
        }
    }
}

/// Forgets `subject`'s attempts in the current window (after a successful sign-in).
pub async fn reset(
    client: &Client,
    table: &str,
    clock: &Clock,
    subject: &str,
    window: Duration,
) -> Result<(), RateLimitError> {
    let window_secs = window.as_secs().max(1);
    let now = now_secs(clock);
    let start = now - now % window_secs;
    client
        .delete_item()
        .table_name(table)
        .key(PK, AttributeValue::S(format!("LOGINS#{subject}")))
        .key(SK, AttributeValue::S(format!("WINDOW#{start}")))
        .send()
        .await
        .map_err(|e| {
            RateLimitError::Store(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
        })?;
    Ok(())
}
