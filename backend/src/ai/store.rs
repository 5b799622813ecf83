//! Conversations in DynamoDB (`pk = CONVERSATION#<id>`): the owner (`sk = META`: release and
//! user) and the messages (`sk = MSG#<seq>`), kept 90 days.

use crate::{
    AppState,
    dynamo::{PK, SK, TTL_ATTRIBUTE},
    error::ApiError,
};
use aws_sdk_dynamodb::{
    error::DisplayErrorContext,
    types::{AttributeValue, Put, TransactWriteItem},
};
use faro_types::ChatRole;
use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

const KEEP: Duration = Duration::from_secs(90 * 24 * 3600);

fn pk(conversation: &str) -> String {
    format!("CONVERSATION#{conversation}")
}

fn msg_sk(seq: u64) -> String {
    format!("MSG#{seq:06}")
}

fn expires_at() -> AttributeValue {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    AttributeValue::N((now + KEEP).as_secs().to_string())
}

/// A stored message with its sequence number.
pub struct Stored {
    pub seq: u64,
    pub role: ChatRole,
    pub content: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// 404 unless the conversation belongs to `release_id` and `user_id`.
pub async fn check_owner(
    state: &AppState,
    conversation: &str,
    release_id: u64,
    user_id: u64,
) -> Result<(), ApiError> {
    let meta = state
        .dynamo
        .get_item()
        .table_name(&*state.table)
        .key(PK, AttributeValue::S(pk(conversation)))
        .key(SK, AttributeValue::S("META".into()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| ApiError::dynamo(DisplayErrorContext(e)))?
        .item
        .unwrap_or_default();
    let number = |name: &str| {
        meta.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    if number("release_id") != Some(release_id) || number("user_id") != Some(user_id) {
        return Err(ApiError::NotFound);
    }
    Ok(())
}

/// The newest `limit` messages of a conversation, oldest first.
pub async fn newest_messages(
    state: &AppState,
    conversation: &str,
    limit: usize,
) -> Result<Vec<Stored>, ApiError> {
    let mut messages = Vec::new();
    let mut start = None;
    loop {
        let output = state
            .dynamo
            .query()
            .table_name(&*state.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :msg)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk(conversation)))
            .expression_attribute_values(":msg", AttributeValue::S("MSG#".into()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit - messages.len()).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start.take())
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ApiError::dynamo(DisplayErrorContext(e)))?;
        messages.extend(output.items().iter().filter_map(stored));
        match output.last_evaluated_key {
            Some(key) if messages.len() < limit => start = Some(key),
            _ => break,
        }
    }
    messages.reverse();
    Ok(messages)
}

fn stored(item: &HashMap<String, AttributeValue>) -> Option<Stored> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    Some(Stored {
        seq: text(SK)?.strip_prefix("MSG#")?.parse().ok()?,
        role: match text("role")?.as_str() {
            "assistant" => ChatRole::Assistant,
            _ => ChatRole::User,
        },
        content: text("content")?.clone(),
        at: chrono::DateTime::parse_from_rfc3339(text("at")?)
            .ok()?
            .with_timezone(&chrono::Utc),
    })
}

/// One question and its answer, to store at once.
#[derive(Debug)]
pub struct Exchange<'a> {
    pub conversation: &'a str,
    /// The release and user of a new conversation, whose owner is stored with it.
    pub owner: Option<(u64, u64)>,
    /// The question's sequence number; the answer's is the next.
    pub seq: u64,
    pub question: &'a str,
    pub answer: &'a str,
}

/// Writes the exchange (and a new conversation's owner) in one transaction, which fails if
/// another message took its sequence numbers meanwhile. The future owns what it sends (a
/// chat stream that awaits it is not `Sync`).
pub fn put_exchange(
    state: &AppState,
    exchange: &Exchange<'_>,
) -> impl Future<Output = Result<(), String>> + Send + use<> {
    let put = |sk: String, mut item: HashMap<String, AttributeValue>| {
        item.insert(PK.into(), AttributeValue::S(pk(exchange.conversation)));
        item.insert(SK.into(), AttributeValue::S(sk));
        item.insert(TTL_ATTRIBUTE.into(), expires_at());
        let put = Put::builder()
            .table_name(&*state.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", SK)
            .build()
            .expect("table, item and condition are set");
        TransactWriteItem::builder().put(put).build()
    };
    let mut writes = Vec::new();
    if let Some((release_id, user_id)) = exchange.owner {
        let number = |n: u64| AttributeValue::N(n.to_string());
        writes.push(put(
            "META".into(),
            HashMap::from([
                ("release_id".into(), number(release_id)),
                ("user_id".into(), number(user_id)),
            ]),
        ));
    }
    writes.push(put(
        msg_sk(exchange.seq),
        message(ChatRole::User, exchange.question),
    ));
    writes.push(put(
        msg_sk(exchange.seq + 1),
        message(ChatRole::Assistant, exchange.answer),
    ));
    let request = state
        .dynamo
        .transact_write_items()
        .set_transact_items(Some(writes));
    async move {
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| DisplayErrorContext(e).to_string())
    }
}

fn message(role: ChatRole, content: &str) -> HashMap<String, AttributeValue> {
    let role = match role {
        ChatRole::Assistant => "assistant",
        ChatRole::User => "user",
    };
    HashMap::from([
        ("role".into(), AttributeValue::S(role.into())),
        ("content".into(), AttributeValue::S(content.to_owned())),
        (
            "at".into(),
            AttributeValue::S(crate::db::now().to_rfc3339()),
        ),
    ])
}
