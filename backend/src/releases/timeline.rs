//! Release timelines in DynamoDB (`pk = RELEASE#<id>`, `sk = EVENT#<seq, 10 digits>`), and
//! the in-process hub that wakes this task's event streams when an event is written.
//!
//! Sequence numbers come from `releases.event_seq`, incremented in the MySQL transaction that
//! changes the release ([`next_seq`]), so the events of one release are numbered in order and
//! never twice by two live transactions. A writer follows the same order everywhere:
//!
//! ```text
//! begin; UPDATE releases ...; let seq = next_seq(&mut tx, id)
//! put(&state.dynamo, &state.table, id, &event)     -- before commit: a crash loses nothing
//! commit
//! state.release_events.publish(id, event)          -- streams of this task, at once
//! ```
//!
//! [`append`] does the middle two steps. Streams on other tasks find the event by polling.
//! If the commit fails after the put, the event is an orphan at a seq the next transaction
//! hands out again; [`put`] then replaces it, because MySQL decides what happened.

use crate::{
    AppState,
    dynamo::{PK, SK, writer::Writer},
    error::ApiError,
};
use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, SdkError},
    types::AttributeValue,
};
use chrono::{DateTime, SecondsFormat, Utc};
use faro_types::{EventKind, ReleaseStatus, TimelineEvent, UserRef};
use sqlx::MySqlConnection;
use std::{collections::HashMap, sync::Arc};
use tokio::sync::broadcast;

#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error("DynamoDB: {0}")]
    Store(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("release {0} does not exist")]
    NoSuchRelease(u64),
}

impl From<TimelineError> for ApiError {
    fn from(err: TimelineError) -> Self {
        match err {
            TimelineError::Store(detail) => ApiError::dynamo(detail),
            TimelineError::Database(e) => e.into(),
            TimelineError::NoSuchRelease(_) => ApiError::NotFound,
        }
    }
}

fn store_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> TimelineError {
    TimelineError::Store(DisplayErrorContext(err).to_string())
}

/// What a writer says happened; [`append`] gives it its number and time.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventKind,
    /// The release's status after this event.
    pub status: ReleaseStatus,
    pub message: String,
    pub actor: Option<UserRef>,
}

impl NewEvent {
    pub fn new(kind: EventKind, status: ReleaseStatus, message: impl Into<String>) -> Self {
        Self {
            kind,
            status,
            message: message.into(),
            actor: None,
        }
    }

    pub fn by(mut self, actor: UserRef) -> Self {
        self.actor = Some(actor);
        self
    }

    pub fn numbered(self, seq: u64, at: DateTime<Utc>) -> TimelineEvent {
        TimelineEvent {
            seq,
            at,
            kind: self.kind,
            status: self.status,
            message: self.message,
            actor: self.actor,
        }
    }
}

fn pk(release_id: u64) -> String {
    format!("RELEASE#{release_id}")
}

fn sk(seq: u64) -> String {
    format!("EVENT#{seq:010}")
}

/// The assignment that hands out the release's next sequence number (a literal, for
/// `concat!`), for a writer that changes the release row anyway: its UPDATE sets this too
/// and reads the number from `last_insert_id()` of the reply, saving [`next_seq`]'s round
/// trip.
macro_rules! next_seq_sql {
    () => {
        "event_seq = LAST_INSERT_ID(event_seq + 1)"
    };
}
pub(crate) use next_seq_sql;

/// Hands out the release's next sequence number inside the caller's transaction. The row
/// stays locked until the transaction ends, so no other writer gets the same number.
/// `LAST_INSERT_ID(expr)` hands the new value back in the UPDATE's own reply (MySQL and
/// MariaDB alike), one round trip instead of an UPDATE and a SELECT.
pub async fn next_seq(tx: &mut MySqlConnection, release_id: u64) -> Result<u64, TimelineError> {
    super::store::next_seq(tx, release_id)
        .await?
        .ok_or(TimelineError::NoSuchRelease(release_id))
}

/// Numbers `event` in the caller's transaction and writes it to DynamoDB. The caller commits
/// (rolling back if this fails) and then calls [`Hub::publish`] with the returned event.
pub async fn append(
    state: &AppState,
    tx: &mut MySqlConnection,
    release_id: u64,
    event: NewEvent,
) -> Result<TimelineEvent, TimelineError> {
    let seq = next_seq(tx, release_id).await?;
    append_numbered(state, release_id, seq, event).await
}

/// [`append`] for a writer whose UPDATE of the release row handed out `seq`
/// ([`next_seq_sql`]).
pub async fn append_numbered(
    state: &AppState,
    release_id: u64,
    seq: u64,
    event: NewEvent,
) -> Result<TimelineEvent, TimelineError> {
    let event = event.numbered(seq, crate::db::now());
    put(&state.writes, release_id, &event).await?;
    Ok(event)
}

