//! `POST /api/releases/{id}/chat`: a conversation about a release, streamed token by token;
//! `GET /api/releases/{id}/chat/{conversation_id}`: the conversation so far.
//!
//! Conversations live in DynamoDB: `pk = CONVERSATION#<id>`, `sk = META` (the release and
//! the user it belongs to) and `sk = MSG#<seq, 6 digits>` (each message: `role`, `content`,
//! `at`), kept 90 days. A conversation is only reachable by its user, through its release;
//! any other combination is 404. The user's message and the answer are written together,
//! once the answer is complete, with conditional puts: two concurrent turns of one
//! conversation cannot both land on the same sequence numbers (the loser gets an `error`
//! event and may send again).
//!
//! The stream: `event: conversation` (a [`ChatStarted`]), then `event: token` (a
//! [`ChatToken`]) per piece of the answer, then `event: done` (a [`ChatDone`]) once it is
//! stored — or `event: error` (a problem document) if DeepSeek broke off. Failures before the
//! first byte (DeepSeek down, limits) are ordinary problem answers with `Retry-After`.

use super::budget::Reservation;
use super::store;
use super::{Admission, admit, billed, billed_nothing, deepseek_error, prompts, release_for};
use crate::openapi::{
    ForeignOrigin, InvalidInput, NotFound, NotSignedIn, TooManyRequests, Unavailable,
};
use crate::releases::ReleasePath;
use crate::{AppState, auth::Caller, error::ApiError, http::ApiJson, releases::timeline};
use axum::{
    extract::Path,
    response::sse::{Event, KeepAlive, Sse},
};
use faro_deepseek::{ChatStream, Message, Usage};
use faro_types::{
    AiUsage, ChatDone, ChatMessage, ChatRequest, ChatStarted, ChatToken, Conversation, Problem,
    ProblemType, Role,
};
use futures_util::{Stream, StreamExt};
use std::{convert::Infallible, time::Duration};

/// Earlier messages sent along with a new one.
const HISTORY: usize = 20;

/// Ask about a release; the answer streams back as server-sent events.
///
/// Problems, beyond what their status says:
/// - 404: No such release or conversation (conversations belong to one release and one user).
/// - 422: The message is empty or too long, or the conversation id is malformed.
/// - 429: Too many AI requests from this user (per minute, or in flight at once), or the
///   organization's daily token budget is spent; see Retry-After.
/// - 503: DeepSeek is unavailable, not configured or busy; see Retry-After.
#[utoipa::path(
    post, path = "/api/releases/{id}/chat", tag = "ai",
    params(ReleasePath),
    request_body = ChatRequest,
    responses(
        (status = 200, description = "`text/event-stream`: `event: conversation` with a ChatStarted, `event: token` with a ChatToken per piece of the answer, then `event: done` with a ChatDone once the exchange is stored, or `event: error` with a problem document if DeepSeek broke off", body = ChatToken, content_type = "text/event-stream"),
        NotSignedIn, ForeignOrigin, NotFound, InvalidInput, TooManyRequests, Unavailable,
    )
)]
pub(super) async fn chat(
    Caller { state, user, .. }: Caller,
    Path(ReleasePath { id }): Path<ReleasePath>,
    ApiJson(request): ApiJson<ChatRequest>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    request.validate()?;
    let (access, release) = release_for(&state, &user, id, Role::Viewer).await?;
    let (conversation, history, next_seq) = match &request.conversation_id {
        Some(conversation) => {
            let (history, next) = load(&state, conversation, id, user.id).await?;
            (conversation.clone(), history, next)
        }
        None => (uuid::Uuid::new_v4().to_string(), Vec::new(), 1),
    };
    let mut events =
        timeline::newest(&state.dynamo, &state.table, id, prompts::TIMELINE_EVENTS).await?;
    events.reverse();
    let messages = prompts::chat(&release, &events, history, &request.message);
    let Admission {
        deepseek,
        reservation,
        _slot,
    } = admit(&state, &user, access.org_id, &messages).await?;
    let upstream = deepseek
        .chat_stream(
            &faro_deepseek::ChatRequest::new(messages)
                .temperature(0.5)
                .max_tokens(state.config.ai.max_tokens),
        )
        .await;
    let upstream = match upstream {
        Ok(upstream) => upstream,
        Err(err) => {
            if billed_nothing(&err) {
                reservation.settle(&state, 0).await;
            }
            return Err(deepseek_error(&state, err));
        }
    };
    let turn = Turn {
        state,
        conversation,
        new: request.conversation_id.is_none(),
        release_id: id,
        user_id: user.id,
        seq: next_seq,
        question: request.message,
        answer: String::new(),
        usage: None,
        upstream,
        phase: Phase::Start,
        reservation: Some(reservation),
        _slot,
    };
    let stream = futures_util::stream::unfold(turn, |mut turn| async move {
        let event = turn.next().await?;
        Some((Ok(event), turn))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The conversation's recent messages (oldest first) and the next sequence number, if it
/// belongs to `release_id` and `user_id`.
async fn load(
    state: &AppState,
    conversation: &str,
    release_id: u64,
    user_id: u64,
) -> Result<(Vec<Message>, u64), ApiError> {
    store::check_owner(state, conversation, release_id, user_id).await?;
    let stored = store::newest_messages(state, conversation, HISTORY).await?;
    let next = stored.last().map_or(1, |m| m.seq + 1);
    let history = stored
        .into_iter()
        .map(|m| match m.role {
            faro_types::ChatRole::Assistant => Message::assistant(m.content),
            faro_types::ChatRole::User => Message::user(m.content),
        })
        .collect();
    Ok((history, next))
}

/// The messages a conversation shows at most (the newest).
const SHOWN: usize = 500;

/// A conversation so far, to show it again (after a reload, on another device).
///
/// Problems, beyond what their status says:
/// - 404: No such release or conversation (conversations belong to one release and one user).
/// - 422: A malformed conversation id.
#[utoipa::path(
    get, path = "/api/releases/{id}/chat/{conversation_id}", tag = "ai",
    params(
        ("id" = u64, Path, description = "The release's id"),
        ("conversation_id" = String, Path, min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9-]+$", description = "The id the chat stream's `conversation` event gave"),
    ),
    responses(
        (status = 200, description = "The newest 500 messages at most, oldest first", body = Conversation),
        NotSignedIn, NotFound, InvalidInput,
    )
)]
pub(super) async fn conversation(
    Caller { state, user, .. }: Caller,
    Path((id, conversation_id)): Path<(u64, String)>,
) -> Result<axum::Json<Conversation>, ApiError> {
    if let Some(message) = faro_types::conversation_id_problem(&conversation_id) {
        return Err(ApiError::field("conversation_id", &message));
    }
    release_for(&state, &user, id, Role::Viewer).await?;
    store::check_owner(&state, &conversation_id, id, user.id).await?;
    let messages = store::newest_messages(&state, &conversation_id, SHOWN)
        .await?
        .into_iter()
        .map(|m| ChatMessage {
            role: m.role,
            content: m.content,
            at: m.at,
        })
        .collect();
    Ok(axum::Json(Conversation {
        conversation_id,
        release_id: id,
        messages,
    }))
}

enum Phase {
    Start,
    Streaming,
    Finished,
}

/// One exchange: the stream's state.
struct Turn {
    state: AppState,
    conversation: String,
    new: bool,
    release_id: u64,
    user_id: u64,
    seq: u64,
    question: String,
    answer: String,
    usage: Option<Usage>,
    upstream: ChatStream,
    phase: Phase,
    /// Settled with the usage DeepSeek reports at the end; kept whole if the answer broke
    /// off or the client left, as DeepSeek may bill those.
    reservation: Option<Reservation>,
    /// Held until the stream ends: the call counts against the user's and the task's slots.
    _slot: crate::slots::Slot,
}

fn json_event(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_default())
}

