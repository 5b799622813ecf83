//! The two streams the release page follows: its timeline (resumed after every break) and
//! the chat's answers. Both feed the pure state machines of [`crate::state::timeline`] and
//! [`crate::state::chat`]; this module only moves bytes from `fetch` into them.

use crate::api::{self, ApiError, BodyStream, Call};
use crate::state::chat::Chat;
use crate::state::timeline::{Connection, Timeline};
use faro_sse::{SseEvent, SseParser};
use faro_types::ChatRequest;
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use web_sys::{AbortController, AbortSignal};

/// An `AbortController` that fires when the current component goes away, so a stream never
/// outlives its page (browsers allow only six connections per origin over HTTP/1.1).
pub fn abort_on_cleanup() -> Option<AbortSignal> {
    let controller = AbortController::new().ok()?;
    let signal = controller.signal();
    let controller = SendWrapper::new(controller);
    on_cleanup(move || controller.abort());
    Some(signal)
}

fn aborted(signal: &Option<AbortSignal>) -> bool {
    signal.as_ref().is_some_and(AbortSignal::aborted)
}

/// Follows release `id`'s events into `state` until the release is final, the session ends,
/// the page goes away (`state` disposed or `signal` aborted) or the server refuses for good.
pub async fn follow_timeline(id: u64, state: RwSignal<Timeline>, signal: Option<AbortSignal>) {
    let path = format!("/api/releases/{id}/events");
    loop {
        let Some(resume) = state.try_with_untracked(|t| t.last_seq().map(|s| s.to_string())) else {
            return;
        };
        let mut headers = vec![("accept", "text/event-stream")];
        if let Some(seq) = &resume {
            headers.push(("last-event-id", seq.as_str()));
        }
        let opened = Call {
            method: "GET",
            path: &path,
            headers: &headers,
            signal: signal.as_ref(),
            ..Call::default()
        };
        match api::send(opened).await {
            Err(_) if aborted(&signal) => return,
            Err(ApiError::Network(_)) => {
                state.try_update(Timeline::disconnected);
            }
            Err(e) => {
                let status = e.status().unwrap_or_default();
                state.try_update(|t| t.refused(status, &e.to_string()));
            }
            Ok(response) => {
                state.try_update(Timeline::opened);
                read(response, |event| {
                    state.try_update(|t| {
                        t.apply(event);
                    });
                })
                .await;
                if aborted(&signal) {
                    return;
                }
                // The server closed the stream because the session ended: the whole app is
                // signed out, as after any 401.
                if state.try_with_untracked(|t| t.connection == Connection::SignedOut) == Some(true)
                {
                    api::signed_out();
                    return;
                }
                state.try_update(Timeline::disconnected);
            }
        }
        let connection = state.try_with_untracked(|t| t.connection.clone());
        match connection {
            Some(Connection::Waiting { delay_ms, .. }) => {
                api::sleep(delay_ms).await;
                if aborted(&signal) {
                    return;
                }
                state.try_update(Timeline::reconnecting);
            }
            Some(c) if c.should_connect() => {}
            _ => return,
        }
    }
}

/// Feeds the body's events to `apply` until it ends or breaks.
async fn read(response: web_sys::Response, mut apply: impl FnMut(&SseEvent)) {
    let Ok(mut body) = BodyStream::of(&response) else {
        return;
    };
    let mut parser = SseParser::new();
    while let Ok(Some(chunk)) = body.next().await {
        for event in parser.feed(&chunk) {
            apply(&event);
        }
    }
}

/// Sends `message` about release `id` and streams the answer into `chat`, token by token.
pub async fn ask(id: u64, chat: RwSignal<Chat>, message: String, signal: Option<AbortSignal>) {
    let Some(conversation_id) = chat.try_with_untracked(|c| c.conversation_id.clone()) else {
        return;
    };
    chat.update(|c| c.ask(&message));
    let request = ChatRequest {
        message,
        conversation_id,
    };
    let path = format!("/api/releases/{id}/chat");
    let call = Call {
        method: "POST",
        path: &path,
        json: serde_json::to_string(&request).ok(),
        headers: &[("accept", "text/event-stream")],
        signal: signal.as_ref(),
        ..Call::default()
    };
    match api::send(call).await {
        Err(e) => {
            chat.try_update(|c| c.fail(&e.to_string()));
        }
        Ok(response) => {
            read(response, |event| {
                chat.try_update(|c| c.apply(event));
            })
            .await;
            chat.try_update(Chat::closed);
        }
    }
}