fn item(release_id: u64, event: &TimelineEvent) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk(release_id))),
        (SK.to_owned(), AttributeValue::S(sk(event.seq))),
        ("seq".to_owned(), AttributeValue::N(event.seq.to_string())),
        (
            "at".to_owned(),
            AttributeValue::S(event.at.to_rfc3339_opts(SecondsFormat::Micros, true)),
        ),
        (
            "kind".to_owned(),
            AttributeValue::S(event.kind.as_str().to_owned()),
        ),
        (
            "status".to_owned(),
            AttributeValue::S(event.status.as_str().to_owned()),
        ),
        (
            "message".to_owned(),
            AttributeValue::S(event.message.clone()),
        ),
    ]);
    if let Some(actor) = &event.actor {
        item.insert("actor_id".into(), AttributeValue::N(actor.id.to_string()));
        item.insert("actor_name".into(), AttributeValue::S(actor.name.clone()));
    }
    item
}

/// Writes one event (through the batching writer). Writing the same event again (a retried
/// step) is harmless, and an event already at that number is an orphan of a transaction that
/// rolled back after its put: MySQL handed the number out again, so this event replaces it.
pub async fn put(
    writes: &Writer,
    release_id: u64,
    event: &TimelineEvent,
) -> Result<(), TimelineError> {
    writes
        .put(item(release_id, event))
        .await
        .map_err(|err| TimelineError::Store(err.to_string()))
}

/// Events after `after_seq`, oldest first (`after_seq = 0`: the whole timeline), at most
/// `limit`. Consistent reads, so a stream never misses an event it was told about.
pub async fn after(
    client: &Client,
    table: &str,
    release_id: u64,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<TimelineEvent>, TimelineError> {
    query(client, table, release_id, Some(after_seq), true, limit).await
}

/// The newest `limit` events, newest first.
pub async fn newest(
    client: &Client,
    table: &str,
    release_id: u64,
    limit: usize,
) -> Result<Vec<TimelineEvent>, TimelineError> {
    query(client, table, release_id, None, false, limit).await
}

async fn query(
    client: &Client,
    table: &str,
    release_id: u64,
    after_seq: Option<u64>,
    ascending: bool,
    limit: usize,
) -> Result<Vec<TimelineEvent>, TimelineError> {
    let mut events = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let remaining = limit.saturating_sub(events.len());
        if remaining == 0 {
            break;
        }
        let mut request = client
            .query()
            .table_name(table)
            .consistent_read(true)
            .scan_index_forward(ascending)
            .limit(i32::try_from(remaining).unwrap_or(i32::MAX))
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", AttributeValue::S(pk(release_id)))
            .set_exclusive_start_key(start.take());
        request = match after_seq {
            Some(seq) => request
                .key_condition_expression("#pk = :pk AND #sk > :after")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":after", AttributeValue::S(sk(seq))),
            None => request.key_condition_expression("#pk = :pk"),
        };
        let output = request.send().await.map_err(store_error)?;
        events.extend(output.items().iter().filter_map(|item| {
            let parsed = parse(item);
            if parsed.is_none() {
                tracing::warn!(release_id, "skipping a malformed timeline item");
            }
            parsed
        }));
        match output.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    Ok(events)
}

fn parse(item: &HashMap<String, AttributeValue>) -> Option<TimelineEvent> {
    let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let n = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let seq = s(SK)?.strip_prefix("EVENT#")?.parse().ok()?;
    let actor = match (n("actor_id"), s("actor_name")) {
        (Some(id), Some(name)) => Some(UserRef {
            id,
            name: name.clone(),
        }),
        _ => None,
    };
    Some(TimelineEvent {
        seq,
        at: DateTime::parse_from_rfc3339(s("at")?)
            .ok()?
            .with_timezone(&Utc),
        kind: EventKind::parse(s("kind")?),
        status: ReleaseStatus::parse(s("status")?)?,
        message: s("message")?.clone(),
        actor,
    })
}

/// An event this task wrote, announced to this task's streams.
#[derive(Debug)]
pub struct Published {
    pub release_id: u64,
    pub event: TimelineEvent,
}

/// Wakes this task's timeline pollers ([`super::feeds`]) as soon as an event is committed
/// here. They still poll DynamoDB for events other tasks wrote, and one that falls behind the
/// channel reads DynamoDB instead, so nothing depends on the hub's delivery.
#[derive(Debug, Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Published>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(1024);
        Self { sender }
    }

    /// Announces a committed event (no one listening is fine).
    pub fn publish(&self, release_id: u64, event: TimelineEvent) {
        let _ = self.sender.send(Arc::new(Published { release_id, event }));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let event = TimelineEvent {
            seq: 42,
            at: crate::db::now(),
            kind: EventKind::BuildStarted,
            status: ReleaseStatus::Building,
            message: "Build 7 started on SleakOps".into(),
            actor: Some(UserRef {
                id: 3,
                name: "Ada".into(),
            }),
        };
        let item = item(9, &event);
        assert_eq!(item[SK].as_s().expect("s"), "EVENT#0000000042");
        assert_eq!(item[PK].as_s().expect("s"), "RELEASE#9");
        assert_eq!(parse(&item), Some(event));
    }

    #[test]
    fn sort_keys_order_numerically() {
        assert!(sk(9) < sk(10));
        assert!(sk(999_999) < sk(1_000_000));
    }
}
