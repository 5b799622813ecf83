//! Each organization's daily DeepSeek token budget (`FARO_AI_DAILY_TOKENS_PER_ORG`), counted
//! in DynamoDB so every task adds to one count: `pk = AI#TOKENS#ORG#<id>`,
//! `sk = DAY#<yyyy-mm-dd>` (UTC), attribute `tokens`, kept two days.
//!
//! A call reserves its bound before it is made: the prompt's size in bytes (a token is at
//! least a byte, so DeepSeek never counts more prompt tokens than that) plus the answer's
//! `max_tokens`, in one conditional update that fails when the reservation would pass the
//! budget. The answer's usage (prompt and completion tokens) then settles it: the rest of
//! the reservation is given back. A call DeepSeek refused gives everything back; one cut off
//! midway (the client left, an answer broke off) keeps its reservation, since DeepSeek may
//! bill it. Concurrent calls cannot overshoot: each holds its bound before it starts.

use crate::{
    AppState,
    dynamo::{PK, SK, TTL_ATTRIBUTE},
    error::ApiError,
};
use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, ProvideErrorMetadata},
    types::AttributeValue,
};
use chrono::{DateTime, NaiveDate, Utc};
use faro_types::AiBudget;
use std::time::Duration;

/// How long a day's count is kept after the day began.
const KEEP: Duration = Duration::from_secs(2 * 24 * 3600);

/// Tokens held for one call until [`Reservation::settle`].
#[derive(Debug)]
#[must_use = "settle the reservation with the answer's usage, or it stays spent"]
pub struct Reservation {
    org_id: u64,
    day: NaiveDate,
    tokens: u64,
}

/// Tokens a prompt of these messages may count at most, and the answer's bound.
pub fn bound(messages: &[faro_deepseek::Message], max_tokens: u32) -> u64 {
    // A few tokens per message frame the text (role, separators).
    const PER_MESSAGE: u64 = 8;
    let prompt: u64 = messages
        .iter()
        .map(|m| m.content.len() as u64 + PER_MESSAGE)
        .sum();
    prompt + u64::from(max_tokens)
}

fn key(org_id: u64) -> AttributeValue {
    AttributeValue::S(format!("AI#TOKENS#ORG#{org_id}"))
}

fn day_key(day: NaiveDate) -> AttributeValue {
    AttributeValue::S(format!("DAY#{day}"))
}

fn today(state: &AppState) -> DateTime<Utc> {
    DateTime::<Utc>::from(state.clock.wall())
}

fn next_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    tomorrow.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn spent(state: &AppState, now: DateTime<Utc>) -> ApiError {
    let left = (next_midnight(now) - now).to_std().unwrap_or_default();
    tracing::info!(
        limit = state.config.ai.daily_tokens_per_org,
        "an organization's daily AI token budget is spent"
    );
    ApiError::TooManyRequests {
        retry_after: left.max(Duration::from_secs(1)),
    }
}

/// Holds `tokens` of organization `org_id`'s budget for today, or refuses with 429 and
/// `Retry-After` until the day ends (UTC) when they no longer fit.
pub async fn reserve(state: &AppState, org_id: u64, tokens: u64) -> Result<Reservation, ApiError> {
    let now = today(state);
    let limit = u64::from(state.config.ai.daily_tokens_per_org);
    let Some(room) = limit.checked_sub(tokens) else {
        return Err(spent(state, now));
    };
    let day = now.date_naive();
    let expires = now.timestamp().max(0) as u64 + KEEP.as_secs();
    let result = state
        .dynamo
        .update_item()
        .table_name(&*state.table)
        .key(PK, key(org_id))
        .key(SK, day_key(day))
        .update_expression("ADD tokens :n SET #ttl = :ttl")
        .condition_expression("attribute_not_exists(tokens) OR tokens <= :room")
        .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
        .expression_attribute_values(":n", AttributeValue::N(tokens.to_string()))
        .expression_attribute_values(":room", AttributeValue::N(room.to_string()))
        .expression_attribute_values(":ttl", AttributeValue::N(expires.to_string()))
        .send()
        .await;
    match result {
        Ok(_) => Ok(Reservation {
            org_id,
            day,
            tokens,
        }),
        Err(err)
            if err
                .as_service_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code == "ConditionalCheckFailedException") =>
        {
            Err(spent(state, now))
        }
        Err(err) => Err(ApiError::dynamo(DisplayErrorContext(err))),
    }
}

impl Reservation {
    /// Replaces the reservation by the `used` tokens DeepSeek reported (0 when it answered
    /// nothing). A failure is logged, not returned: the answer is already the caller's, and
    /// the reservation stays counted, which errs on the budget's side. The future owns what
    /// it sends, like [`super::store::put_exchange`]'s (a chat stream awaits it).
    pub fn settle(self, state: &AppState, used: u64) -> impl Future<Output = ()> + Send + use<> {
        let change = i128::from(used) - i128::from(self.tokens);
        let request = state
            .dynamo
            .update_item()
            .table_name(&*state.table)
            .key(PK, key(self.org_id))
            .key(SK, day_key(self.day))
            .update_expression("ADD tokens :n")
            .expression_attribute_values(":n", AttributeValue::N(change.to_string()));
        let org_id = self.org_id;
        async move {
            if change == 0 {
                return;
            }
            if let Err(err) = request.send().await {
                tracing::warn!(
                    error = %DisplayErrorContext(err),
                    org_id,
                    "an AI token reservation was not settled; it stays counted"
                );
            }
        }
    }
}

/// Organization `org_id`'s tokens today against its budget.
pub async fn today_of(state: &AppState, org_id: u64) -> Result<AiBudget, ApiError> {
    let now = today(state);
    let day = now.date_naive();
    let item = state
        .dynamo
        .get_item()
        .table_name(&*state.table)
        .key(PK, key(org_id))
        .key(SK, day_key(day))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| ApiError::dynamo(DisplayErrorContext(e)))?
        .item
        .unwrap_or_default();
    let used = item
        .get("tokens")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(0);
    Ok(AiBudget {
        day,
        used_tokens: used.max(0) as u64,
        limit_tokens: u64::from(state.config.ai.daily_tokens_per_org),
        resets_at: next_midnight(now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_ends_at_the_next_utc_midnight() {
        let now = DateTime::parse_from_rfc3339("2026-12-31T23:59:30Z")
            .expect("a time")
            .with_timezone(&Utc);
        assert_eq!(next_midnight(now).to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }

    #[test]
    fn a_prompt_is_bounded_by_its_bytes_and_the_answer_by_max_tokens() {
        let messages = [
            faro_deepseek::Message::system("abc"),
            faro_deepseek::Message::user("é"),
        ];
        assert_eq!(bound(&messages, 100), 3 + 8 + 2 + 8 + 100);
    }
}
