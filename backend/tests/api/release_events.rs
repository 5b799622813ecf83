//! `GET /api/releases/{id}/events`: the stored timeline, then live events (from this task at
//! once, from other tasks by polling), `Last-Event-ID` resume, and `end` once final.

use crate::until;
use faro_backend::{
    AppState,
    releases::timeline::{self, NewEvent},
};
use faro_testkit::{
    Api, ProjectWithEnvironments, Signed, TestApp, expect_event_stream, header, problem,
    problem_naming,
};
use faro_types::{EventKind, Problem, ReleaseStatus, StreamEnd, TimelineEvent};
use futures_util::{Stream, StreamExt};
use reqwest::Method;
use sqlx::MySqlConnection;
use std::{pin::Pin, time::Duration};

#[derive(Debug)]
struct SseEvent {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

impl SseEvent {
    fn timeline(&self) -> TimelineEvent {
        assert_eq!(self.event.as_deref(), Some("timeline"), "{self:?}");
        let event: TimelineEvent = serde_json::from_str(&self.data).expect("a timeline event");
        assert_eq!(self.id.as_deref(), Some(event.seq.to_string().as_str()));
        event
    }

    fn end(&self) -> StreamEnd {
        assert_eq!(self.event.as_deref(), Some("end"), "{self:?}");
        serde_json::from_str(&self.data).expect("the end")
    }
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// A minimal server-sent events reader.
struct Sse {
    body: Body,
    buf: String,
}

impl Sse {
    async fn open(request: reqwest::RequestBuilder) -> Self {
        let response = request.send().await.expect("answered");
        expect_event_stream(&response);
        Self {
            body: Box::pin(response.bytes_stream()),
            buf: String::new(),
        }
    }

    /// The next block the server sent, an event or a comment, or `None` once it closed.
    async fn block(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                return Some(self.buf.drain(..pos + 2).collect());
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                Some(Err(err)) => panic!("the stream broke: {err}"),
                None => return None,
            }
        }
    }

    /// The next event (comments skipped), or `None` once the server closed the stream.
    async fn next(&mut self) -> Option<SseEvent> {
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(block) = self.block().await {
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
            }
            None
        })
        .await
        .expect("an event within 10 s")
    }

    /// The next event, which must be one of the timeline.
    async fn timeline(&mut self) -> TimelineEvent {
        self.next().await.expect("an event").timeline()
    }

    /// Asserts that the next event is the end, with the release `status`, and that the
    /// stream closes after it.
    async fn ends(&mut self, status: ReleaseStatus) {
        assert_eq!(self.next().await.expect("the end").end().status, status);
        assert!(self.next().await.is_none(), "the stream closes after end");
    }

    /// Waits for the next block and asserts that it is a keep-alive comment.
    async fn keep_alive(&mut self) {
        let block = tokio::time::timeout(Duration::from_secs(10), self.block())
            .await
            .expect("a keep-alive within 10 s")
            .expect("the stream stays open");
        assert!(
            block.starts_with(':') && parse(&block).is_none(),
            "a keep-alive comment, not {block:?}"
        );
    }
}

fn parse(block: &str) -> Option<SseEvent> {
    let mut event = SseEvent {
        id: None,
        event: None,
        data: String::new(),
    };
    let mut any = false;
    for line in block.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        any = true;
        match field {
            "id" => event.id = Some(value),
            "event" => event.event = Some(value),
            "data" => {
                if !event.data.is_empty() {
                    event.data.push('\n');
                }
                event.data.push_str(&value);
            }
            _ => {}
        }
    }
    any.then_some(event)
}

fn events_of(app: &TestApp, who: &Signed, id: u64, query: &str) -> reqwest::RequestBuilder {
    app.as_user(
        who,
        Method::GET,
        &format!("/api/releases/{id}/events{query}"),
    )
}

