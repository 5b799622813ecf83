//! The live timeline of a release: the state machine behind `GET /api/releases/{id}/events`.
//!
//! The stream sends every stored event after `Last-Event-ID`, then new ones, and `end` once the
//! release is final. Connections break (deploys drain tasks, networks drop): the machine then
//! waits a growing delay and resumes after the last sequence number it holds, so no event is
//! lost or shown twice. Only `end`, `signed-out` or a 401 (the session ended) or a 404 stop it
//! for good.

use faro_sse::SseEvent;
use faro_types::{ReleaseStatus, StreamEnd, TimelineEvent};

/// First reconnection delay; it doubles per failed attempt up to [`MAX_DELAY_MS`].
pub const BASE_DELAY_MS: u32 = 500;
pub const MAX_DELAY_MS: u32 = 15_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Opening the stream (the first time, or right after a wait).
    Connecting,
    /// Events flow.
    Live,
    /// Broken; the next attempt starts after `delay_ms`.
    Waiting { attempt: u32, delay_ms: u32 },
    /// The release is final and every event arrived.
    Ended(ReleaseStatus),
    /// The session ended: sign in again.
    SignedOut,
    /// Nothing to retry (no such release, a rejected request).
    Failed(String),
}

impl Connection {
    /// Whether another connection should be opened.
    pub fn should_connect(&self) -> bool {
        matches!(self, Self::Connecting | Self::Waiting { .. })
    }

    pub fn label(&self) -> String {
        match self {
            Self::Connecting => "Connecting…".into(),
            Self::Live => "Live".into(),
            Self::Waiting { delay_ms, .. } => format!(
                "Connection lost; retrying in {} s",
                (*delay_ms).div_ceil(1000)
            ),
            Self::Ended(_) => "Complete".into(),
            Self::SignedOut => "Signed out".into(),
            Self::Failed(why) => format!("Stopped: {why}"),
        }
    }
}

/// What the page shows: the events so far and the connection's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// Ordered by `seq`, each once.
    pub events: Vec<TimelineEvent>,
    pub connection: Connection,
    /// Failed attempts since the stream was last live.
    failures: u32,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

/// Delay before reconnection attempt number `attempt` (1-based).
pub fn backoff_ms(attempt: u32) -> u32 {
    let doubled = BASE_DELAY_MS.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    doubled.min(MAX_DELAY_MS)
}

impl Timeline {
    pub fn new() -> Self {
        Self {
            events: Vec::new(),
            connection: Connection::Connecting,
            failures: 0,
        }
    }

    /// The `Last-Event-ID` to resume after.
    pub fn last_seq(&self) -> Option<u64> {
        self.events.last().map(|e| e.seq)
    }

    /// The release's status according to the newest event.
    pub fn status(&self) -> Option<ReleaseStatus> {
        match &self.connection {
            Connection::Ended(status) => Some(*status),
            _ => self.events.last().map(|e| e.status),
        }
    }

    /// The server answered 200 and the body streams.
    pub fn opened(&mut self) {
        if self.connection.should_connect() {
            self.connection = Connection::Live;
            self.failures = 0;
        }
    }

    /// Applies one server-sent event; returns whether something visible changed.
    pub fn apply(&mut self, event: &SseEvent) -> bool {
        match event.event.as_str() {
            "timeline" => match serde_json::from_str::<TimelineEvent>(&event.data) {
                Ok(new) => self.insert(new),
                // A malformed event is skipped; the next resume refetches after the last good one.
                Err(_) => false,
            },
            "end" => match serde_json::from_str::<StreamEnd>(&event.data) {
                Ok(end) => {
                    self.connection = Connection::Ended(end.status);
                    true
                }
                Err(_) => false,
            },
            // The session ended while the stream was open; the server closes it next.
            "signed-out" => {
                self.connection = Connection::SignedOut;
                true
            }
            _ => false,
        }
    }

    fn insert(&mut self, new: TimelineEvent) -> bool {
        match self.events.binary_search_by_key(&new.seq, |e| e.seq) {
            Ok(_) => false,
            Err(at) => {
                self.events.insert(at, new);
                true
            }
        }
    }

    /// The connection broke or could not open (network, 5xx, a draining server).
    pub fn disconnected(&mut self) {
        if matches!(
            self.connection,
            Connection::Ended(_) | Connection::SignedOut | Connection::Failed(_)
        ) {
            return;
        }
        self.failures += 1;
        self.connection = Connection::Waiting {
            attempt: self.failures,
            delay_ms: backoff_ms(self.failures),
        };
    }

    /// The server refused the stream with `status`; `detail` is the problem's wording.
    pub fn refused(&mut self, status: u16, detail: &str) {
        match status {
            401 => self.connection = Connection::SignedOut,
            408 | 429 | 500..=599 => self.disconnected(),
            _ => self.connection = Connection::Failed(detail.to_owned()),
        }
    }

