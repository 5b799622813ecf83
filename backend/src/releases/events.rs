//! `GET /api/releases/{id}/events`: a release's timeline as server-sent events.
//!
//! The stream sends the stored timeline (after `Last-Event-ID`), then new events as they are
//! written, from the release's poller on this task ([`feeds`](super::feeds)), which every
//! stream of the release shares: at once when this task wrote them, within
//! `FARO_EVENTS_POLL_MS` when another task did. Each event is `id: <seq>`, `event: timeline`,
//! data the `TimelineEvent` as JSON. Once the release is final and every event is sent, an
//! `event: end` closes the stream. A comment every 15 s keeps proxies from closing it, and a
//! draining task closes its streams so clients resume elsewhere with `Last-Event-ID`.
//!
//! A user holds at most `FARO_EVENTS_STREAMS_PER_USER` streams on a task, the task at most
//! `FARO_EVENTS_STREAMS_PER_TASK` ([`slots`](super::slots)). Every
//! `FARO_EVENTS_SESSION_CHECK_MS` the stream asks DynamoDB whether its session still lives (not
//! the task's session cache, which may trust a revoked token a little longer); once it does
//! not, `event: signed-out` (a 401 problem as data) closes the stream, so a signed-out or
//! expired session stops receiving events and the app asks to sign in again.

use super::{feeds::Subscription, query, store, timeline};
use crate::openapi::{InvalidInput, NotFound, NotSignedIn, TooManyRequests, Unavailable};
use crate::releases::ReleasePath;
use crate::slots::Slot;
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
    sync::broadcast::error::RecvError,
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
/// - 429: The caller holds as many live timelines on this instance as one user may.
/// - 503: DynamoDB is unavailable, or this instance holds as many live timelines as it may.
#[utoipa::path(
    get, path = "/api/releases/{id}/events", tag = "releases",
    params(
        ReleasePath,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this sequence number (browsers send it when they reconnect)"),
        EventsQuery,
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `event: timeline` with `id: <seq>` and a TimelineEvent as data, for every event after the one resumed from; `event: end` with a StreamEnd once the release is final; `event: signed-out` with a 401 problem once the session ended (signed out, expired), after which the stream closes; comments as keep-alives", body = TimelineEvent, content_type = "text/event-stream"),
        NotSignedIn, NotFound, InvalidInput, TooManyRequests, Unavailable,
    )
)]
pub(super) async fn events(
    Caller { state, user, .. }: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // First, before any query: a caller past its bound costs a map lookup.
    let slot = state.timeline_slots.take(user.id)?;
    query::access(&state, &user, id).await?;
    let resume = last_event_id(&headers)?
        .or(query.last_event_id)
        .unwrap_or(0);
    // Subscribe before reading, so nothing written in between is missed.
    let feed = state.timeline_feeds.join(&state, id).await?;
    let backlog = timeline::after(&state.dynamo, &state.table, id, resume, BATCH).await?;
    let keep_alive = state.config.events_keep_alive;
    let cursor = Cursor {
        ticker: interval(state.config.events_poll),
        session: Session {
            token: user.token,
            every: interval(state.config.events_session_check),
            ended: false,
        },
        state,
        release_id: id,
        last_seq: resume,
        full_batch: backlog.len() == BATCH,
        queue: backlog.into(),
        feed,
        last_final: false,
        check: true,
        done: false,
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(cursor, |mut cursor| async move {
        cursor.next().await.map(|event| (Ok(event), cursor))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(keep_alive)))
}

/// A ticker whose first tick is one `period` away.
fn interval(period: std::time::Duration) -> Interval {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}

struct Cursor {
    state: AppState,
    release_id: u64,
    /// The last sequence number sent (or resumed from).
    last_seq: u64,
    queue: VecDeque<TimelineEvent>,
    /// The last read filled a whole batch: read on before waiting.
    full_batch: bool,
    /// The release's new events, from the poller this task runs for it.
    feed: Subscription,
    /// Wakes the stream to notice a draining task, and to ask MySQL again after a final event.
    ticker: Interval,
    session: Session,
    /// The last event sent carried a final status.
    last_final: bool,
    /// Ask MySQL whether the release is final (at start, after a final event, after a gap).
    check: bool,
    done: bool,
    /// This stream's place among the user's and the task's; given back when it closes.
    _slot: Slot,
}

/// The session the stream was opened with, asked after periodically.
struct Session {
    token: String,
    every: Interval,
    ended: bool,
}

impl Session {
    /// Whether the session is still alive ([`crate::auth::live_user`] judges: expiry, idle
    /// time, sign-out, sign out everywhere). An unreadable store keeps the stream open: a
    /// DynamoDB hiccup must not close every stream of the task.
    async fn check(&mut self, state: &AppState, release_id: u64) {
        match crate::auth::live_user(state, &self.token).await {
            Ok(Some(_)) => {}
            Ok(None) => self.ended = true,
            Err(err) => {
                tracing::warn!(error = %err, release_id, "event stream cannot check its session")
            }
        }
    }
}

impl Cursor {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.done {
                return None;
            }
            if self.session.ended {
                self.done = true;
                return Some(signed_out_event());
            }
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

    /// Sleeps until the poller sends an event, the ticker ticks or the session is due for a
    /// check, then queues whatever is new.
    async fn wait(&mut self) {
        let woke = tokio::select! {
            received = self.feed.events.recv() => Wake::Event(received),
            _ = self.ticker.tick() => Wake::Tick,
            _ = self.session.every.tick() => Wake::Session,
        };
        match woke {
            Wake::Event(Ok(event)) => {
                if event.seq == self.last_seq + 1 {
                    self.queue.push_back((*event).clone());
                } else if event.seq > self.last_seq {
                    self.fetch().await;
                    self.check = true;
                }
            }
            Wake::Event(Err(RecvError::Lagged(_))) => {
                self.fetch().await;
                self.check = true;
            }
            // The poller's channel closes only with the registry entry, which this stream
            // holds: nothing more will come, so the client resumes on a fresh stream.
            Wake::Event(Err(RecvError::Closed)) => self.done = true,
            // A final event is written before its transaction commits: until MySQL shows the
            // final status too, ask again on every tick.
            Wake::Tick => self.check |= self.last_final,
            Wake::Session => self.session.check(&self.state, self.release_id).await,
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
    Event(Result<Arc<TimelineEvent>, RecvError>),
    Tick,
    Session,
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

/// Tells the client its session ended, so it asks to sign in again instead of reconnecting.
fn signed_out_event() -> Event {
    Event::default()
        .event("signed-out")
        .data(serde_json::to_string(&ApiError::Unauthorized.to_problem()).unwrap_or_default())
}
