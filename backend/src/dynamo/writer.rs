//! Puts grouped into `BatchWriteItem` calls: the timeline events and audit entries that
//! concurrent requests and release jobs write.
//!
//! Every call costs DynamoDB a request's overhead whatever it carries (DynamoDB Local on the
//! bench machine: about 640 single puts per second, but about 7,900 items per second in
//! batches of 25), so puts that arrive while earlier batches are in flight wait for the next
//! batch instead of each paying for a call. An idle writer sends a put at once: grouping
//! costs no latency, it only happens when calls already queue up.
//!
//! A caller still learns whether *its* item was stored: [`Writer::put`] resolves once the
//! batch holding it succeeded (after retrying what DynamoDB left unprocessed) or failed.

use super::{PK, SK};
use aws_sdk_dynamodb::{
    Client,
    error::DisplayErrorContext,
    types::{AttributeValue, PutRequest, WriteRequest},
};
use faro_resilience::Backoff;
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// An item as the SDK takes it.
pub type Item = HashMap<String, AttributeValue>;

/// `BatchWriteItem`'s limit.
const MAX_BATCH: usize = 25;
/// Batches in flight at once; more puts wait and form the next ones (2 measured best on the
/// bench machine: 347 creates/s against 286 with 8, and the worker a little faster too).
const MAX_IN_FLIGHT: usize = 2;
/// Puts waiting for a batch before [`Writer::put`] itself waits (back-pressure).
const QUEUE: usize = 4096;
/// Rounds of resending what DynamoDB left unprocessed (it throttles under load).
const MAX_ROUNDS: u32 = 8;

#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("{0}")]
    Store(String),
    #[error("the DynamoDB writer has stopped")]
    Stopped,
}

struct Pending {
    item: Item,
    done: oneshot::Sender<Result<(), WriteError>>,
}

impl Pending {
    fn key(&self) -> (Option<&str>, Option<&str>) {
        key_of(&self.item)
    }
}

fn key_of(item: &Item) -> (Option<&str>, Option<&str>) {
    let part = |name| item.get(name).and_then(|v: &AttributeValue| v.as_s().ok());
    (part(PK).map(String::as_str), part(SK).map(String::as_str))
}

/// The handle requests use; cheap to clone. The batching task lives as long as a handle.
#[derive(Debug, Clone)]
pub struct Writer {
    queue: mpsc::Sender<Pending>,
}

impl Writer {
    /// Starts the batching task on the current Tokio runtime.
    pub fn start(client: Client, table: Arc<str>) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        tokio::spawn(run(client, table, pending));
        Self { queue }
    }

    /// Stores `item` (replacing any item with its key); resolves when it is stored.
    pub async fn put(&self, item: Item) -> Result<(), WriteError> {
        let (done, stored) = oneshot::channel();
        self.queue
            .send(Pending { item, done })
            .await
            .map_err(|_| WriteError::Stopped)?;
        stored.await.map_err(|_| WriteError::Stopped)?
    }
}

async fn run(client: Client, table: Arc<str>, mut pending: mpsc::Receiver<Pending>) {
    let flights = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // A put whose key is already in the batch being formed (one request may not write an
    // item twice) opens the next batch.
    let mut held: Option<Pending> = None;
    loop {
        let Ok(flight) = flights.clone().acquire_owned().await else {
            return;
        };
        let first = match held.take() {
            Some(first) => first,
            None => match pending.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let Ok(next) = pending.try_recv() else { break };
            if batch.iter().any(|p| p.key() == next.key()) {
                held = Some(next);
                break;
            }
            batch.push(next);
        }
        let client = client.clone();
        let table = table.clone();
        tokio::spawn(async move {
            flush(&client, &table, batch).await;
            drop(flight);
        });
    }
}

/// Writes `batch`, resending what DynamoDB left unprocessed, and tells each caller.
async fn flush(client: &Client, table: &str, mut batch: Vec<Pending>) {
    let backoff = Backoff::new(Duration::from_millis(25), Duration::from_secs(1));
    for round in 0..MAX_ROUNDS {
        if round > 0 {
            tokio::time::sleep(backoff.full_jitter(round - 1)).await;
        }
        let requests: Vec<WriteRequest> = batch
            .iter()
            .map(|p| {
                let put = PutRequest::builder()
                    .set_item(Some(p.item.clone()))
                    .build()
                    .expect("a put request with an item is complete");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let output = match client
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
        {
            Ok(output) => output,
            Err(err) => {
                let error = WriteError::Store(DisplayErrorContext(err).to_string());
                for p in batch {
                    let _ = p.done.send(Err(error.clone()));
                }
                return;
            }
        };
        let unprocessed: Vec<Item> = output
            .unprocessed_items
            .and_then(|mut tables| tables.remove(table))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|request| request.put_request.map(|put| put.item))
            .collect();
        let (left, stored): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|p| unprocessed.iter().any(|item| key_of(item) == p.key()));
        for p in stored {
            let _ = p.done.send(Ok(()));
        }
        if left.is_empty() {
            return;
        }
        batch = left;
    }
    let error = WriteError::Store(format!(
        "DynamoDB left {} items unprocessed after {MAX_ROUNDS} rounds (throttled)",
        batch.len()
    ));
    for p in batch {
        let _ = p.done.send(Err(error.clone()));
    }
}