fn error_event(detail: &str) -> Event {
    let problem = Problem::new(ProblemType::ServiceUnavailable, 503, "Service unavailable")
        .with_detail(detail);
    json_event("error", &problem)
}

impl Turn {
    async fn next(&mut self) -> Option<Event> {
        match self.phase {
            Phase::Start => {
                self.phase = Phase::Streaming;
                Some(json_event(
                    "conversation",
                    &ChatStarted {
                        conversation_id: self.conversation.clone(),
                    },
                ))
            }
            Phase::Streaming => loop {
                match self.upstream.next().await {
                    Some(Ok(chunk)) => {
                        self.usage = chunk.usage.or(self.usage);
                        if chunk.content.is_empty() {
                            continue;
                        }
                        self.answer.push_str(&chunk.content);
                        return Some(json_event(
                            "token",
                            &ChatToken {
                                text: chunk.content,
                            },
                        ));
                    }
                    Some(Err(err)) => {
                        self.phase = Phase::Finished;
                        self.state.metrics.external_error();
                        tracing::warn!(error = %err, release_id = self.release_id, "DeepSeek broke off a chat answer");
                        return Some(error_event(
                            "DeepSeek's answer broke off; nothing was stored. Send the message again.",
                        ));
                    }
                    None => {
                        self.phase = Phase::Finished;
                        if let (Some(reservation), Some(usage)) =
                            (self.reservation.take(), self.usage)
                        {
                            reservation.settle(&self.state, billed(usage)).await;
                        }
                        let exchange = store::Exchange {
                            conversation: &self.conversation,
                            owner: self.new.then_some((self.release_id, self.user_id)),
                            seq: self.seq,
                            question: &self.question,
                            answer: &self.answer,
                        };
                        let stored = store::put_exchange(&self.state, &exchange);
                        return Some(match stored.await {
                            Ok(()) => {
                                let usage = self.usage.unwrap_or_default();
                                json_event(
                                    "done",
                                    &ChatDone {
                                        conversation_id: self.conversation.clone(),
                                        usage: AiUsage {
                                            prompt_tokens: usage.prompt_tokens,
                                            completion_tokens: usage.completion_tokens,
                                        },
                                    },
                                )
                            }
                            Err(detail) => {
                                tracing::warn!(error = %detail, release_id = self.release_id, "chat exchange not stored");
                                error_event(
                                    "The answer could not be stored (another message of this conversation may have been sent at the same time). Send the message again.",
                                )
                            }
                        });
                    }
                }
            },
            Phase::Finished => None,
        }
    }
}