/// What the release worker writes on a state change, in its transaction `tx`: the release's
/// new status and the next event, which is put before the commit.
async fn write_step(
    state: &AppState,
    tx: &mut MySqlConnection,
    id: u64,
    event: NewEvent,
) -> TimelineEvent {
    sqlx::query("UPDATE releases SET status = ? WHERE id = ?")
        .bind(event.status.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .expect("update");
    timeline::append(state, tx, id, event).await.expect("event")
}

/// The worker on `state`'s task starting release `id`'s build: [`write_step`], the commit,
/// then the in-process announcement.
async fn build_started(state: &AppState, id: u64) -> TimelineEvent {
    let started = NewEvent::new(
        EventKind::BuildStarted,
        ReleaseStatus::Building,
        "Build 17 started on SleakOps",
    );
    let mut tx = state.db.begin().await.expect("begin");
    let event = write_step(state, &mut tx, id, started).await;
    tx.commit().await.expect("commit");
    state.release_events.publish(id, event.clone());
    event
}

async fn setup(app: &TestApp) -> (Signed, ProjectWithEnvironments, u64) {
    setup_for(app, "Ada").await
}

/// `name` signs up with a project and starts a release of it.
async fn setup_for(app: &TestApp, name: &str) -> (Signed, ProjectWithEnvironments, u64) {
    let (ada, fx) = app.signup_with_project(name).await;
    let release = app.start_release(&ada, &fx, "staging").await;
    (ada, fx, release.id)
}

#[tokio::test]
async fn a_stream_sends_the_timeline_then_live_events_then_end() {
    // Polling is off in effect: live events can only come from the in-process hub. The
    // request timeout bounds answering, not streaming.
    let app = TestApp::builder()
        .set("FARO_EVENTS_POLL_MS", "600000")
        .set("FARO_REQUEST_TIMEOUT_MS", "300")
        .spawn()
        .await;
    let (ada, _, id) = setup(&app).await;
    let mut sse = Sse::open(events_of(&app, &ada, id, "")).await;
    let first = sse.timeline().await;
    assert_eq!((first.seq, first.kind), (1, EventKind::Requested));
    tokio::time::sleep(Duration::from_millis(600)).await;

    let written = build_started(&app.state, id).await;
    let second = sse.timeline().await;
    assert_eq!(second, written);
    assert_eq!(second.seq, 2);

    app.cancel_release(&ada, id).await;
    let third = sse.timeline().await;
    assert_eq!(
        (third.seq, third.kind, third.status),
        (3, EventKind::Cancelled, ReleaseStatus::Cancelled)
    );
    assert_eq!(third.actor.map(|a| a.id), Some(ada.user.id));
    sse.ends(ReleaseStatus::Cancelled).await;
}

#[tokio::test]
async fn a_final_release_streams_its_timeline_and_ends() {
    let app = TestApp::spawn().await;
    let (ada, _, id) = setup(&app).await;
    app.cancel_release(&ada, id).await;
    let mut sse = Sse::open(events_of(&app, &ada, id, "")).await;
    let kinds = [sse.timeline().await.kind, sse.timeline().await.kind];
    assert_eq!(kinds, [EventKind::Requested, EventKind::Cancelled]);
    sse.ends(ReleaseStatus::Cancelled).await;
}

#[tokio::test]
async fn resuming_sends_only_later_events() {
    let app = TestApp::spawn().await;
    let (ada, _, id) = setup(&app).await;
    app.cancel_release(&ada, id).await;

    let requests = [
        events_of(&app, &ada, id, "").header("Last-Event-ID", "1"),
        events_of(&app, &ada, id, "?last_event_id=1"),
        // Browsers reconnect to the same URL with a newer header: the header wins.
        events_of(&app, &ada, id, "?last_event_id=0").header("Last-Event-ID", "1"),
    ];
    for request in requests {
        let mut sse = Sse::open(request).await;
        let event = sse.timeline().await;
        assert_eq!((event.seq, event.kind), (2, EventKind::Cancelled));
        sse.ends(ReleaseStatus::Cancelled).await;
    }
    // Resuming after the last event: only the end.
    let mut sse = Sse::open(events_of(&app, &ada, id, "").header("Last-Event-ID", "2")).await;
    sse.ends(ReleaseStatus::Cancelled).await;

    let response = events_of(&app, &ada, id, "")
        .header("Last-Event-ID", "soon")
        .send()
        .await
        .expect("answered");
    problem_naming(response, 422, "Last-Event-ID", "a header that is no id").await;
    let path = format!("/api/releases/{id}/events");
    let cases = [("?last_event_id=x", "last_event_id")];
    app.expect_invalid_queries(&ada, &path, &cases).await;
}

#[tokio::test]
async fn events_written_by_another_task_reach_the_stream() {
    let app = TestApp::spawn_setting("FARO_EVENTS_POLL_MS", "100").await;
    let other = TestApp::builder().spawn_beside(&app).await;
    let (ada, _, id) = setup(&app).await;
    let mut sse = Sse::open(events_of(&app, &ada, id, "")).await;
    assert_eq!(sse.timeline().await.seq, 1);

    // The worker on the other task: its hub is not ours, so only polling finds this.
    let written = build_started(&other.state, id).await;
    assert_eq!(sse.timeline().await, written);

    // A user's cancel answered by the other task.
    Api::new(other.base.clone()).cancel_release(&ada, id).await;
    let event = sse.timeline().await;
    assert_eq!((event.seq, event.kind), (3, EventKind::Cancelled));
    sse.ends(ReleaseStatus::Cancelled).await;
}

#[tokio::test]
async fn a_silent_stream_sends_keep_alive_comments() {
    // Far below the 10 s a keep-alive is waited for, so the default of 15 s would fail this.
    let app = TestApp::spawn_setting("FARO_EVENTS_KEEPALIVE_MS", "100").await;
    let (ada, _, id) = setup(&app).await;
    let mut sse = Sse::open(events_of(&app, &ada, id, "")).await;
    assert_eq!(sse.timeline().await.seq, 1);

    // Nothing happens to the release: what comes is keep-alives, one after another...
    sse.keep_alive().await;
    sse.keep_alive().await;
    // ...and the stream still carries the next event.
    let event = build_started(&app.state, id).await;
    assert_eq!(sse.timeline().await, event);
}

#[tokio::test]
async fn a_repeated_put_is_harmless_and_an_orphan_is_replaced() {
    let app = TestApp::spawn().await;
    let (_, _, id) = setup(&app).await;
    let state = &app.state;
    let event = NewEvent::new(
        EventKind::Progress,
        ReleaseStatus::Queued,
        "waiting for a worker",
    )
    .numbered(2, faro_backend::db::now());
    // The same event twice (a step retried after a crash) is stored once.
    timeline::put(&state.writes, id, &event).await.expect("put");
    timeline::put(&state.writes, id, &event)
        .await
        .expect("repeat");
    let stored = timeline::after(&state.dynamo, &state.table, id, 0, 100)
        .await
        .expect("read");
    assert_eq!(stored.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(stored[1], event);

    // Seq 2 was never committed in MySQL (event_seq is 1), so the next transaction hands it
    // out again: its event replaces the orphan.
    let mut tx = state.db.begin().await.expect("begin");
    let replaced = timeline::append(
        state,
        &mut tx,
        id,
        NewEvent::new(EventKind::Cancelled, ReleaseStatus::Cancelled, "cancelled"),
    )
    .await
    .expect("append");
    tx.commit().await.expect("commit");
    assert_eq!(replaced.seq, 2);
    let newest = timeline::newest(&state.dynamo, &state.table, id, 1)
        .await
        .expect("read");
    assert_eq!(newest, [replaced]);
}

#[tokio::test]
async fn end_follows_a_final_event_read_before_its_commit() {
    let app = TestApp::spawn_setting("FARO_EVENTS_POLL_MS", "50").await;
    let other = TestApp::builder().spawn_beside(&app).await;
    let (ada, _, id) = setup(&app).await;
    let mut sse = Sse::open(events_of(&app, &ada, id, "")).await;
    assert_eq!(sse.timeline().await.seq, 1);

    // Another task's transaction puts the final event, then takes its time to commit.
    let state = &other.state;
    let failed = NewEvent::new(EventKind::Failed, ReleaseStatus::Failed, "The build failed");
    let mut tx = state.db.begin().await.expect("begin");
    let event = write_step(state, &mut tx, id, failed).await;
    assert_eq!(sse.timeline().await, event);
    tokio::time::sleep(Duration::from_millis(300)).await;
    tx.commit().await.expect("commit");
    sse.ends(ReleaseStatus::Failed).await;
}

/// Opens `who`'s stream of release `id` and reads its first event.
async fn following(app: &TestApp, who: &Signed, id: u64) -> Sse {
    let mut sse = Sse::open(events_of(app, who, id, "")).await;
    assert_eq!(sse.timeline().await.seq, 1);
    sse
}

/// Asserts that `who`'s stream of release `id` is refused with `status` and a Retry-After.
async fn refused(app: &TestApp, who: &Signed, id: u64, status: u16) {
    let response = events_of(app, who, id, "").send().await.expect("answered");
    assert!(header(&response, "retry-after").is_some(), "Retry-After");
    problem(response, status).await;
}

/// Short keep-alives, so the server notices closed streams at its next write, at once.
const QUICK_KEEPALIVE: &str = "50";

#[tokio::test]
async fn a_user_past_the_stream_cap_is_refused_while_another_user_streams() {
    let app = TestApp::builder()
        .set("FARO_EVENTS_KEEPALIVE_MS", QUICK_KEEPALIVE)
        .set("FARO_EVENTS_STREAMS_PER_USER", "2")
        .spawn()
        .await;
    let (ada, _, id) = setup(&app).await;
    let (bob, _, bobs) = setup_for(&app, "Bob").await;
    let mut adas = vec![
        following(&app, &ada, id).await,
        following(&app, &ada, id).await,
    ];

    refused(&app, &ada, id, 429).await;

    // Bob's stream opens while Ada is capped, and carries his events.
    let _bobs = following(&app, &bob, bobs).await;

    // Ada closes a page: she has a place again.
    adas.pop();
    until("Ada's closed stream given back", || {
        app.state.timeline_slots.open() == 2
    })
    .await;
    adas.push(following(&app, &ada, id).await);
}

#[tokio::test]
async fn a_task_past_its_stream_bound_answers_503_until_a_stream_closes() {
    let app = TestApp::builder()
        .set("FARO_EVENTS_KEEPALIVE_MS", QUICK_KEEPALIVE)
        .set("FARO_EVENTS_STREAMS_PER_TASK", "2")
        .spawn()
        .await;
    let (ada, _, id) = setup(&app).await;
    let (bob, _, bobs) = setup_for(&app, "Bob").await;
    let first = following(&app, &ada, id).await;
    let _second = following(&app, &ada, id).await;

    refused(&app, &bob, bobs, 503).await;

    drop(first);
    until("the closed stream given back", || {
        app.state.timeline_slots.open() == 1
    })
    .await;
    following(&app, &bob, bobs).await;
}

#[tokio::test]
async fn streams_of_one_release_share_one_poller_that_stops_with_the_last() {
    let app = TestApp::builder()
        .set("FARO_EVENTS_KEEPALIVE_MS", QUICK_KEEPALIVE)
        .set("FARO_EVENTS_POLL_MS", "100")
        .spawn()
        .await;
    let other = TestApp::builder().spawn_beside(&app).await;
    let (ada, fx, id) = setup(&app).await;
    let mut streams = Vec::new();
    for _ in 0..5 {
        streams.push(following(&app, &ada, id).await);
    }
    assert_eq!(
        app.state.timeline_feeds.pollers(),
        1,
        "one poller for one release"
    );

    let second = app.start_release(&ada, &fx, "production").await;
    let mut elsewhere = following(&app, &ada, second.id).await;
    assert_eq!(
        app.state.timeline_feeds.pollers(),
        2,
        "a poller per release"
    );

    // Another task's worker writes: only polling finds it, and every stream gets it.
    let written = build_started(&other.state, id).await;
    for sse in &mut streams {
        assert_eq!(sse.timeline().await, written);
    }
    let written = build_started(&other.state, second.id).await;
    assert_eq!(elsewhere.timeline().await, written);

    drop(streams);
    until("the first release's poller stopped", || {
        app.state.timeline_feeds.pollers() == 1
    })
    .await;
    drop(elsewhere);
    until("every poller stopped", || {
        app.state.timeline_feeds.pollers() == 0
    })
    .await;

    // Following the release again starts a poller again.
    let _again = following(&app, &ada, id).await;
    assert_eq!(app.state.timeline_feeds.pollers(), 1);
}

#[tokio::test]
async fn a_stream_closes_once_its_session_is_signed_out() {
    let app = TestApp::spawn_setting("FARO_EVENTS_SESSION_CHECK_MS", "100").await;
    let (ada, _, id) = setup(&app).await;
    let elsewhere = app.login(&ada.user.email).await;
    let mut signed_out = following(&app, &ada, id).await;
    let mut still_signed_in = following(&app, &elsewhere, id).await;

    app.logout(&ada.token).await;
    let last = signed_out.next().await.expect("a last event");
    assert_eq!(last.event.as_deref(), Some("signed-out"), "{last:?}");
    let why: Problem = serde_json::from_str(&last.data).expect("a problem");
    assert_eq!(why.status, 401);
    assert!(signed_out.next().await.is_none(), "the stream closes");

    // Ada's other session follows on.
    let written = build_started(&app.state, id).await;
    assert_eq!(still_signed_in.timeline().await, written);
}
