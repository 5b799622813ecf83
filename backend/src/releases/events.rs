//! `GET /api/releases/{id}/events`: a release's timeline as server-sent events.
//!
//! The stream sends the stored timeline (after `Last-Event-ID`), then new events as they are
//! written: at once when this task wrote them (the in-process [`Hub`](super::timeline::Hub)),
//! within `FARO_EVENTS_POLL_MS` when another task did (a consistent DynamoDB query after the
//! last sequence number sent). Each event is `id: <seq>`, `event: timeline`, data the
//! `TimelineEvent` as JSON. Once the release is final and every event is sent, an
//! `event: end` closes the stream. A comment every 15 s keeps proxies from closing it, and a
//! draining task closes its streams so clients resume elsewhere with `Last-Event-ID`.

use super::{
    query, store,
    timeline::{self, Published},
};
use crate::openapi::{InvalidInput, NotFound, NotSignedIn, Unavailable};
use crate::releases::ReleasePath;
use crate::{AppState, auth::Caller, db::Read, error::ApiError, http::ApiQuery};
use axum::{
    extract::Path,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use faro_types::{StreamEnd, TimelineEvent};
use futures_util::Stream;
use serde::Deserialize;
use std::{collections::VecDeque, convert::Infallible, sync::Arc};
use tokio::{
    sync::broadcast::{self, error::RecvError},
    time::{Interval, MissedTickBehavior},
};

/// Events read per DynamoDB query while catching up.
const BATCH: usize = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    /// Resume after this sequence number, for clients that cannot set `Last-Event-ID` (the
    /// header wins when both are sent, since browsers set it on reconnection).
    last_event_id: Option<u64>,
}

fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        ApiError::field(
            "Last-Event-ID",
            "must be a sequence number this stream sent",
        )
    })
}

/// A release's timeline, then its new events, as server-sent events.
///
/// Problems, beyond what their status says:
/// - 422: Last-Event-ID or last_event_id is not a sequence number.
/// - 503: DynamoDB is unavailable.
#[utoipa::path(
    get, path = "/api/releases/{id}/events", tag = "releases",
    params(
        ReleasePath,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this sequence number (browsers send it when they reconnect)"),
        EventsQuery,
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `event: timeline` with `id: <seq>` and a TimelineEvent as data, for every event after the one resumed from; `event: end` with a StreamEnd once the release is final; comments as keep-alives", body = TimelineEvent, content_type = "text/event-stream"),
        NotSignedIn, NotFound, InvalidInput, Unavailable,
    )
)]
pub(super) async fn events(
    Caller { state, user, .. }: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    query::access(&state, &user, id).await?;
    let resume = last_event_id(&headers)?
        .or(query.last_event_id)
        .unwrap_or(0);
    // Subscribe before reading, so nothing written in between is missed.
    let notices = state.release_events.subscribe();
    let backlog = timeline::after(&state.dynamo, &state.table, id, resume, BATCH).await?;
    let poll = state.config.events_poll;
    let keep_alive = state.config.events_keep_alive;
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + poll, poll);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let cursor = Cursor {
        state,
        release_id: id,
        last_seq: resume,
        full_batch: backlog.len() == BATCH,
        queue: backlog.into(),
        notices: Some(notices),
        ticker,
        last_final: false,
        check: true,
        done: false,
    };
    let stream = futures_util::stream::unfold(cursor, |mut cursor| async move {
        cursor.next().await.map(|event| (Ok(event), cursor))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(keep_alive)))
}

struct Cursor {
    state: AppState,
    release_id: u64,
    /// The last sequence number sent (or resumed from).
    last_seq: u64,
    queue: VecDeque<TimelineEvent>,
    /// The last read filled a whole batch: read on before waiting.
    full_batch: bool,
    notices: Option<broadcast::Receiver<Arc<Published>>>,
    ticker: Interval,
    /// The last event sent carried a final status.
    last_final: bool,
    /// Ask MySQL whether the release is final (at start, and after any sign of change).
    check: bool,
    done: bool,
}

impl Cursor {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                if event.seq <= self.last_seq {
                    continue;
                }
                self.last_seq = event.seq;
                self.last_final = event.status.is_final();
                self.check |= self.last_final;
                return Some(timeline_event(&event));
            }
            if self.done || self.state.readiness.is_draining() {
                return None;
            }
            if self.full_batch {
                self.fetch().await;
                continue;
            }
            if self.check {
                self.check = false;
                match store::progress(&self.state.db, self.release_id, Read::Plain).await {
                    Ok(Some((status, seq))) if status.is_final() && seq <= self.last_seq => {
                        self.done = true;
                        return Some(end_event(status));
                    }
                    Ok(Some((status, seq))) => {
                        if seq > self.last_seq {
                            self.fetch().await;
                        }
                        // A final status whose event is not readable yet: look again next time.
                        self.check = status.is_final();
                        if !self.queue.is_empty() {
                            continue;
                        }
                    }
                    // The release was deleted (with its project or environment).
                    Ok(None) => return None,
                    Err(err) => {
                        tracing::warn!(error = %err, release_id = self.release_id, "event stream cannot read the release");
                        self.check = true;
                    }
                }
            }
            self.wait().await;
        }
    }

    /// Sleeps until this task publishes an event of this release or the poll interval ends,
    /// then queues whatever is new.
    async fn wait(&mut self) {
        let notices = &mut self.notices;
        let ticker = &mut self.ticker;
        let notice = async {
            match notices.as_mut() {
                Some(rx) => Some(rx.recv().await),
                None => std::future::pending().await,
            }
        };
        let woke = tokio::select! {
            received = notice => Wake::Notice(received),
            _ = ticker.tick() => Wake::Tick,
        };
        match woke {
            Wake::Notice(received) => match received {
                Some(Ok(published)) if published.release_id == self.release_id => {
                    let event = &published.event;
                    if event.seq == self.last_seq + 1 {
                        self.queue.push_back(event.clone());
                    } else if event.seq > self.last_seq {
                        self.fetch().await;
                    }
                    self.check = true;
                }
                Some(Ok(_)) => {}
                Some(Err(RecvError::Lagged(_))) => {
                    self.fetch().await;
                    self.check = true;
                }
                Some(Err(RecvError::Closed)) | None => self.notices = None,
            },
            Wake::Tick => {
                self.fetch().await;
                // A final event is written before its transaction commits: until MySQL
                // shows the final status too, ask again on every tick.
                self.check |= !self.queue.is_empty() || self.last_final;
            }
        }
    }

    async fn fetch(&mut self) {
        let after = self.queue.back().map_or(self.last_seq, |e| e.seq);
        match timeline::after(
            &self.state.dynamo,
            &self.state.table,
            self.release_id,
            after,
            BATCH,
        )
        .await
        {
            Ok(events) => {
                self.full_batch = events.len() == BATCH;
                self.queue.extend(events);
            }
            Err(err) => {
                self.full_batch = false;
                tracing::warn!(error = %err, release_id = self.release_id, "event stream cannot read the timeline");
            }
        }
    }
}

enum Wake {
    Notice(Option<Result<Arc<Published>, RecvError>>),
    Tick,
}

fn timeline_event(event: &TimelineEvent) -> Event {
    Event::default()
        .id(event.seq.to_string())
        .event("timeline")
        .data(serde_json::to_string(event).unwrap_or_default())
}

fn end_event(status: faro_types::ReleaseStatus) -> Event {
    Event::default()
        .event("end")
        .data(serde_json::to_string(&StreamEnd { status }).unwrap_or_default())
}