    /// After a wait, the next attempt begins.
    pub fn reconnecting(&mut self) {
        if let Connection::Waiting { .. } = self.connection {
            self.connection = Connection::Connecting;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use faro_types::EventKind;

    fn timeline_event(seq: u64, status: ReleaseStatus) -> SseEvent {
        let event = TimelineEvent {
            seq,
            at: Utc
                .with_ymd_and_hms(2026, 11, 28, 12, 0, seq as u32)
                .unwrap(),
            kind: EventKind::Progress,
            status,
            message: format!("step {seq}"),
            actor: None,
        };
        SseEvent {
            event: "timeline".into(),
            data: serde_json::to_string(&event).unwrap(),
            id: Some(seq.to_string()),
        }
    }

    fn end(status: &str) -> SseEvent {
        SseEvent {
            event: "end".into(),
            data: format!(r#"{{"status":"{status}"}}"#),
            id: None,
        }
    }

    #[test]
    fn events_arrive_in_order_once_and_the_end_stops_it() {
        let mut t = Timeline::new();
        assert!(t.connection.should_connect());
        t.opened();
        assert_eq!(t.connection, Connection::Live);
        assert!(t.apply(&timeline_event(1, ReleaseStatus::Queued)));
        assert!(t.apply(&timeline_event(3, ReleaseStatus::Deploying)));
        assert!(t.apply(&timeline_event(2, ReleaseStatus::Building)));
        assert!(
            !t.apply(&timeline_event(2, ReleaseStatus::Building)),
            "a repeat"
        );
        let seqs: Vec<u64> = t.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(t.last_seq(), Some(3));
        assert_eq!(t.status(), Some(ReleaseStatus::Deploying));
        assert!(t.apply(&end("deployed")));
        assert_eq!(t.connection, Connection::Ended(ReleaseStatus::Deployed));
        assert!(!t.connection.should_connect());
        // a late break after the end changes nothing
        t.disconnected();
        assert_eq!(t.connection, Connection::Ended(ReleaseStatus::Deployed));
    }

    fn waiting(attempt: u32, delay_ms: u32) -> Connection {
        Connection::Waiting { attempt, delay_ms }
    }

    #[test]
    fn breaks_back_off_and_resume_after_the_last_event() {
        let mut t = Timeline::new();
        t.opened();
        t.apply(&timeline_event(1, ReleaseStatus::Queued));
        t.disconnected();
        assert_eq!(t.connection, waiting(1, 500));
        assert!(t.connection.label().contains("retrying in 1 s"));
        t.reconnecting();
        assert_eq!(t.connection, Connection::Connecting);
        t.refused(503, "draining");
        assert_eq!(t.connection, waiting(2, 1000));
        t.reconnecting();
        t.opened();
        assert_eq!(t.last_seq(), Some(1), "resumes after what it holds");
        t.disconnected();
        assert_eq!(
            t.connection,
            waiting(1, 500),
            "a live stream resets the count"
        );
    }

    #[test]
    fn backoff_grows_to_a_cap() {
        let delays: Vec<u32> = (1..=8).map(backoff_ms).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
        assert_eq!(backoff_ms(u32::MAX), MAX_DELAY_MS);
    }

    #[test]
    fn refusals_that_retrying_cannot_fix_stop_it() {
        let mut t = Timeline::new();
        t.refused(401, "Unauthorized");
        assert_eq!(t.connection, Connection::SignedOut);
        assert!(!t.connection.should_connect());

        let mut t = Timeline::new();
        t.refused(404, "No such release");
        assert_eq!(t.connection, Connection::Failed("No such release".into()));
        assert!(t.connection.label().contains("No such release"));
    }

    #[test]
    fn a_session_that_ended_stops_the_stream_for_good() {
        let mut t = Timeline::new();
        t.opened();
        t.apply(&timeline_event(1, ReleaseStatus::Queued));
        let signed_out = SseEvent {
            event: "signed-out".into(),
            data: r#"{"status":401}"#.into(),
            id: None,
        };
        assert!(t.apply(&signed_out));
        assert_eq!(t.connection, Connection::SignedOut);
        // the server closes the stream next: no reconnection follows
        t.disconnected();
        assert_eq!(t.connection, Connection::SignedOut);
        assert!(!t.connection.should_connect());
    }

    #[test]
    fn malformed_and_unknown_events_are_ignored() {
        let mut t = Timeline::new();
        let bad = SseEvent {
            event: "timeline".into(),
            data: "{not json".into(),
            id: Some("4".into()),
        };
        assert!(!t.apply(&bad));
        assert!(!t.apply(&SseEvent {
            event: "ping".into(),
            data: "{}".into(),
            id: None
        }));
        assert!(t.events.is_empty());
    }
}
