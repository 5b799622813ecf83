//! One poller per release followed live on this task, shared by all of its streams.
//!
//! The first stream of a release starts its poller; the last one leaving stops it. The poller
//! forwards the events this task commits (the [`Hub`](super::timeline::Hub)) at once, reads
//! DynamoDB every `FARO_EVENTS_POLL_MS` for those other tasks wrote, and fans them out through
//! a broadcast channel. So a thousand streams on one release cost one query a poll, not a
//! thousand. A stream that falls behind the channel reads what it missed from DynamoDB.
//!
//! The poller starts after the release's committed sequence number, read from MySQL before the
//! first stream reads its backlog: every event up to it is already in DynamoDB (events are put
//! before their transaction commits), so the backlog holds them, and the poller sends every
//! later one. A stream joining a running poller subscribes before reading its backlog, which
//! then holds everything the poller sent before.

use super::{store, timeline};
use crate::{AppState, db::Read, error::ApiError};
use faro_types::TimelineEvent;
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};
use tokio::{
    sync::{
        OnceCell,
        broadcast::{self, error::RecvError},
    },
    task::AbortHandle,
    time::MissedTickBehavior,
};

/// Events buffered per release for its slowest stream before it must read DynamoDB instead.
const CHANNEL: usize = 256;

/// Events read per DynamoDB query.
const BATCH: usize = 500;

#[derive(Debug, Default)]
pub struct Feeds {
    feeds: Mutex<HashMap<u64, Entry>>,
    /// Poller tasks running, for tests and the curious.
    pollers: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct Entry {
    feed: Arc<Feed>,
    streams: usize,
}

#[derive(Debug)]
struct Feed {
    sender: broadcast::Sender<Arc<TimelineEvent>>,
    /// Set once the poller runs; the first streams wait for it.
    poller: OnceCell<AbortHandle>,
}

/// A stream's subscription to its release's events; leaving is dropping it.
#[derive(Debug)]
pub struct Subscription {
    pub events: broadcast::Receiver<Arc<TimelineEvent>>,
    feeds: Arc<Feeds>,
    release_id: u64,
}

impl Feeds {
    fn feeds(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.feeds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to release `release_id`'s new events, starting its poller if none runs.
    pub async fn join(
        self: &Arc<Self>,
        state: &AppState,
        release_id: u64,
    ) -> Result<Subscription, ApiError> {
        let (feed, events) = {
            let mut feeds = self.feeds();
            let entry = feeds.entry(release_id).or_insert_with(|| Entry {
                feed: Arc::new(Feed {
                    sender: broadcast::channel(CHANNEL).0,
                    poller: OnceCell::new(),
                }),
                streams: 0,
            });
            entry.streams += 1;
            (entry.feed.clone(), entry.feed.sender.subscribe())
        };
        // Counted from here on, so a failed start below leaves through the drop.
        let subscription = Subscription {
            events,
            feeds: self.clone(),
            release_id,
        };
        feed.poller
            .get_or_try_init(|| async {
                let committed = store::progress(&state.db, release_id, Read::Plain)
                    .await?
                    .map_or(0, |(_, seq)| seq);
                let task = tokio::spawn(poll(
                    state.clone(),
                    release_id,
                    committed,
                    feed.sender.clone(),
                    Running::new(&self.pollers),
                ));
                Ok::<_, ApiError>(task.abort_handle())
            })
            .await?;
        Ok(subscription)
    }

    /// Poller tasks running on this task.
    pub fn pollers(&self) -> usize {
        self.pollers.load(Ordering::SeqCst)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut feeds = self.feeds.feeds();
        let Some(entry) = feeds.get_mut(&self.release_id) else {
            return;
        };
        entry.streams -= 1;
        if entry.streams == 0 {
            if let Some(poller) = entry.feed.poller.get() {
                poller.abort();
            }
            feeds.remove(&self.release_id);
        }
    }
}

/// Counts a poller task from its start until it ends or is aborted.
struct Running(Arc<AtomicUsize>);

impl Running {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Sends release `release_id`'s events after `last_seq` to `sender` until aborted.
async fn poll(
    state: AppState,
    release_id: u64,
    mut last_seq: u64,
    sender: broadcast::Sender<Arc<TimelineEvent>>,
    _running: Running,
) {
    let mut published = Some(state.release_events.subscribe());
    let period = state.config.events_poll;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let notice = async {
            match published.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            notice = notice => match notice {
                Ok(p) if p.release_id == release_id => {
                    if p.event.seq == last_seq + 1 {
                        last_seq = p.event.seq;
                        let _ = sender.send(Arc::new(p.event.clone()));
                    } else if p.event.seq > last_seq {
                        last_seq = fetch(&state, release_id, last_seq, &sender).await;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    last_seq = fetch(&state, release_id, last_seq, &sender).await;
                }
                // Polling alone still finds every event.
                Err(RecvError::Closed) => published = None,
            },
            _ = ticker.tick() => {
                last_seq = fetch(&state, release_id, last_seq, &sender).await;
            }
        }
    }
}

/// Sends the events after `last_seq` stored in DynamoDB; the last sequence number sent.
async fn fetch(
    state: &AppState,
    release_id: u64,
    mut last_seq: u64,
    sender: &broadcast::Sender<Arc<TimelineEvent>>,
) -> u64 {
    loop {
        match timeline::after(&state.dynamo, &state.table, release_id, last_seq, BATCH).await {
            Ok(events) => {
                let full = events.len() == BATCH;
                for event in events {
                    last_seq = last_seq.max(event.seq);
                    let _ = sender.send(Arc::new(event));
                }
                if !full {
                    return last_seq;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, release_id, "the timeline poller cannot read the timeline");
                return last_seq;
            }
        }
    }
}
